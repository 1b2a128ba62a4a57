// An IAM role for the stack's instances (the NATs': their failover agent calls EC2 and SNS with it).
// IAM is global, so its name carries the stack and its region ("my-stack-ap-northeast-1-nat", under
// the path /dupsworks/); it is found by that name, and is the stack's only while it carries the
// stack's tag. A role of that name without the tag is someone else's: never changed, and create
// says so.

import type { Role } from '@aws-sdk/client-iam';
import type { AwsContext } from '../aws/context.js';
import { isNoSuchEntity } from '../aws/errors.js';
import { STACK_TAG, RESOURCE_TAG, tagMap, toTags } from '../aws/tags.js';
import { DupsworksError } from '../errors.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type Observed, type ResourceKind } from '../planner/resource.js';
import type { Value } from '../planner/values.js';

/** A policy document (IAM's JSON). */
export type PolicyDocument = { readonly [key: string]: Value };

export type IamRoleProps = {
  /** Who may assume it (the trust policy). */
  assumeRolePolicy: PolicyDocument;
  description: string;
  tags: Record<string, string>;
};

interface IamRoleState {
  roleName: string;
  path: string;
  arn: string;
  assumeRolePolicy: unknown;
  description: string;
  tags: Record<string, string>;
}

/** A policy document as IAM returns it: JSON, URL-encoded (the SDK does not decode it). */
export function parsePolicy(text: string): unknown {
  return JSON.parse(text.trimStart().startsWith('{') ? text : decodeURIComponent(text));
}

/** What the stack's roles are for; observe looks each up by its name. */
export const IAM_PURPOSES = ['nat'] as const;
export type IamPurpose = (typeof IAM_PURPOSES)[number];

/** Where dupsworks keeps its roles and instance profiles in IAM. */
export const IAM_PATH = '/dupsworks/';

/** "iam-role/nat": a role is named by what it is for. */
const ids = idScheme('iam-role', ['purpose']);

/** The role's IAM name: unique in the account (at most 64 characters: a stack name is at most 40). */
function nameOf(stack: string, region: string, purpose: IamPurpose): string {
  return `${stack}-${region}-${purpose}`;
}

export const iamRole = {
  kind: 'iam-role',
  ids,
  permissions: ['iam:CreateRole', 'iam:DeleteRole', 'iam:GetRole', 'iam:TagRole', 'iam:UpdateAssumeRolePolicy', 'iam:UpdateRole'],
  nameOf,
  desire: (key: { purpose: IamPurpose }, props: IamRoleProps) => desired('iam-role', ids.id(key), props),

  async observe(ctx) {
    const found: Observed<IamRoleState, 'iam-role'>[] = [];
    for (const purpose of IAM_PURPOSES) {
      const role = await ctx.iamSnapshot.role(nameOf(ctx.stack, ctx.region, purpose));
      if (!role || tagMap(role.Tags)[STACK_TAG] !== ctx.stack) continue;
      found.push(observed(ids.id({ purpose }), role));
    }
    return found;
  },

  diff(desired, observed) {
    return [
      ...compareAttributes(desired, observed.state, { assumeRolePolicy: {}, description: {} }),
      ...compareTags(desired.tags, observed.state.tags),
    ];
  },

  async create(desired, ctx) {
    const { CreateRoleCommand } = await import('@aws-sdk/client-iam');
    const key = ids.parse(ctx.resourceId) as { purpose: IamPurpose };
    const name = nameOf(ctx.stack, ctx.region, key.purpose);
    try {
      const out = await ctx.iam.send(
        new CreateRoleCommand({
          RoleName: name,
          Path: IAM_PATH,
          AssumeRolePolicyDocument: JSON.stringify(desired.assumeRolePolicy),
          Description: desired.description,
          Tags: toTags({ ...desired.tags, [STACK_TAG]: ctx.stack, [RESOURCE_TAG]: ctx.resourceId }),
        }),
      );
      return outputsOf(out.Role!);
    } catch (error) {
      if ((error as { name?: string }).name !== 'EntityAlreadyExistsException') throw error;
      // Another apply of this stack made it since the plan read (applies that crossed): it is ours.
      const { GetRoleCommand } = await import('@aws-sdk/client-iam');
      const role = (await ctx.iam.send(new GetRoleCommand({ RoleName: name }))).Role;
      if (role && tagMap(role.Tags)[STACK_TAG] === ctx.stack) return outputsOf(role);
      throw new DupsworksError(
        'ForeignResource',
        'user',
        `IAM role ${name} already exists without the tag ${STACK_TAG}=${ctx.stack}: it is not this stack's, and dupsworks leaves it alone; ` +
          'delete or rename it, or give the NATs an instance profile of your own (nat.instanceProfileArn)',
      );
    }
  },

  async update(desired, observed, changes, ctx) {
    const { TagRoleCommand, UpdateAssumeRolePolicyCommand, UpdateRoleCommand } = await import('@aws-sdk/client-iam');
    const RoleName = observed.state.roleName;
    const changed = new Set(changes.map((c) => c.path));
    if (changed.has('assumeRolePolicy')) {
      await ctx.iam.send(new UpdateAssumeRolePolicyCommand({ RoleName, PolicyDocument: JSON.stringify(desired.assumeRolePolicy) }));
    }
    if (changed.has('description')) await ctx.iam.send(new UpdateRoleCommand({ RoleName, Description: desired.description }));
    const tags = Object.fromEntries(Object.entries(desired.tags).filter(([key]) => changed.has(`tags.${key}`)));
    if (Object.keys(tags).length > 0) await ctx.iam.send(new TagRoleCommand({ RoleName, Tags: toTags(tags) }));
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteRoleCommand } = await import('@aws-sdk/client-iam');
    try {
      await ctx.iam.send(new DeleteRoleCommand({ RoleName: (observed.state as IamRoleState).roleName }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  },
} satisfies ResourceKind<'iam-role', IamRoleProps, IamRoleState, AwsContext> & { nameOf: typeof nameOf };

function observed(id: string, role: Role): Observed<IamRoleState, 'iam-role'> {
  return {
    id,
    kind: 'iam-role',
    physicalId: role.Arn!,
    outputs: outputsOf(role),
    references: [],
    owned: true,
    state: {
      roleName: role.RoleName!,
      path: role.Path ?? '/',
      arn: role.Arn!,
      assumeRolePolicy: role.AssumeRolePolicyDocument === undefined ? undefined : parsePolicy(role.AssumeRolePolicyDocument),
      description: role.Description ?? '',
      tags: tagMap(role.Tags),
    },
  };
}

/** Named by its ARN (an instance profile has the same name); `name` is what IAM calls take. */
function outputsOf(role: Role) {
  return { id: role.Arn!, arn: role.Arn!, name: role.RoleName! };
}
