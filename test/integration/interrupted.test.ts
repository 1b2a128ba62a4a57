// An apply killed with SIGKILL midway, then run again, converges with no duplicate VPC, subnet or
// instance: everything is tagged the moment it exists, so the re-run adopts what the dead run made.
// Also: apply still converges when AWS throttles, fails with 5xx, and refuses to touch instances
// that are still pending.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DescribeSubnetsCommand, DescribeVpcsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { runCli, startCli, tempFile } from '../support/cli.js';
import {
  assertApplied,
  assertNoChanges,
  converge,
  instancesOf,
  liveNat,
  makeEngine,
  makeSpec,
  specYaml,
  useEmulator,
} from '../support/stack.js';

describe('interrupted and unreliable applies', () => {
  const emu = useEmulator();

  // Kill after the n-th resource is done: early (VPC), midway (subnets, tables), late (NATs launching).
  for (const killAfter of [1, 6, 12]) {
    it(`apply killed with SIGKILL after ${killAfter} completed steps, re-run, converges without duplicates`, async () => {
      const spec = makeSpec({ name: `killed-${killAfter}` });
      const file = await tempFile('spec.yaml', specYaml(spec));
      // NATs stay "pending" for a while, so the run is still busy when it is killed.
      emu.proxy.setOptions({ pendingInstanceMs: 1500 });
      // A short lease: the dead run's lock expires soon, and the re-run waits for that.
      const child = startCli(['apply', '-f', file, '--endpoint-url', emu.proxy.endpoint, '--auto-approve', '--lock-lease', '2']);
      let completed = 0;
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk;
          completed = (stderr.match(/complete after/g) ?? []).length;
          if (completed >= killAfter && child.exitCode === null) {
            child.kill('SIGKILL');
          }
        });
        child.on('close', (code, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error(`apply ended (${code}) before it was killed:\n${stderr}`)),
        );
      });

      const rerun = await runCli(['apply', '-f', file, '--endpoint-url', emu.proxy.endpoint, '--auto-approve', '--lock-timeout', '30']);
      assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
      const plan = await runCli(['plan', '-f', file, '--endpoint-url', emu.proxy.endpoint, '--detailed-exitcode']);
      assert.equal(plan.code, 0, plan.stdout);

      const filter = [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }];
      assert.equal((await emu.ec2.send(new DescribeVpcsCommand({ Filters: filter }))).Vpcs!.length, 1, 'one VPC');
      assert.equal((await emu.ec2.send(new DescribeSubnetsCommand({ Filters: filter }))).Subnets!.length, 4, 'four subnets');
      const instances = await instancesOf(emu.ec2, filter);
      assert.equal(instances.length, 2, `two instances, found ${instances.map((i) => i.InstanceId).join(', ')}`);
    });
  }

  it('converges through throttling, 5xx and pending instances, building and healing', async () => {
    emu.proxy.setOptions({ seed: 7, throttleRate: 0.15, serverErrorRate: 0.1, pendingInstanceMs: 1500 });
    emu.proxy.resetCounts();
    const spec = makeSpec({ zones: 3 });
    const engine = makeEngine(spec, emu.proxy.endpoint, { retryTimeoutSeconds: 60 });
    await converge(engine);

    const nat = await liveNat(emu.ec2, spec.name, 'ap-northeast-1a');
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    const plan = await engine.plan();
    assert.equal(
      plan.changes.find((c) => c.id === 'nat/ap-northeast-1a')?.action,
      'create',
      'the terminated NAT is gone: a new one is launched',
    );
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());

    const faults = emu.proxy.faults();
    for (const code of ['RequestLimitExceeded', 'IncorrectInstanceState']) {
      assert.ok((faults.get(code) ?? 0) > 0, `the run met ${code} (faults: ${JSON.stringify([...faults])})`);
    }
    assert.ok((faults.get('InternalError') ?? 0) + (faults.get('Unavailable') ?? 0) > 0, 'the run met 5xx errors');
  });
});
