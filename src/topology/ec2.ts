// NAT instances managed directly as EC2 instances (works on AWS today): one per zone in its public
// subnet, made a NAT by its user data, which installs the failover agent; with nat.elasticIps, each
// holding its zone's Elastic IP (the stack's own, or one the spec names for reuse); and the agent's
// IAM role.

import { natUserData } from '../nat/user-data.js';
import { rolling } from '../planner/resource.js';
import { ref } from '../planner/values.js';
import type { AnyDesired } from '../resources/index.js';
import { eipAssociation } from '../resources/eip-association.js';
import { elasticIp } from '../resources/elastic-ip.js';
import { natInstance } from '../resources/nat-instance.js';
import type { Spec } from '../spec/types.js';
import { agentConfig } from './agent.js';
import { natRing } from './ring.js';
import { natRole } from './nat-role.js';
import { zoneName, type NatOutputs, type Network } from './network.js';

export function ec2Nats(spec: Spec, net: Network): { resources: AnyDesired[]; outputs: NatOutputs } {
  const nat = spec.nat;
  // The failover agent's role, unless the spec brings an instance profile of its own.
  const role = nat.instanceProfileArn ? undefined : natRole(spec);
  // A spec change rolls the NATs out one zone at a time, in ring order (see natRing).
  const nats = new Map(
    natRing(spec.zones).map(({ zone, index }) => {
      const az = zone.availabilityZone;
      const desired = rolling(
        natInstance.desire(
          { availabilityZone: az },
          {
            subnetId: ref(net.zone(az).subnet.public.id),
            securityGroupIds: [ref(net.natSecurityGroup.id)],
            instanceType: nat.instanceType,
            ...(nat.imageId ? { imageId: nat.imageId } : {}),
            ...(nat.keyName ? { keyName: nat.keyName } : {}),
            instanceProfileArn: nat.instanceProfileArn ?? role!.instanceProfileArn,
            userData: natUserData({ stack: spec.name, availabilityZone: az, vpcCidr: spec.vpc.cidr, agentConfig: agentConfig(spec, az) }),
            sourceDestCheck: false,
            tags: { Name: zoneName(spec, 'nat', az) },
          },
        ),
        index,
      );
      return [az, desired] as const;
    }),
  );
  const idOf = (az: string) => nats.get(az)!.id;
  const addresses = spec.zones.flatMap((zone, i): AnyDesired[] => {
    const az = zone.availabilityZone;
    const reused = Array.isArray(nat.elasticIps) ? nat.elasticIps[i] : undefined;
    if (!nat.elasticIps) return [];
    const own =
      reused === undefined ? elasticIp.desire({ availabilityZone: az }, { tags: { Name: zoneName(spec, 'nat-eip', az) } }) : undefined;
    const association = eipAssociation.desire(
      { availabilityZone: az },
      // The egress address moves to a new NAT of a rollout once it is ready, with the zone's route:
      // until then the old NAT, which still serves, keeps it.
      { allocationId: own ? ref(own.id) : reused!, instanceId: ref(idOf(az), 'id', { whenReady: true }) },
    );
    return own ? [own, association] : [association];
  });
  return {
    resources: [...(role?.resources ?? []), ...nats.values(), ...addresses],
    outputs: {
      instanceId: (az) => ref(idOf(az)),
      servingId: (az) => ref(idOf(az), 'id', { whenReady: true }),
      runningId: (az) => ref(idOf(az), 'runningId', { optional: true }),
    },
  };
}
