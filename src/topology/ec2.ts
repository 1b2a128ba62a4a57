// NAT instances managed directly as EC2 instances (works on AWS today): one per zone in its public
// subnet, made a NAT by its user data.

import { natUserData } from '../nat/user-data.js';
import type { Desired } from '../planner/resource.js';
import { ref } from '../planner/values.js';
import type { NatInstanceProps } from '../resources/nat-instance.js';
import type { Spec } from '../spec/types.js';
import { desired, networkIds, zoneName, type NatOutputs } from './network.js';

export function natId(az: string): string {
  return `nat/${az}`;
}

export function ec2Nats(spec: Spec): { resources: Desired[]; outputs: NatOutputs } {
  const nat = spec.nat;
  const resources = spec.zones.map((zone) => {
    const az = zone.availabilityZone;
    return desired<NatInstanceProps>(natId(az), 'nat-instance', {
      subnetId: ref(networkIds.subnet('public', az)),
      securityGroupIds: [ref(networkIds.natSecurityGroup)],
      instanceType: nat.instanceType,
      ...(nat.imageId ? { imageId: nat.imageId } : {}),
      ...(nat.keyName ? { keyName: nat.keyName } : {}),
      ...(nat.instanceProfileArn ? { instanceProfileArn: nat.instanceProfileArn } : {}),
      userData: natUserData({ stack: spec.name, availabilityZone: az, vpcCidr: spec.vpc.cidr }),
      sourceDestCheck: false,
      tags: { Name: zoneName(spec, 'nat', az) },
    });
  });
  return {
    resources,
    outputs: {
      instanceId: (az) => ref(natId(az)),
      runningId: (az) => ref(natId(az), 'runningId', { optional: true }),
    },
  };
}
