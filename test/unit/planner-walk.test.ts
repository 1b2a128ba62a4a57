import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingHost, stamped, type EngineEvent } from '../../src/io.js';
import { DupsworksError, describeError, toErrorInfo } from '../../src/errors.js';
import { applyPlan } from '../../src/planner/apply.js';
import { makePlan, type Plan } from '../../src/planner/plan.js';
import type { Desired, Observed } from '../../src/planner/resource.js';
import { ref } from '../../src/planner/values.js';
import { walk, type Node } from '../../src/planner/walk.js';
import { World, actions, desired, fakeKind, kindsOf, observed } from './fixtures.js';

const node = (key: string, ...after: string[]): Node => ({ key, after });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('walk', () => {
  it('runs a node only after everything in its `after` is done', async () => {
    const finished = new Set<string>();
    const violations: string[] = [];
    const nodes = [node('d', 'b', 'c'), node('b', 'a'), node('c', 'a'), node('a'), node('e', 'd')];
    const result = await walk(nodes, 4, {
      run: async (n) => {
        for (const dep of n.after) if (!finished.has(dep)) violations.push(`${n.key} before ${dep}`);
        await sleep(n.key === 'b' ? 15 : 1);
        finished.add(n.key);
      },
    });
    assert.deepEqual(violations, []);
    assert.deepEqual(result.done, ['a', 'c', 'b', 'd', 'e']);
    assert.deepEqual(result.failed, []);
    assert.deepEqual(result.skipped, []);
  });

  it('never runs more than `concurrency` nodes at once, and does reach it', async () => {
    for (const concurrency of [1, 2, 3]) {
      let inFlight = 0;
      let max = 0;
      const nodes = Array.from({ length: 8 }, (_, i) => node(`n${i}`));
      const result = await walk(nodes, concurrency, {
        run: async () => {
          inFlight++;
          max = Math.max(max, inFlight);
          await sleep(5);
          inFlight--;
        },
      });
      assert.equal(max, concurrency, `concurrency ${concurrency}`);
      assert.equal(result.done.length, 8);
    }
  });

  it('skips the transitive dependents of a failure and finishes independent branches', async () => {
    const ran: string[] = [];
    const skips: [string, string][] = [];
    const boom = new Error('boom');
    //   a -> b -> c -> d        x -> y
    //         \-> e             (independent)
    const nodes = [
      node('a'),
      node('b', 'a'),
      node('c', 'b'),
      node('d', 'c'),
      node('e', 'b'),
      node('x'),
      node('y', 'x'),
      node('z', 'y', 'c'),
    ];
    const result = await walk(nodes, 2, {
      run: async (n) => {
        ran.push(n.key);
        await sleep(1);
        if (n.key === 'b') throw boom;
      },
      onSkip: (n, because) => skips.push([n.key, because]),
    });
    assert.deepEqual([...ran].sort(), ['a', 'b', 'x', 'y']);
    assert.deepEqual([...result.done].sort(), ['a', 'x', 'y']);
    assert.deepEqual(result.failed, [{ key: 'b', error: boom }]);
    assert.deepEqual(
      [...result.skipped].sort((p, q) => p.key.localeCompare(q.key)),
      [
        { key: 'c', because: 'b' },
        { key: 'd', because: 'b' },
        { key: 'e', because: 'b' },
        { key: 'z', because: 'b' },
      ],
    );
    assert.deepEqual(skips.sort(), [
      ['c', 'b'],
      ['d', 'b'],
      ['e', 'b'],
      ['z', 'b'],
    ]);
  });

  it('reports each node once: done, failed or skipped', async () => {
    const nodes = [node('a'), node('b'), node('c', 'a', 'b'), node('d', 'c')];
    const result = await walk(nodes, 3, {
      run: async (n) => {
        if (n.key === 'a' || n.key === 'b') throw new Error(n.key);
      },
    });
    assert.deepEqual(result.done, []);
    assert.deepEqual(result.failed.map((f) => f.key).sort(), ['a', 'b']);
    assert.equal(result.skipped.length, 2);
    assert.deepEqual(result.skipped.map((s) => s.key).sort(), ['c', 'd']);
  });

  it('finishes at once with nothing to do', async () => {
    assert.deepEqual(await walk([], 2, { run: async () => assert.fail('nothing to run') }), {
      done: [],
      failed: [],
      skipped: [],
      cancelled: [],
      abandoned: [],
    });
  });

  it('once stopped, starts nothing new and lets the running nodes finish', async () => {
    const stop = new AbortController();
    const started: string[] = [];
    //   a (slow) -> c        b (stops the walk while a runs) -> d
    const nodes = [node('a'), node('b'), node('c', 'a'), node('d', 'b'), node('e')];
    const result = await walk(
      nodes,
      2,
      {
        run: async (n) => {
          started.push(n.key);
          if (n.key === 'b') stop.abort();
          await sleep(n.key === 'a' ? 30 : 1);
        },
      },
      { stop: stop.signal },
    );
    assert.deepEqual(started, ['a', 'b'], 'nothing starts after the stop');
    assert.deepEqual(result.done.sort(), ['a', 'b'], 'the running node finished');
    assert.deepEqual(result.cancelled.sort(), ['c', 'd', 'e']);
    assert.deepEqual(result.abandoned, []);
  });

  it('told to abandon, returns at once with the running nodes left behind', async () => {
    const stop = new AbortController();
    const abandon = new AbortController();
    let finishedSlow = false;
    const nodes = [node('slow'), node('after', 'slow')];
    const walking = walk(
      nodes,
      2,
      {
        run: async () => {
          stop.abort();
          setTimeout(() => abandon.abort(), 10);
          await sleep(200);
          finishedSlow = true;
        },
      },
      { stop: stop.signal, abandon: abandon.signal },
    );
    const result = await walking;
    assert.equal(finishedSlow, false, 'returned before the running node finished');
    assert.deepEqual(result.abandoned, ['slow']);
    assert.deepEqual(result.cancelled, ['after']);
    assert.deepEqual(result.done, []);
  });

  it('stopped before it begins, runs nothing', async () => {
    const stop = new AbortController();
    stop.abort();
    const result = await walk([node('a'), node('b', 'a')], 2, { run: async () => assert.fail('nothing runs') }, { stop: stop.signal });
    assert.deepEqual(result.cancelled, ['a', 'b']);
  });

  it('detects a cycle and a wait on an unknown step before running anything', async () => {
    let ran = 0;
    const run = async () => void ran++;
    await assert.rejects(walk([node('ok'), node('a', 'c'), node('b', 'a'), node('c', 'b')], 1, { run }), {
      message: 'internal: cycle in the apply graph: a -> c -> b -> a',
    });
    await assert.rejects(walk([node('a', 'ghost')], 1, { run }), { message: 'internal: a waits on unknown step ghost' });
    assert.equal(ran, 0);
  });

  it('runs a node once even when its `after` names a step twice', async () => {
    const runs: string[] = [];
    await walk([node('a'), node('b', 'a', 'a')], 2, {
      run: async (n) => {
        runs.push(n.key);
        await sleep(2);
      },
    });
    assert.deepEqual(runs, ['a', 'b']);
  });
});

// ---- applyPlan with fake kinds --------------------------------------------------------------------

const kinds = kindsOf(
  fakeKind('network', { forceNew: ['cidr'], delayMs: 1 }),
  fakeKind('nat', { forceNew: ['network'], delayMs: 1, outputs: (id) => ({ runningId: id }) }),
  fakeKind('route', { delayMs: 1 }),
);

interface Run {
  plan: Plan;
  world: World;
  events: EngineEvent[];
  result: Awaited<ReturnType<typeof applyPlan>>;
}

async function planAndApply(want: Desired[], seen: Observed[], prepare: (world: World) => void = () => {}): Promise<Run> {
  const world = new World();
  prepare(world);
  const plan = await makePlan({ desired: want, observed: seen, kinds, ctx: { world } });
  const events: EngineEvent[] = [];
  const result = await applyPlan(plan, { kinds, ctx: { world }, concurrency: 4, notify: (e) => events.push(e) });
  return { plan, world, events, result };
}

const net = desired('net', 'network', { cidr: '10.0.0.0/16' });
const natA = desired('nat/a', 'nat', { network: ref('net') });
const natB = desired('nat/b', 'nat', { network: ref('net') });
const routeA = desired('route/a', 'route', { target: ref('nat/a') });

describe('applyPlan', () => {
  it('creates in order, resolving references from the outputs of what it just made', async () => {
    const { world, result } = await planAndApply([routeA, natA, natB, net], []);
    assert.equal(result.ok, true);
    assert.deepEqual(result.outcomes.map((o) => [o.key, o.status]).sort(), [
      ['create:nat/a', 'done'],
      ['create:nat/b', 'done'],
      ['create:net', 'done'],
      ['create:route/a', 'done'],
    ]);
    const made = new Map<unknown, Record<string, unknown>>(
      [...world.items].map(([physicalId, props]) => [props.$resourceId, { physicalId, ...props }]),
    );
    assert.deepEqual(made.get('net'), { physicalId: 'network-1', cidr: '10.0.0.0/16', $resourceId: 'net', $replacing: undefined });
    assert.equal(made.get('nat/a')!.network, 'network-1');
    assert.equal(made.get('nat/b')!.network, 'network-1');
    assert.equal(made.get('route/a')!.target, made.get('nat/a')!.physicalId);
    assert.equal(world.log[0], 'create net');
    assert.equal(world.log.at(-1), 'create route/a');
  });

  it('uses observed outputs for what already exists and the new id for what is replaced', async () => {
    const seen = [
      observed('net', 'network', 'network-0', { cidr: '10.0.0.0/16' }),
      observed(
        'nat/a',
        'nat',
        'nat-old',
        { network: 'network-gone' },
        { references: ['network-gone'], outputs: { id: 'nat-old', runningId: 'nat-old' } },
      ),
      observed('route/a', 'route', 'route-0', { target: 'nat-old' }, { references: ['nat-old'] }),
    ];
    const { plan, world, result, events } = await planAndApply([net, natA, routeA], seen);
    assert.deepEqual(actions(plan), { net: 'no-op', 'nat/a': 'replace', 'route/a': 'update' });
    assert.equal(result.ok, true);
    assert.deepEqual(world.log, ['create nat/a', 'update route/a target', 'delete nat-old']);
    assert.deepEqual(world.items.get('nat-1'), { network: 'network-0', $resourceId: 'nat/a', $replacing: 'nat-old' });
    assert.deepEqual(world.items.get('route-0'), { target: 'nat-1' });
    assert.deepEqual(
      events.filter((e) => e.type === 'step-done').map((e) => [e.id, e.operation, 'physicalId' in e ? e.physicalId : undefined]),
      [
        ['nat/a', 'create', 'nat-1'],
        ['route/a', 'update', 'route-0'],
        ['nat/a', 'delete', 'nat-old'],
      ],
    );
  });

  it('reports a failed create and skips what depends on it, naming the failed resource', async () => {
    const { result, events, world } = await planAndApply([net, natA, natB, routeA], [], (w) => w.failing.add('nat/a'));
    assert.equal(result.ok, false);
    const byKey = Object.fromEntries(result.outcomes.map((o) => [o.key, o]));
    assert.deepEqual(byKey['create:nat/a'], {
      key: 'create:nat/a',
      id: 'nat/a',
      operation: 'create',
      status: 'failed',
      error: { code: 'Error', fault: 'aws', message: 'cannot create nat/a' },
    });
    assert.deepEqual(byKey['create:route/a'], {
      key: 'create:route/a',
      id: 'route/a',
      operation: 'create',
      status: 'skipped',
      because: 'nat/a',
    });
    assert.equal(byKey['create:nat/b']!.status, 'done');
    assert.equal(byKey['create:net']!.status, 'done');
    assert.ok(!world.log.includes('create route/a'));
    assert.deepEqual(
      events.filter((e) => e.type === 'step-failed' || e.type === 'step-skipped'),
      [
        { type: 'step-failed', id: 'nat/a', operation: 'create', error: { code: 'Error', fault: 'aws', message: 'cannot create nat/a' } },
        { type: 'step-skipped', id: 'route/a', operation: 'create', because: 'nat/a' },
      ],
    );
  });

  it('resolves a missing optional output to undefined and fails on a missing required one', async () => {
    // nat/b exists but is stopped: it has an id and no runningId.
    const seen = [
      observed('net', 'network', 'network-0', { cidr: '10.0.0.0/16' }),
      observed('nat/a', 'nat', 'nat-a', { network: 'network-0' }, { outputs: { id: 'nat-a', runningId: 'nat-a' } }),
      observed('nat/b', 'nat', 'nat-b', { network: 'network-0' }),
    ];
    const withSpare = desired('route/a', 'route', { target: ref('nat/a'), spare: ref('nat/b', 'runningId', { optional: true }) });
    const needsRunning = desired('route/b', 'route', { target: ref('nat/b', 'runningId') });
    const { result, world } = await planAndApply([net, natA, natB, withSpare, needsRunning], seen);
    const made = world.items.get('route-1')!;
    assert.deepEqual(made, { target: 'nat-a', spare: undefined, $resourceId: 'route/a', $replacing: undefined });
    assert.ok('spare' in made, 'the optional reference is passed, as undefined');
    const failed = result.outcomes.filter((o) => o.status === 'failed');
    assert.deepEqual(failed, [
      {
        key: 'create:route/b',
        id: 'route/b',
        operation: 'create',
        status: 'failed',
        error: { code: 'Error', fault: 'aws', message: 'nat/b has no runningId yet' },
      },
    ]);
    assert.equal(result.ok, false);
  });

  it('stopped, finishes what runs, starts nothing else, and says why in the outcomes and events', async () => {
    const stop = new AbortController();
    const reason = new DupsworksError('Interrupted', 'user', 'interrupted by SIGINT');
    const plan = await makePlan({ desired: [net, natA, natB], observed: [], kinds, ctx: { world: new World() } });
    const events: EngineEvent[] = [];
    const result = await applyPlan(plan, {
      kinds,
      ctx: { world: new World() },
      concurrency: 4,
      signal: stop.signal,
      notify: (e) => {
        events.push(e);
        if (e.type === 'step-start' && e.id === 'net') stop.abort(reason);
      },
    });
    const status = Object.fromEntries(result.outcomes.map((o) => [o.id, o.status]));
    assert.deepEqual(status, { net: 'done', 'nat/a': 'cancelled', 'nat/b': 'cancelled' });
    assert.equal(result.ok, false);
    assert.deepEqual(result.stopped, { code: 'Interrupted', fault: 'user', message: 'interrupted by SIGINT' });
    assert.deepEqual(result.outcomes.find((o) => o.id === 'nat/a')?.error, result.stopped);
    const stopping = events.find((e) => e.type === 'stopping');
    assert.deepEqual(stopping, { type: 'stopping', reason: result.stopped, running: ['net'], graceSeconds: 60 });
  });

  it('does nothing for a plan without changes', async () => {
    const seen = [observed('net', 'network', 'network-0', { cidr: '10.0.0.0/16' })];
    const { result, world, events } = await planAndApply([net], seen);
    assert.deepEqual(result, { outcomes: [], ok: true });
    assert.deepEqual(world.log, []);
    assert.deepEqual(events, []);
  });
});

describe('describeError', () => {
  it('prefixes the error name when the message does not already say it', () => {
    const named = Object.assign(new Error('The route table does not exist'), { name: 'InvalidRouteTableID.NotFound' });
    assert.equal(describeError(named), 'InvalidRouteTableID.NotFound: The route table does not exist');
    assert.equal(describeError(new Error('plain')), 'plain');
    const already = Object.assign(new Error('Throttling: slow down'), { name: 'Throttling' });
    assert.equal(describeError(already), 'Throttling: slow down');
    assert.equal(describeError('a string'), 'a string');
  });
});

describe('toErrorInfo', () => {
  it('says who is at fault: the user for credentials and permissions, AWS for what it failed, the program for bugs', () => {
    const aws = (name: string, fault: 'client' | 'server' = 'client') =>
      Object.assign(new Error('x'), { name, $fault: fault, $metadata: {} });
    assert.deepEqual(toErrorInfo(aws('UnauthorizedOperation')), {
      code: 'UnauthorizedOperation',
      fault: 'user',
      message: 'UnauthorizedOperation: x',
    });
    assert.equal(toErrorInfo(aws('InsufficientInstanceCapacity')).fault, 'aws');
    assert.equal(toErrorInfo(aws('InternalError', 'server')).fault, 'aws');
    assert.equal(toErrorInfo(new TypeError('undefined is not a function')).fault, 'program');
    assert.equal(toErrorInfo(new Error('internal: cycle in the apply graph')).fault, 'program');
    assert.deepEqual(toErrorInfo(new DupsworksError('LockHeld', 'user', 'held')), { code: 'LockHeld', fault: 'user', message: 'held' });
  });
});

describe('stamped events', () => {
  it('reach the host with a sequence number, the time and a level', () => {
    const host = new RecordingHost();
    const io = stamped(host);
    io.notify({ type: 'observe-start', stack: 's', region: 'r' });
    io.notify({ type: 'step-failed', id: 'vpc', operation: 'create', error: { code: 'X', fault: 'aws', message: 'x' } });
    io.notify({ type: 'retry', operation: 'DescribeVpcs', code: 'Throttling', attempt: 1, delayMs: 5 });
    assert.deepEqual(
      host.events.map((e) => [e.seq, e.level]),
      [
        [1, 'info'],
        [2, 'error'],
        [3, 'debug'],
      ],
    );
    for (const e of host.events) assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 5000, `an ISO time: ${e.time}`);
  });
});
