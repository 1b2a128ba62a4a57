// The HA-NAT VPC a spec describes, as the list of desired resources. Pure: spec in, resources out.
// The network and the routes are the same whoever manages the NATs; the NATs come from EC2
// (ec2.ts) or from OpsWorks (opsworks.ts).

import type { Desired } from '../planner/resource.js';
import type { Spec } from '../spec/types.js';
import { ec2Nats, natId } from './ec2.js';
import { natRoutes, networkIds, networkResources } from './network.js';
import { opsworksNats } from './opsworks.js';

export const ids = { ...networkIds, nat: natId };

export function desiredResources(spec: Spec): Desired[] {
  const nats = spec.nat.manager === 'opsworks' ? opsworksNats(spec) : ec2Nats(spec);
  return [...networkResources(spec), ...nats.resources, ...natRoutes(spec, nats.outputs)];
}
