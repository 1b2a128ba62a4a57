// The lab's command line, run as a user runs it: bad input of every kind (each said in one line,
// exit 1, nothing made), then one detached lab driven through up, status, exec, a refused second
// up, a kill -9, an up that cleans up after it, and down, which leaves nothing behind.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { labNames, namespacePrefix } from '../../src/lab/names.js';
import { BIN, ROOT, cliEnv, runCli, tempFile, type CliResult } from '../support/cli.js';
import { labStackName, useMoto } from '../support/lab.js';
import { converge, makeEngine, makeSpec, specYaml } from '../support/stack.js';

const run = promisify(execFile);

async function labNamespaces(stack: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(namespacePrefix(stack)));
}

/** Anything of a lab's in the host's own namespace: its link names, addresses, routes or firewall rules. */
async function hostTraces(): Promise<string[]> {
  const ours = /\b(igw0|vpc0|inet0|ens5|p[0-9a-f]{12})\b|169\.254\.[12]\.|198\.51\.100\.|203\.0\.113\./;
  const outputs = await Promise.all([
    run('ip', ['-o', 'link']),
    run('ip', ['-o', 'addr']),
    run('ip', ['route', 'show', 'table', 'all']),
    run('ip', ['rule']),
    run('iptables-save', []),
  ]);
  return outputs.flatMap(({ stdout }) => stdout.split('\n').filter((line) => ours.test(line)));
}

function assertOneLineError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 1, `exit code 1\n${result.stderr}`);
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('lab: the command line', () => {
  const emu = useMoto();

  it('a spec that does not validate: the usual problem lines, exit 1, nothing made', async () => {
    const spec = makeSpec({ name: labStackName('cli-bad') });
    const file = await tempFile('bad.yaml', specYaml(spec).replace('cidr: 10.0.0.0/16', 'cidr: 10.0.0.0/33'));
    const result = await runCli(['lab', 'up', '-f', file, '--endpoint-url', emu.moto.endpoint]);
    assertOneLineError(result, /bad\.yaml:\d+:\d+: vpc\.cidr: .*\nError: .*bad\.yaml: 1 problem; nothing was sent to AWS/);
    assert.deepEqual(await labNamespaces(spec.name), []);
  });

  it('no stack in the emulator for the spec: one line saying so and what to run, exit 1, nothing made', async () => {
    const spec = makeSpec({ name: labStackName('cli-absent') });
    const file = await tempFile('absent.yaml', specYaml(spec));
    const result = await runCli(['lab', 'up', '-f', file, '--endpoint-url', emu.moto.endpoint]);
    assertOneLineError(result, new RegExp(`has no stack ${spec.name} .*; build it first: dupsworks apply -f ${file} --endpoint-url`));
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.deepEqual(await labNamespaces(spec.name), []);
    assert.equal(existsSync(labNames(spec.name).stateDir), false);
  });

  it('not root: says so, exit 1, before anything else', async () => {
    const spec = makeSpec({ name: labStackName('cli-user') });
    const file = await tempFile('user.yaml', specYaml(spec));
    // A new user namespace: the CLI runs as an unprivileged user (uid 65534) that can still read
    // the checkout wherever it is, as its owner.
    const result = await new Promise<CliResult>((resolve) => {
      execFile(
        'unshare',
        ['--user', process.execPath, BIN, 'lab', 'up', '-f', file, '--endpoint-url', emu.moto.endpoint],
        { cwd: ROOT, env: cliEnv() },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
    assertOneLineError(result, /lab: the lab needs root \(it makes network namespaces\); run it as root, e\.g\. with sudo\n/);
    assert.match(result.stderr, /Error: the lab cannot run here: 1 thing missing; nothing was changed/);
    assert.deepEqual(await labNamespaces(spec.name), []);
  });

  it('without ip and iptables: names each missing command and its package, exit 1', async () => {
    const spec = makeSpec({ name: labStackName('cli-noip') });
    const file = await tempFile('noip.yaml', specYaml(spec));
    const result = await runCli(['lab', 'up', '-f', file, '--endpoint-url', emu.moto.endpoint], cliEnv({ PATH: '/nonexistent' }));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^lab: ip is not installed or not on PATH \(Debian and Ubuntu: apt-get install iproute2\)$/m);
    assert.match(result.stderr, /^lab: iptables is not installed or not on PATH \(Debian and Ubuntu: apt-get install iptables\)$/m);
    assert.deepEqual(await labNamespaces(spec.name), []);
  });

  it('up --detach --json, status, exec, a second up refused, kill -9, up again cleans up, down leaves nothing', async () => {
    const spec = makeSpec({ name: labStackName('cli') });
    await converge(makeEngine(spec, emu.moto.endpoint));
    const file = await tempFile('lab.yaml', specYaml(spec));
    const up = ['lab', 'up', '-f', file, '--endpoint-url', emu.moto.endpoint, '--detach'];
    const names = labNames(spec.name);
    try {
      const before = await hostTraces();
      const started = await runCli([...up, '--json']);
      assert.equal(started.code, 0, started.stderr);
      assert.deepEqual(await hostTraces(), before, "nothing of the lab's in the host's namespace");
      const description = JSON.parse(started.stdout);
      assert.equal(description.stack, spec.name);
      assert.equal(description.zones.length, 2);
      for (const zone of description.zones) {
        assert.match(zone.host.address, /^10\.0\.12[89]\.254$/);
        assert.match(zone.nat.instanceId, /^i-/);
        assert.match(zone.nat.publicIp, /^\d+\.\d+\.\d+\.\d+$/);
        assert.ok(zone.nat.namespace.startsWith(namespacePrefix(spec.name)));
      }
      assert.ok(description.internet.targets.some((t: { address: string }) => t.address === '198.51.100.80'));

      const status = await runCli(['lab', 'status', '--stack', spec.name]);
      assert.equal(status.code, 0, status.stderr);
      for (const zone of description.zones) {
        assert.match(
          status.stdout,
          new RegExp(`${zone.availabilityZone} .* leaves through NAT ${zone.nat.instanceId} \\(the zone's own\\) as ${zone.nat.publicIp}`),
        );
      }

      const pinged = await runCli([
        'lab',
        'exec',
        '--stack',
        spec.name,
        'ap-northeast-1a',
        '--',
        'ping',
        '-c',
        '2',
        '-i',
        '0.2',
        '198.51.100.80',
      ]);
      assert.equal(pinged.code, 0, pinged.stderr);
      const failed = await runCli(['lab', 'exec', '--stack', spec.name, 'nat/ap-northeast-1c', '--', 'sh', '-c', 'exit 7']);
      assert.equal(failed.code, 7, "exec exits with the command's code");
      assertOneLineError(await runCli(['lab', 'exec', '--stack', spec.name, 'mars', '--', 'true']), /"mars" is not a place in the lab/);

      assertOneLineError(
        await runCli(up),
        new RegExp(`a lab of stack ${spec.name} is already running \\(pid \\d+\\); stop it with: dupsworks lab down --stack ${spec.name}`),
      );

      process.kill(description.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 300));
      assert.ok((await labNamespaces(spec.name)).length >= 7, 'a killed lab leaves its namespaces');
      const again = await runCli(up);
      assert.equal(again.code, 0, again.stderr);
      const log = await run('cat', [`/run/dupsworks-lab/${spec.name}.log`]);
      assert.match(log.stdout, /Removed what an earlier lab of this stack left: /);
    } finally {
      const downed = await runCli(['lab', 'down', '--stack', spec.name]);
      await rm(`/run/dupsworks-lab/${spec.name}.log`, { force: true });
      assert.equal(downed.code, 0, downed.stderr);
      assert.match(downed.stdout, new RegExp(`The lab of stack ${spec.name} is down`));
    }
    assert.deepEqual(await labNamespaces(spec.name), [], 'no namespace left (their veths went with them)');
    assert.deepEqual(
      readdirSync('/etc/netns').filter((e) => e.startsWith(namespacePrefix(spec.name))),
      [],
      'no hosts file left',
    );
    assert.equal(existsSync(names.stateDir), false, 'no state left');
    const { stdout: ps } = await run('ps', ['-eo', 'args']);
    assert.doesNotMatch(ps, new RegExp(`lab up -f ${file}`), 'no lab process left');
  });
});
