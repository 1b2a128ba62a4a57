// `dupsworks reconcile` as a user, systemd or cron runs it: the exit codes of --once, its log on
// stdout (text and JSON), bad input, and signals. The loop's logic against moto is reconcile.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort } from '../support/moto.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEnv, runCli, startCli, tempFile, watch } from '../support/cli.js';
import {
  assertNoChanges,
  byResource,
  converge,
  instancesOf,
  killNat,
  liveNat,
  makeEngine,
  makeSpec,
  specYaml,
  useEmulator,
} from '../support/stack.js';
import type { Spec } from '../../src/spec/types.js';

/** A loop that has not done what a test waits for by then is killed: the test fails instead of hanging. */
const LOOP_MS = 90_000;

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR|DEBUG) /;

describe('dupsworks reconcile', () => {
  const emu = useEmulator();
  const aws = () => ['--endpoint-url', emu.proxy.endpoint];
  const fileOf = (spec: Spec) => tempFile('stack.yaml', specYaml(spec));

  it('--once exits 0 once it healed (a dead NAT replaced), 2 when changes wait for a person, 1 on an error', async () => {
    const spec = makeSpec({ name: 'once-codes' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const dead = await killNat(emu.ec2, spec.name, 'ap-northeast-1a');

    const healed = await runCli(['reconcile', '-f', await fileOf(spec), '--once', ...aws()]);
    assert.equal(healed.code, 0, healed.stdout + healed.stderr);
    const lines = healed.stdout.trim().split('\n');
    for (const line of lines) assert.match(line, LINE);
    const fresh = await liveNat(emu.ec2, spec.name, 'ap-northeast-1a');
    assert.ok(
      lines.some((l) => l.endsWith(`INFO  round 1: nat/ap-northeast-1a: created ${fresh.InstanceId} (${dead.InstanceId} is terminated)`)),
      healed.stdout,
    );
    assert.match(lines.at(-1)!, /INFO  round 1: healed: 3 changes made \(/);
    assert.equal(healed.stderr, '');

    // A spec change that would replace every NAT: held back, exit 2, nothing touched. As JSON.
    const bigger = await fileOf({ ...spec, nat: { ...spec.nat, instanceType: 't3.small' } });
    const held = await runCli(['reconcile', '-f', bigger, '--once', '--log-format', 'json', ...aws()]);
    assert.equal(held.code, 2, held.stdout + held.stderr);
    const entries = held.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      entries.map((e) => e.event),
      ['start', 'held-back', 'held-back', 'round'],
    );
    assert.equal(entries.at(-1)!.outcome, 'refused');
    const nat = entries.find((e) => e.id === 'nat/ap-northeast-1a')!;
    assert.equal(nat.flag, '--allow-replace');
    assert.equal(nat.level, 'warn');
    assert.equal(nat.stack, 'once-codes');
    assert.equal((await liveNat(emu.ec2, spec.name, 'ap-northeast-1a')).InstanceId, fresh.InstanceId, 'untouched');

    // Nothing answers at the endpoint: one error line, exit 1, at once.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const failed = await runCli(['reconcile', '-f', await fileOf(spec), '--once', '--endpoint-url', nowhere]);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, new RegExp(`ERROR round 1: failed: .*${nowhere.replace(/\./g, '\\.')}.*--endpoint-url`));
  });

  it('refuses a bad spec before it starts: one line per problem on stderr, exit 1, no AWS call', async () => {
    const text = specYaml(makeSpec({ name: 'bad-spec' })).replace('cidr: 10.0.0.0/16', 'cidr: 10.0.0.0/33');
    const file = await tempFile('bad.yaml', text);
    emu.proxy.resetCounts();
    const run = await runCli(['reconcile', '-f', file, '--every', '1m', ...aws()]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, new RegExp(`^${file}:5:9: vpc\\.cidr: `, 'm'));
    assert.match(run.stderr, /Error: .*: 1 problem; nothing was sent to AWS\n$/);
    assert.equal(emu.proxy.calls().size, 0);
  });

  it('carries on after failed rounds: credentials that appear after it started are used by a later round', async () => {
    const spec = makeSpec({ name: 'late-profile' });
    const dir = await mkdtemp(join(tmpdir(), 'dupsworks-aws-'));
    const env = cliEnv({
      AWS_PROFILE: 'late',
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_CONFIG_FILE: join(dir, 'config'),
    });
    const loop = watch(startCli(['reconcile', '-f', await fileOf(spec), '--every', '1s', '--max-backoff', '2s', ...aws()], env), LOOP_MS);
    await loop.until(/ERROR round 1: failed: AWS profile "late" is not in the shared config or credentials file/, 'stdout');
    await writeFile(join(dir, 'credentials'), '[late]\naws_access_key_id = testing\naws_secret_access_key = testing\n');
    await loop.until(/INFO  round \d+: healed: 22 changes made/, 'stdout');
    loop.child.kill('SIGTERM');
    assert.equal((await loop.exited).code, 143, loop.stdout + loop.stderr);
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
    await rm(dir, { recursive: true });
  });

  it('SIGTERM while it sleeps exits 143 at once, and leaves the lock it found held to its holder', async () => {
    const spec = makeSpec({ name: 'sleeping' });
    const holder = await makeEngine(spec, emu.proxy.endpoint).lock('apply', { waitSeconds: 0, command: 'dupsworks apply -f x.yaml' });
    const loop = watch(startCli(['reconcile', '-f', await fileOf(spec), '--every', '1h', ...aws()]), LOOP_MS);
    await loop.until(/round 1: skipped: the lock of stack sleeping is held by .* \(pid \d+, apply\) since /, 'stdout');
    const sent = Date.now();
    loop.child.kill('SIGTERM');
    const { code } = await loop.exited;
    assert.equal(code, 143, loop.stdout + loop.stderr);
    assert.ok(Date.now() - sent < 1000, `exited ${Date.now() - sent} ms after SIGTERM`);
    assert.match(loop.stdout, /INFO  stopped \(interrupted by SIGTERM\) while waiting for the next round\n$/);
    assert.equal((await makeEngine(spec, emu.proxy.endpoint).lockHolder())?.id, holder.info.id, "the holder's lock stays");
    await holder.release();
  });

  it('SIGTERM during a round: the running changes finish, the lock is released, exit 143; the next round converges', async () => {
    const spec = makeSpec({ name: 'stopped-round' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const dead = await killNat(emu.ec2, spec.name, 'ap-northeast-1c');
    emu.proxy.setOptions({ pendingInstanceMs: 2000 });
    const file = await fileOf(spec);
    const loop = watch(startCli(['reconcile', '-f', file, '--every', '1h', '--debug', ...aws()]), LOOP_MS);
    await loop.until(/round 1: nat\/ap-northeast-1c: create started/, 'stdout');
    loop.child.kill('SIGTERM');
    const { code } = await loop.exited;
    emu.proxy.setOptions({ pendingInstanceMs: 0 });
    assert.equal(code, 143, loop.stdout + loop.stderr);
    assert.match(loop.stdout, /WARN  round 1: interrupted by SIGTERM: stopping the round/);
    assert.match(loop.stdout, /INFO  round 1: stopped \(interrupted by SIGTERM\); done: nat\/ap-northeast-1c \(create\); not done: /);
    assert.equal(await makeEngine(spec, emu.proxy.endpoint).lockHolder(), undefined, 'the lock was released');
    const launched = (await instancesOf(emu.ec2, byResource(spec.name, 'nat/ap-northeast-1c'))).filter(
      (i) => i.InstanceId !== dead.InstanceId,
    );
    assert.equal(launched.length, 1);
    assert.equal(launched[0]!.SourceDestCheck, false);

    const again = await runCli(['reconcile', '-f', file, '--once', ...aws()]);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /round 1: healed: /);
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
  });
});
