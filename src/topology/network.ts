// The network every stack has, whoever manages its NATs: the VPC, its internet gateway, the NATs'
// security group, and per zone a public and a private subnet with their route tables. Then the
// routes that send traffic through the NATs, given how to name a zone's NAT.
//
// Zone i's private default route goes out through its own NAT; its public table sends
// heartbeat.viaPeer/32 through the NAT of its peer in the ring (ring.ts).

import type { Desired } from '../planner/resource.js';
import { ref, type Props, type Ref } from '../planner/values.js';
import type { InternetGatewayProps } from '../resources/internet-gateway.js';
import { routeId, type RouteProps } from '../resources/route.js';
import type { RouteTableProps } from '../resources/route-table.js';
import type { SecurityGroupProps } from '../resources/security-group.js';
import type { SubnetProps } from '../resources/subnet.js';
import type { VpcProps } from '../resources/vpc.js';
import type { Spec } from '../spec/types.js';
import { natRing } from './ring.js';

export type Tier = 'public' | 'private';

export const networkIds = {
  vpc: 'vpc',
  internetGateway: 'internet-gateway',
  natSecurityGroup: 'security-group/nat',
  subnet: (tier: Tier, az: string) => `subnet/${tier}/${az}`,
  routeTable: (tier: Tier, az: string) => `route-table/${tier}/${az}`,
};
const ids = networkIds;

/** How the routes name a zone's NAT: its EC2 instance id, and that id only while it can serve. */
export interface NatOutputs {
  instanceId(az: string): Ref;
  runningId(az: string): Ref;
}

export function networkResources(spec: Spec): Desired[] {
  const vpcName = spec.vpc.name;
  const resources: Desired[] = [
    desired<VpcProps>(ids.vpc, 'vpc', {
      cidrBlock: spec.vpc.cidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: { Name: vpcName },
    }),
    desired<InternetGatewayProps>(ids.internetGateway, 'internet-gateway', { vpcId: ref(ids.vpc), tags: { Name: `${vpcName}-igw` } }),
    desired<SecurityGroupProps>(ids.natSecurityGroup, 'security-group', {
      vpcId: ref(ids.vpc),
      groupName: `${spec.name}-nat`,
      description: `dupsworks NAT instances of stack ${spec.name}`,
      ingress: [`all ${spec.vpc.cidr}`],
      egress: ['all 0.0.0.0/0'],
      tags: { Name: `${vpcName}-nat` },
    }),
  ];
  for (const zone of spec.zones) {
    const az = zone.availabilityZone;
    for (const tier of ['public', 'private'] as const) {
      resources.push(
        desired<SubnetProps>(ids.subnet(tier, az), 'subnet', {
          vpcId: ref(ids.vpc),
          cidrBlock: tier === 'public' ? zone.publicSubnet : zone.privateSubnet,
          availabilityZone: az,
          tags: { Name: zoneName(spec, tier, az) },
        }),
        desired<RouteTableProps>(ids.routeTable(tier, az), 'route-table', {
          vpcId: ref(ids.vpc),
          subnetId: ref(ids.subnet(tier, az)),
          tags: { Name: zoneName(spec, `${tier}-rt`, az) },
        }),
      );
    }
    resources.push(
      desired<RouteProps>(routeId(ids.routeTable('public', az), '0.0.0.0/0'), 'route', {
        routeTableId: ref(ids.routeTable('public', az)),
        destinationCidrBlock: '0.0.0.0/0',
        gatewayId: ref(ids.internetGateway),
      }),
    );
  }
  return resources;
}

export function natRoutes(spec: Spec, nat: NatOutputs): Desired[] {
  const allNats = spec.zones.map((z) => nat.runningId(z.availabilityZone));
  return natRing(spec.zones).flatMap(({ zone, peer }) => {
    const az = zone.availabilityZone;
    const publicTable = ids.routeTable('public', az);
    const privateTable = ids.routeTable('private', az);
    return [
      desired<RouteProps>(routeId(publicTable, `${zone.heartbeat.viaPeer}/32`), 'route', {
        routeTableId: ref(publicTable),
        destinationCidrBlock: `${zone.heartbeat.viaPeer}/32`,
        instanceId: nat.instanceId(peer.availabilityZone),
      }),
      desired<RouteProps>(routeId(privateTable, '0.0.0.0/0'), 'route', {
        routeTableId: ref(privateTable),
        destinationCidrBlock: '0.0.0.0/0',
        instanceId: nat.instanceId(az),
        // A failover agent may point this at another running NAT of the stack; that is fine.
        acceptTargets: allNats,
      }),
    ];
  });
}

/** "MyVPC-public-ap-northeast-1c": the Name tag of a zone's resource. */
export function zoneName(spec: Spec, what: string, az: string): string {
  return `${spec.vpc.name}-${what}-${az}`;
}

export function desired<P extends Props>(id: string, kind: string, props: P): Desired {
  return { id, kind, props };
}
