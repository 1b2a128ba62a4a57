// Every AWS call is bounded, and a wrong endpoint or missing credentials is one clear line within
// seconds, not a hang or minutes of retries. Against real sockets: a TCP server that accepts and
// never answers, an HTTP server that answers HTML, one that is not HTTP at all.

import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DupsworksError } from '../../src/errors.js';
import { cliEnv, runCli, tempFile } from '../support/cli.js';
import { makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

interface TestServer {
  endpoint: string;
  /** Connections (TCP) or requests (HTTP) received. */
  hits: number;
  close(): Promise<void>;
}

async function listen(server: Server, count: (s: TestServer) => void): Promise<TestServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const s: TestServer = {
    endpoint: `http://127.0.0.1:${port}`,
    hits: 0,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  count(s);
  return s;
}

/** Accepts connections and never says a word. */
function stallingServer(): Promise<TestServer> {
  const server = createServer();
  return listen(server, (s) => server.on('connection', () => s.hits++));
}

/** Answers every request with an HTML page and the given status, as a web server or a proxy would. */
function htmlServer(status: number): Promise<TestServer> {
  const server = createHttpServer();
  return listen(server, (s) =>
    server.on('request', (_req, res) => {
      s.hits++;
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><html><title>Not here</title><h1>Not here</h1></html>');
    }),
  );
}

/** Speaks something else on connect, as an SSH or SMTP port does. */
function bannerServer(): Promise<TestServer> {
  const server = createServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n'));
  return listen(server, (s) => server.on('connection', () => s.hits++));
}

async function planError(endpoint: string, options: Parameters<typeof makeEngine>[2] = {}): Promise<{ error: DupsworksError; ms: number }> {
  const started = Date.now();
  // The retry deadline stays at its default: a failure that were retried would take minutes.
  const engine = makeEngine(makeSpec(), endpoint, { retryTimeoutSeconds: 300, ...options });
  const error = await engine.plan().then(
    () => assert.fail('plan should fail'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof DupsworksError, `a DupsworksError, got ${String(error)}`);
  return { error, ms: Date.now() - started };
}

/**
 * The reads of one plan of an empty EC2 stack: EC2's (11, see bench) and IAM's two of the NATs'
 * role and instance profile, which go to the same endpoint when one is given for all services.
 */
const PLAN_READS = 11 + 2;

describe('bounded calls against real sockets', () => {
  const servers: TestServer[] = [];
  const serve = async (s: Promise<TestServer>) => {
    const server = await s;
    servers.push(server);
    return server;
  };
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('an endpoint that accepts and never answers: a clear error within the request timeout', async () => {
    const stall = await serve(stallingServer());
    const { error, ms } = await planError(stall.endpoint, { timeouts: { requestSeconds: 1 } });
    assert.equal(error.code, 'EndpointTimeout');
    assert.equal(error.fault, 'user');
    assert.match(
      error.message,
      new RegExp(`EC2 endpoint ${stall.endpoint} accepted the connection but did not answer within 1s \\(--request-timeout\\)`),
    );
    assert.match(error.message, /--endpoint-url/);
    assert.ok(ms < 3000, `failed after ${ms} ms, within the 1 s bound (and no retries)`);
    assert.ok(stall.hits > 0, 'the calls did reach the server');
  });

  for (const status of [200, 404, 500]) {
    it(`an endpoint that answers HTML (HTTP ${status}): a permanent error naming it and the flag, no retries`, async () => {
      const html = await serve(htmlServer(status));
      const { error, ms } = await planError(html.endpoint);
      assert.equal(error.code, 'NotAwsProtocol');
      assert.equal(
        error.message,
        `${html.endpoint} does not speak the EC2 API (it answered with an HTML page, HTTP ${status}); ` +
          'set --endpoint-url (or AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL) to the EC2 endpoint',
      );
      assert.ok(ms < 2000, `failed after ${ms} ms`);
      // A plan's reads were already on their way; none of them is retried (retries would go on for minutes).
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(html.hits <= PLAN_READS, `${html.hits} requests, at most one per read of a plan (${PLAN_READS})`);
    });
  }

  it('a port that does not speak HTTP: a permanent error naming the endpoint', async () => {
    const banner = await serve(bannerServer());
    const { error, ms } = await planError(banner.endpoint);
    assert.equal(error.code, 'NotAwsProtocol');
    assert.match(error.message, new RegExp(`^${banner.endpoint} does not speak the EC2 API \\(it did not answer in HTTP \\(HPE_`));
    assert.ok(ms < 2000, `failed after ${ms} ms`);
  });

  it('nothing listening: one line naming the endpoint, at once', async () => {
    const closed = await stallingServer();
    await closed.close();
    const { error, ms } = await planError(closed.endpoint);
    assert.equal(error.code, 'EndpointUnreachable');
    assert.match(error.message, new RegExp(`cannot reach the EC2 endpoint ${closed.endpoint} \\(ECONNREFUSED\\)`));
    assert.ok(ms < 2000, `failed after ${ms} ms`);
  });
});

describe('bounded calls against the emulator', () => {
  const emu = useEmulator();

  it('an OpsWorks spec with no OpsWorks endpoint: a permanent error naming --opsworks-endpoint-url, not minutes of retries', async () => {
    const started = Date.now();
    const engine = makeEngine(makeSpec({ manager: 'opsworks' }), emu.moto.endpoint, { retryTimeoutSeconds: 300 });
    await assert.rejects(engine.plan(), (error: DupsworksError) => {
      assert.equal(error.code, 'NotAwsProtocol');
      assert.match(error.message, /does not speak the OpsWorks API \(it answered with an HTML page, HTTP 500\)/);
      assert.match(error.message, /set --opsworks-endpoint-url \(or AWS_ENDPOINT_URL_OPSWORKS\) to the OpsWorks endpoint$/);
      return true;
    });
    // The bound is 5 s; retries would take minutes (the first SDK load alone is ~1 s here, more under load).
    assert.ok(Date.now() - started < 5000, `failed after ${Date.now() - started} ms`);
  });

  it('an endpoint that answered once and then fails for a while is retried, not given up on', async () => {
    const engine = makeEngine(makeSpec(), emu.proxy.endpoint, { retryTimeoutSeconds: 60 });
    await engine.plan();
    emu.proxy.setOptions({ seed: 3, serverErrorRate: 0.5 });
    const plan = await engine.plan();
    assert.ok(plan.changes.length > 0);
    assert.ok([...emu.proxy.faults().values()].reduce((a, b) => a + b, 0) > 0, 'server errors were met and retried');
  });
});

describe('credentials and endpoints from the command line: one line, exit 1, in under 5 s', () => {
  let specFile: string;
  let stall: TestServer;
  let home: string;
  /** What a run costs before its first AWS call (Node and the SDK loading): on a busy machine, seconds. */
  let startupMs: number;
  before(async () => {
    specFile = await tempFile('spec.yaml', specYaml(makeSpec()));
    const started = Date.now();
    await runCli(['validate', '-f', specFile]);
    startupMs = Date.now() - started;
    stall = await stallingServer();
    // An empty home: no ~/.aws files.
    home = (await tempFile('.keep', '')).replace(/\/\.keep$/, '');
  });
  after(() => stall.close());

  const timed = async (args: string[], env: NodeJS.ProcessEnv) => {
    const started = Date.now();
    const result = await runCli(['plan', '-f', specFile, ...args], env);
    return { ...result, ms: Date.now() - started };
  };

  it('no credentials anywhere (and an instance metadata service that never answers)', async () => {
    const { AWS_ACCESS_KEY_ID: _, AWS_SECRET_ACCESS_KEY: __, AWS_PROFILE: ___, ...env } = cliEnv();
    const result = await timed(['--endpoint-url', 'http://127.0.0.1:9'], {
      ...env,
      HOME: home,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: stall.endpoint,
    });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim().split('\n').at(-1),
      'Error: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile (or AWS_PROFILE), or run on an instance with a role',
    );
    assert.ok(result.ms < 5000 + startupMs, `took ${result.ms} ms (start-up ${startupMs} ms)`);
  });

  it('a profile that does not exist', async () => {
    const result = await timed(['--endpoint-url', 'http://127.0.0.1:9', '--profile', 'nosuch'], cliEnv({ HOME: home }));
    assert.equal(result.code, 1);
    assert.match(
      result.stderr.trim().split('\n').at(-1)!,
      /^Error: AWS profile "nosuch" is not in the shared config or credentials file .*--profile/,
    );
    assert.ok(result.ms < 5000 + startupMs, `took ${result.ms} ms (start-up ${startupMs} ms)`);
  });

  it('an unreachable endpoint', async () => {
    const result = await timed(['--endpoint-url', 'http://127.0.0.1:9'], cliEnv());
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error: cannot reach the EC2 endpoint http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\); .*--endpoint-url/m);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(result.ms < 5000 + startupMs, `took ${result.ms} ms (start-up ${startupMs} ms)`);
  });

  it('a stalled endpoint, bounded by --request-timeout', async () => {
    const result = await timed(['--endpoint-url', stall.endpoint, '--request-timeout', '1'], cliEnv());
    assert.equal(result.code, 1);
    assert.match(result.stderr, /did not answer within 1s \(--request-timeout\)/);
    assert.ok(result.ms < 5000 + startupMs, `took ${result.ms} ms (start-up ${startupMs} ms)`);
  });
});
