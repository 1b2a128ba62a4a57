// The reconcile loop against moto, driven as a library (a short interval, its log recorded): what
// it heals, what it leaves alone or for a person, how it waits after failures, how two of them
// share a stack through the lock, and how it stops. The command line's own part (exit codes,
// signals) is reconcile-cli.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import type { EngineOptions } from '../../src/engine.js';
import { DupsworksError } from '../../src/errors.js';
import { Reconciler, type LogEntry, type ReconcilerOptions } from '../../src/reconcile/loop.js';
import type { Spec } from '../../src/spec/types.js';
import { failOver, privateRouteTarget } from '../support/damage.js';
import { startWatchers } from '../support/watchers.js';
import {
  assertNoChanges,
  byResource,
  converge,
  instancesOf,
  killNat,
  liveNat,
  makeEngine,
  makeSpec,
  useEmulator,
} from '../support/stack.js';

const interrupted = (signal = 'SIGTERM') => new DupsworksError('Interrupted', 'user', `interrupted by ${signal}`);

describe('the reconcile loop', () => {
  const emu = useEmulator();

  /** A loop on `spec` against the proxy, its log kept; stop() ends it and waits for its last round. */
  function loop(spec: Spec, options: Partial<ReconcilerOptions> = {}, engine: Partial<EngineOptions> = {}) {
    const entries: LogEntry[] = [];
    const controller = new AbortController();
    const waiters: { check: () => boolean; resolve: () => void }[] = [];
    const reconciler = new Reconciler({
      spec,
      engine: (s, io) => makeEngine(s, emu.proxy.endpoint, { io, ...engine }),
      log: (entry) => {
        entries.push(entry);
        for (const w of [...waiters]) if (w.check()) waiters.splice(waiters.indexOf(w), 1) && w.resolve();
      },
      everySeconds: 0.3,
      allowed: { replace: false, destroy: false },
      signal: controller.signal,
      ...options,
    });
    let running: ReturnType<Reconciler['run']> | undefined;
    return {
      entries,
      start() {
        running = reconciler.run();
        return running;
      },
      /** Resolves once the log satisfies `check` (fails after `timeoutMs`). */
      until(check: (entries: LogEntry[]) => boolean, timeoutMs = 60_000): Promise<void> {
        if (check(entries)) return Promise.resolve();
        return new Promise((resolve, reject) => {
          // Timed out, the loop is stopped too: the test fails instead of the file hanging.
          const timer = setTimeout(() => {
            controller.abort(interrupted());
            reject(new Error(`timed out; the log:\n${text(entries)}`));
          }, timeoutMs);
          waiters.push({ check: () => check(entries), resolve: () => (clearTimeout(timer), resolve()) });
        });
      },
      async stop() {
        controller.abort(interrupted());
        return running;
      },
    };
  }

  it('heals a NAT killed while it runs, and the round after the heal is a no-op', async () => {
    const spec = makeSpec({ name: 'reconcile-heal' });
    const l = loop(spec);
    void l.start();
    // From an empty account: the first round builds the stack, the next finds nothing to do.
    await l.until((e) => outcomes(e).includes('converged'));
    assert.deepEqual(outcomes(l.entries).slice(0, 2), ['healed', 'converged']);
    const dead = await killNat(emu.ec2, spec.name, 'ap-northeast-1c');
    // The heal of the dead NAT, not the create of the first round's build.
    const healOfDead = (x: LogEntry) =>
      x.event === 'heal' &&
      x.message.startsWith('nat/ap-northeast-1c: created') &&
      x.message.includes(`(${dead.InstanceId} is terminated)`);
    await l.until((e) => e.some(healOfDead));
    const healRound = l.entries.find(healOfDead)!.round!;
    await l.until((e) => e.some((x) => x.event === 'round' && x.round === healRound + 1));
    const last = await l.stop();
    assert.equal(last?.outcome, 'stopped');

    const fresh = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    const heals = l.entries.filter((x) => x.round === healRound && x.event === 'heal').map((x) => x.message);
    assert.ok(heals.includes(`nat/ap-northeast-1c: created ${fresh.InstanceId} (${dead.InstanceId} is terminated)`), heals.join('\n'));
    assert.ok(
      heals.some((m) => m.startsWith('route/private/ap-northeast-1c/0.0.0.0/0: updated') && m.includes(`-> ${fresh.InstanceId}`)),
      heals.join('\n'),
    );
    assert.equal(roundOf(l.entries, healRound)?.data?.outcome, 'healed');
    assert.equal(roundOf(l.entries, healRound + 1)?.data?.outcome, 'converged', 'the round after the heal has nothing to do');
    assert.equal(await privateRouteTarget({ ec2: emu.ec2, spec }, 0), fresh.InstanceId);
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
    assert.equal(await makeEngine(spec, emu.proxy.endpoint).lockHolder(), undefined, 'the lock is free');
  });

  it('two reconcilers on one stack: one heals, the other skips while it holds the lock, never both', async () => {
    const spec = makeSpec({ name: 'reconcile-two' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    await killNat(emu.ec2, spec.name, 'ap-northeast-1c');
    // The replacement stays pending a while, so the two loops' rounds overlap.
    emu.proxy.setOptions({ pendingInstanceMs: 2500 });
    const loops = [loop(spec), loop(spec)];
    for (const l of loops) void l.start();
    const healed = (e: LogEntry[]) => e.some((x) => x.event === 'heal');
    let healer: (typeof loops)[number] | undefined;
    try {
      await eventually(() => loops.some((l) => healed(l.entries)));
      healer = loops.find((l) => healed(l.entries))!;
      // Both go on to find the stack converged.
      const after = healer.entries.find((x) => x.event === 'heal')!.time;
      for (const l of loops) await l.until((e) => e.some((x) => x.event === 'round' && x.data?.outcome === 'converged' && x.time > after));
    } finally {
      for (const l of loops) await l.stop();
      emu.proxy.setOptions({ pendingInstanceMs: 0 });
    }
    const other = loops.find((l) => l !== healer)!;

    assert.ok(!healed(other.entries), `the other applied too:\n${text(other.entries)}`);
    const skips = other.entries.filter((x) => x.event === 'round' && x.data?.outcome === 'skipped');
    assert.ok(skips.length > 0, `the other never found the lock held:\n${text(other.entries)}`);
    assert.match(
      skips[0]!.message,
      new RegExp(`^skipped: the lock of stack reconcile-two is held by .+@.+ \\(pid ${process.pid}, reconcile\\) since `),
    );
    const replaces = healer!.entries.filter((x) => x.event === 'heal' && x.message.startsWith('nat/ap-northeast-1c: created'));
    assert.equal(replaces.length, 1);
    const all = await instancesOf(emu.ec2, byResource(spec.name, 'nat/ap-northeast-1c'));
    assert.equal(all.length, 2, `the dead NAT and one replacement: ${all.map((i) => `${i.InstanceId} ${i.State?.Name}`).join(', ')}`);
    await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
  });

  it('backs off after failed rounds (an endpoint failing), capped, and returns to its interval once a round succeeds', async () => {
    const spec = makeSpec({ name: 'reconcile-backoff' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    emu.proxy.setOptions({ serverErrorRate: 1 });
    const l = loop(spec, { everySeconds: 0.2, maxBackoffSeconds: 0.8, random: () => 0.5 }, { retryTimeoutSeconds: 0.3 });
    void l.start();
    // After the fourth failed round the endpoint recovers.
    await l.until((e) => {
      const failed = e.filter((x) => x.event === 'round' && x.data?.outcome === 'failed').length;
      if (failed === 4) emu.proxy.setOptions({ serverErrorRate: 0 });
      return failed >= 4;
    });
    await l.until((e) => e.filter((x) => x.event === 'sleep').length >= 6);
    await l.stop();

    const rounds = l.entries.filter((x) => x.event === 'round');
    assert.deepEqual(
      rounds.slice(0, 6).map((x) => x.data?.outcome),
      ['failed', 'failed', 'failed', 'failed', 'converged', 'converged'],
    );
    assert.match(rounds[0]!.message, /^failed: .*(InternalError|Unavailable)/);
    const sleeps = l.entries.filter((x) => x.event === 'sleep').slice(0, 6);
    assert.deepEqual(
      sleeps.map((x) => [x.data?.seconds, x.data?.failures]),
      [
        [0.4, 1],
        [0.8, 2],
        [0.8, 3],
        [0.8, 4],
        [0.2, 0],
        [0.2, 0],
      ],
    );
    // It really waited that long: from each sleep to the next round's start.
    const starts = l.entries.filter((x) => x.event === 'round-start').slice(1);
    sleeps.slice(0, 5).forEach((s, i) => {
      const waited = Date.parse(starts[i]!.time) - Date.parse(s.time);
      assert.ok(waited >= (s.data!.seconds as number) * 1000 - 5, `waited ${waited} ms for a sleep of ${s.data!.seconds}s`);
    });
    assert.equal(await makeEngine(spec, emu.proxy.endpoint).lockHolder(), undefined, 'failed rounds released the lock');
  });

  it('says when a failover is in effect, and leaves it alone', async () => {
    const spec = makeSpec({ name: 'reconcile-failover' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const world = { ec2: emu.ec2, spec };
    const neighbour = await failOver(world, 0);
    const l = loop(spec, { once: true });
    const last = await l.start();
    assert.equal(last.outcome, 'converged');
    const failover = l.entries.find((x) => x.event === 'failover');
    assert.ok(failover, text(l.entries));
    assert.equal(failover.level, 'warn');
    assert.equal(
      failover.message,
      `failover in effect: route/private/ap-northeast-1c/0.0.0.0/0 is served by nat/ap-northeast-1a (${neighbour}) instead of nat/ap-northeast-1c; left as it is while that NAT runs`,
    );
    assert.equal(await privateRouteTarget(world, 0), neighbour, 'the route still goes through the neighbour');
  });

  it('holds back replacing healthy NATs for a spec change, touching nothing, until --allow-replace', async () => {
    const spec = makeSpec({ name: 'reconcile-rollout' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const before = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    emu.proxy.resetCounts();
    const bigger: Spec = { ...spec, nat: { ...spec.nat, instanceType: 't3.small' } };

    const held = loop(bigger, { once: true });
    assert.equal((await held.start()).outcome, 'refused');
    const lines = held.entries.filter((x) => x.event === 'held-back').map((x) => x.message);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(
      lines.find((m) => m.startsWith('held back: nat/ap-northeast-1c:'))!,
      /^held back: nat\/ap-northeast-1c: replace, a healthy resource: instanceType t3\.micro -> t3\.small; allow it with --allow-replace, or apply it by hand; with it wait route\//,
    );
    assert.equal((await liveNat(emu.ec2, spec.name, 'ap-northeast-1c')).InstanceId, before.InstanceId, 'untouched');
    const lock = ['CreateTable', 'DescribeTable', 'PutItem', 'GetItem', 'DeleteItem'];
    const mutating = [...emu.proxy.calls().keys()].filter((a) => !lock.includes(a) && !/^(Describe|Get)/.test(a));
    assert.deepEqual(mutating, [], 'nothing but reads was sent to EC2');

    // Allowed, it is a rollout: each new NAT waits for its watcher's health tag (the agents' stand-in writes it).
    const watchers = startWatchers(emu.ec2, spec);
    const allowed = loop(
      bigger,
      { once: true, allowed: { replace: true, destroy: false } },
      { readyTimeoutSeconds: 20, readyPollSeconds: 0.2 },
    );
    try {
      assert.equal((await allowed.start()).outcome, 'healed');
    } finally {
      await watchers.stop();
    }
    assert.ok(
      allowed.entries.some((x) => x.event === 'rollout'),
      'the rollout is logged',
    );
    assert.equal(allowed.entries.filter((x) => x.event === 'ready' && x.data?.ready === true).length, 2, 'each new NAT was ready');
    const after = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    assert.equal(after.InstanceType, 't3.small');
    assertNoChanges(await makeEngine(bigger, emu.proxy.endpoint).plan());
  });

  it('holds back deleting what the spec no longer names until --allow-destroy', async () => {
    const spec = makeSpec({ name: 'reconcile-destroy' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    // A resource tagged as the stack's that the spec does not name: an older spec's, say.
    const vpc = (await emu.ec2.send(new DescribeVpcsCommand({ Filters: byResource(spec.name, 'vpc') }))).Vpcs![0]!;
    const tags = [
      { Key: 'dupsworks:stack', Value: spec.name },
      { Key: 'dupsworks:resource', Value: 'security-group/bastion' },
    ];
    const { GroupId } = await emu.ec2.send(
      new CreateSecurityGroupCommand({
        VpcId: vpc.VpcId!,
        GroupName: 'bastion',
        Description: 'from an older spec',
        TagSpecifications: [{ ResourceType: 'security-group', Tags: tags }],
      }),
    );
    const exists = async () =>
      (
        (await emu.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [GroupId!] }] }))).SecurityGroups ??
        []
      ).length === 1;

    const held = loop(spec, { once: true });
    assert.equal((await held.start()).outcome, 'refused');
    assert.deepEqual(
      held.entries.filter((x) => x.event === 'held-back').map((x) => x.message),
      ['held back: security-group/bastion: delete, not in the spec; allow it with --allow-destroy, or apply it by hand'],
    );
    assert.ok(await exists(), 'still there');

    const allowed = loop(spec, { once: true, allowed: { replace: false, destroy: true } });
    assert.equal((await allowed.start()).outcome, 'healed');
    assert.ok(!(await exists()), 'deleted');
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
  });

  it('stopped during a round: the running changes finish, nothing new starts, the lock is released; the next round converges', async () => {
    const spec = makeSpec({ name: 'reconcile-stop' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const dead = await killNat(emu.ec2, spec.name, 'ap-northeast-1c');
    emu.proxy.setOptions({ pendingInstanceMs: 1500 });
    const l = loop(spec);
    const done = l.start();
    await l.until((e) => e.some((x) => x.message === 'nat/ap-northeast-1c: create started'));
    void l.stop();
    const last = await done;
    emu.proxy.setOptions({ pendingInstanceMs: 0 });
    assert.equal(last.outcome, 'stopped');
    assert.equal(last.error?.message, 'interrupted by SIGTERM');
    const round = roundOf(l.entries, 1)!;
    assert.match(round.message, /^stopped \(interrupted by SIGTERM\); done: nat\/ap-northeast-1c \(create\); not done: /);
    assert.match(round.message, /route\/private\/ap-northeast-1c\/0\.0\.0\.0\/0 \(update\)/);
    assert.equal(await makeEngine(spec, emu.proxy.endpoint).lockHolder(), undefined, 'the lock is released');
    const launched = (await instancesOf(emu.ec2, byResource(spec.name, 'nat/ap-northeast-1c'))).filter(
      (i) => i.InstanceId !== dead.InstanceId,
    );
    assert.equal(launched.length, 1);
    assert.equal(launched[0]!.SourceDestCheck, false, 'the NAT being launched finished its create');

    const again = loop(spec, { once: true });
    assert.equal((await again.start()).outcome, 'healed');
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
  });
});

async function eventually(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function outcomes(entries: LogEntry[]): unknown[] {
  return entries.filter((x) => x.event === 'round').map((x) => x.data?.outcome);
}

function roundOf(entries: LogEntry[], round: number): LogEntry | undefined {
  return entries.find((x) => x.event === 'round' && x.round === round);
}

function text(entries: LogEntry[]): string {
  return entries.map((x) => `${x.time} ${x.level} ${x.round ?? '-'} ${x.event}: ${x.message}`).join('\n');
}
