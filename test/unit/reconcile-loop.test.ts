// The reconcile loop's own logic, around an engine that does what each test scripts: back-off,
// once, stopping, waking, the spec read again, what each round's outcome is, and its log lines.
// (The loop against the real engine and moto is test/integration/reconcile.test.ts.)

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Engine, RunReport, RunRequest } from '../../src/engine.js';
import { DupsworksError } from '../../src/errors.js';
import { stamped, type IoHost } from '../../src/io.js';
import { LockHeldError, type LockInfo } from '../../src/lock/lease.js';
import { makePlan, PlanError, type Plan } from '../../src/planner/plan.js';
import type { Outputs } from '../../src/planner/resource.js';
import { formatEntry } from '../../src/reconcile/log.js';
import { exitCodeFor, nextDelaySeconds, Reconciler, type LogEntry, type ReconcilerOptions } from '../../src/reconcile/loop.js';
import { duration } from '../../src/reconcile/text.js';
import { kindsFor } from '../../src/resources/index.js';
import type { Spec } from '../../src/spec/types.js';
import { desiredResources } from '../../src/topology/index.js';
import { makeSpec, natObserved, observedStack, type NatStateFixture, previewContext } from './fixtures.js';

type Script = (request: RunRequest, io: ReturnType<typeof stamped>, round: number) => Promise<RunReport>;

const converged: Script = async () => ({ operation: 'apply', plan: { changes: [], unclaimed: [], stateHash: '' } });
const failing: Script = async () => {
  throw new DupsworksError('InternalError', 'aws', 'EC2 is having a bad day');
};

const holder: LockInfo = {
  id: 'lease-1',
  stack: 'test-stack',
  table: 'dupsworks-locks',
  user: 'ops',
  host: 'bastion-1',
  pid: 4242,
  operation: 'reconcile',
  since: '2026-03-01T10:00:00.000Z',
  expires: '2026-03-01T10:01:00.000Z',
};

/** A reconciler around an engine whose run() is `script`; its log, and how many engines it made. */
function rig(script: Script, options: Partial<ReconcilerOptions> = {}) {
  const entries: LogEntry[] = [];
  let rounds = 0;
  let engines = 0;
  const reconciler = new Reconciler({
    spec: makeSpec(2),
    engine: (_spec, io: IoHost) => {
      engines++;
      return { run: (request: RunRequest) => script(request, stamped(io), ++rounds) } as unknown as Engine;
    },
    log: (entry) => entries.push(entry),
    everySeconds: 0.01,
    allowed: { replace: false, destroy: false },
    random: () => 0.5,
    ...options,
  });
  return { reconciler, entries, engines: () => engines, rounds: () => rounds };
}

const events = (entries: LogEntry[], event: string) => entries.filter((e) => e.event === event);

describe('the wait between rounds', () => {
  const base = { everySeconds: 60, maxBackoffSeconds: 900, jitter: 0.1, random: () => 0.5 };

  it('is the interval, give or take the jitter, while rounds succeed', () => {
    assert.equal(nextDelaySeconds({ ...base, failures: 0 }), 60);
    assert.equal(nextDelaySeconds({ ...base, failures: 0, random: () => 0 }), 54);
    assert.ok(Math.abs(nextDelaySeconds({ ...base, failures: 0, random: () => 0.999999 }) - 66) < 1e-3);
  });

  it('doubles with each failed round in a row, up to the cap, which jitter never passes', () => {
    const waits = [1, 2, 3, 4, 5, 6].map((failures) => nextDelaySeconds({ ...base, failures }));
    assert.deepEqual(waits, [120, 240, 480, 900, 900, 900]);
    assert.equal(nextDelaySeconds({ ...base, failures: 9, random: () => 0.999999 }), 900);
    assert.equal(nextDelaySeconds({ ...base, failures: 9, random: () => 0 }), 810);
  });

  it('is never shorter than the interval, whatever the cap', () => {
    assert.equal(nextDelaySeconds({ ...base, everySeconds: 3600, failures: 2 }), 3600);
  });

  it('reads as people write durations', () => {
    assert.deepEqual([0.25, 4.2, 45, 60, 90, 3600, 3900].map(duration), ['0.3s', '4.2s', '45s', '1m', '1m30s', '1h', '1h5m']);
  });
});

describe('the reconcile loop', () => {
  it('backs off after failed rounds, capped, and returns to the interval after a success', async () => {
    const stop = new AbortController();
    const { reconciler, entries, engines } = rig(
      async (request, io, round) => {
        if (round === 7) stop.abort(new DupsworksError('Interrupted', 'user', 'interrupted by SIGTERM'));
        return round <= 4 ? failing(request, io, round) : converged(request, io, round);
      },
      { maxBackoffSeconds: 0.04, signal: stop.signal },
    );
    const last = await reconciler.run();
    assert.equal(last.outcome, 'stopped');
    const sleeps = events(entries, 'sleep').map((e) => [e.data!.seconds, e.data!.failures, e.level]);
    assert.deepEqual(sleeps, [
      [0.02, 1, 'warn'],
      [0.04, 2, 'warn'],
      [0.04, 3, 'warn'],
      [0.04, 4, 'warn'],
      [0.01, 0, 'debug'],
      [0.01, 0, 'debug'],
    ]);
    assert.match(events(entries, 'sleep')[2]!.message, /^next round in 0s \(back-off after 3 failed rounds in a row\)$/);
    const outcomes = events(entries, 'round').map((e) => e.data!.outcome);
    assert.deepEqual(outcomes.slice(0, 6), ['failed', 'failed', 'failed', 'failed', 'converged', 'converged']);
    assert.match(events(entries, 'round')[0]!.message, /^failed: EC2 is having a bad day \(/);
    assert.equal(engines(), 5, 'a fresh engine after each failed round, then the same one while rounds succeed');
  });

  it('with once, runs one round and says what it came to; the exit codes follow', async () => {
    const cases: [Script, string, number][] = [
      [converged, 'converged', 0],
      [failing, 'failed', 1],
      [
        async () => {
          throw new LockHeldError(holder, 0);
        },
        'skipped',
        0,
      ],
      [
        async () => {
          throw new PlanError('subnet/x needs 10.0.0.0/24, which subnet/y holds. Make this change in two applies: first without subnet/y.');
        },
        'refused',
        2,
      ],
    ];
    for (const [script, outcome, code] of cases) {
      const { reconciler, entries, rounds } = rig(script, { once: true });
      const last = await reconciler.run();
      assert.equal(last.outcome, outcome);
      assert.equal(exitCodeFor(last.outcome as Exclude<typeof last.outcome, 'stopped'>), code);
      assert.equal(rounds(), 1);
      assert.equal(events(entries, 'sleep').length, 0);
    }
  });

  it('says who holds the lock when it skips a round, and that the engine refused a plan', async () => {
    const skipped = rig(
      async () => {
        throw new LockHeldError(holder, 0);
      },
      { once: true },
    );
    await skipped.reconciler.run();
    assert.equal(
      events(skipped.entries, 'round')[0]!.message,
      'skipped: the lock of stack test-stack is held by ops@bastion-1 (pid 4242, reconcile) since 2026-03-01T10:00:00.000Z',
    );
    const refused = rig(
      async () => {
        throw new PlanError('Make this change in two applies: first without subnet/y, then with subnet/x.');
      },
      { once: true },
    );
    await refused.reconciler.run();
    const line = events(refused.entries, 'refused')[0]!;
    assert.equal(line.level, 'error');
    assert.equal(line.message, 'the plan is refused: Make this change in two applies: first without subnet/y, then with subnet/x.');
  });

  it('asks for the lock as "reconcile", never waits for approval, and does not wait for a held lock unless told', async () => {
    let seen: RunRequest | undefined;
    const { reconciler } = rig(
      async (request) => {
        seen = request;
        return converged(request, undefined as never, 1);
      },
      { once: true, command: 'dupsworks reconcile -f stack.yaml --once' },
    );
    await reconciler.run();
    assert.deepEqual(seen?.lock, { waitSeconds: 0, command: 'dupsworks reconcile -f stack.yaml --once', as: 'reconcile' });
    assert.equal(seen?.autoApprove, true);
    assert.equal(seen?.operation, 'apply');
  });

  it('stops at once when stopped while it sleeps', async () => {
    const stop = new AbortController();
    const { reconciler, entries } = rig(converged, { everySeconds: 3600, signal: stop.signal });
    const done = reconciler.run();
    await until(() => events(entries, 'sleep').length === 1);
    const started = Date.now();
    stop.abort(new DupsworksError('Interrupted', 'user', 'interrupted by SIGTERM'));
    const last = await done;
    assert.ok(Date.now() - started < 200, `stopped after ${Date.now() - started} ms`);
    assert.equal(last.outcome, 'stopped');
    assert.equal(last.error?.message, 'interrupted by SIGTERM');
    assert.equal(events(entries, 'stopped')[0]!.message, 'stopped (interrupted by SIGTERM) while waiting for the next round');
  });

  it('passes a stop to the round under way, as its own signal, and ends with that round', async () => {
    const stop = new AbortController();
    let roundSignal: AbortSignal | undefined;
    const { reconciler, entries } = rig(
      async (request) => {
        roundSignal = request.signal;
        stop.abort(new DupsworksError('Interrupted', 'user', 'interrupted by SIGINT'));
        return { operation: 'apply', stopped: { code: 'Interrupted', fault: 'user', message: 'interrupted by SIGINT' } };
      },
      { signal: stop.signal },
    );
    const last = await reconciler.run();
    assert.equal(last.outcome, 'stopped');
    assert.notEqual(roundSignal, stop.signal, 'a signal of its own');
    assert.equal(roundSignal?.aborted, true);
    assert.match(events(entries, 'stopping')[0]!.message, /^interrupted by SIGINT: stopping the round; the lock is released/);
  });

  it('wakes for the next round at once (SIGHUP), and right after the round under way when woken in one', async () => {
    const stop = new AbortController();
    let reconciler: Reconciler;
    const r = rig(
      async (request, io, round) => {
        if (round === 2) reconciler.wake('SIGHUP');
        if (round === 3) stop.abort(new DupsworksError('Interrupted', 'user', 'interrupted by SIGTERM'));
        return converged(request, io, round);
      },
      { everySeconds: 3600, signal: stop.signal },
    );
    reconciler = r.reconciler;
    const done = reconciler.run();
    await until(() => events(r.entries, 'sleep').length === 1);
    reconciler.wake('SIGHUP');
    await done;
    assert.equal(r.rounds(), 3);
    assert.deepEqual(
      events(r.entries, 'wake').map((e) => e.message),
      ['SIGHUP: the next round starts now', 'SIGHUP: the next round starts right after this one'],
    );
    assert.deepEqual(
      events(r.entries, 'sleep').map((e) => e.data!.seconds),
      [3600, 0],
    );
  });

  it('reads the spec every round after the first: problems fail the round before any AWS call; a failed round or a changed spec makes a new engine', async () => {
    const stop = new AbortController();
    const reads: (() => Spec | string[])[] = [
      () => ['stack.yaml:3:7: vpc.cidr: "10.0.0.0/33" is not a CIDR block; write it as 10.0.0.0/16'],
      () => makeSpec(2),
      () => makeSpec(2, { instanceType: 't3.small' }),
    ];
    const r = rig(
      async (request, io, round) => {
        if (round === 3) stop.abort(new DupsworksError('Interrupted', 'user', 'interrupted by SIGTERM'));
        return converged(request, io, round);
      },
      {
        signal: stop.signal,
        readSpec: async () => {
          const read = reads.shift()!();
          return Array.isArray(read) ? { ok: false, problems: read } : { ok: true, spec: read };
        },
      },
    );
    await r.reconciler.run();
    assert.equal(r.rounds(), 3, 'the engine ran in rounds 1, 3 and 4');
    assert.equal(r.engines(), 3, 'one for round 1, a fresh one after the failed round 2, one for the changed spec');
    const problem = events(r.entries, 'spec-problem')[0]!;
    assert.equal(problem.level, 'error');
    assert.equal(problem.round, 2);
    assert.match(events(r.entries, 'round')[1]!.message, /^failed: the spec has problems \(above\); nothing was sent to AWS/);
    assert.equal(events(r.entries, 'spec-changed')[0]!.round, 4);
  });
});

describe('what a round that heals logs', () => {
  const spec = makeSpec(2);
  const ctx = previewContext();
  const dead = observedStack(desiredResources(spec)).map((o) =>
    o.id === 'nat/ap-northeast-1c' ? natObserved(o.id, { ...(o.state as NatStateFixture), state: 'shutting-down' }) : o,
  );

  it('names what it replaces and why, and where each route now points', async () => {
    const plan = await makePlan({
      desired: desiredResources(spec),
      observed: dead,
      kinds: kindsFor({ opsworks: spec.nat.manager === 'opsworks' }),
      ctx,
    });
    const apply: Script = async (request, io) => {
      const screened: Plan = request.adopt!(plan);
      io.notify({ type: 'plan-ready', operation: 'apply', plan: screened });
      const done = (operation: 'create' | 'update' | 'delete', id: string, physicalId: string, outputs?: Outputs) =>
        io.notify({ type: 'step-done', id, operation, elapsedSeconds: 1, physicalId, ...(outputs ? { outputs } : {}) });
      done('create', 'nat/ap-northeast-1c', 'i-new', { id: 'i-new', runningId: 'i-new' });
      done('update', 'route/private/ap-northeast-1c/0.0.0.0/0', 'rtb-private-ap-northeast-1c:0.0.0.0/0');
      done('update', 'route/public/ap-northeast-1a/8.8.0.8/32', 'rtb-public-ap-northeast-1a:8.8.0.8/32');
      done('delete', 'nat/ap-northeast-1c', 'i-ap-northeast-1c');
      const outcomes = screened.changes
        .filter((c) => c.action !== 'no-op')
        .map((c) => ({ key: c.id, id: c.id, operation: 'update' as const, status: 'done' as const }));
      return { operation: 'apply', plan: screened, result: { ok: true, outcomes } };
    };
    const { reconciler, entries } = rig(apply, { once: true });
    const last = await reconciler.run();
    assert.equal(last.outcome, 'healed');
    assert.equal(last.applied, 3);
    assert.deepEqual(
      events(entries, 'plan').map((e) => e.message),
      [
        'applying 3 changes: nat/ap-northeast-1c replace (instance is shutting-down), ' +
          'route/public/ap-northeast-1a/8.8.0.8/32 update (nat/ap-northeast-1c is being replaced), ' +
          'route/private/ap-northeast-1c/0.0.0.0/0 update (nat/ap-northeast-1c is being replaced)',
      ],
    );
    assert.deepEqual(
      events(entries, 'heal').map((e) => e.message),
      [
        'route/private/ap-northeast-1c/0.0.0.0/0: updated rtb-private-ap-northeast-1c:0.0.0.0/0: instanceId i-ap-northeast-1c -> i-new (nat/ap-northeast-1c is being replaced)',
        'route/public/ap-northeast-1a/8.8.0.8/32: updated rtb-public-ap-northeast-1a:8.8.0.8/32: instanceId i-ap-northeast-1c -> i-new (nat/ap-northeast-1c is being replaced)',
        'nat/ap-northeast-1c: replaced i-ap-northeast-1c by i-new (instance is shutting-down)',
      ],
    );
    assert.match(events(entries, 'round')[0]!.message, /^healed: 3 changes made \(/);
  });
});

describe('log lines', () => {
  const entry: LogEntry = {
    time: '2026-03-01T10:00:00.000Z',
    level: 'warn',
    event: 'failover',
    stack: 'my-stack',
    round: 3,
    message: 'failover in effect: route/private/a/0.0.0.0/0 is served by nat/c (i-0c) instead of nat/a; left as it is while that NAT runs',
    data: { route: 'route/private/a/0.0.0.0/0', servedBy: 'nat/c' },
  };

  it('as text: the time, the level, the round, the message, on one line', () => {
    assert.equal(
      formatEntry(entry, 'text'),
      '2026-03-01T10:00:00.000Z WARN  round 3: failover in effect: route/private/a/0.0.0.0/0 is served by nat/c (i-0c) instead of nat/a; left as it is while that NAT runs',
    );
    assert.equal(
      formatEntry({ ...entry, round: undefined, level: 'info', message: 'two\nlines' }, 'text'),
      '2026-03-01T10:00:00.000Z INFO  two lines',
    );
  });

  it('as JSON: one object per line, the data as fields', () => {
    const line = formatEntry(entry, 'json');
    assert.ok(!line.includes('\n'));
    assert.deepEqual(JSON.parse(line), {
      time: '2026-03-01T10:00:00.000Z',
      level: 'warn',
      event: 'failover',
      stack: 'my-stack',
      round: 3,
      message: entry.message,
      route: 'route/private/a/0.0.0.0/0',
      servedBy: 'nat/c',
    });
  });
});

async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
