import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSteps, type Step } from '../../src/planner/graph.js';
import { PlanError, makePlan, rolloutOf, type Plan } from '../../src/planner/plan.js';
import type { Desired, Observed } from '../../src/planner/resource.js';
import { UNKNOWN, ref } from '../../src/planner/values.js';
import { walk } from '../../src/planner/walk.js';
import { kindsFor } from '../../src/resources/index.js';
import { desiredResources } from '../../src/topology/index.js';
import {
  World,
  actions,
  desired,
  fakeKind,
  kindsOf,
  makeSpec,
  natObserved,
  observed,
  observedStack,
  routeObserved,
  type NatStateFixture,
  previewContext,
} from './fixtures.js';

const kinds = kindsOf(
  fakeKind('vpc', { forceNew: ['cidr'] }),
  fakeKind('subnet', { forceNew: ['vpc', 'cidr'] }),
  fakeKind('nat', { forceNew: ['subnet', 'health'], outputs: (id) => ({ runningId: id }) }),
  fakeKind('route', { forceNew: ['table'] }),
);

function plan(want: Desired[], seen: Observed[]): Promise<Plan> {
  return makePlan({ desired: want, observed: seen, kinds, ctx: { world: new World() } });
}

/** `{ key: after }` for every step, `after` sorted, to compare a whole graph at once. */
function graph(steps: Step[]): Record<string, string[]> {
  return Object.fromEntries(steps.map((s) => [s.key, [...s.after].sort()]));
}

/** The order a one-at-a-time walk runs the steps in. */
async function serialOrder(steps: Step[]): Promise<string[]> {
  const order: string[] = [];
  const result = await walk(steps, 1, { run: async (s) => void order.push(s.key) });
  assert.deepEqual(result.failed, []);
  return order;
}

const vpc = desired('vpc', 'vpc', { cidr: '10.0.0.0/16' });
const subnet = desired('subnet', 'subnet', { vpc: ref('vpc'), cidr: '10.0.0.0/24' });
const nat = (health = 'ok') => desired('nat', 'nat', { subnet: ref('subnet'), health });
const route = desired('route', 'route', { table: 'rtb-1', target: ref('nat') });

const vpcSeen = observed('vpc', 'vpc', 'vpc-1', { cidr: '10.0.0.0/16' });
const subnetSeen = observed('subnet', 'subnet', 'subnet-1', { vpc: 'vpc-1', cidr: '10.0.0.0/24' }, { references: ['vpc-1'] });
const natSeen = (health = 'ok') =>
  observed(
    'nat',
    'nat',
    'i-old',
    { subnet: 'subnet-1', health },
    { references: ['subnet-1'], outputs: { id: 'i-old', runningId: 'i-old' } },
  );
const routeSeen = observed('route', 'route', 'rtb-1:0.0.0.0/0', { table: 'rtb-1', target: 'i-old' }, { references: ['rtb-1', 'i-old'] });

describe('buildSteps', () => {
  it('creates every resource after the ones it refers to', async () => {
    const p = await plan([route, nat(), subnet, vpc], []);
    const steps = buildSteps(p);
    assert.deepEqual(graph(steps), {
      'create:vpc': [],
      'create:subnet': ['create:vpc'],
      'create:nat': ['create:subnet'],
      'create:route': ['create:nat'],
    });
    assert.ok(steps.every((s) => s.operation === 'create'));
    assert.deepEqual(await serialOrder(steps), ['create:vpc', 'create:subnet', 'create:nat', 'create:route']);
  });

  it('makes no step for a no-op and does not wait on one', async () => {
    const p = await plan([vpc, subnet, nat(), route], [vpcSeen, subnetSeen, natSeen()]);
    assert.deepEqual(actions(p), { vpc: 'no-op', subnet: 'no-op', nat: 'no-op', route: 'create' });
    assert.deepEqual(graph(buildSteps(p)), { 'create:route': [] });
  });

  it('replaces as a create step and a delete step that waits for it', async () => {
    const p = await plan([vpc, subnet, nat('replace-me')], [vpcSeen, subnetSeen, natSeen()]);
    assert.deepEqual(actions(p), { vpc: 'no-op', subnet: 'no-op', nat: 'replace' });
    const steps = buildSteps(p);
    assert.deepEqual(graph(steps), { 'create:nat': [], 'delete:nat': ['create:nat'] });
    const del = steps.find((s) => s.key === 'delete:nat')!;
    assert.equal(del.operation, 'delete');
    assert.equal(del.change.observed!.physicalId, 'i-old');
  });

  it('re-points the routes of a replaced NAT before terminating the old one (new NAT -> route -> old NAT)', async () => {
    const p = await plan([vpc, subnet, nat('replace-me'), route], [vpcSeen, subnetSeen, natSeen(), routeSeen]);
    assert.deepEqual(actions(p), { vpc: 'no-op', subnet: 'no-op', nat: 'replace', route: 'update' });
    const steps = buildSteps(p);
    assert.deepEqual(graph(steps), {
      'create:nat': [],
      'update:route': ['create:nat'],
      'delete:nat': ['create:nat', 'update:route'],
    });
    assert.deepEqual(await serialOrder(steps), ['create:nat', 'update:route', 'delete:nat']);
  });

  it('deletes a replaced resource only after its replaced users are gone', async () => {
    // A new subnet CIDR replaces the subnet, which replaces the NAT in it (ForceNew ref).
    const subnet2 = desired('subnet', 'subnet', { vpc: ref('vpc'), cidr: '10.0.1.0/24' });
    const p = await plan([vpc, subnet2, nat(), route], [vpcSeen, subnetSeen, natSeen(), routeSeen]);
    assert.deepEqual(actions(p), { vpc: 'no-op', subnet: 'replace', nat: 'replace', route: 'update' });
    assert.deepEqual(graph(buildSteps(p)), {
      'create:subnet': [],
      'delete:subnet': ['create:subnet', 'delete:nat'],
      'create:nat': ['create:subnet'],
      'delete:nat': ['create:nat', 'update:route'],
      'update:route': ['create:nat'],
    });
  });

  it('deletes on destroy in reverse reference order: route, instance, subnet, VPC last', async () => {
    const p = await plan([], [vpcSeen, subnetSeen, natSeen(), routeSeen]);
    assert.deepEqual(actions(p), { vpc: 'delete', subnet: 'delete', nat: 'delete', route: 'delete' });
    const steps = buildSteps(p);
    assert.deepEqual(graph(steps), {
      'delete:vpc': ['delete:subnet'],
      'delete:subnet': ['delete:nat'],
      'delete:nat': ['delete:route'],
      'delete:route': [],
    });
    assert.deepEqual(await serialOrder(steps), ['delete:route', 'delete:nat', 'delete:subnet', 'delete:vpc']);
  });

  it('waits for every user of a deleted resource, including duplicates', async () => {
    const subnetB = observed('subnet', 'subnet', 'subnet-2', { vpc: 'vpc-1', cidr: '10.0.0.0/24' }, { references: ['vpc-1'] });
    const p = await plan([vpc, subnet], [vpcSeen, subnetSeen, subnetB, natSeen()]);
    assert.deepEqual(actions(p), { vpc: 'no-op', subnet: 'no-op', 'subnet~subnet-2': 'delete', nat: 'delete' });
    assert.deepEqual(graph(buildSteps(p)), { 'delete:subnet~subnet-2': [], 'delete:nat': [] });

    // Destroying everything: the VPC waits for both subnets.
    const all = await plan([], [vpcSeen, subnetSeen, subnetB]);
    assert.deepEqual(graph(buildSteps(all)), {
      'delete:vpc': ['delete:subnet', 'delete:subnet~subnet-2'],
      'delete:subnet': [],
      'delete:subnet~subnet-2': [],
    });
  });
});

describe('healing the NAT ring (real kinds, topology of 3 zones)', () => {
  const spec = makeSpec(3);
  const want = desiredResources(spec);
  // Only preview reads the context (the default AMI); nothing here talks to AWS.
  const ctx = previewContext();
  const heal = (seen: Observed[]) => makePlan({ desired: want, observed: seen, kinds: kindsFor({ opsworks: false }), ctx });
  const withNat = (seen: Observed[], id: string, state: Partial<NatStateFixture>) =>
    seen.map((o) => (o.id === id ? natObserved(id, { ...(o.state as NatStateFixture), ...state }) : o));
  const changed = (p: Plan) => Object.fromEntries(p.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id, c.action]));

  it('plans nothing for a healthy stack', async () => {
    const p = await heal(observedStack(want));
    assert.deepEqual(changed(p), {});
  });

  it('replaces a NAT shutting down and re-points both routes that use it before the old one is deleted', async () => {
    const seen = withNat(observedStack(want), 'nat/ap-northeast-1c', { state: 'shutting-down' });
    const p = await heal(seen);
    // Zone c's private default route, and the heartbeat routes to zone a's viaPeer (a's peer is
    // c): zone a's own, and zone d's (so d can watch c should a die).
    assert.deepEqual(changed(p), {
      'nat/ap-northeast-1c': 'replace',
      'route/private/ap-northeast-1c/0.0.0.0/0': 'update',
      'route/public/ap-northeast-1a/8.8.0.8/32': 'update',
      'route/public/ap-northeast-1d/8.8.0.8/32': 'update',
    });
    const steps = buildSteps(p);
    assert.deepEqual(graph(steps), {
      'create:nat/ap-northeast-1c': [],
      'update:route/private/ap-northeast-1c/0.0.0.0/0': ['create:nat/ap-northeast-1c'],
      'update:route/public/ap-northeast-1a/8.8.0.8/32': ['create:nat/ap-northeast-1c'],
      'update:route/public/ap-northeast-1d/8.8.0.8/32': ['create:nat/ap-northeast-1c'],
      'delete:nat/ap-northeast-1c': [
        'create:nat/ap-northeast-1c',
        'update:route/private/ap-northeast-1c/0.0.0.0/0',
        'update:route/public/ap-northeast-1a/8.8.0.8/32',
        'update:route/public/ap-northeast-1d/8.8.0.8/32',
      ],
    });
  });

  it('rolls a spec change out one zone at a time in ring order, each routed and its old NAT gone only once ready', async () => {
    const bigger = makeSpec(3, { instanceType: 't3.small' });
    const p = await makePlan({
      desired: desiredResources(bigger),
      observed: observedStack(want),
      kinds: kindsFor({ opsworks: false }),
      ctx,
    });
    const g = graph(buildSteps(p));
    // Ring order is the spec's order of zones.
    const [c, a, d] = bigger.zones.map((z) => `nat/${z.availabilityZone}`) as [string, string, string];
    assert.deepEqual(
      rolloutOf(p)?.steps.map((s) => s.id),
      [c, a, d],
    );
    assert.deepEqual(g[`create:${c}`], []);
    assert.deepEqual(g[`ready:${c}`], [`create:${c}`]);
    // What proves it (its watcher's heartbeat routes) follows it at once; what it serves once it is ready.
    const heartbeats = Object.keys(g).filter((k) => k.startsWith('update:route/public/') && g[k]!.some((x) => x.endsWith(c)));
    assert.ok(heartbeats.length > 0);
    for (const k of heartbeats) assert.deepEqual(g[k], [`create:${c}`], k);
    const serving = `update:route/private/${c.slice('nat/'.length)}/0.0.0.0/0`;
    assert.deepEqual(g[serving], [`ready:${c}`]);
    assert.ok(g[`delete:${c}`]!.includes(`ready:${c}`) && g[`delete:${c}`]!.includes(serving));
    // The next zone starts once the one before is done.
    assert.deepEqual(g[`create:${a}`], [`delete:${c}`]);
    assert.deepEqual(g[`create:${d}`], [`delete:${a}`]);
  });

  it('repairs dead NATs first and together, then rolls out the others, a failed gate stopping the rest', async () => {
    const bigger = makeSpec(3, { instanceType: 't3.small' });
    const seen = withNat(withNat(observedStack(want), 'nat/ap-northeast-1a', { state: 'shutting-down' }), 'nat/ap-northeast-1d', {
      impaired: true,
    });
    const p = await makePlan({ desired: desiredResources(bigger), observed: seen, kinds: kindsFor({ opsworks: false }), ctx });
    const steps = buildSteps(p);
    const g = graph(steps);
    for (const dead of ['nat/ap-northeast-1a', 'nat/ap-northeast-1d']) {
      assert.deepEqual(g[`create:${dead}`], [], `${dead} is repaired at once`);
      assert.equal(g[`ready:${dead}`], undefined, `${dead}'s repair is not gated`);
    }
    assert.deepEqual(g['create:nat/ap-northeast-1c']!.sort(), [
      'create:nat/ap-northeast-1a',
      'create:nat/ap-northeast-1d',
      'delete:nat/ap-northeast-1a',
      'delete:nat/ap-northeast-1d',
    ]);
    // The gate fails: the zone's private route and old NAT stay; the repairs are done.
    const result = await walk(steps, 10, {
      run: async (step) => {
        if (step.key === 'ready:nat/ap-northeast-1c') throw new Error('not ready');
      },
    });
    const skipped = result.skipped.map((s) => s.key).sort();
    assert.deepEqual(skipped, ['delete:nat/ap-northeast-1c', 'update:route/private/ap-northeast-1c/0.0.0.0/0']);
    assert.ok(result.done.includes('delete:nat/ap-northeast-1a') && result.done.includes('delete:nat/ap-northeast-1d'));
  });

  it('launches a NAT anew for a terminated one (gone, though EC2 still lists it), saying so, and re-points every route that uses it after it', async () => {
    const seen = withNat(observedStack(want), 'nat/ap-northeast-1c', { state: 'terminated' });
    const p = await heal(seen);
    assert.deepEqual(changed(p), {
      'nat/ap-northeast-1c': 'create',
      'route/private/ap-northeast-1c/0.0.0.0/0': 'update',
      'route/public/ap-northeast-1a/8.8.0.8/32': 'update',
      'route/public/ap-northeast-1d/8.8.0.8/32': 'update',
    });
    const nat = p.changes.find((c) => c.id === 'nat/ap-northeast-1c')!;
    assert.match(nat.reason!, /^i-\S+ is terminated$/);
    assert.equal(nat.observed, undefined, 'nothing of the old one is in the change');
    assert.deepEqual(graph(buildSteps(p)), {
      'create:nat/ap-northeast-1c': [],
      'update:route/private/ap-northeast-1c/0.0.0.0/0': ['create:nat/ap-northeast-1c'],
      'update:route/public/ap-northeast-1a/8.8.0.8/32': ['create:nat/ap-northeast-1c'],
      'update:route/public/ap-northeast-1d/8.8.0.8/32': ['create:nat/ap-northeast-1c'],
    });
  });

  it('starts a stopped NAT in place and leaves a route failed over to a running NAT alone', async () => {
    let seen = withNat(observedStack(want), 'nat/ap-northeast-1a', { state: 'stopped' });
    seen = seen.map((o) =>
      o.id === 'route/private/ap-northeast-1a/0.0.0.0/0'
        ? routeObserved(o.id, 'rtb-private-ap-northeast-1a', '0.0.0.0/0', 'i-ap-northeast-1c')
        : o,
    );
    const p = await heal(seen);
    assert.deepEqual(changed(p), { 'nat/ap-northeast-1a': 'update' });
  });

  it('moves a route off a failover NAT that is itself being replaced', async () => {
    // Zone a's private route failed over to c's NAT, which now fails its status checks.
    let seen = withNat(observedStack(want), 'nat/ap-northeast-1c', { impaired: true });
    seen = seen.map((o) =>
      o.id === 'route/private/ap-northeast-1a/0.0.0.0/0'
        ? routeObserved(o.id, 'rtb-private-ap-northeast-1a', '0.0.0.0/0', 'i-ap-northeast-1c')
        : o,
    );
    const p = await heal(seen);
    assert.deepEqual(changed(p), {
      'nat/ap-northeast-1c': 'replace',
      'route/private/ap-northeast-1a/0.0.0.0/0': 'update',
      'route/private/ap-northeast-1c/0.0.0.0/0': 'update',
      'route/public/ap-northeast-1a/8.8.0.8/32': 'update',
      'route/public/ap-northeast-1d/8.8.0.8/32': 'update',
    });
    const back = p.changes.find((c) => c.id === 'route/private/ap-northeast-1a/0.0.0.0/0')!;
    assert.deepEqual(back.attributes, [{ path: 'instanceId', before: 'i-ap-northeast-1c', after: 'i-ap-northeast-1a' }]);
    const del = buildSteps(p).find((s) => s.key === 'delete:nat/ap-northeast-1c')!;
    assert.deepEqual([...del.after].sort(), [
      'create:nat/ap-northeast-1c',
      'update:route/private/ap-northeast-1a/0.0.0.0/0',
      'update:route/private/ap-northeast-1c/0.0.0.0/0',
      'update:route/public/ap-northeast-1a/8.8.0.8/32',
      'update:route/public/ap-northeast-1d/8.8.0.8/32',
    ]);
  });
});

describe('why a route changes (real kinds)', () => {
  it('names the NAT being created, not the route’s current target, when the desired target is unknown', async () => {
    const spec = makeSpec(2);
    const want = desiredResources(spec);
    const ctx = previewContext();
    // nat/a is long gone (no longer listed); someone pointed zone a's private route at an instance of theirs.
    const seen = observedStack(want)
      .filter((o) => o.id !== 'nat/ap-northeast-1a')
      .map((o) =>
        o.id === 'route/private/ap-northeast-1a/0.0.0.0/0'
          ? routeObserved(o.id, 'rtb-private-ap-northeast-1a', '0.0.0.0/0', 'i-manual')
          : o,
      );
    const p = await makePlan({ desired: want, observed: seen, kinds: kindsFor({ opsworks: false }), ctx });
    const c = p.changes.find((x) => x.id === 'route/private/ap-northeast-1a/0.0.0.0/0')!;
    assert.equal(c.action, 'update');
    assert.deepEqual(c.attributes, [
      { path: 'instanceId', before: 'i-manual', after: UNKNOWN, reason: 'nat/ap-northeast-1a is being created' },
    ]);
  });
});

describe('replacements AWS would refuse while the old resource exists', () => {
  const ctx = previewContext();

  it('does not replace a security group over its description (it could only be replaced under the same name)', async () => {
    const want = desiredResources(makeSpec(2));
    const seen = observedStack(want).map((o) =>
      o.kind === 'security-group' ? { ...o, state: { ...(o.state as object), description: 'old words' } } : o,
    );
    const p = await makePlan({ desired: want, observed: seen, kinds: kindsFor({ opsworks: false }), ctx });
    assert.equal(p.changes.find((c) => c.id === 'security-group/nat')!.action, 'no-op');
  });

  it('refuses, with what to do instead, a plan whose new subnet needs the CIDR of one deleted only later', async () => {
    const before = makeSpec(2);
    const after = makeSpec(2);
    after.zones[0] = { ...after.zones[0]!, availabilityZone: 'ap-northeast-1d' };
    await assert.rejects(
      makePlan({
        desired: desiredResources(after),
        observed: observedStack(desiredResources(before)),
        kinds: kindsFor({ opsworks: false }),
        ctx,
      }),
      (error: Error) =>
        error instanceof PlanError &&
        /^subnet\/public\/ap-northeast-1d needs 10\.0\.0\.0\/24 in vpc-1, which subnet\/public\/ap-northeast-1\w holds/.test(
          error.message,
        ) &&
        /two applies/.test(error.message),
    );
  });
});
