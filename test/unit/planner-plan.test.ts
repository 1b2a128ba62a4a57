import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { countActions, dependencyOrder, hasChanges, makePlan, type Plan } from '../../src/planner/plan.js';
import type { Desired, Observed } from '../../src/planner/resource.js';
import { UNKNOWN, ref } from '../../src/planner/values.js';
import { World, actions, changeOf, desired, fakeKind, kindsOf, observed } from './fixtures.js';

// "network" is replaced when its cidr changes; "box" lives in a network and is replaced when its
// network changes; "label" points at a box but can be re-pointed in place.
const kinds = kindsOf(
  fakeKind('network', { forceNew: ['cidr'], withPreview: true }),
  fakeKind('box', { forceNew: ['network'], withPreview: true }),
  fakeKind('label'),
);

const net = (cidr = '10.0.0.0/16', name = 'net') => desired('net', 'network', { name, cidr });
const box = (size = 'small') => desired('box', 'box', { name: 'box', network: ref('net'), size });
const label = () => desired('label', 'label', { target: ref('box') });

const netSeen = (cidr = '10.0.0.0/16', name = 'net') => observed('net', 'network', 'network-1', { name, cidr });
const boxSeen = (size = 'small', network = 'network-1') =>
  observed('box', 'box', 'box-1', { name: 'box', network, size }, { references: [network] });
const labelSeen = (target = 'box-1') => observed('label', 'label', 'label-1', { target }, { references: [target] });

function plan(want: Desired[], seen: Observed[], world = new World()): Promise<Plan> {
  return makePlan({ desired: want, observed: seen, kinds, ctx: { world } });
}

describe('makePlan', () => {
  it('creates what nothing observed matches, with planned props and a preview', async () => {
    const p = await plan([net()], []);
    assert.deepEqual(p.changes, [
      {
        id: 'net',
        kind: 'network',
        action: 'create',
        desired: net(),
        planned: { name: 'net', cidr: '10.0.0.0/16' },
        attributes: [],
        dependsOn: [],
        preview: { name: 'net', cidr: '10.0.0.0/16', previewed: true },
      },
    ]);
  });

  it('is a no-op when the observed state equals the desired one', async () => {
    const p = await plan([net(), box(), label()], [netSeen(), boxSeen(), labelSeen()]);
    assert.deepEqual(actions(p), { net: 'no-op', box: 'no-op', label: 'no-op' });
    assert.equal(hasChanges(p), false);
    for (const c of p.changes) {
      assert.deepEqual(c.attributes, []);
      assert.equal(c.preview, undefined);
    }
    // References to unchanged resources resolve to what was observed.
    assert.deepEqual(changeOf(p, 'box').planned, { name: 'box', network: 'network-1', size: 'small' });
    assert.deepEqual(changeOf(p, 'label').planned, { target: 'box-1' });
  });

  it('treats a required output that an update will bring into being as unknown, not as null', async () => {
    // The box is being updated and has no "address" yet (an instance still starting has no EC2 id).
    const addressed = desired('label', 'label', { target: ref('box', 'address') });
    const p = await plan([net(), box('large'), addressed], [netSeen(), boxSeen('small'), labelSeen()]);
    assert.equal(changeOf(p, 'box').action, 'update');
    assert.deepEqual(changeOf(p, 'label').planned, { target: UNKNOWN });
    // An optional output stays absent: it is read when present, never waited for.
    const optional = desired('label', 'label', { target: ref('box', 'address', { optional: true }) });
    const q = await plan([net(), box('large'), optional], [netSeen(), boxSeen('small'), labelSeen()]);
    assert.deepEqual(changeOf(q, 'label').planned, { target: undefined });
  });

  it('updates in place when only attributes without forcesReplacement differ', async () => {
    const p = await plan([net(), box('large')], [netSeen(), boxSeen('small')]);
    const c = changeOf(p, 'box');
    assert.equal(c.action, 'update');
    assert.deepEqual(c.attributes, [{ path: 'size', before: 'small', after: 'large' }]);
    assert.deepEqual(c.observed, boxSeen('small'));
    assert.equal(c.preview, undefined);
  });

  it('replaces when an attribute forces replacement', async () => {
    const p = await plan([net('10.1.0.0/16')], [netSeen('10.0.0.0/16')]);
    const c = changeOf(p, 'net');
    assert.equal(c.action, 'replace');
    assert.deepEqual(c.attributes, [{ path: 'cidr', before: '10.0.0.0/16', after: '10.1.0.0/16', forcesReplacement: true }]);
    assert.deepEqual(c.preview, { name: 'net', cidr: '10.1.0.0/16', previewed: true });
  });

  it('resolves references to a resource being created to UNKNOWN', async () => {
    const p = await plan([net(), box()], []);
    assert.deepEqual(changeOf(p, 'box').planned, { name: 'box', network: UNKNOWN, size: 'small' });
    assert.deepEqual(changeOf(p, 'box').dependsOn, ['net']);
  });

  it('cascades a replacement: a ForceNew reference replaces the dependent, an in-place one updates it', async () => {
    const p = await plan([net('10.1.0.0/16'), box(), label()], [netSeen(), boxSeen(), labelSeen()]);
    assert.deepEqual(actions(p), { net: 'replace', box: 'replace', label: 'update' });
    assert.deepEqual(changeOf(p, 'box').attributes, [
      { path: 'network', before: 'network-1', after: UNKNOWN, forcesReplacement: true, reason: 'net is being replaced' },
    ]);
    assert.deepEqual(changeOf(p, 'label').attributes, [
      { path: 'target', before: 'box-1', after: UNKNOWN, reason: 'box is being replaced' },
    ]);
  });

  it('names a resource being created as the reason for an unknown value', async () => {
    // The network is gone (nothing observed), the box still exists and must follow the new one.
    const p = await plan([net(), box()], [boxSeen()]);
    assert.deepEqual(actions(p), { net: 'create', box: 'replace' });
    assert.equal(changeOf(p, 'box').attributes[0]!.reason, 'net is being created');
  });

  it('resolves a reference to a resource being updated to its observed output', async () => {
    const p = await plan([net('10.0.0.0/16', 'renamed'), box()], [netSeen(), boxSeen()]);
    assert.deepEqual(actions(p), { net: 'update', box: 'no-op' });
    assert.equal(changeOf(p, 'box').planned!.network, 'network-1');
  });

  it('deletes an owned observed resource the spec no longer has, as "not in the spec"', async () => {
    const p = await plan([net()], [netSeen(), boxSeen()]);
    assert.deepEqual(changeOf(p, 'box'), {
      id: 'box',
      kind: 'box',
      action: 'delete',
      observed: boxSeen(),
      attributes: [],
      reason: 'not in the spec',
      dependsOn: [],
    });
  });

  it("ignores an unowned observed resource the spec does not have (never deletes what isn't ours)", async () => {
    const stranger = observed('label', 'label', 'label-9', { target: 'box-1' }, { owned: false });
    const p = await plan([net()], [netSeen(), stranger]);
    assert.deepEqual(actions(p), { net: 'no-op' });
  });

  it('keeps, of several claiming one logical id, the one that fits the spec, whatever order they are listed in', async () => {
    const copies = [
      observed('net', 'network', 'network-1', { name: 'net', cidr: '10.9.0.0/16' }),
      observed('net', 'network', 'network-2', { name: 'net', cidr: '10.0.0.0/16' }),
      observed('net', 'network', 'network-3', { name: 'net', cidr: '10.9.0.0/16' }, { note: 'launched by hand' }),
      observed('net', 'network', 'network-4', { name: 'net', cidr: '10.0.0.0/16' }, { owned: false }),
    ];
    for (const listed of [copies, [...copies].reverse()]) {
      const p = await plan([net()], listed);
      assert.deepEqual(
        p.changes.map((c) => [c.id, c.action, c.observed?.physicalId, c.reason]),
        [
          ['net', 'no-op', 'network-2', undefined],
          ['net~network-1', 'delete', 'network-1', 'duplicate of net; network-2 is kept: it fits the spec'],
          ['net~network-3', 'delete', 'network-3', 'launched by hand'],
        ],
      );
    }
  });

  it('keeps, of several that fit, the one the others use, so nothing that uses it is rebuilt', async () => {
    // Two networks alike (a create whose reply was lost, made again); the box is in the second.
    const p = await plan(
      [net(), box()],
      [netSeen(), observed('net', 'network', 'network-2', { name: 'net', cidr: '10.0.0.0/16' }), boxSeen('small', 'network-2')],
    );
    assert.deepEqual(actions(p), { net: 'no-op', box: 'no-op', 'net~network-1': 'delete' });
    assert.equal(changeOf(p, 'net~network-1').reason, "duplicate of net; network-2 is kept: it is in use (by 1 of the stack's resources)");
  });

  it('follows the resources it keeps: of two networks each with its box (two applies crossed), one whole set is kept', async () => {
    const seen = [
      netSeen(),
      observed('net', 'network', 'network-2', { name: 'net', cidr: '10.0.0.0/16' }),
      // Listed first: the box of the network that is not kept.
      observed('box', 'box', 'box-2', { name: 'box', network: 'network-2', size: 'small' }, { references: ['network-2'] }),
      boxSeen(),
      labelSeen(),
    ];
    const p = await plan([net(), box(), label()], seen);
    assert.deepEqual(actions(p), { net: 'no-op', box: 'no-op', label: 'no-op', 'net~network-2': 'delete', 'box~box-2': 'delete' });
    assert.equal(changeOf(p, 'box').observed?.physicalId, 'box-1');
    assert.match(changeOf(p, 'box~box-2').reason!, /box-1 is kept: it fits the spec/);
  });

  it('keeps the healthiest, then the one needing fewer changes, then the oldest, then the first id', async () => {
    const seenBox = (physicalId: string, size: string, extra: Partial<Observed>) => ({
      ...observed('box', 'box', physicalId, { name: 'box', network: 'network-1', size }, { references: ['network-1'] }),
      ...extra,
    });
    const keeps = async (boxes: Observed[]) => changeOf(await plan([net(), box()], [netSeen(), ...boxes]), 'box').observed!.physicalId;
    assert.equal(await keeps([seenBox('box-1', 'small', { health: 2 }), seenBox('box-2', 'large', { health: 0 })]), 'box-2');
    assert.equal(await keeps([seenBox('box-1', 'large', {}), seenBox('box-2', 'small', {})]), 'box-2');
    assert.equal(await keeps([seenBox('box-1', 'small', { createdAt: 2000 }), seenBox('box-2', 'small', { createdAt: 1000 })]), 'box-2');
    assert.equal(await keeps([seenBox('box-2', 'small', {}), seenBox('box-1', 'small', {})]), 'box-1');
  });

  it('fails clearly for a kind it does not know', async () => {
    await assert.rejects(plan([desired('x', 'nonsense', {})], []), { message: 'internal: no resource kind "nonsense"' });
  });

  it('asks preview only for resources being created or replaced', async () => {
    const world = new World();
    // net: replace, box: replace (ForceNew ref), and a second network that is unchanged.
    const other = desired('other', 'network', { name: 'other', cidr: '10.2.0.0/16' });
    const otherSeen = observed('other', 'network', 'network-7', { name: 'other', cidr: '10.2.0.0/16' });
    const p = await plan([net('10.1.0.0/16'), box(), other], [netSeen(), boxSeen(), otherSeen], world);
    assert.deepEqual(actions(p), { net: 'replace', box: 'replace', other: 'no-op' });
    assert.deepEqual(world.previewed, ['net', 'box']);

    const world2 = new World();
    await plan([net(), box('large')], [netSeen(), boxSeen()], world2);
    assert.deepEqual(world2.previewed, [], 'no preview for no-op and update');
  });

  it('uses the planned props as the preview when the kind has no preview', async () => {
    const p = await plan([net(), box(), label()], [netSeen(), boxSeen()]);
    assert.deepEqual(changeOf(p, 'label').preview, { target: 'box-1' });
  });
});

describe('dependencyOrder', () => {
  it('puts every resource after the ones it refers to and keeps spec order otherwise', () => {
    const order = dependencyOrder([label(), desired('z', 'network', {}), box(), net()]).map((d) => d.id);
    assert.deepEqual(order, ['net', 'box', 'label', 'z']);
  });

  it('orders by optional references too (they are read when planning)', () => {
    const reader = desired('reader', 'label', { maybe: ref('net', 'id', { optional: true }) });
    assert.deepEqual(
      dependencyOrder([reader, net()]).map((d) => d.id),
      ['net', 'reader'],
    );
  });

  it('detects a cycle and names its path', () => {
    const a = desired('a', 'label', { x: ref('b') });
    const b = desired('b', 'label', { x: ref('c') });
    const c = desired('c', 'label', { x: [ref('a')] });
    assert.throws(() => dependencyOrder([a, b, c]), { message: 'dependency cycle: a -> b -> c -> a' });
    assert.throws(() => dependencyOrder([desired('self', 'label', { me: ref('self') })]), {
      message: 'dependency cycle: self -> self',
    });
  });

  it('rejects a reference to a resource the spec does not define', () => {
    assert.throws(() => dependencyOrder([desired('b', 'label', { nested: { x: ref('ghost') } })]), {
      message: 'b refers to ghost, which the spec does not define',
    });
  });
});

describe('countActions and hasChanges', () => {
  it('counts a replacement as one add and one destroy', async () => {
    const p = await plan(
      [net('10.1.0.0/16'), box(), label(), desired('new', 'label', { target: 'x' })],
      [netSeen(), boxSeen(), labelSeen(), observed('old', 'label', 'label-5', {})],
    );
    assert.deepEqual(actions(p), { net: 'replace', box: 'replace', label: 'update', new: 'create', old: 'delete' });
    assert.deepEqual(countActions(p), { add: 3, change: 1, destroy: 3 });
    assert.equal(hasChanges(p), true);
  });

  it('counts nothing for a plan of no-ops', async () => {
    const p = await plan([net()], [netSeen()]);
    assert.deepEqual(countActions(p), { add: 0, change: 0, destroy: 0 });
    assert.equal(hasChanges(p), false);
    assert.equal(hasChanges({ changes: [], unclaimed: [], stateHash: '' }), false);
  });
});

describe('stateHash', () => {
  const seen = [netSeen(), boxSeen(), labelSeen()];

  it('is a sha256 hex digest that does not depend on the order resources were observed in', async () => {
    const a = await plan([net()], seen);
    const b = await plan([net()], [seen[2]!, seen[0]!, seen[1]!]);
    assert.match(a.stateHash, /^[0-9a-f]{64}$/);
    assert.equal(a.stateHash, b.stateHash);
  });

  it('does not depend on the desired resources', async () => {
    assert.equal((await plan([net()], seen)).stateHash, (await plan([net(), box('huge')], seen)).stateHash);
  });

  it('changes when any observed state, output, reference or physical id changes', async () => {
    const base = (await plan([], seen)).stateHash;
    const variants: Observed[][] = [
      [netSeen('10.9.0.0/16'), boxSeen(), labelSeen()],
      [netSeen(), boxSeen(), { ...labelSeen(), outputs: { id: 'label-1', extra: 'x' } }],
      [netSeen(), boxSeen(), { ...labelSeen(), references: [] }],
      [netSeen(), boxSeen(), { ...labelSeen(), physicalId: 'label-2' }],
      [netSeen(), boxSeen()],
    ];
    const hashes = await Promise.all(variants.map(async (v) => (await plan([], v)).stateHash));
    for (const h of hashes) assert.notEqual(h, base);
    assert.equal(new Set(hashes).size, variants.length);
  });

  it('does not depend on the key order inside an observed state (tags come back from AWS in any order)', async () => {
    const tagsAB = observed('net', 'network', 'network-1', { cidr: '10.0.0.0/16', tags: { A: '1', B: '2' } });
    const tagsBA = observed('net', 'network', 'network-1', { cidr: '10.0.0.0/16', tags: { B: '2', A: '1' } });
    assert.equal((await plan([], [tagsAB])).stateHash, (await plan([], [tagsBA])).stateHash);
  });
});
