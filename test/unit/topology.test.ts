import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSteps } from '../../src/planner/graph.js';
import { countActions, dependencyOrder, makePlan } from '../../src/planner/plan.js';
import type { Desired } from '../../src/planner/resource.js';
import { ref, referencedIds } from '../../src/planner/values.js';
import { walk } from '../../src/planner/walk.js';
import { kindsFor } from '../../src/resources/index.js';
import { natInstance } from '../../src/resources/nat-instance.js';
import { routeTable } from '../../src/resources/route-table.js';
import { subnet } from '../../src/resources/subnet.js';
import { desiredResources } from '../../src/topology/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FAILOVER_DEFAULTS } from '../../src/spec/defaults.js';
import { natPolicy } from '../../src/topology/nat-role.js';
import { ROOT } from '../support/cli.js';
import type { Spec } from '../../src/spec/types.js';
import { makeSpec, previewContext } from './fixtures.js';

const byId = (resources: Desired[]) => new Map(resources.map((r) => [r.id, r]));
const props = (resources: Desired[], id: string): Record<string, any> => {
  const found = byId(resources).get(id);
  assert.ok(found, `no resource ${id}`);
  return found.props as Record<string, any>;
};

describe('desiredResources', () => {
  it('lists the shared network per zone, then the NATs, then the routes through them (2 zones)', () => {
    const resources = desiredResources(makeSpec(2));
    const zones = ['ap-northeast-1a', 'ap-northeast-1c'];
    assert.deepEqual(
      resources.map((r) => [r.id, r.kind]),
      [
        ['vpc', 'vpc'],
        ['internet-gateway', 'internet-gateway'],
        ['security-group/nat', 'security-group'],
        ...zones.flatMap((az) => [
          [`subnet/public/${az}`, 'subnet'],
          [`route-table/public/${az}`, 'route-table'],
          [`subnet/private/${az}`, 'subnet'],
          [`route-table/private/${az}`, 'route-table'],
          [`route/public/${az}/0.0.0.0/0`, 'route'],
        ]),
        ['iam-role/nat', 'iam-role'],
        ['iam-role-policy/nat', 'iam-role-policy'],
        ['iam-instance-profile/nat', 'iam-instance-profile'],
        ...zones.map((az) => [`nat/${az}`, 'nat-instance']),
        ...zones.flatMap((az, i) => [
          [`route/public/${az}/8.8.${i}.8/32`, 'route'],
          [`route/private/${az}/0.0.0.0/0`, 'route'],
        ]),
      ],
    );
  });

  it("gives every resource a unique id, named by its kind's scheme", () => {
    const resources = desiredResources(makeSpec(3));
    // Per zone: 2 subnets, 2 tables, 1 NAT, the public default route, the private one, and a
    // heartbeat route to every zone's viaPeer but the one whose peer is this zone's NAT.
    assert.equal(resources.length, 3 + 3 + 3 * (7 + 2));
    assert.equal(new Set(resources.map((r) => r.id)).size, resources.length);
    assert.equal(natInstance.ids.id({ availabilityZone: 'ap-northeast-1d' }), 'nat/ap-northeast-1d');
    assert.equal(subnet.ids.id({ tier: 'private', availabilityZone: 'ap-northeast-1d' }), 'subnet/private/ap-northeast-1d');
    assert.ok(byId(resources).has(routeTable.ids.id({ tier: 'private', availabilityZone: 'ap-northeast-1d' })));
  });

  for (const zones of [2, 3] as const) {
    it(`wires the heartbeat ring: in every public table, zone j's /32 goes through the NAT of zone (j+1) mod ${zones}, but where that is the table's own`, () => {
      const spec = makeSpec(zones);
      const resources = desiredResources(spec);
      spec.zones.forEach((table, t) => {
        const heartbeats = resources.filter((r) => r.id.startsWith(`route/public/${table.availabilityZone}/`) && r.id.endsWith('/32'));
        const expected = spec.zones.flatMap((zone, j) => {
          const next = spec.zones[(j + 1) % zones]!.availabilityZone;
          return (j + 1) % zones === t ? [] : [`route/public/${table.availabilityZone}/${zone.heartbeat.viaPeer}/32 -> nat/${next}`];
        });
        assert.deepEqual(
          heartbeats.map((r) => `${r.id} -> ${(r.props as { instanceId: { $ref: string } }).instanceId.$ref}`),
          expected,
        );
        assert.equal(heartbeats.length, zones - 1);
      });
      // Two zones: the original's cross-wiring, exactly.
      if (zones === 2) {
        assert.deepEqual(props(resources, `route/public/ap-northeast-1a/8.8.0.8/32`), {
          routeTableId: ref('route-table/public/ap-northeast-1a'),
          destinationCidrBlock: '8.8.0.8/32',
          instanceId: ref('nat/ap-northeast-1c'),
        });
      }
    });

    it(`sends each private zone out through its own NAT once it is ready, accepting any running NAT (${zones} zones)`, () => {
      const spec = makeSpec(zones);
      const resources = desiredResources(spec);
      const everyNat = spec.zones.map((z) => ({ $ref: `nat/${z.availabilityZone}`, output: 'runningId', optional: true }));
      for (const zone of spec.zones) {
        const az = zone.availabilityZone;
        assert.deepEqual(props(resources, `route/private/${az}/0.0.0.0/0`), {
          routeTableId: ref(`route-table/private/${az}`),
          destinationCidrBlock: '0.0.0.0/0',
          instanceId: ref(`nat/${az}`, 'id', { whenReady: true }),
          acceptTargets: everyNat,
        });
        assert.deepEqual(props(resources, `route/public/${az}/0.0.0.0/0`), {
          routeTableId: ref(`route-table/public/${az}`),
          destinationCidrBlock: '0.0.0.0/0',
          gatewayId: ref('internet-gateway'),
        });
      }
    });
  }

  it('puts each NAT in its public subnet with the NAT group, checks off, and the zone in its user data', () => {
    const spec = makeSpec(3);
    const resources = desiredResources(spec);
    spec.zones.forEach((zone, i) => {
      const az = zone.availabilityZone;
      const nat = props(resources, `nat/${az}`);
      assert.deepEqual(nat.subnetId, ref(`subnet/public/${az}`));
      assert.deepEqual(nat.securityGroupIds, [ref('security-group/nat')]);
      assert.equal(nat.sourceDestCheck, false);
      assert.equal(nat.instanceType, 't3.micro');
      assert.equal('imageId' in nat, false, 'no image: the latest default AMI');
      assert.equal('keyName' in nat, false);
      assert.match(nat.userData, new RegExp(`^#!/bin/bash\n# dupsworks NAT instance: stack test-stack, zone ${az}\n`));
      assert.deepEqual(props(resources, `subnet/public/${az}`), {
        vpcId: ref('vpc'),
        cidrBlock: `10.0.${i}.0/24`,
        availabilityZone: az,
        tags: { Name: `TestVPC-public-${az}` },
      });
      assert.deepEqual(props(resources, `route-table/private/${az}`), {
        vpcId: ref('vpc'),
        subnetId: ref(`subnet/private/${az}`),
        tags: { Name: `TestVPC-private-rt-${az}` },
      });
    });
  });

  it('passes the optional NAT settings through when the spec has them, and makes no role when it names a profile', () => {
    const resources = desiredResources(
      makeSpec(2, { imageId: 'ami-123', keyName: 'ops', instanceProfileArn: 'arn:aws:iam::1:instance-profile/n' }),
    );
    const nat = props(resources, 'nat/ap-northeast-1a');
    assert.equal(nat.imageId, 'ami-123');
    assert.equal(nat.keyName, 'ops');
    assert.equal(nat.instanceProfileArn, 'arn:aws:iam::1:instance-profile/n');
    assert.deepEqual(
      resources.filter((r) => r.kind.startsWith('iam-')),
      [],
    );
  });

  it('states in the README the very policy the NATs get, for users who bring their own profile', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Permissions of the NATs'));
    const block = /```json\n([\s\S]*?)\n```/.exec(section)![1]!;
    const topic = 'arn:aws:sns:ap-northeast-1:123456789012:nat-switch';
    const stated = JSON.parse(
      block.replaceAll('STACK', 'test-stack').replaceAll('REGION', 'ap-northeast-1').replaceAll('TOPIC_ARN', topic),
    );
    assert.deepEqual(stated, natPolicy({ ...makeSpec(2), failover: { ...FAILOVER_DEFAULTS, snsTopicArn: topic } }));
  });

  it("gives the NATs a role of the stack's own, through its instance profile, unless the spec names a profile", () => {
    const resources = desiredResources(makeSpec(2));
    assert.deepEqual(props(resources, 'nat/ap-northeast-1a').instanceProfileArn, ref('iam-instance-profile/nat', 'arn'));
    assert.deepEqual(props(resources, 'iam-instance-profile/nat'), {
      roleName: ref('iam-role/nat', 'name'),
      tags: { Name: 'TestVPC-nat-profile' },
    });
    assert.deepEqual(props(resources, 'iam-role/nat').assumeRolePolicy, {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    assert.deepEqual(props(resources, 'iam-role-policy/nat').roleName, ref('iam-role/nat', 'name'));
  });

  it("grants the agent the least it needs: describes, ReplaceRoute and its own tags on the stack's tables, health tags on its instances, sns:Publish on the named topic only", () => {
    const statements = (spec: Spec) =>
      (props(desiredResources(spec), 'iam-role-policy/nat').policyDocument as { Statement: unknown[] }).Statement;
    const stack = { StringEquals: { 'aws:ResourceTag/dupsworks:stack': 'test-stack' } };
    const without = statements(makeSpec(2));
    assert.deepEqual(without, [
      {
        Sid: 'ReadTheStack',
        Effect: 'Allow',
        Action: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeRouteTables'],
        Resource: '*',
      },
      {
        Sid: 'MoveTheStacksRoutes',
        Effect: 'Allow',
        Action: ['ec2:ReplaceRoute'],
        Resource: 'arn:aws:ec2:ap-northeast-1:*:route-table/*',
        Condition: stack,
      },
      {
        Sid: 'SayWhoServesARouteTable',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: 'arn:aws:ec2:ap-northeast-1:*:route-table/*',
        Condition: {
          ...stack,
          'ForAllValues:StringEquals': {
            'aws:TagKeys': [
              'dupsworks:served-by',
              'dupsworks:served-by-nat',
              'dupsworks:served-since',
              'dupsworks:switch',
              'dupsworks:switched-by',
            ],
          },
        },
      },
      {
        Sid: 'SayAPeerIsHealthy',
        Effect: 'Allow',
        Action: ['ec2:CreateTags'],
        Resource: 'arn:aws:ec2:ap-northeast-1:*:instance/*',
        Condition: {
          ...stack,
          'ForAllValues:StringEquals': { 'aws:TagKeys': ['dupsworks:health', 'dupsworks:health-by', 'dupsworks:health-since'] },
        },
      },
    ]);
    const topic = 'arn:aws:sns:ap-northeast-1:123456789012:nat-switch';
    const withTopic = statements({ ...makeSpec(2), failover: { ...FAILOVER_DEFAULTS, snsTopicArn: topic } });
    assert.deepEqual(withTopic.slice(0, -1), without);
    assert.deepEqual(withTopic.at(-1), { Sid: 'NotifyOfASwitch', Effect: 'Allow', Action: ['sns:Publish'], Resource: topic });
    const china = { ...makeSpec(2), region: 'cn-north-1' };
    assert.match(JSON.stringify(statements(china)), /arn:aws-cn:ec2:cn-north-1:\*:route-table\/\*/);
    assert.equal(
      (props(desiredResources(china), 'iam-role/nat').assumeRolePolicy as { Statement: { Principal: { Service: string } }[] }).Statement[0]!
        .Principal.Service,
      'ec2.amazonaws.com.cn',
    );
  });

  it('makes NATs forward and masquerade only what comes from the VPC', () => {
    const userData: string = props(desiredResources(makeSpec(2)), 'nat/ap-northeast-1c').userData;
    assert.ok(userData.includes('net.ipv4.ip_forward = 1'));
    assert.ok(userData.includes("\nDUPSWORKS_VPC_CIDR='10.0.0.0/16'\n"));
    assert.ok(userData.includes('POSTROUTING -s "$DUPSWORKS_VPC_CIDR" ! -d "$DUPSWORKS_VPC_CIDR" -j MASQUERADE'));
    assert.ok(userData.includes('set -euo pipefail'));
  });

  it('lets the NAT group in from the VPC, echo requests from anywhere (a watcher pings its public address), and out anywhere', () => {
    assert.deepEqual(props(desiredResources(makeSpec(2)), 'security-group/nat'), {
      vpcId: ref('vpc'),
      groupName: 'test-stack-nat',
      description: 'dupsworks NAT instances of stack test-stack',
      ingress: ['all 10.0.0.0/16', 'icmp 8-0 0.0.0.0/0'],
      egress: ['all 0.0.0.0/0'],
      tags: { Name: 'TestVPC-nat' },
    });
  });

  it('gives every resource that can carry tags a unique Name tag (routes and inline policies carry none)', () => {
    const resources = desiredResources(makeSpec(3));
    const names: string[] = [];
    for (const r of resources) {
      const tags = (r.props as { tags?: Record<string, string> }).tags;
      if (r.kind === 'route' || r.kind === 'iam-role-policy') {
        assert.equal(tags, undefined, r.id);
        continue;
      }
      assert.equal(typeof tags?.Name, 'string', `${r.id} has no Name tag`);
      assert.ok(tags!.Name!.length > 0);
      names.push(tags!.Name!);
    }
    assert.equal(names.length, 3 + 3 * 5 + 2);
    assert.equal(new Set(names).size, names.length, 'Name tags are unique');
  });

  for (const zones of [2, 3] as const) {
    it(`has no dependency cycle and refers only to resources it defines (${zones} zones)`, () => {
      const resources = desiredResources(makeSpec(zones));
      const order = dependencyOrder(resources).map((r) => r.id);
      assert.equal(order.length, resources.length);
      for (const r of resources) {
        for (const dep of referencedIds(r.props)) {
          assert.ok(order.indexOf(dep) < order.indexOf(r.id), `${dep} comes before ${r.id}`);
        }
      }
      assert.equal(order[0], 'vpc');
    });
  }

  it('builds from nothing: everything is created, each after what it needs', async () => {
    const resources = desiredResources(makeSpec(3));
    const ctx = previewContext();
    const plan = await makePlan({ desired: resources, observed: [], kinds: kindsFor({ opsworks: false }), ctx });
    assert.deepEqual(countActions(plan), { add: 33, change: 0, destroy: 0 });
    const nat = plan.changes.find((c) => c.id === 'nat/ap-northeast-1a')!;
    assert.equal(nat.preview!.imageId, 'ami-latest');
    assert.equal('userData' in nat.preview!, false, 'the plan shows its hash instead');

    const finished = new Set<string>();
    const late: string[] = [];
    const result = await walk(buildSteps(plan), 4, {
      run: async (step) => {
        for (const dep of step.change.dependsOn) if (!finished.has(dep)) late.push(`${step.change.id} before ${dep}`);
        finished.add(step.change.id);
      },
    });
    assert.deepEqual(late, []);
    assert.equal(result.done.length, 33);
    // The private routes do not wait for the other zones' NATs (they only accept them if running).
    const privateRoute = plan.changes.find((c) => c.id === 'route/private/ap-northeast-1a/0.0.0.0/0')!;
    assert.deepEqual(privateRoute.dependsOn, ['route-table/private/ap-northeast-1a', 'nat/ap-northeast-1a']);
  });
});
