// The network every stack has, whoever manages its NATs: the VPC, its internet gateway, the NATs'
// security group, and per zone a public and a private subnet with their route tables. Then the
// routes that send traffic through the NATs, given how to name a zone's NAT.
//
// Zone i's private default route goes out through its own NAT; its public table sends
// heartbeat.viaPeer/32 through the NAT of its peer in the ring (ring.ts), and every other zone j's
// heartbeat.viaPeer/32 through zone j's peer, unless that peer is zone i's own NAT: so a NAT that
// took over its dead peer can also probe what its peer watched, through the peer's peer, and so on
// around the ring (the agent's chain, src/nat/agent.sh). With two zones that is the original's
// cross-wiring alone. These routes take every packet of the public subnet to those addresses.
//
// Resources refer to each other through the desired resources themselves (ref(vpc.id)): the kinds
// name them, nothing here spells an id.

import type { Desired } from '../planner/resource.js';
import { ref, type Ref } from '../planner/values.js';
import { internetGateway } from '../resources/internet-gateway.js';
import type { AnyDesired } from '../resources/index.js';
import { routeTable } from '../resources/route-table.js';
import { route } from '../resources/route.js';
import { securityGroup } from '../resources/security-group.js';
import { subnet } from '../resources/subnet.js';
import { vpc } from '../resources/vpc.js';
import type { Spec } from '../spec/types.js';
import { natRing } from './ring.js';

export type Tier = 'public' | 'private';

/** A zone's part of the network. */
export interface ZoneNetwork {
  subnet: Record<Tier, ReturnType<typeof subnet.desire>>;
  routeTable: Record<Tier, ReturnType<typeof routeTable.desire>>;
}

/** The network's desired resources, and the ones NATs and routes refer to. */
export interface Network {
  resources: AnyDesired[];
  vpc: Desired;
  natSecurityGroup: Desired;
  zone(az: string): ZoneNetwork;
}

/** How the routes name a zone's NAT: its EC2 instance id, and that id only while it can serve. */
export interface NatOutputs {
  /** For what proves a NAT (its watcher's heartbeat routes): follows a new one as soon as it is made. */
  instanceId(az: string): Ref;
  /** For what it serves (its zone's private route): follows a new one of a rollout once it is ready. */
  servingId(az: string): Ref;
  runningId(az: string): Ref;
}

export function network(spec: Spec): Network {
  const vpcName = spec.vpc.name;
  const theVpc = vpc.desire({ cidrBlock: spec.vpc.cidr, enableDnsSupport: true, enableDnsHostnames: true, tags: { Name: vpcName } });
  const gateway = internetGateway.desire({ vpcId: ref(theVpc.id), tags: { Name: `${vpcName}-igw` } });
  const natGroup = securityGroup.desire(
    { role: 'nat' },
    {
      vpcId: ref(theVpc.id),
      groupName: `${spec.name}-nat`,
      description: `dupsworks NAT instances of stack ${spec.name}`,
      // Echo requests from anywhere too: a NAT's watcher pings its public address over the
      // internet, to tell a cut between zones from a dead NAT.
      ingress: [`all ${spec.vpc.cidr}`, `icmp 8-0 0.0.0.0/0`],
      egress: ['all 0.0.0.0/0'],
      tags: { Name: `${vpcName}-nat` },
    },
  );
  const resources: AnyDesired[] = [theVpc, gateway, natGroup];
  const zones = new Map<string, ZoneNetwork>();
  for (const zone of spec.zones) {
    const az = zone.availabilityZone;
    const tierOf = (tier: Tier) => {
      const key = { tier, availabilityZone: az };
      const theSubnet = subnet.desire(key, {
        vpcId: ref(theVpc.id),
        cidrBlock: tier === 'public' ? zone.publicSubnet : zone.privateSubnet,
        availabilityZone: az,
        tags: { Name: zoneName(spec, tier, az) },
      });
      const table = routeTable.desire(key, {
        vpcId: ref(theVpc.id),
        subnetId: ref(theSubnet.id),
        tags: { Name: zoneName(spec, `${tier}-rt`, az) },
      });
      resources.push(theSubnet, table);
      return { subnet: theSubnet, table };
    };
    const [pub, priv] = [tierOf('public'), tierOf('private')];
    const part: ZoneNetwork = {
      subnet: { public: pub.subnet, private: priv.subnet },
      routeTable: { public: pub.table, private: priv.table },
    };
    resources.push(
      route.desire({ routeTableId: ref(part.routeTable.public.id), destinationCidrBlock: '0.0.0.0/0', gatewayId: ref(gateway.id) }),
    );
    zones.set(az, part);
  }
  return {
    resources,
    vpc: theVpc,
    natSecurityGroup: natGroup,
    zone: (az) => {
      const part = zones.get(az);
      if (!part) throw new Error(`internal: no zone ${az} in the spec`);
      return part;
    },
  };
}

export function natRoutes(spec: Spec, net: Network, nat: NatOutputs): AnyDesired[] {
  const allNats = spec.zones.map((z) => nat.runningId(z.availabilityZone));
  const ring = natRing(spec.zones);
  return ring.flatMap(({ zone }) => {
    const az = zone.availabilityZone;
    const tables = net.zone(az).routeTable;
    const heartbeats = ring
      .filter((other) => other.peer.availabilityZone !== az)
      .map((other) =>
        route.desire({
          routeTableId: ref(tables.public.id),
          destinationCidrBlock: `${other.zone.heartbeat.viaPeer}/32`,
          instanceId: nat.instanceId(other.peer.availabilityZone),
        }),
      );
    return [
      ...heartbeats,
      route.desire({
        routeTableId: ref(tables.private.id),
        destinationCidrBlock: '0.0.0.0/0',
        instanceId: nat.servingId(az),
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
