// The HA-NAT VPC a spec describes, as the list of desired resources. Pure: spec in, resources out.
//
// Per zone i of N: a public and a private subnet; a public route table (0.0.0.0/0 -> internet
// gateway, heartbeat.viaPeer/32 -> the NAT of zone (i+1) mod N) and a private one (0.0.0.0/0 ->
// this zone's NAT); a NAT instance in the public subnet. Zone i's NAT pings its viaPeer target
// through the next zone's NAT, so each NAT tests its peer's whole egress path.

import { natUserData } from './nat/user-data.js';
import type { Desired } from './planner/resource.js';
import { ref, type Props } from './planner/values.js';
import type { InternetGatewayProps } from './resources/internet-gateway.js';
import type { NatInstanceProps } from './resources/nat-instance.js';
import { routeId, type RouteProps } from './resources/route.js';
import type { RouteTableProps } from './resources/route-table.js';
import type { SecurityGroupProps } from './resources/security-group.js';
import type { SubnetProps } from './resources/subnet.js';
import type { VpcProps } from './resources/vpc.js';
import type { Spec, Zone } from './spec/types.js';

export const ids = {
  vpc: 'vpc',
  internetGateway: 'internet-gateway',
  natSecurityGroup: 'security-group/nat',
  subnet: (tier: Tier, az: string) => `subnet/${tier}/${az}`,
  routeTable: (tier: Tier, az: string) => `route-table/${tier}/${az}`,
  nat: (az: string) => `nat/${az}`,
};

type Tier = 'public' | 'private';

export function desiredResources(spec: Spec): Desired[] {
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
  const allNats = spec.zones.map((z) => ref(ids.nat(z.availabilityZone), 'runningId', { optional: true }));
  spec.zones.forEach((zone, i) => {
    const next = spec.zones[(i + 1) % spec.zones.length]!;
    resources.push(...zoneResources(spec, zone, next, allNats));
  });
  return resources;
}

function zoneResources(spec: Spec, zone: Zone, next: Zone, allNats: ReturnType<typeof ref>[]): Desired[] {
  const az = zone.availabilityZone;
  const name = (what: string) => `${spec.vpc.name}-${what}-${az}`;
  const nat = spec.nat;
  const publicTable = ids.routeTable('public', az);
  const privateTable = ids.routeTable('private', az);
  return [
    ...(['public', 'private'] as const).flatMap((tier) => [
      desired<SubnetProps>(ids.subnet(tier, az), 'subnet', {
        vpcId: ref(ids.vpc),
        cidrBlock: tier === 'public' ? zone.publicSubnet : zone.privateSubnet,
        availabilityZone: az,
        tags: { Name: name(tier) },
      }),
      desired<RouteTableProps>(ids.routeTable(tier, az), 'route-table', {
        vpcId: ref(ids.vpc),
        subnetId: ref(ids.subnet(tier, az)),
        tags: { Name: name(`${tier}-rt`) },
      }),
    ]),
    desired<NatInstanceProps>(ids.nat(az), 'nat-instance', {
      subnetId: ref(ids.subnet('public', az)),
      securityGroupIds: [ref(ids.natSecurityGroup)],
      instanceType: nat.instanceType,
      ...(nat.imageId ? { imageId: nat.imageId } : {}),
      ...(nat.keyName ? { keyName: nat.keyName } : {}),
      ...(nat.instanceProfileArn ? { instanceProfileArn: nat.instanceProfileArn } : {}),
      userData: natUserData({ stack: spec.name, availabilityZone: az, vpcCidr: spec.vpc.cidr }),
      sourceDestCheck: false,
      tags: { Name: name('nat') },
    }),
    desired<RouteProps>(routeId(publicTable, '0.0.0.0/0'), 'route', {
      routeTableId: ref(publicTable),
      destinationCidrBlock: '0.0.0.0/0',
      gatewayId: ref(ids.internetGateway),
    }),
    desired<RouteProps>(routeId(publicTable, `${zone.heartbeat.viaPeer}/32`), 'route', {
      routeTableId: ref(publicTable),
      destinationCidrBlock: `${zone.heartbeat.viaPeer}/32`,
      instanceId: ref(ids.nat(next.availabilityZone)),
    }),
    desired<RouteProps>(routeId(privateTable, '0.0.0.0/0'), 'route', {
      routeTableId: ref(privateTable),
      destinationCidrBlock: '0.0.0.0/0',
      instanceId: ref(ids.nat(az)),
      // A failover agent may point this at another running NAT of the stack; that is fine.
      acceptTargets: allNats,
    }),
  ];
}

function desired<P extends Props>(id: string, kind: string, props: P): Desired {
  return { id, kind, props };
}
