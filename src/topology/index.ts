// The HA-NAT VPC a spec describes, as the list of desired resources. Pure: spec in, resources out.
// The network and the routes are the same whoever manages the NATs; the NATs come from EC2
// (ec2.ts) or from OpsWorks (opsworks.ts).

import type { AnyDesired } from '../resources/index.js';
import type { Spec } from '../spec/types.js';
import { ec2Nats } from './ec2.js';
import { natRoutes, network } from './network.js';
import { opsworksNats } from './opsworks.js';

export function desiredResources(spec: Spec): AnyDesired[] {
  const net = network(spec);
  const nats = spec.nat.manager === 'opsworks' ? opsworksNats(spec, net) : ec2Nats(spec, net);
  return [...net.resources, ...nats.resources, ...natRoutes(spec, net, nats.outputs)];
}
