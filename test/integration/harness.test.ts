/**
 * Proves the integration-test harness (test/support/moto.ts and
 * test/support/aws-proxy.ts) against a real moto_server. These tests FAIL
 * (never skip) when moto_server is missing.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DeleteSubnetCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  EC2Client,
  ModifyInstanceAttributeCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { freePort, startMoto, type Moto } from '../support/moto.js';
import { startAwsProxy, type AwsProxy, type ProxyOptions } from '../support/aws-proxy.js';

const REGION = 'ap-northeast-1';
const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const AL2023_PARAM = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64';
/** One of moto's built-in AMIs (present in every region). */
const MOTO_AMI = 'ami-12c6146b';

function ec2(endpoint: string, maxAttempts = 1): EC2Client {
  return new EC2Client({ region: REGION, endpoint, credentials: CREDENTIALS, maxAttempts });
}

function ssm(endpoint: string, maxAttempts = 1): SSMClient {
  return new SSMClient({ region: REGION, endpoint, credentials: CREDENTIALS, maxAttempts });
}

/** Resolve with the rejection of `p` (fails the test if `p` resolves). */
async function failure(p: Promise<unknown>): Promise<{
  name: string;
  message: string;
  $fault?: string;
  $metadata: { httpStatusCode?: number; attempts?: number };
}> {
  try {
    await p;
  } catch (err) {
    return err as never;
  }
  assert.fail('expected the call to fail');
}

/** GET a URL; resolves with the status code, or with the error code (e.g. ECONNREFUSED). */
function probe(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------

describe('startMoto', () => {
  test('starts on a free port, answers, logs to a file, stop() kills it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dupsworks-moto-'));
    const log = path.join(dir, 'moto.log');
    try {
      const moto = await startMoto({ log });
      try {
        assert.equal(moto.endpoint, `http://127.0.0.1:${moto.port}`);
        assert.equal(await probe(`${moto.endpoint}/moto-api/`), 200);
        await moto.reset();
      } finally {
        await moto.stop();
      }
      assert.equal(await probe(`${moto.endpoint}/moto-api/`), 'ECONNREFUSED');
      await moto.stop(); // idempotent
      const output = readFileSync(log, 'utf8');
      assert.match(output, /Running on http:\/\/127\.0\.0\.1/);
      assert.match(output, /POST \/moto-api\/reset/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fails (does not skip) with install instructions when moto_server is not on PATH', async () => {
    const emptyDir = mkdtempSync(path.join(tmpdir(), 'dupsworks-nopath-'));
    const savedPath = process.env.PATH;
    process.env.PATH = emptyDir;
    try {
      await assert.rejects(startMoto(), (err: Error) => {
        assert.match(err.message, /`moto_server` was not found on PATH/);
        assert.match(err.message, /pip install "moto\[server\]"/);
        return true;
      });
    } finally {
      process.env.PATH = savedPath;
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });

  test('fails with moto output and install instructions when moto_server cannot start', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dupsworks-badmoto-'));
    const fake = path.join(dir, 'moto_server');
    writeFileSync(fake, '#!/bin/sh\necho "ModuleNotFoundError: No module named \'flask\'" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${dir}${path.delimiter}${savedPath ?? ''}`;
    try {
      await assert.rejects(startMoto(), (err: Error) => {
        assert.match(err.message, /exited during startup \(exit code 1\)/);
        assert.match(err.message, /No module named 'flask'/);
        assert.match(err.message, /pip install "moto\[server\]"/);
        return true;
      });
    } finally {
      process.env.PATH = savedPath;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('freePort() returns a bindable loopback port', async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

// ---------------------------------------------------------------------------

describe('aws proxy (against a shared moto_server)', () => {
  let moto: Moto;
  before(async () => {
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
  });

  /** Start a proxy in front of the shared moto, run fn, always stop it. */
  async function withProxy(options: Omit<ProxyOptions, 'target'>, fn: (proxy: AwsProxy) => Promise<void>): Promise<void> {
    const proxy = await startAwsProxy({ target: moto.endpoint, ...options });
    try {
      await fn(proxy);
    } finally {
      await proxy.stop();
    }
  }

  test('moto.reset() wipes all state', async () => {
    const client = ec2(moto.endpoint);
    try {
      const { Vpc } = await client.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
      const vpcId = Vpc?.VpcId;
      assert.ok(vpcId !== undefined);
      const before = await client.send(new DescribeVpcsCommand({}));
      assert.ok(before.Vpcs?.some((v) => v.VpcId === vpcId));
      await moto.reset();
      const afterReset = await client.send(new DescribeVpcsCommand({}));
      assert.ok(!afterReset.Vpcs?.some((v) => v.VpcId === vpcId), 'reset() should delete the VPC');
    } finally {
      client.destroy();
    }
  });

  test('forwards EC2 calls to moto and counts them by Action', async () => {
    await withProxy({}, async (proxy) => {
      const client = ec2(proxy.endpoint);
      const direct = ec2(moto.endpoint);
      try {
        const { Vpc } = await client.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16' }));
        const vpcId = Vpc?.VpcId;
        assert.ok(vpcId !== undefined && vpcId.startsWith('vpc-'));
        const viaProxy = await client.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }));
        assert.equal(viaProxy.Vpcs?.[0]?.CidrBlock, '10.1.0.0/16');
        // It really reached moto: visible when asking moto directly.
        const viaMoto = await direct.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }));
        assert.equal(viaMoto.Vpcs?.length, 1);

        assert.deepEqual(
          proxy.calls(),
          new Map([
            ['CreateVpc', 1],
            ['DescribeVpcs', 1],
          ]),
        );
        assert.equal(proxy.faults().size, 0);
        proxy.resetCounts();
        assert.equal(proxy.calls().size, 0);
      } finally {
        client.destroy();
        direct.destroy();
      }
    });
  });

  test('handles concurrent requests and keeps connections alive', async () => {
    await withProxy({}, async (proxy) => {
      const client = ec2(proxy.endpoint);
      try {
        const results = await Promise.all(Array.from({ length: 20 }, () => client.send(new DescribeVpcsCommand({}))));
        assert.equal(results.length, 20);
        for (const r of results) assert.ok((r.Vpcs?.length ?? 0) >= 1);
        assert.equal(proxy.calls().get('DescribeVpcs'), 20);
      } finally {
        client.destroy();
      }

      // Two sequential requests over a one-socket keep-alive agent reuse the socket.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const post = () =>
        new Promise<{ status: number; reused: boolean; body: string }>((resolve, reject) => {
          const body = 'Action=DescribeVpcs&Version=2016-11-15';
          const req = http.request(
            `${proxy.endpoint}/`,
            {
              method: 'POST',
              agent,
              headers: {
                'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
                'Content-Length': Buffer.byteLength(body),
                // moto picks the service from the SigV4 credential scope.
                Authorization:
                  'AWS4-HMAC-SHA256 Credential=testing/20240101/ap-northeast-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
              },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, body: Buffer.concat(chunks).toString() }),
              );
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      try {
        const first = await post();
        const second = await post();
        assert.equal(first.status, 200, first.body);
        assert.match(second.body, /<DescribeVpcsResponse/);
        assert.equal(first.reused, false);
        assert.equal(second.reused, true, 'second request should reuse the kept-alive socket');
      } finally {
        agent.destroy();
      }
    });
  });

  test('throttling is seen by the SDK as RequestLimitExceeded / HTTP 503', async () => {
    await withProxy({ throttleRate: 1 }, async (proxy) => {
      const client = ec2(proxy.endpoint);
      try {
        const err = await failure(client.send(new DescribeVpcsCommand({})));
        assert.equal(err.name, 'RequestLimitExceeded');
        assert.equal(err.message, 'Request limit exceeded.');
        assert.equal(err.$metadata.httpStatusCode, 503);
        // The SDK derives $fault from the status code, so a 503 throttle is a "server" fault.
        assert.equal(err.$fault, 'server');
        assert.equal(proxy.calls().get('DescribeVpcs'), 1, 'faulted calls are counted');
        assert.deepEqual(proxy.faults(), new Map([['RequestLimitExceeded', 1]]));

        // faultActions limits which actions are faulted.
        proxy.setOptions({ faultActions: ['CreateVpc'] });
        await client.send(new DescribeVpcsCommand({}));
        const err2 = await failure(client.send(new CreateVpcCommand({ CidrBlock: '10.2.0.0/16' })));
        assert.equal(err2.name, 'RequestLimitExceeded');

        // Rates can be changed at runtime.
        proxy.setOptions({ throttleRate: 0, faultActions: undefined });
        const { Vpc } = await client.send(new CreateVpcCommand({ CidrBlock: '10.2.0.0/16' }));
        assert.ok(Vpc?.VpcId);
        assert.deepEqual(
          proxy.calls(),
          new Map([
            ['DescribeVpcs', 2],
            ['CreateVpc', 2],
          ]),
        );
        assert.deepEqual(proxy.faults(), new Map([['RequestLimitExceeded', 2]]));
      } finally {
        client.destroy();
      }
    });
  });

  test('server errors are seen by the SDK as InternalError/500 and Unavailable/503 server faults', async () => {
    await withProxy({ serverErrorRate: 1, seed: 1 }, async (proxy) => {
      const client = ec2(proxy.endpoint);
      try {
        const seen = new Map<string, number>();
        for (let i = 0; i < 12; i++) {
          const err = await failure(client.send(new DescribeVpcsCommand({})));
          assert.equal(err.$fault, 'server');
          assert.equal(err.$metadata.attempts, 1);
          if (err.name === 'InternalError') {
            assert.equal(err.$metadata.httpStatusCode, 500);
            assert.equal(err.message, 'An internal error has occurred.');
          } else {
            assert.equal(err.name, 'Unavailable');
            assert.equal(err.$metadata.httpStatusCode, 503);
          }
          seen.set(err.name, (seen.get(err.name) ?? 0) + 1);
        }
        assert.ok(seen.has('InternalError') && seen.has('Unavailable'), `both kinds expected: ${[...seen]}`);
        assert.deepEqual(proxy.faults(), seen);
        assert.equal(proxy.calls().get('DescribeVpcs'), 12);
      } finally {
        client.destroy();
      }
    });
  });

  test('the SDK retries injected faults transparently when allowed to', async () => {
    // With seed 4 and rate 0.5 the first two calls are faulted (InternalError,
    // then Unavailable) and the third is not.
    await withProxy({ serverErrorRate: 0.5, seed: 4 }, async (proxy) => {
      const client = ec2(proxy.endpoint, 5);
      try {
        const out = await client.send(new DescribeVpcsCommand({}));
        assert.ok(out.Vpcs);
        assert.equal(out.$metadata.attempts, 3);
        assert.deepEqual(
          proxy.faults(),
          new Map([
            ['InternalError', 1],
            ['Unavailable', 1],
          ]),
        );
        assert.equal(proxy.calls().get('DescribeVpcs'), 3);
      } finally {
        client.destroy();
      }
    });
  });

  test('fault injection is deterministic for a given seed', async () => {
    const outcomes = async (seed: number): Promise<string[]> => {
      const result: string[] = [];
      await withProxy({ seed, throttleRate: 0.3, serverErrorRate: 0.3 }, async (proxy) => {
        const client = ec2(proxy.endpoint);
        try {
          for (let i = 0; i < 20; i++) {
            result.push(
              await client.send(new DescribeVpcsCommand({})).then(
                () => 'ok',
                (err: Error) => err.name,
              ),
            );
          }
        } finally {
          client.destroy();
        }
      });
      return result;
    };
    const a = await outcomes(42);
    const b = await outcomes(42);
    assert.deepEqual(a, b);
    assert.ok(a.includes('ok') && a.includes('RequestLimitExceeded'), `mixed outcomes expected: ${a}`);
  });

  test('pendingInstanceMs: IncorrectInstanceState during the window, success after it', async () => {
    const windowMs = 1_000;
    await withProxy({ pendingInstanceMs: windowMs }, async (proxy) => {
      const client = ec2(proxy.endpoint);
      try {
        const run = await client.send(new RunInstancesCommand({ ImageId: MOTO_AMI, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
        const launchedAt = Date.now();
        const id = run.Instances?.[0]?.InstanceId;
        assert.ok(id !== undefined && id.startsWith('i-'));

        const modify = () => client.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: false } }));

        const err = await failure(modify());
        assert.equal(err.name, 'IncorrectInstanceState');
        assert.equal(err.$metadata.httpStatusCode, 400);
        assert.equal(err.$fault, 'client');
        assert.equal(err.message, `The instance '${id}' is not in a valid state for this operation.`);

        // List-form parameters (InstanceId.1=…) are recognised too.
        const err2 = await failure(client.send(new StartInstancesCommand({ InstanceIds: [id] })));
        assert.equal(err2.name, 'IncorrectInstanceState');

        // Describe calls are not affected.
        const described = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
        assert.equal(described.Reservations?.[0]?.Instances?.[0]?.InstanceId, id);

        // After the window the same call goes through to moto.
        let succeededAt: number | undefined;
        while (succeededAt === undefined && Date.now() - launchedAt < windowMs + 5_000) {
          try {
            await modify();
            succeededAt = Date.now();
          } catch (e) {
            assert.equal((e as Error).name, 'IncorrectInstanceState');
            await sleep(50);
          }
        }
        assert.ok(succeededAt !== undefined, 'ModifyInstanceAttribute never succeeded');
        assert.ok(succeededAt - launchedAt >= windowMs - 50, `succeeded too early (${succeededAt - launchedAt} ms)`);

        assert.ok((proxy.faults().get('IncorrectInstanceState') ?? 0) >= 2);
        assert.equal(proxy.calls().get('RunInstances'), 1);
        await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      } finally {
        client.destroy();
      }
    });
  });

  test('ec2Rules: refuses what real EC2 refuses and moto allows, and allows it once the reason is gone', async () => {
    await withProxy({ ec2Rules: true }, async (proxy) => {
      const client = ec2(proxy.endpoint);
      try {
        const { Vpc } = await client.send(new CreateVpcCommand({ CidrBlock: '10.3.0.0/16' }));
        const vpcId = Vpc!.VpcId!;
        const { Subnet } = await client.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.3.0.0/24' }));
        const [first, second] = await Promise.all([
          client.send(new CreateInternetGatewayCommand({})),
          client.send(new CreateInternetGatewayCommand({})),
        ]);
        const igw = first.InternetGateway!.InternetGatewayId!;
        await client.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
        const another = await failure(
          client.send(new AttachInternetGatewayCommand({ InternetGatewayId: second.InternetGateway!.InternetGatewayId!, VpcId: vpcId })),
        );
        assert.equal(another.name, 'Resource.AlreadyAssociated');
        assert.equal(another.message, `Network ${vpcId} already has an internet gateway attached`);

        const run = await client.send(
          new RunInstancesCommand({
            ImageId: MOTO_AMI,
            MinCount: 1,
            MaxCount: 1,
            NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: Subnet!.SubnetId!, AssociatePublicIpAddress: true }],
          }),
        );
        const instance = run.Instances![0]!.InstanceId!;
        const busy = await failure(client.send(new DeleteSubnetCommand({ SubnetId: Subnet!.SubnetId! })));
        assert.equal(busy.name, 'DependencyViolation');
        assert.equal(busy.message, `The subnet '${Subnet!.SubnetId}' has dependencies and cannot be deleted.`);
        const mapped = await failure(client.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId })));
        assert.equal(mapped.name, 'DependencyViolation');
        assert.match(mapped.message, /has some mapped public address\(es\)/);
        assert.deepEqual(
          proxy.faults(),
          new Map([
            ['Resource.AlreadyAssociated', 1],
            ['DependencyViolation', 2],
          ]),
        );

        await client.send(new TerminateInstancesCommand({ InstanceIds: [instance] }));
        await client.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
        await client.send(new DeleteSubnetCommand({ SubnetId: Subnet!.SubnetId! }));
      } finally {
        client.destroy();
      }
    });
  });

  test('ec2Rules: a repeated ClientToken answers the first launch again, and launches nothing more', async () => {
    await withProxy({ ec2Rules: true }, async (proxy) => {
      const client = ec2(proxy.endpoint);
      const direct = ec2(moto.endpoint);
      try {
        const launch = () =>
          client.send(new RunInstancesCommand({ ImageId: MOTO_AMI, MinCount: 1, MaxCount: 1, ClientToken: 'same-token' }));
        const a = await launch();
        const b = await launch();
        assert.equal(b.Instances![0]!.InstanceId, a.Instances![0]!.InstanceId);
        const other = await client.send(new RunInstancesCommand({ ImageId: MOTO_AMI, MinCount: 1, MaxCount: 1, ClientToken: 'other' }));
        assert.notEqual(other.Instances![0]!.InstanceId, a.Instances![0]!.InstanceId);
        const all = await direct.send(new DescribeInstancesCommand({}));
        assert.equal(all.Reservations!.flatMap((r) => r.Instances!).length, 2);
        proxy.reset();
        const c = await launch();
        assert.notEqual(c.Instances![0]!.InstanceId, a.Instances![0]!.InstanceId, 'reset() forgets the tokens');
      } finally {
        client.destroy();
        direct.destroy();
      }
    });
  });

  test('loseReplies: the call takes effect in moto, the client sees a reset connection or a 500, later calls are answered', async () => {
    await withProxy({}, async (proxy) => {
      const client = ec2(proxy.endpoint);
      const direct = ec2(moto.endpoint);
      try {
        proxy.loseReplies('CreateVpc', { times: 2, as: 'server-error' });
        proxy.loseReplies('CreateSubnet');
        const lost = await failure(client.send(new CreateVpcCommand({ CidrBlock: '10.4.0.0/16' })));
        assert.equal(lost.name, 'InternalError');
        assert.equal(lost.$metadata.httpStatusCode, 500);
        await failure(client.send(new CreateVpcCommand({ CidrBlock: '10.4.0.0/16' })));
        const { Vpc } = await client.send(new CreateVpcCommand({ CidrBlock: '10.4.0.0/16' }));
        const made = (await direct.send(new DescribeVpcsCommand({ Filters: [{ Name: 'cidr', Values: ['10.4.0.0/16'] }] }))).Vpcs!;
        assert.equal(made.length, 3, 'each call whose reply was lost was made');
        const reset = await failure(client.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.4.0.0/24' })));
        assert.match(`${reset.name} ${(reset as { code?: string }).code}`, /ECONNRESET|socket hang up/i);
        const subnets = await direct.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [Vpc!.VpcId!] }] }));
        assert.equal(subnets.Subnets!.length, 1);
        assert.deepEqual(proxy.faults(), new Map([['LostReply', 3]]));
      } finally {
        client.destroy();
        direct.destroy();
      }
    });
  });

  test('holdCalls: calls of the action wait until released, others pass', async () => {
    await withProxy({}, async (proxy) => {
      const client = ec2(proxy.endpoint);
      try {
        const held = proxy.holdCalls('CreateVpc');
        let answered = false;
        const creating = client.send(new CreateVpcCommand({ CidrBlock: '10.5.0.0/16' })).then((out) => ((answered = true), out));
        while (held.waiting() === 0) await sleep(10);
        await client.send(new DescribeVpcsCommand({}));
        assert.equal(answered, false);
        held.release();
        assert.ok((await creating).Vpc?.VpcId);
        assert.equal(held.waiting(), 0);
      } finally {
        client.destroy();
      }
    });
  });

  test('proxies and counts SSM (JSON protocol) GetParameter; EC2 faults do not apply to it', async () => {
    await withProxy({ throttleRate: 1, serverErrorRate: 1 }, async (proxy) => {
      const client = ssm(proxy.endpoint);
      try {
        const out = await client.send(new GetParameterCommand({ Name: AL2023_PARAM }));
        assert.equal(out.Parameter?.Name, AL2023_PARAM);
        assert.match(out.Parameter?.Value ?? '', /^ami-[0-9a-f]+$/);
        assert.deepEqual(proxy.calls(), new Map([['GetParameter', 1]]));
        assert.equal(proxy.faults().size, 0);
      } finally {
        client.destroy();
      }
    });
  });

  test('answers 502 when the target is down, and stop() closes the listener', async () => {
    const deadPort = await freePort();
    const proxy = await startAwsProxy({ target: `http://127.0.0.1:${deadPort}` });
    const client = ec2(proxy.endpoint);
    try {
      const err = await failure(client.send(new DescribeVpcsCommand({})));
      assert.equal(err.$metadata.httpStatusCode, 502);
      assert.equal(err.name, 'ProxyUpstreamError');
      assert.match(err.message, /aws-proxy: upstream .* failed: .*ECONNREFUSED/);
      assert.equal(err.$fault, 'server');
      assert.equal(proxy.faults().size, 0, 'upstream failures are not injected faults');

      const ssmClient = ssm(proxy.endpoint);
      try {
        const err2 = await failure(ssmClient.send(new GetParameterCommand({ Name: AL2023_PARAM })));
        assert.equal(err2.$metadata.httpStatusCode, 502);
        assert.equal(err2.name, 'ProxyUpstreamError');
        assert.match(err2.message, /ECONNREFUSED/);
      } finally {
        ssmClient.destroy();
      }
    } finally {
      client.destroy();
      await proxy.stop();
    }
    assert.equal(await probe(`${proxy.endpoint}/`), 'ECONNREFUSED');
  });
});
