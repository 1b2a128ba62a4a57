// The IAM policies dupsworks needs (`dupsworks iam-policy`), made from what its code calls: every
// resource kind lists the actions its file sends (ResourceKind.permissions), and so do the
// snapshots of a plan's reads and the stack lock. The operator's policy is their union for the
// kinds the spec uses, each action on what it can be narrowed to:
//
//   EC2        on "*": EC2's Describe actions take no resource, and the ids of what dupsworks
//              creates are not known before (dupsworks itself never changes what lacks its tag)
//   SSM        GetParameter on Amazon's public Amazon Linux parameters, when the spec leaves the
//              NAT image to the default
//   DynamoDB   on the lock table of the stack's region only
//   OpsWorks   on "*" (the OpsWorks mode, against its emulator: the service is shut down)
//   IAM        on the NATs' role and instance profile of this stack only (their names are made
//              from the stack and its region), whether or not the spec names a profile of its own:
//              the kinds still look for (and clean up) the ones dupsworks made before
//   iam:PassRole  on the roles the spec hands to EC2 or OpsWorks (the NATs' role dupsworks makes
//              included), and only to that service
//
// Nothing here calls AWS.

import { permissions as iamSnapshotPermissions } from '../aws/iam-snapshot.js';
import { permissions as leasePermissions } from '../lock/lease.js';
import { permissions as opsworksSnapshotPermissions } from '../aws/opsworks-snapshot.js';
import { permissions as snapshotPermissions } from '../aws/snapshot.js';
import { IAM_PATH, iamRole } from '../resources/iam-role.js';
import { kindsFor } from '../resources/index.js';
import type { Spec } from '../spec/types.js';
import { desiredResources } from '../topology/index.js';
import { natPolicy, partitionOf } from '../topology/nat-role.js';

// Types, not interfaces: a policy is also a resource's props (the NATs' role's inline policy).
export type PolicyStatement = {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
};

export type PolicyDocument = {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
};

export interface OperatorPolicyOptions {
  /** The DynamoDB table of the stack locks (--lock-table). */
  lockTable: string;
}

/** What the identity that runs dupsworks (plan, apply, destroy) needs for this spec. */
export function operatorPolicy(spec: Spec, options: OperatorPolicyOptions): PolicyDocument {
  const opsworks = spec.nat.manager === 'opsworks';
  const actions = new Set([
    ...snapshotPermissions,
    ...iamSnapshotPermissions,
    ...leasePermissions,
    ...(opsworks ? opsworksSnapshotPermissions : []),
    ...[...kindsFor({ opsworks }).values()].flatMap((k) => k.permissions),
  ]);
  const partition = partitionOf(spec.region);
  const desired = desiredResources(spec);
  const ofService = (service: string) => [...actions].filter((a) => a.startsWith(`${service}:`)).sort();
  const statements: PolicyStatement[] = [
    { Sid: 'Ec2', Effect: 'Allow', Action: ofService('ec2'), Resource: '*' },
    {
      Sid: 'StackLock',
      Effect: 'Allow',
      Action: ofService('dynamodb'),
      Resource: `arn:${partition}:dynamodb:${spec.region}:${accountOf(spec)}:table/${options.lockTable}`,
    },
  ];
  // The default image is looked up only for a NAT launched without an image of the spec's.
  if (desired.some((d) => d.kind === 'nat-instance' && !d.props.imageId)) {
    statements.push({
      Sid: 'DefaultImage',
      Effect: 'Allow',
      Action: ofService('ssm'),
      Resource: `arn:${partition}:ssm:${spec.region}::parameter/aws/service/ami-amazon-linux-latest/*`,
    });
  }
  if (opsworks) statements.push({ Sid: 'OpsWorks', Effect: 'Allow', Action: ofService('opsworks'), Resource: '*' });
  const natRole = natRoleArn(spec, partition);
  statements.push({
    Sid: 'NatRole',
    Effect: 'Allow',
    Action: ofService('iam'),
    Resource: [natRole, natRole.replace(':role/', ':instance-profile/')],
  });
  const known = new Set(['ec2', 'dynamodb', 'ssm', 'opsworks', 'iam']);
  for (const service of [...new Set([...actions].map((a) => a.split(':')[0]!))].filter((s) => !known.has(s)).sort()) {
    statements.push({ Sid: capitalized(service), Effect: 'Allow', Action: ofService(service), Resource: '*' });
  }
  statements.push(
    ...passRoles(
      desired.map((d) => d.props as Record<string, unknown>),
      partition,
      desired.some((d) => d.kind === 'iam-instance-profile') ? [natRole] : [],
    ),
  );
  return { Version: '2012-10-17', Statement: statements.filter((s) => s.Action.length > 0) };
}

/**
 * What the NATs' instance profile needs: the policy of the failover agent, the very one the role
 * dupsworks makes for the NATs carries. The OpsWorks mode's NATs run no agent.
 */
export function agentPolicy(spec: Spec): PolicyDocument | undefined {
  return spec.nat.manager === 'opsworks' ? undefined : natPolicy(spec);
}

/** The NATs' role dupsworks makes for this stack (IAM is global: its name carries the region). */
function natRoleArn(spec: Spec, partition: string): string {
  return `arn:${partition}:iam::${accountOf(spec)}:role${IAM_PATH}${iamRole.nameOf(spec.name, spec.region, 'nat')}`;
}

// Handing a role to a service is authorized as iam:PassRole on the role, for that service. An
// instance profile's ARN does not name its role: any role of its account, to EC2 only.
function passRoles(props: Record<string, unknown>[], partition: string, ownRoles: string[]): PolicyStatement[] {
  const ec2Service = partition === 'aws-cn' ? 'ec2.amazonaws.com.cn' : 'ec2.amazonaws.com';
  const roles = new Map<string, Set<string>>();
  const pass = (service: string, role: string) => roles.set(service, (roles.get(service) ?? new Set()).add(role));
  const rolesOf = (profileArn: string) => profileArn.replace(/:instance-profile\/.*$/, ':role/*');
  for (const role of ownRoles) pass(ec2Service, role);
  for (const p of props) {
    for (const key of ['instanceProfileArn', 'defaultInstanceProfileArn'] as const) {
      if (typeof p[key] === 'string') pass(ec2Service, rolesOf(p[key]));
    }
    if (typeof p.serviceRoleArn === 'string') pass('opsworks.amazonaws.com', p.serviceRoleArn);
  }
  return [...roles].map(([service, arns]) => ({
    Sid: `PassRolesTo${capitalized(service.split('.')[0]!)}`,
    Effect: 'Allow',
    Action: ['iam:PassRole'],
    Resource: [...arns].sort(),
    Condition: { StringEquals: { 'iam:PassedToService': service } },
  }));
}

/** The account the spec's ARNs name, or "*" when it names none. */
function accountOf(spec: Spec): string {
  const arns = [spec.nat.instanceProfileArn, spec.opsworks?.serviceRoleArn, spec.opsworks?.defaultInstanceProfileArn];
  for (const arn of arns) {
    const account = arn?.split(':')[4];
    if (account) return account;
  }
  return '*';
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
