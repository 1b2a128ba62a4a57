// An unknown value says why it is unknown, wherever the props take it: into a nested document, a
// list, or a value a kind derives from it. So every change naming it can say what it waits for.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { compareNested } from '../../src/planner/diff.js';
import { makePlan } from '../../src/planner/plan.js';
import { desired as desiredOf, type SomeKind } from '../../src/planner/resource.js';
import { UNKNOWN, firstUnknown, ref, unknownBecause, unknownCauses, type Props } from '../../src/planner/values.js';
import { kindsFor } from '../../src/resources/index.js';
import { withDefaults } from '../../src/spec/defaults.js';
import { World, changeOf, fakeKind, kindsOf, observed } from './fixtures.js';
import { makeSpec } from './fixtures.js';
import { builtWorld } from './world.js';

describe('unknownBecause', () => {
  it('is an unknown like any other in comparisons and JSON, with its cause beside', () => {
    const u = unknownBecause('nat/a is being replaced');
    assert.deepStrictEqual(u, UNKNOWN);
    assert.equal(JSON.stringify({ x: u }), '{"x":{"$unknown":true}}');
    assert.equal(u.cause, 'nat/a is being replaced');
    assert.ok(Object.isFrozen(u));
  });

  it('is found inside lists and mappings, each cause once', () => {
    const a = unknownBecause('a is being created');
    const b = unknownBecause('b is being replaced');
    const value = { list: ['x', a, { deep: b }], again: a, plain: UNKNOWN };
    assert.equal(firstUnknown(value), a);
    assert.equal(firstUnknown({ none: ['x', 1, null] }), undefined);
    assert.deepEqual(unknownCauses(value), ['a is being created', 'b is being replaced']);
  });
});

// "doc" holds a nested document; "digest" keeps only a hash of its "body" (as a deployment keeps
// the digest of its custom JSON). Both are told about a "box" being created or replaced.
const sha = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');
const doc: SomeKind<{ world: World }> = {
  ...fakeKind('doc'),
  diff: (want, seen) => compareNested('body', want.body, (seen.state as Props).body),
};
const digest: SomeKind<{ world: World }> = {
  ...fakeKind('digest'),
  diff: (want, seen) => {
    const after = firstUnknown(want.body) ?? sha(want.body);
    return after === (seen.state as Props).bodySha256 ? [] : [{ path: 'bodySha256', before: (seen.state as Props).bodySha256, after }];
  },
};
const kinds = kindsOf(fakeKind('box', { forceNew: ['size'] }), doc, digest);

describe('the reason of an unknown change', () => {
  const box = (size: string) => desiredOf('box', 'box', { size });
  const body = { peers: { a: { target: ref('box') }, b: { target: 'fixed' } } };
  const seen = [
    observed('box', 'box', 'box-1', { size: 'small' }),
    observed('doc', 'doc', 'doc-1', { body: { peers: { a: { target: 'box-1' }, b: { target: 'fixed' } } } }),
    observed('digest', 'digest', 'digest-1', { bodySha256: sha({ peers: { a: { target: 'box-1' }, b: { target: 'fixed' } } }) }),
  ];
  const plan = (size: string) =>
    makePlan({
      desired: [box(size), desiredOf('doc', 'doc', { body }), desiredOf('digest', 'digest', { body })],
      observed: seen,
      kinds,
      ctx: { world: new World() },
    });

  it('names the replaced resource on a path deep inside a document', async () => {
    const p = await plan('large');
    assert.equal(changeOf(p, 'box').action, 'replace');
    assert.deepEqual(changeOf(p, 'doc').attributes, [
      { path: 'body.peers.a.target', before: 'box-1', after: UNKNOWN, reason: 'box is being replaced' },
    ]);
  });

  it('names it on a value derived from an unknown (a digest)', async () => {
    const p = await plan('large');
    const [change] = changeOf(p, 'digest').attributes;
    assert.equal(change?.path, 'bodySha256');
    assert.equal(change?.reason, 'box is being replaced');
  });

  it('finds nothing to explain when nothing is unknown', async () => {
    const p = await plan('small');
    assert.deepEqual(
      p.changes.map((c) => [c.id, c.action]),
      [
        ['box', 'no-op'],
        ['doc', 'no-op'],
        ['digest', 'no-op'],
      ],
    );
  });
});

describe('the OpsWorks custom JSON and deployment while a NAT is replaced', () => {
  it("say which NAT they wait for, on the custom JSON's nested path and the deployment's digest", async () => {
    const spec = withDefaults({
      ...makeSpec(2, { manager: 'opsworks', instanceType: 't2.micro' }),
      opsworks: {
        serviceRoleArn: 'arn:aws:iam::123456789012:role/aws-opsworks-service-role',
        defaultInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
        customCookbooks: { url: 'https://github.com/example/dupsworks-cookbooks.git', revision: 'master' },
        permissions: [],
      },
    });
    const world = builtWorld(spec);
    world.opsworksInstances.find((i) => i.Hostname === 'nat-ap-northeast-1a')!.Status = 'connection_lost';
    const all = kindsFor({ opsworks: true });
    const observedAll = (await Promise.all([...all.values()].map((k) => k.observe(world.ctx)))).flat();
    const p = await makePlan({ desired: world.desired, observed: observedAll, kinds: all, ctx: world.ctx });

    assert.equal(changeOf(p, 'opsworks/instance/nat-ap-northeast-1a').action, 'replace');
    // Zone c watches zone a: its peer entry names the NAT being replaced.
    assert.deepEqual(
      changeOf(p, 'opsworks/custom-json').attributes.map((a) => [a.path, a.reason]),
      [['customJson.vpcnat.az.ap-northeast-1c.opposite_primary_nat_id', 'opsworks/instance/nat-ap-northeast-1a is being replaced']],
    );
    assert.deepEqual(
      changeOf(p, 'opsworks/deployment').attributes.map((a) => [a.path, a.reason]),
      [
        ['instanceIds', 'opsworks/instance/nat-ap-northeast-1a is being replaced'],
        ['customJsonSha256', 'opsworks/instance/nat-ap-northeast-1a is being replaced'],
      ],
    );
  });
});
