// Every resource kind the engine manages, and the types that tie a kind's name to its props and
// state. A new kind is one file in this folder and one entry in one of the lists below.

import type { AwsContext } from '../aws/context.js';
import type { Kinds } from '../planner/plan.js';
import type { SomeKind } from '../planner/resource.js';
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

const ec2Kinds = [vpc, internetGateway, subnet, routeTable, route, securityGroup, natInstance] as const;

const opsworksKinds = [
  opsworksStack,
  opsworksSecurityGroup,
  opsworksLayer,
  opsworksInstance,
  opsworksCustomJson,
  opsworksDeployment,
  opsworksPermission,
] as const;

type AnyKind = (typeof ec2Kinds)[number] | (typeof opsworksKinds)[number];

/** Kind name -> kind, with its props, state and identity in the type. */
export type KindMap = { [K in AnyKind as K['kind']]: K };
export type KindName = keyof KindMap;
export type PropsOf<N extends KindName> = ReturnType<KindMap[N]['desire']>['props'];

/** A desired resource of a kind this engine has, its props those of its kind. */
export type AnyDesired = { [N in KindName]: ReturnType<KindMap[N]['desire']> }[KindName];

/**
 * The kinds that observe the stack. The OpsWorks ones are read only when the spec uses OpsWorks:
 * on a real account today the service is gone, and an EC2 stack must not depend on it.
 */
export function kindsFor(options: { opsworks: boolean }): Kinds<AwsContext> {
  const all: readonly SomeKind<AwsContext>[] = options.opsworks ? [...ec2Kinds, ...opsworksKinds] : ec2Kinds;
  return new Map(all.map((k) => [k.kind, k]));
}
