// The inventory: every item carrying the stack's mark is claimed by exactly one kind; what none
// claims is shown with what to do, never touched, and keeps what it uses from being deleted.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inventory } from '../../src/aws/inventory.js';
import { buildSteps } from '../../src/planner/graph.js';
import { ClaimError, unclaimedItems, type InventoryItem } from '../../src/planner/inventory.js';
import { planToJson } from '../../src/planner/json.js';
import { countActions, hasChanges, heldChanges, makePlan } from '../../src/planner/plan.js';
import { renderPlan } from '../../src/planner/render.js';
import type { Observed } from '../../src/planner/resource.js';
import { kindsFor } from '../../src/resources/index.js';
import { World, actions, fakeKind, kindsOf, makeSpec, observed, opsworksSpec } from './fixtures.js';
import { builtWorld } from './world.js';

const item = (physicalId: string, references: string[] = []): InventoryItem => ({
  physicalId,
  description: `thing ${physicalId}`,
  advice: 'do something',
  references,
});

describe('unclaimedItems', () => {
  it('leaves out what an observed resource claims, by its physical id or an id it is also known by', () => {
    const seen: Observed[] = [
      observed('vpc', 'vpc', 'vpc-1', {}),
      { ...observed('opsworks/instance/nat-a', 'opsworks-instance', 'ow-1', {}), alsoKnownAs: ['i-1'] },
    ];
    assert.deepEqual(
      unclaimedItems([item('vpc-1'), item('i-1'), item('ow-1'), item('i-2')], seen).map((i) => i.physicalId),
      ['i-2'],
    );
  });

  it('refuses a thing two kinds claim', () => {
    const seen = [
      observed('nat/a', 'nat-instance', 'i-1', {}),
      { ...observed('opsworks/instance/nat-a', 'opsworks-instance', 'ow-1', {}), alsoKnownAs: ['i-1'] },
    ];
    assert.throws(() => unclaimedItems([item('i-1')], seen), {
      name: 'Error',
      message: /^i-1 is both nat\/a \(nat-instance\) and opsworks\/instance\/nat-a \(opsworks-instance\)/,
    });
    assert.throws(() => unclaimedItems([], seen), ClaimError);
  });
});

// net <- box <- label, and a gadget in net: what is kept when something unclaimed sits in them.
const kinds = kindsOf(fakeKind('network'), fakeKind('box'), fakeKind('label'));
const world = [
  observed('net', 'network', 'net-1', {}),
  observed('box', 'box', 'box-1', {}, { references: ['net-1'] }),
  observed('label', 'label', 'label-1', {}, { references: ['box-1'] }),
  observed('gadget', 'box', 'box-2', {}, { references: ['net-1'] }),
];
const destroy = (inventory: InventoryItem[]) => makePlan({ desired: [], observed: world, inventory, kinds, ctx: { world: new World() } });

describe('deletes kept back by what no kind claims', () => {
  it('keeps what an unclaimed item uses, and what that uses in turn; deletes the rest', async () => {
    const plan = await destroy([item('stray-1', ['box-1'])]);
    assert.deepEqual(
      plan.changes.map((c) => [c.id, c.action, c.heldBy]),
      [
        ['label', 'delete', undefined],
        ['gadget', 'delete', undefined],
        ['box', 'delete', ['stray-1']],
        ['net', 'delete', ['box']],
      ],
      'each delete after those of what uses it',
    );
    assert.deepEqual(countActions(plan), { add: 0, change: 0, destroy: 2 });
    assert.equal(hasChanges(plan), true);
    assert.deepEqual(
      heldChanges(plan).map((c) => c.id),
      ['box', 'net'],
    );
    assert.deepEqual(
      buildSteps(plan).map((s) => s.key),
      ['delete:label', 'delete:gadget'],
      'no step for a kept delete',
    );
  });

  it('has nothing to do when all that would go is kept', async () => {
    const plan = await destroy([item('stray-1', ['box-1', 'box-2']), item('stray-2', ['label-1'])]);
    assert.equal(hasChanges(plan), false);
    assert.deepEqual(actions(plan), { net: 'delete', box: 'delete', label: 'delete', gadget: 'delete' });
    assert.deepEqual(
      heldChanges(plan).map((c) => [c.id, c.heldBy]),
      [
        ['label', ['stray-2']],
        ['gadget', ['stray-1']],
        ['box', ['label', 'stray-1']],
        ['net', ['box', 'gadget']],
      ],
    );
  });

  it('shows the kept deletes and the unclaimed items, each advice once', async () => {
    const plan = await destroy([item('stray-1', ['box-1']), { ...item('stray-2'), description: 'thing stray-2 (the second)' }]);
    const text = renderPlan(plan, undefined, 'destroy');
    assert.match(text, /^dupsworks will perform the following actions \(destroy\):/);
    assert.match(text, /  - label "label" \{/);
    assert.doesNotMatch(text, /  - box "box" \{/, 'a kept delete is no action');
    assert.match(
      text,
      /\nKept: still in use by what this spec does not manage, so deleting would fail:\n\n  # box - box-1; in use by stray-1\n  # net - net-1; in use by box\n/,
    );
    assert.match(
      text,
      /\nWarning: found in this stack \(by its tag, or inside its VPC\), but no resource of this spec is any of them; dupsworks leaves them alone:\n\n  - thing stray-1\n  - thing stray-2 \(the second\)\n    do something\n/,
    );
    assert.match(text, /\nPlan: 0 to add, 0 to change, 2 to destroy; 2 kept \(see above\)\.\n$/);
  });

  it('says so when nothing can be done, and when there are only warnings', async () => {
    const stuck = await destroy([item('stray-1', ['box-1', 'box-2']), item('stray-2', ['label-1'])]);
    assert.match(renderPlan(stuck), /\nNothing can be changed now: 4 kept \(see above\)\.\n$/);
    const clean = await makePlan({ desired: [], observed: [], inventory: [item('stray-1')], kinds, ctx: { world: new World() } });
    assert.match(renderPlan(clean), /^Warning: .*\n\n  - thing stray-1\n    do something\n\nNo changes\. The stack matches the spec\.\n$/);
  });

  it('writes kept deletes without their delete, and the unclaimed items, in the JSON plan', async () => {
    const json = planToJson(await destroy([item('stray-1', ['box-1'])]), 'dupsworks/aws');
    const byAddress = new Map(json.resource_changes.map((c) => [c.address, c]));
    assert.deepEqual(byAddress.get('box')!.change.actions, ['no-op']);
    assert.deepEqual(byAddress.get('box')!.held_by, ['stray-1']);
    assert.deepEqual(byAddress.get('label')!.change.actions, ['delete']);
    assert.deepEqual(json.unclaimed, [
      { physical_id: 'stray-1', description: 'thing stray-1', advice: 'do something', references: ['box-1'] },
    ]);
    assert.deepEqual(json.summary, { add: 0, change: 0, destroy: 2 });
  });

  it('counts the unclaimed items in the state hash', async () => {
    const none = await destroy([]);
    const one = await destroy([item('stray-1')]);
    const other = await destroy([item('stray-1', ['net-1'])]);
    assert.equal(new Set([none.stateHash, one.stateHash, other.stateHash]).size, 3);
  });
});

describe('the inventory of a built stack', () => {
  for (const [name, spec] of [
    ['ec2', makeSpec(3)],
    ['opsworks', opsworksSpec()],
  ] as const) {
    it(`has every item claimed by exactly one kind (${name})`, async () => {
      const built = builtWorld(spec);
      const all = kindsFor({ opsworks: true });
      const observedAll = (await Promise.all([...all.values()].map((k) => k.observe(built.ctx)))).flat();
      const items = await inventory(built.ctx, { opsworks: name === 'opsworks' });
      assert.ok(items.length >= 3 + 3 * 4, `the inventory lists the stack's items (${items.length})`);
      assert.deepEqual(unclaimedItems(items, observedAll), []);
    });
  }

  it("names a NAT whose tags were removed, found in the stack's security group, with its type and what it costs", async () => {
    const built = builtWorld(makeSpec(2));
    const nat = built.instances[0]!;
    nat.Tags = [];
    const kinds = kindsFor({ opsworks: false });
    const seen = (await Promise.all([...kinds.values()].map((k) => k.observe(built.ctx)))).flat();
    const plan = await makePlan({
      desired: [],
      observed: seen,
      inventory: await inventory(built.ctx, { opsworks: false }),
      kinds,
      ctx: built.ctx,
    });
    assert.deepEqual(
      plan.unclaimed.map((u) => u.description),
      [`EC2 instance ${nat.InstanceId}, t3.micro, running`],
    );
    assert.match(
      plan.unclaimed[0]!.advice,
      /^It is in the stack's security group \S+ \(security-group\/nat\) but has no dupsworks:stack=test-stack tag/,
    );
    assert.match(plan.unclaimed[0]!.advice, /Terminate it if nothing uses it.* It is running, and costs money, until it is terminated\.$/);
    const held = heldChanges(plan).map((c) => c.id);
    assert.ok(held.includes('security-group/nat') && held.includes('vpc'), `what it is in is kept: ${held.join(', ')}`);
  });

  it("with the EC2 kinds alone, names OpsWorks's instances and keeps what they use: destroy with an EC2 spec does not hang", async () => {
    const built = builtWorld(opsworksSpec());
    const ec2Only = kindsFor({ opsworks: false });
    const seen = (await Promise.all([...ec2Only.values()].map((k) => k.observe(built.ctx)))).flat();
    const items = await inventory(built.ctx, { opsworks: false });
    const plan = await makePlan({ desired: [], observed: seen, inventory: items, kinds: ec2Only, ctx: built.ctx });

    const nats = built.instances.filter((i) => i.Tags!.some((t) => t.Key === 'opsworks:instance'));
    assert.deepEqual(
      plan.unclaimed.map((u) => u.physicalId).sort(),
      nats.map((i) => i.InstanceId).sort(),
      "OpsWorks's EC2 instances carry the stack tag and no logical id",
    );
    for (const u of plan.unclaimed) {
      assert.match(
        u.description,
        /^EC2 instance i-\S+, t2\.micro, running, launched by OpsWorks stack "test-stack" as nat-ap-northeast-1[ac]$/,
      );
      assert.match(u.advice, / It is running, and costs money, until it is terminated\.$/);
      assert.match(
        u.advice,
        /^This stack also has an OpsWorks stack \("test-stack"\), the one that launched the instances above: destroy it with the spec that made it/,
      );
      assert.match(u.advice, /--opsworks-endpoint-url/);
    }
    assert.deepEqual(
      heldChanges(plan)
        .map((c) => c.id)
        .sort(),
      [
        'internet-gateway',
        'opsworks/security-group/AWS-OpsWorks-Custom-Server',
        'security-group/nat',
        'subnet/public/ap-northeast-1a',
        'subnet/public/ap-northeast-1c',
        'vpc',
      ],
    );
    assert.ok(
      buildSteps(plan).every((s) => !heldChanges(plan).includes(s.change)),
      'no step deletes what is kept, so none waits out DependencyViolation',
    );
    assert.ok(plan.changes.some((c) => c.id === 'route-table/private/ap-northeast-1a' && c.action === 'delete' && !c.heldBy));
  });
});
