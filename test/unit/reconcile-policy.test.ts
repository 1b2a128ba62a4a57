// What an unattended round may do (policy.ts) and what a plan says about failovers (failover.ts),
// on plans the real kinds make from a spec and a stack as they would observe it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSteps } from '../../src/planner/graph.js';
import { makePlan, type Plan } from '../../src/planner/plan.js';
import type { Observed } from '../../src/planner/resource.js';
import { failovers } from '../../src/reconcile/failover.js';
import { screen, type Allowed } from '../../src/reconcile/policy.js';
import { kindsFor } from '../../src/resources/index.js';
import type { Spec } from '../../src/spec/types.js';
import { desiredResources } from '../../src/topology/index.js';
import { makeSpec, natObserved, observedStack, routeObserved, type NatStateFixture, previewContext } from './fixtures.js';

// Only preview reads the context (the default AMI); nothing here talks to AWS.
const ctx = previewContext();
const heals: Allowed = { replace: false, destroy: false };

const planFor = (spec: Spec, seen: Observed[]): Promise<Plan> =>
  makePlan({ desired: desiredResources(spec), observed: seen, kinds: kindsFor({ opsworks: spec.nat.manager === 'opsworks' }), ctx });
const withNat = (seen: Observed[], id: string, state: Partial<NatStateFixture>) =>
  seen.map((o) => (o.id === id ? natObserved(id, { ...(o.state as NatStateFixture), ...state }) : o));
const changed = (p: Plan) => Object.fromEntries(p.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id, c.action]));

describe('what an unattended round may change', () => {
  const spec = makeSpec(2);
  const built = observedStack(desiredResources(spec));

  it('leaves a plan with nothing to hold back as it is', async () => {
    const plan = await planFor(spec, withNat(built, 'nat/ap-northeast-1c', { state: 'stopped' }));
    const screened = screen(plan, heals);
    assert.equal(screened.plan, plan);
    assert.deepEqual(screened.held, []);
  });

  for (const [what, state, action] of [
    ['terminated', { state: 'terminated' }, 'create'],
    ['shutting down', { state: 'shutting-down' }, 'replace'],
    ['failing its status checks', { impaired: true }, 'replace'],
  ] as const) {
    it(`makes anew a NAT that is ${what} (${action}), with the routes that follow it: a repair`, async () => {
      const plan = await planFor(spec, withNat(built, 'nat/ap-northeast-1c', state));
      assert.equal(changed(plan)['nat/ap-northeast-1c'], action);
      const screened = screen(plan, heals);
      assert.deepEqual(screened.held, []);
      assert.deepEqual(changed(screened.plan), changed(plan));
    });
  }

  it('holds back replacing healthy NATs for a changed instance type, and the routes that would follow them', async () => {
    const plan = await planFor(makeSpec(2, { instanceType: 't3.small' }), built);
    const { plan: screened, held } = screen(plan, heals);
    assert.deepEqual(changed(screened), {}, 'nothing is left to do');
    const nat = held.find((h) => h.id === 'nat/ap-northeast-1c');
    assert.deepEqual(nat, {
      id: 'nat/ap-northeast-1c',
      action: 'replace',
      why: 'replace, a healthy resource: instanceType t3.micro -> t3.small',
      flag: '--allow-replace',
    });
    assert.deepEqual(
      held.find((h) => h.id === 'route/private/ap-northeast-1c/0.0.0.0/0'),
      {
        id: 'route/private/ap-northeast-1c/0.0.0.0/0',
        action: 'update',
        why: 'update, which waits on nat/ap-northeast-1c',
        waitsOn: 'nat/ap-northeast-1c',
      },
    );
    assert.equal(held.length, 6, held.map((h) => h.id).join(', '));
    // Held back, the NATs stay as they are: what is left of the plan still resolves against them.
    assert.equal(screened.changes.find((c) => c.id === 'nat/ap-northeast-1c')?.action, 'no-op');
    assert.deepEqual(buildSteps(screened), []);
  });

  it("tells a repair from a rollout by the replacement's cause, not by the attribute's name", async () => {
    // A dead NAT whose spec also changed: repaired at once (its cause is its condition's remedy).
    const plan = await planFor(
      makeSpec(2, { instanceType: 't3.small' }),
      withNat(built, 'nat/ap-northeast-1c', { state: 'shutting-down' }),
    );
    const dead = plan.changes.find((c) => c.id === 'nat/ap-northeast-1c')!;
    assert.equal(dead.cause, 'repair');
    assert.equal(dead.gate, undefined, 'a repair is not gated on readiness');
    assert.deepEqual(
      dead.attributes.map((a) => a.path),
      ['state'],
    );
    const healthy = plan.changes.find((c) => c.id === 'nat/ap-northeast-1a')!;
    assert.equal(healthy.cause, 'rollout');
    // Its place in the ring (the spec's order of zones).
    assert.equal(
      healthy.gate?.order,
      makeSpec(2).zones.findIndex((z) => z.availabilityZone === 'ap-northeast-1a'),
    );
    // An attribute named like a health signal is still a rollout when it is the spec that changed.
    const renamed = { ...healthy, attributes: [{ path: 'state', before: 'a', after: 'b', forcesReplacement: true }] };
    assert.equal(screen({ ...plan, changes: [renamed] }, heals).held[0]?.flag, '--allow-replace');
  });

  it('with --allow-replace, holds nothing back', async () => {
    const plan = await planFor(makeSpec(2, { instanceType: 't3.small' }), built);
    assert.deepEqual(screen(plan, { replace: true, destroy: false }), { plan, held: [] });
  });

  it('still replaces a dead NAT while the rollout of a spec change to the other waits', async () => {
    const plan = await planFor(
      makeSpec(2, { instanceType: 't3.small' }),
      withNat(built, 'nat/ap-northeast-1c', { state: 'shutting-down' }),
    );
    const { plan: screened, held } = screen(plan, heals);
    assert.deepEqual(changed(screened), {
      'nat/ap-northeast-1c': 'replace',
      'route/private/ap-northeast-1c/0.0.0.0/0': 'update',
      'route/public/ap-northeast-1a/8.8.0.8/32': 'update',
    });
    assert.deepEqual(held.map((h) => h.id).sort(), [
      'nat/ap-northeast-1a',
      'route/private/ap-northeast-1a/0.0.0.0/0',
      'route/public/ap-northeast-1c/8.8.1.8/32',
    ]);
    const steps = buildSteps(screened).map((s) => s.key);
    assert.deepEqual(steps.sort(), [
      'create:nat/ap-northeast-1c',
      'delete:nat/ap-northeast-1c',
      'update:route/private/ap-northeast-1c/0.0.0.0/0',
      'update:route/public/ap-northeast-1a/8.8.0.8/32',
    ]);
  });

  it('holds back deleting what the spec no longer names (a zone taken out), and the NATs whose ring it changes', async () => {
    const three = makeSpec(3);
    const plan = await planFor(makeSpec(2), observedStack(desiredResources(three)));
    const deletes = plan.changes.filter((c) => c.action === 'delete').map((c) => c.id);
    assert.ok(deletes.includes('nat/ap-northeast-1d'), deletes.join(', '));
    const { plan: screened, held } = screen(plan, heals);
    const heldFor = (flag: string) => held.filter((h) => h.flag === flag);
    assert.deepEqual(
      heldFor('--allow-destroy')
        .map((h) => h.id)
        .sort(),
      [...deletes].sort(),
    );
    for (const h of heldFor('--allow-destroy')) assert.equal(h.why, 'delete, not in the spec');
    // The NATs that stay carry the ring's zones in their agent's configuration: a zone taken out
    // changes their user data, so they are replaced (held for --allow-replace), and the re-wiring of
    // the ring waits on them (zone c's heartbeat route went to d's NAT; with two zones it goes to a's).
    assert.deepEqual(
      heldFor('--allow-replace')
        .map((h) => h.id)
        .sort(),
      ['nat/ap-northeast-1a', 'nat/ap-northeast-1c'],
    );
    assert.ok(heldFor('--allow-replace').every((h) => /userDataSha256/.test(h.why)));
    assert.deepEqual(Object.fromEntries(held.filter((h) => h.waitsOn).map((h) => [h.id, h.waitsOn])), {
      'route/private/ap-northeast-1a/0.0.0.0/0': 'nat/ap-northeast-1a',
      'route/private/ap-northeast-1c/0.0.0.0/0': 'nat/ap-northeast-1c',
      'route/public/ap-northeast-1a/8.8.0.8/32': 'nat/ap-northeast-1c',
      'route/public/ap-northeast-1c/8.8.1.8/32': 'nat/ap-northeast-1a',
    });
    assert.deepEqual(changed(screened), {});
    assert.ok(changed(plan)['route/public/ap-northeast-1c/8.8.1.8/32']);
    assert.deepEqual(
      screen(plan, { replace: false, destroy: true })
        .held.map((h) => h.id)
        .sort(),
      [...heldFor('--allow-replace').map((h) => h.id), ...held.filter((h) => h.waitsOn).map((h) => h.id)].sort(),
    );
    assert.deepEqual(screen(plan, { replace: true, destroy: true }), { plan, held: [] });
  });

  it('removes a duplicate of a NAT the spec names (the best of the two stays)', async () => {
    const copy = natObserved(
      'nat/ap-northeast-1c',
      { ...(built.find((o) => o.id === 'nat/ap-northeast-1c')!.state as NatStateFixture) },
      'i-copy',
    );
    const plan = await planFor(spec, [...built, copy]);
    assert.deepEqual(changed(plan), { 'nat/ap-northeast-1c~i-copy': 'delete' });
    assert.deepEqual(screen(plan, heals).held, []);
  });
});

describe('a failover in effect', () => {
  const spec = makeSpec(2);
  const built = observedStack(desiredResources(spec));
  const failedOver = (seen: Observed[]) =>
    seen.map((o) =>
      o.id === 'route/private/ap-northeast-1a/0.0.0.0/0'
        ? routeObserved(o.id, 'rtb-private-ap-northeast-1a', '0.0.0.0/0', 'i-ap-northeast-1c')
        : o,
    );

  it('is a private route served by another NAT of the stack, which the plan leaves alone', async () => {
    const plan = await planFor(spec, failedOver(built));
    assert.deepEqual(changed(plan), {});
    assert.deepEqual(failovers(plan), [
      {
        route: 'route/private/ap-northeast-1a/0.0.0.0/0',
        meantFor: 'nat/ap-northeast-1a',
        servedBy: 'nat/ap-northeast-1c',
        servedByPhysicalId: 'i-ap-northeast-1c',
      },
    ]);
  });

  it('is none on a stack whose routes go where the spec says', async () => {
    assert.deepEqual(failovers(await planFor(spec, built)), []);
  });

  it('is none once the plan moves the route back (the NAT serving it is being replaced)', async () => {
    const plan = await planFor(spec, withNat(failedOver(built), 'nat/ap-northeast-1c', { impaired: true }));
    assert.equal(changed(plan)['route/private/ap-northeast-1a/0.0.0.0/0'], 'update');
    assert.deepEqual(failovers(plan), []);
  });
});
