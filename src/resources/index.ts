// Every resource kind the engine manages, and the types that tie a kind's name to its props and
// state. A new kind is one file in this folder and one entry in one of the lists below.

import type { AwsContext } from '../aws/context.js';
import type { Kinds } from '../planner/plan.js';
import type { SomeKind } from '../planner/resource.js';
import { eipAssociation } from './eip-association.js';
import { elasticIp } from './elastic-ip.js';
import { iamInstanceProfile } from './iam-instance-profile.js';
import { iamRole } from './iam-role.js';
import { iamRolePolicy } from './iam-role-policy.js';
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

/** The kinds read through EC2 (the OpsWorks security groups are EC2 groups the stack adopts by tag). */
const ec2Kinds = [
  vpc,
  internetGateway,
  subnet,
  routeTable,
  route,
  securityGroup,
  natInstance,
  elasticIp,
  eipAssociation,
  opsworksSecurityGroup,
] as const;

/** The kinds read through IAM (the NATs' role, its policy and instance profile), by name. */
const iamKinds = [iamRole, iamRolePolicy, iamInstanceProfile] as const;

/** The kinds read through the OpsWorks API. */
const opsworksKinds = [opsworksStack, opsworksLayer, opsworksInstance, opsworksCustomJson, opsworksDeployment, opsworksPermission] as const;

type AnyKind = (typeof ec2Kinds)[number] | (typeof iamKinds)[number] | (typeof opsworksKinds)[number];

/** Kind name -> kind, with its props, state and identity in the type. */
export type KindMap = { [K in AnyKind as K['kind']]: K };
export type KindName = keyof KindMap;
export type PropsOf<N extends KindName> = ReturnType<KindMap[N]['desire']>['props'];

/** A desired resource of a kind this engine has, its props those of its kind. */
export type AnyDesired = { [N in KindName]: ReturnType<KindMap[N]['desire']> }[KindName];

/**
 * The kinds that observe the stack: every EC2 and IAM kind, whatever the spec (each claims what
 * carries its ids, so an EC2 spec sees what an OpsWorks one made in EC2, and a spec that now names
 * its own instance profile sees the role dupsworks made before), and the OpsWorks ones when the
 * OpsWorks API is read. That is asked for (the spec uses OpsWorks, or an OpsWorks endpoint is
 * configured) and never assumed: on a real account today the service is gone.
 */
export function kindsFor(options: { opsworks: boolean }): Kinds<AwsContext> {
  const always = [...ec2Kinds, ...iamKinds];
  const all: readonly SomeKind<AwsContext>[] = options.opsworks ? [...always, ...opsworksKinds] : always;
  return new Map(all.map((k) => [k.kind, k]));
}
