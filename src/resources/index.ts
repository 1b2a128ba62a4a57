// Every resource kind the engine manages, by name.

import type { AwsContext } from '../aws/context.js';
import type { ResourceKind } from '../planner/resource.js';
import type { Spec } from '../spec/types.js';
import { internetGateway } from './internet-gateway.js';
import { natInstance } from './nat-instance.js';
import { opsworksCustomJson } from './opsworks-custom-json.js';
import { opsworksDeployment } from './opsworks-deployment.js';
import { opsworksInstance } from './opsworks-instance.js';
import { opsworksLayer } from './opsworks-layer.js';
import { opsworksPermission } from './opsworks-permission.js';
import { opsworksSecurityGroup } from './opsworks-security-group.js';
import { opsworksStack } from './opsworks-stack.js';
import { route } from './route.js';
import { routeTable } from './route-table.js';
import { securityGroup } from './security-group.js';
import { subnet } from './subnet.js';
import { vpc } from './vpc.js';

type Kind = ResourceKind<any, any, AwsContext>;

const ec2Kinds: Kind[] = [vpc, internetGateway, subnet, routeTable, route, securityGroup, natInstance];
const opsworksKinds: Kind[] = [
  opsworksStack,
  opsworksSecurityGroup,
  opsworksLayer,
  opsworksInstance,
  opsworksCustomJson,
  opsworksDeployment,
  opsworksPermission,
];

/**
 * The kinds a spec needs. The OpsWorks ones are read only when the spec uses OpsWorks: on a real
 * account today the service is gone, and an EC2 stack must not depend on it.
 */
export function kindsFor(spec: Spec): ReadonlyMap<string, Kind> {
  const all = spec.nat.manager === 'opsworks' ? [...ec2Kinds, ...opsworksKinds] : ec2Kinds;
  return new Map(all.map((k) => [k.kind, k]));
}
