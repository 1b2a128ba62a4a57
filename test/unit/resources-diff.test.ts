import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareAttributes, compareTags } from '../../src/planner/diff.js';
import type { Observed } from '../../src/planner/resource.js';
import { UNKNOWN, ref } from '../../src/planner/values.js';
import { internetGateway } from '../../src/resources/internet-gateway.js';
import { natInstance, type NatInstanceProps } from '../../src/resources/nat-instance.js';
import { routeTable } from '../../src/resources/route-table.js';
import { route } from '../../src/resources/route.js';
import { securityGroup } from '../../src/resources/security-group.js';
import { subnet } from '../../src/resources/subnet.js';
import { vpc } from '../../src/resources/vpc.js';
import { natObserved, observed, routeObserved, sha256, type NatStateFixture } from './fixtures.js';

// The kinds' diff takes resolved props; tests write them as plain data.
type Loose = any;

describe('compareAttributes and compareTags', () => {
  it('reports each differing attribute once, with forcesReplacement from its rule', () => {
    assert.deepEqual(
      compareAttributes(
        { a: 1, b: 'x', c: [1, 2], d: 'same' },
        { a: 2, b: 'x', c: [2, 1], d: 'same' },
        { a: { forcesReplacement: true }, b: {}, c: {}, d: {} },
      ),
      [
        { path: 'a', before: 2, after: 1, forcesReplacement: true },
        { path: 'c', before: [2, 1], after: [1, 2] },
      ],
    );
  });

  it('treats absent, null and empty string alike, and UNKNOWN as always different', () => {
    assert.deepEqual(compareAttributes({ k: '' }, { k: undefined }, { k: {} }), []);
    assert.deepEqual(compareAttributes({ k: null }, { k: '' }, { k: {} }), []);
    assert.deepEqual(compareAttributes({ k: UNKNOWN }, { k: 'v' }, { k: {} }), [{ path: 'k', before: 'v', after: UNKNOWN }]);
  });

  it('compares only the desired tags, key by key', () => {
    assert.deepEqual(compareTags({ Name: 'a', Team: 't' }, { Name: 'b', Team: 't', 'dupsworks:stack': 's' }), [
      { path: 'tags.Name', before: 'b', after: 'a' },
    ]);
    assert.deepEqual(compareTags({ Name: 'a' }, {}), [{ path: 'tags.Name', before: undefined, after: 'a' }]);
  });
});

// ---- route ----------------------------------------------------------------------------------------

describe('route.diff', () => {
  const privateRoute = (instanceId: unknown, acceptTargets: unknown[] = []): Loose => ({
    routeTableId: 'rtb-1',
    destinationCidrBlock: '0.0.0.0/0',
    instanceId,
    acceptTargets,
  });
  const seen = (target: string | undefined, state = 'active') =>
    routeObserved('route/private/a/0.0.0.0/0', 'rtb-1', '0.0.0.0/0', target, state);

  it('sees no change when the route points at the desired target', () => {
    assert.deepEqual(route.diff(privateRoute('i-a'), seen('i-a')), []);
    const toGateway: Loose = { routeTableId: 'rtb-1', destinationCidrBlock: '0.0.0.0/0', gatewayId: 'igw-1' };
    assert.deepEqual(route.diff(toGateway, seen('igw-1')), []);
  });

  it('repairs a blackhole route, even one pointing at the desired target', () => {
    assert.deepEqual(route.diff(privateRoute('i-a'), seen('i-a', 'blackhole')), [
      { path: 'instanceId', before: 'i-a', after: 'i-a', reason: 'route is a blackhole' },
    ]);
  });

  it('accepts a failover to another running NAT of the stack', () => {
    assert.deepEqual(route.diff(privateRoute('i-a', ['i-a', 'i-b', 'i-c']), seen('i-b')), []);
  });

  it('re-points a route whose failover NAT is not running (its accepted entry is undefined)', () => {
    assert.deepEqual(route.diff(privateRoute('i-a', ['i-a', 'i-b', undefined]), seen('i-c')), [
      { path: 'instanceId', before: 'i-c', after: 'i-a' },
    ]);
  });

  it('re-points a route at something else entirely, or with no target', () => {
    assert.deepEqual(route.diff(privateRoute('i-a', ['i-a']), seen('pcx-1')), [{ path: 'instanceId', before: 'pcx-1', after: 'i-a' }]);
    assert.deepEqual(route.diff(privateRoute('i-a', [undefined]), seen(undefined)), [
      { path: 'instanceId', before: undefined, after: 'i-a' },
    ]);
  });

  it('re-points a route whose NAT is being replaced (the planner names it: see planner-graph)', () => {
    assert.deepEqual(route.diff(privateRoute(UNKNOWN, [UNKNOWN, 'i-b']), seen('i-old')), [
      { path: 'instanceId', before: 'i-old', after: UNKNOWN },
    ]);
    // Failed over to a NAT that is still running: that is fine while the own NAT is replaced.
    assert.deepEqual(route.diff(privateRoute(UNKNOWN, [UNKNOWN, 'i-b']), seen('i-b')), []);
  });

  it('replaces a route whose route table changes (routes cannot move between tables)', () => {
    assert.deepEqual(route.diff({ ...privateRoute('i-a'), routeTableId: 'rtb-2' }, seen('i-a')), [
      { path: 'routeTableId', before: 'rtb-1', after: 'rtb-2', forcesReplacement: true },
    ]);
    const changes = route.diff({ ...privateRoute(UNKNOWN), routeTableId: UNKNOWN }, seen('i-a'));
    assert.deepEqual(
      changes.map((c) => [c.path, c.forcesReplacement ?? false]),
      [
        ['routeTableId', true],
        ['instanceId', false],
      ],
    );
  });

  it("names a route by its table's key and its destination", () => {
    const routeId = (routeTableId: string, destination: string) =>
      route.desire({ routeTableId: ref(routeTableId), destinationCidrBlock: destination, gatewayId: ref('internet-gateway') }).id;
    assert.equal(routeId('route-table/private/ap-northeast-1a', '0.0.0.0/0'), 'route/private/ap-northeast-1a/0.0.0.0/0');
    assert.equal(routeId('route-table/public/ap-northeast-1c', '8.8.8.8/32'), 'route/public/ap-northeast-1c/8.8.8.8/32');
    // A route lives in a route table: anything else is a bug in the topology, not a name to invent.
    assert.throws(() => routeId('elsewhere', '10.0.0.0/8'), { message: /must refer to a route table, not to elsewhere/ });
  });

  it('previews a new route without its accepted targets', async () => {
    assert.deepEqual(await route.preview(privateRoute('i-a', ['i-a', 'i-b'])), {
      routeTableId: 'rtb-1',
      destinationCidrBlock: '0.0.0.0/0',
      instanceId: 'i-a',
    });
  });
});

// ---- nat-instance ---------------------------------------------------------------------------------

describe('natInstance.diff', () => {
  const userData = '#!/bin/bash\necho nat\n';
  const want = (extra: Partial<Record<keyof NatInstanceProps, unknown>> = {}): Loose => ({
    subnetId: 'subnet-1',
    securityGroupIds: ['sg-1', 'sg-2'],
    instanceType: 't3.micro',
    userData,
    sourceDestCheck: false,
    tags: { Name: 'vpc-nat-a' },
    ...extra,
  });
  const seen = (state: Partial<NatStateFixture> = {}): Observed<NatStateFixture> =>
    natObserved('nat/a', {
      subnetId: 'subnet-1',
      securityGroupIds: ['sg-1', 'sg-2'],
      instanceType: 't3.micro',
      imageId: 'ami-2024',
      userDataSha256: sha256(userData),
      tags: { Name: 'vpc-nat-a', 'dupsworks:stack': 's' },
      ...state,
    });
  const diff = (desired: Loose, observed: Observed<NatStateFixture>) => natInstance.diff(desired, observed as Loose);

  it('sees no change for a healthy running NAT as desired', () => {
    assert.deepEqual(diff(want(), seen()), []);
    assert.deepEqual(diff(want(), seen({ state: 'pending' })), []);
  });

  it("compares attributes only: health is the condition's (a dead or stopped NAT that matches the spec has no diff)", () => {
    for (const state of ['terminated', 'shutting-down', 'stopped', 'stopping']) assert.deepEqual(diff(want(), seen({ state })), []);
    assert.deepEqual(diff(want(), seen({ impaired: true })), []);
  });

  for (const state of ['terminated', 'shutting-down']) {
    it(`says a NAT that is ${state} is to be replaced`, () => {
      assert.deepEqual(seen({ state }).condition, {
        ready: false,
        reason: `instance is ${state}`,
        remedy: { action: 'replace', path: 'state', before: state, after: 'running', reason: `instance is ${state}` },
      });
    });
  }

  it('says a NAT that fails its status checks is to be replaced', () => {
    assert.deepEqual(seen({ impaired: true }).condition?.remedy, {
      action: 'replace',
      path: 'state',
      before: 'impaired',
      after: 'running',
      reason: 'instance fails its status checks',
    });
  });

  for (const state of ['stopped', 'stopping']) {
    it(`says a NAT that is ${state} is to be started`, () => {
      assert.deepEqual(seen({ state }).condition?.remedy, {
        action: 'start',
        path: 'state',
        before: state,
        after: 'running',
        reason: 'instance is stopped; it will be started',
      });
    });
  }

  it('ignores the image when the spec names none (a newer default AMI never replaces a NAT)', () => {
    assert.deepEqual(diff(want(), seen({ imageId: 'ami-ancient' })), []);
  });

  it('replaces a NAT whose explicit image differs', () => {
    assert.deepEqual(diff(want({ imageId: 'ami-2024' }), seen()), []);
    assert.deepEqual(diff(want({ imageId: 'ami-2025' }), seen()), [
      { path: 'imageId', before: 'ami-2024', after: 'ami-2025', forcesReplacement: true },
    ]);
  });

  it('detects changed user data through the sha256 tag, and replaces', () => {
    const changed = '#!/bin/bash\necho changed\n';
    assert.deepEqual(diff(want({ userData: changed }), seen()), [
      { path: 'userDataSha256', before: sha256(userData), after: sha256(changed), forcesReplacement: true },
    ]);
    // No tag (launched by hand): the user data cannot be vouched for.
    assert.deepEqual(
      diff(want(), seen({ userDataSha256: undefined })).map((c) => [c.path, c.forcesReplacement]),
      [['userDataSha256', true]],
    );
  });

  it('turns source/destination checking off in place', () => {
    assert.deepEqual(diff(want(), seen({ sourceDestCheck: true })), [{ path: 'sourceDestCheck', before: true, after: false }]);
  });

  it('compares security groups regardless of order and changes them in place', () => {
    assert.deepEqual(diff(want({ securityGroupIds: ['sg-2', 'sg-1'] }), seen()), []);
    assert.deepEqual(diff(want({ securityGroupIds: ['sg-3', 'sg-1'] }), seen()), [
      { path: 'securityGroupIds', before: ['sg-1', 'sg-2'], after: ['sg-1', 'sg-3'] },
    ]);
  });

  it('replaces a NAT whose subnet, instance type, key pair or instance profile changes', () => {
    const changes = diff(
      want({ subnetId: UNKNOWN, instanceType: 't3.small', keyName: 'ops', instanceProfileArn: 'arn:aws:iam::1:instance-profile/nat' }),
      seen(),
    );
    assert.deepEqual(
      changes.map((c) => [c.path, c.forcesReplacement]),
      [
        ['subnetId', true],
        ['instanceType', true],
        ['keyName', true],
        ['instanceProfileArn', true],
      ],
    );
  });

  it('repairs a drifted Name tag in place', () => {
    assert.deepEqual(diff(want(), seen({ tags: { Name: 'renamed' } })), [{ path: 'tags.Name', before: 'renamed', after: 'vpc-nat-a' }]);
  });
});

// ---- security-group -------------------------------------------------------------------------------

describe('securityGroup.diff', () => {
  const want = (extra: Record<string, unknown> = {}): Loose => ({
    vpcId: 'vpc-1',
    groupName: 'stack-nat',
    description: 'NATs',
    ingress: ['all 10.0.0.0/16', 'tcp 22-22 203.0.113.0/24'],
    egress: ['all 0.0.0.0/0'],
    tags: { Name: 'vpc-nat' },
    ...extra,
  });
  const seen = (extra: Record<string, unknown> = {}): Loose =>
    observed('security-group/nat', 'security-group', 'sg-1', {
      vpcId: 'vpc-1',
      groupName: 'stack-nat',
      description: 'NATs',
      ingress: ['all 10.0.0.0/16', 'tcp 22-22 203.0.113.0/24'],
      egress: ['all 0.0.0.0/0'],
      tags: { Name: 'vpc-nat' },
      ...extra,
    });

  it('compares rules as sets, whatever their order', () => {
    assert.deepEqual(securityGroup.diff(want({ ingress: ['tcp 22-22 203.0.113.0/24', 'all 10.0.0.0/16'] }), seen()), []);
  });

  it('shows rule drift on the rule list that drifted, with exactly the rules that differ between before and after', () => {
    const changes = securityGroup.diff(want(), seen({ ingress: ['all 10.0.0.0/16', 'tcp 22-22 0.0.0.0/0', 'tcp 22-22 203.0.113.0/24'] }));
    assert.deepEqual(changes, [
      {
        path: 'ingress',
        before: ['all 10.0.0.0/16', 'tcp 22-22 0.0.0.0/0', 'tcp 22-22 203.0.113.0/24'],
        after: ['all 10.0.0.0/16', 'tcp 22-22 203.0.113.0/24'],
      },
    ]);
    const c = changes[0] as unknown as { before: string[]; after: string[] };
    assert.deepEqual(
      c.before.filter((r) => !c.after.includes(r)),
      ['tcp 22-22 0.0.0.0/0'],
    );
    assert.deepEqual(securityGroup.diff(want(), seen({ egress: [] })), [{ path: 'egress', before: [], after: ['all 0.0.0.0/0'] }]);
  });

  it('replaces a group whose VPC changes; name and description are set once and never compared', () => {
    const changes = securityGroup.diff(want({ vpcId: UNKNOWN, groupName: 'other', description: 'new words' }), seen());
    assert.deepEqual(
      changes.map((c) => [c.path, c.forcesReplacement]),
      [['vpcId', true]],
    );
    assert.deepEqual(securityGroup.diff(want({ description: 'new words' }), seen()), []);
  });
});
describe('vpc.diff', () => {
  const want: Loose = { cidrBlock: '10.0.0.0/16', enableDnsSupport: true, enableDnsHostnames: true, tags: { Name: 'MyVPC' } };
  const seen = (extra: Record<string, unknown> = {}): Loose =>
    observed('vpc', 'vpc', 'vpc-1', {
      cidrBlock: '10.0.0.0/16',
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: 'MyVPC' },
      ...extra,
    });

  it('sets DNS attributes and the Name tag back in place', () => {
    assert.deepEqual(vpc.diff(want, seen()), []);
    assert.deepEqual(vpc.diff(want, seen({ enableDnsHostnames: false, tags: { Name: 'renamed' } })), [
      { path: 'enableDnsHostnames', before: false, after: true },
      { path: 'tags.Name', before: 'renamed', after: 'MyVPC' },
    ]);
  });

  it('replaces a VPC whose CIDR changes', () => {
    assert.deepEqual(vpc.diff({ ...want, cidrBlock: '10.1.0.0/16' }, seen()), [
      { path: 'cidrBlock', before: '10.0.0.0/16', after: '10.1.0.0/16', forcesReplacement: true },
    ]);
  });
});

describe('subnet.diff and claim', () => {
  const want: Loose = { vpcId: 'vpc-1', cidrBlock: '10.0.0.0/24', availabilityZone: 'ap-northeast-1c', tags: { Name: 'pub' } };
  const seen = (extra: Record<string, unknown> = {}): Loose =>
    observed('subnet/public/ap-northeast-1c', 'subnet', 'subnet-1', {
      vpcId: 'vpc-1',
      cidrBlock: '10.0.0.0/24',
      availabilityZone: 'ap-northeast-1c',
      tags: { Name: 'pub' },
      ...extra,
    });

  it('changes only tags in place; VPC, CIDR and zone force replacement', () => {
    assert.deepEqual(subnet.diff({ ...want, tags: { Name: 'other' } }, seen()), [{ path: 'tags.Name', before: 'pub', after: 'other' }]);
    const changes = subnet.diff({ ...want, vpcId: UNKNOWN, cidrBlock: '10.0.1.0/24', availabilityZone: 'ap-northeast-1a' }, seen());
    assert.deepEqual(
      changes.map((c) => [c.path, c.forcesReplacement]),
      [
        ['vpcId', true],
        ['cidrBlock', true],
        ['availabilityZone', true],
      ],
    );
  });

  it('claims its CIDR block in its VPC, once the VPC is known', () => {
    assert.equal(subnet.claim!(want), '10.0.0.0/24 in vpc-1');
    assert.equal(subnet.claim!({ ...want, vpcId: UNKNOWN }), undefined);
  });
});

describe('internetGateway.diff', () => {
  const want: Loose = { vpcId: 'vpc-1', tags: { Name: 'igw' } };
  const seen = (vpcId: string | undefined): Loose =>
    observed('internet-gateway', 'internet-gateway', 'igw-1', { vpcId, tags: { Name: 'igw' } });

  it('re-attaches a detached gateway in place (no replacement)', () => {
    assert.deepEqual(internetGateway.diff(want, seen('vpc-1')), []);
    assert.deepEqual(internetGateway.diff(want, seen(undefined)), [{ path: 'vpcId', before: undefined, after: 'vpc-1' }]);
  });

  it('replaces a gateway attached to another VPC (the old one, when the VPC is replaced)', () => {
    assert.deepEqual(internetGateway.diff({ ...want, vpcId: UNKNOWN }, seen('vpc-1')), [
      { path: 'vpcId', before: 'vpc-1', after: UNKNOWN, forcesReplacement: true },
    ]);
    assert.deepEqual(internetGateway.diff(want, seen('vpc-other')), [
      { path: 'vpcId', before: 'vpc-other', after: 'vpc-1', forcesReplacement: true },
    ]);
  });
});

describe('routeTable.diff', () => {
  const want: Loose = { vpcId: 'vpc-1', subnetId: 'subnet-1', tags: { Name: 'rt' } };
  const seen = (subnetId: string | undefined, vpcId = 'vpc-1'): Loose =>
    observed('route-table/public/a', 'route-table', 'rtb-1', {
      vpcId,
      subnetId,
      associations: subnetId ? subnetId.split(',').map((s, i) => ({ associationId: `rtbassoc-${i}`, subnetId: s })) : [],
      tags: { Name: 'rt' },
    });

  it('re-associates its subnet in place and replaces on a new VPC', () => {
    assert.deepEqual(routeTable.diff(want, seen('subnet-1')), []);
    assert.deepEqual(routeTable.diff(want, seen(undefined)), [{ path: 'subnetId', before: undefined, after: 'subnet-1' }]);
    assert.deepEqual(routeTable.diff(want, seen('subnet-1,subnet-9')), [
      { path: 'subnetId', before: 'subnet-1,subnet-9', after: 'subnet-1' },
    ]);
    assert.deepEqual(routeTable.diff(want, seen('subnet-1', 'vpc-2')), [
      { path: 'vpcId', before: 'vpc-2', after: 'vpc-1', forcesReplacement: true },
    ]);
  });
});
