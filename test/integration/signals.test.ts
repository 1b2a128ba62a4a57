// The command line under interruption and with its output cut: what a user's terminal, shell
// pipeline, cron or systemd does to it. Signals, exit codes, the "held by" message and a closed
// pipe are what the CLI itself does, so these run the real CLI as a child process.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { BIN, cliEnv, runCli, startCli, tempFile, ROOT, watch } from '../support/cli.js';
import { byResource, converge, instancesOf, makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

describe('the command line under interruption', () => {
  const emu = useEmulator();
  const aws = () => ['--endpoint-url', emu.proxy.endpoint];
  let n = 0;
  const specFile = async () => {
    const spec = makeSpec({ name: `signals-${++n}` });
    return { spec, file: await tempFile('spec.yaml', specYaml(spec)) };
  };

  it('SIGINT mid-apply: running changes finish, nothing new starts, the summary, the lock released, exit 130; apply again converges', async () => {
    const { spec, file } = await specFile();
    // NATs stay pending a while: the interrupt lands while they are being created.
    emu.proxy.setOptions({ pendingInstanceMs: 2000 });
    const run = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve']));
    await run.until(/nat\/[\w-]+: Creating\.\.\./);
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130, run.stderr);
    assert.match(run.stderr, /Interrupt received\. Stopping gracefully/);
    assert.match(run.stderr, /Stopping \(interrupted by SIGINT\): no new changes start; waiting up to 60s for .*nat\//);
    assert.match(run.stdout, /Apply stopped \(interrupted by SIGINT\)\. Done: \d+ added/);
    assert.match(run.stdout, /not started {2}route\/private\/[\w-]+\/0\.0\.0\.0\/0 \(create\): stopped first/);
    assert.match(run.stdout, /Run the same command again to finish/);
    // Every NAT that was launched finished its create: source/dest check is off on each.
    const nats = await instancesOf(emu.ec2, [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }]);
    assert.ok(nats.length > 0, 'a NAT was being created');
    for (const nat of nats) assert.equal(nat.SourceDestCheck, false, `${nat.InstanceId} has source/dest check off`);
    assert.equal(await makeEngine(spec, emu.proxy.endpoint).lockHolder(), undefined, 'the lock was released');

    emu.proxy.setOptions({ pendingInstanceMs: 0 });
    const again = await runCli(['apply', '-f', file, ...aws(), '--auto-approve']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /Apply complete!/);
    const engine = makeEngine(spec, emu.proxy.endpoint);
    await converge(engine);
    for (const az of ['ap-northeast-1c', 'ap-northeast-1a']) {
      const live = (await instancesOf(emu.ec2, byResource(spec.name, `nat/${az}`))).filter((i) => i.State?.Name === 'running');
      assert.equal(live.length, 1, `one NAT in ${az}`);
    }
  });

  it('SIGTERM mid-apply exits 143 after the summary', async () => {
    const { spec, file } = await specFile();
    emu.proxy.setOptions({ pendingInstanceMs: 1500 });
    const run = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve']));
    await run.until(/: Creation complete after/);
    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    assert.equal(code, 143, run.stderr);
    assert.match(run.stdout, /Apply stopped \(interrupted by SIGTERM\)/);
    emu.proxy.setOptions({ pendingInstanceMs: 0 });
    await converge(makeEngine(spec, emu.proxy.endpoint));
  });

  it('a second SIGINT exits at once, without waiting for the running changes', async () => {
    const { spec, file } = await specFile();
    emu.proxy.setOptions({ pendingInstanceMs: 20_000 });
    const run = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve']));
    await run.until(/nat\/[\w-]+: Creating\.\.\./);
    run.child.kill('SIGINT');
    await run.until(/Interrupt received/);
    const second = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.exited;
    assert.equal(code, 130);
    assert.ok(Date.now() - second < 3000, `exited ${Date.now() - second} ms after the second interrupt`);
    assert.match(run.stderr, /Two interrupts received\. Exiting immediately/);
    assert.doesNotMatch(run.stdout, /Apply stopped/, 'no summary: it did not wait');
    emu.proxy.setOptions({ pendingInstanceMs: 0 });
    // The lock it left expires by itself; break it rather than wait a minute.
    const engine = makeEngine(spec, emu.proxy.endpoint);
    const holder = await engine.lockHolder();
    assert.ok(holder, 'the lock was left behind');
    await engine.forceUnlock(holder.id);
    await converge(engine);
  });

  it('a closed stdout (apply | head -1) never aborts the apply: it completes and exits 0', async () => {
    const { spec, file } = await specFile();
    const args = ['apply', '-f', file, ...aws(), '--auto-approve'].map((a) => `'${a}'`).join(' ');
    const shell = spawn('bash', ['-c', `'${process.execPath}' '${BIN}' ${args} | head -1; exit "\${PIPESTATUS[0]}"`], {
      cwd: ROOT,
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = watch(shell);
    const { code } = await run.exited;
    assert.equal(run.stdout.trim().split('\n').length, 1, 'head printed one line');
    assert.equal(code, 0, `apply's own exit code:\n${run.stderr}`);
    assert.match(run.stderr, /Creation complete/, 'progress still reached stderr');
    // The world is built: a fresh plan is empty.
    const plan = await makeEngine(spec, emu.proxy.endpoint).plan();
    assert.deepEqual(
      plan.changes.filter((c) => c.action !== 'no-op').map((c) => c.id),
      [],
    );
  });
});

describe('the command line and the lock', () => {
  const emu = useEmulator();
  const aws = () => ['--endpoint-url', emu.proxy.endpoint];
  const spec = makeSpec({ name: 'cli-locked' });
  let file: string;
  before(async () => {
    file = await tempFile('spec.yaml', specYaml(spec));
  });

  it('a blocked apply says who holds the lock and since when, Terraform-style, exits 1, and changes nothing', async () => {
    const holder = await makeEngine(spec, emu.proxy.endpoint).lock('destroy', { waitSeconds: 0, command: 'dupsworks destroy -f x.yaml' });
    emu.proxy.resetCounts();
    const blocked = await runCli(['apply', '-f', file, ...aws(), '--auto-approve']);
    assert.equal(blocked.code, 1);
    const info = holder.info;
    const expected = [
      'Error: Error acquiring the stack lock',
      '',
      `the lock of stack cli-locked is held by ${info.user}@${info.host} (pid ${info.pid}, destroy) since ${info.since}. Another apply, destroy or reconcile of this stack is running, or one died holding the lock.`,
      'Lock Info:',
      `  ID:        ${info.id}`,
      `  Stack:     cli-locked (DynamoDB table dupsworks-locks)`,
      `  Who:       ${info.user}@${info.host}, pid ${info.pid}`,
      '  Operation: destroy',
      '  Command:   dupsworks destroy -f x.yaml',
      `  Since:     ${info.since}`,
    ];
    assert.deepEqual(blocked.stderr.trim().split('\n').slice(0, expected.length), expected, blocked.stderr);
    assert.match(blocked.stderr, new RegExp(`to break it sooner: dupsworks force-unlock -f ${file} ${info.id}`));
    assert.deepEqual(
      [...emu.proxy.calls().keys()].filter((a) => !['PutItem', 'GetItem'].includes(a)),
      [],
      'only the lock was tried: not even a read of the stack',
    );

    // With --lock-timeout it waits, says so, and goes on once the lock is released (released only
    // once it says it waits: however slowly the CLI starts, it must find the lock held).
    const waiting = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve', '--lock-timeout', '30s']));
    await waiting.until(/Acquiring the lock of stack cli-locked: held by .* since .*; waiting up to 30s\.\.\./);
    await holder.release();
    const { code } = await waiting.exited;
    assert.equal(code, 0, waiting.stderr);
    assert.match(waiting.stdout, /Apply complete!/);
  });

  it('SIGINT while waiting for the lock: stops at once, exit 130, nothing changed, the holder untouched', async () => {
    const holder = await makeEngine(spec, emu.proxy.endpoint).lock('apply', { waitSeconds: 0 });
    const waiting = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve', '--lock-timeout', '5m']));
    await waiting.until(/Acquiring the lock of stack cli-locked: held by .*; waiting up to 300s/);
    const sent = Date.now();
    waiting.child.kill('SIGINT');
    const { code } = await waiting.exited;
    assert.equal(code, 130, waiting.stderr);
    assert.ok(Date.now() - sent < 3000, `stopped ${Date.now() - sent} ms after the interrupt`);
    assert.match(waiting.stderr, /Stopped before any change \(interrupted by SIGINT\)\./);
    assert.equal((await makeEngine(spec, emu.proxy.endpoint).lockHolder())?.id, holder.info.id, "the holder's lock stays");
    await holder.release();
  });

  it('a holder killed with SIGKILL blocks others no longer than its lease; force-unlock frees it at once', async () => {
    emu.proxy.setOptions({ pendingInstanceMs: 3000 });
    const leaseSeconds = 3;
    const lease = ['--lock-lease', String(leaseSeconds)];
    const killed = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve', ...lease]));
    await killed.until(/Creating\.\.\./);
    killed.child.kill('SIGKILL');
    await killed.exited;
    const diedAt = Date.now();
    emu.proxy.setOptions({ pendingInstanceMs: 0 });

    // Asked in-process: a CLI started now may take longer than the lease to start on a loaded machine.
    const held = await makeEngine(spec, emu.proxy.endpoint).lockHolder();
    assert.equal(held?.pid, killed.child.pid, 'held by the killed run right after the kill');

    const takeover = watch(startCli(['apply', '-f', file, ...aws(), '--auto-approve', ...lease, '--lock-timeout', '60']));
    await takeover.until(/./);
    const startedAfter = Date.now() - diedAt;
    await takeover.until(/Took over the expired lock of stack cli-locked, held by .* since /);
    const blockedFor = Date.now() - diedAt;
    // Blocked until the lease ran out, or not at all when the CLI only got going after that.
    const bound = Math.max(leaseSeconds * 1000, startedAfter) + 2000;
    assert.ok(
      blockedFor < bound,
      `took over ${blockedFor} ms after the kill (${leaseSeconds} s lease; the CLI spoke after ${startedAfter} ms)`,
    );
    const { code } = await takeover.exited;
    assert.equal(code, 0, takeover.stderr);
    await converge(makeEngine(spec, emu.proxy.endpoint));

    // force-unlock: refused for a wrong ID, then breaks the lock of a holder that is gone.
    const holder = await makeEngine(spec, emu.proxy.endpoint).lock('apply', { waitSeconds: 0 });
    const wrong = await runCli(['force-unlock', '-f', file, ...aws(), 'not-the-id', '--auto-approve']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`held under ID ${holder.info.id}.*nothing was unlocked`));
    const unlocked = await runCli(['force-unlock', '-f', file, ...aws(), holder.info.id, '--auto-approve']);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.match(unlocked.stdout, new RegExp(`The lock of stack cli-locked \\(ID ${holder.info.id}, held by .*\\) is broken\\.`));
    const after = await runCli(['apply', '-f', file, ...aws(), '--auto-approve']);
    assert.equal(after.code, 0, after.stderr);
    await holder.release();
  });
});
