// The permissions of one of the stack's IAM roles: an inline policy of the role (it lives and goes
// with the role, and needs no versions). It carries no tags: it is the stack's when its role is.

import type { AwsContext } from '../aws/context.js';
import { isNoSuchEntity } from '../aws/errors.js';
import { STACK_TAG, tagMap } from '../aws/tags.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type Observed, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { IAM_PURPOSES, iamRole, type IamPurpose, type PolicyDocument } from './iam-role.js';

export type IamRolePolicyProps = {
  roleName: Ref;
  policyDocument: PolicyDocument;
};

interface IamRolePolicyState {
  roleName: string;
  policyName: string;
  policyDocument: unknown;
}

/** "iam-role-policy/nat": the policy of the role of that purpose. */
const ids = idScheme('iam-role-policy', ['purpose']);

function policyNameOf(purpose: IamPurpose): string {
  return `dupsworks-${purpose}`;
}

export const iamRolePolicy = {
  kind: 'iam-role-policy',
  ids,
  permissions: ['iam:DeleteRolePolicy', 'iam:PutRolePolicy'],
  desire: (key: { purpose: IamPurpose }, props: IamRolePolicyProps) => desired('iam-role-policy', ids.id(key), props),

  async observe(ctx) {
    const found: Observed<IamRolePolicyState, 'iam-role-policy'>[] = [];
    for (const purpose of IAM_PURPOSES) {
      const roleName = iamRole.nameOf(ctx.stack, ctx.region, purpose);
      const policyName = policyNameOf(purpose);
      // Both at once (a plan's reads are one round of calls): the policy of a role that is not
      // there, or not the stack's, is read for nothing and never used.
      const [role, document] = await Promise.all([ctx.iamSnapshot.role(roleName), ctx.iamSnapshot.rolePolicy(roleName, policyName)]);
      if (!role || tagMap(role.Tags)[STACK_TAG] !== ctx.stack) continue;
      if (document === undefined) continue;
      const physicalId = `${roleName}:${policyName}`;
      found.push({
        id: ids.id({ purpose }),
        kind: 'iam-role-policy',
        physicalId,
        outputs: { id: physicalId },
        references: [role.Arn!],
        owned: true,
        state: { roleName, policyName, policyDocument: document },
      });
    }
    return found;
  },

  diff(desired, observed) {
    return compareAttributes(desired, observed.state, { roleName: { forcesReplacement: true }, policyDocument: {} });
  },

  async create(desired, ctx) {
    const key = ids.parse(ctx.resourceId) as { purpose: IamPurpose };
    const policyName = policyNameOf(key.purpose);
    await put(ctx, desired.roleName, policyName, desired.policyDocument);
    return { id: `${desired.roleName}:${policyName}` };
  },

  async update(desired, observed, _changes, ctx) {
    await put(ctx, observed.state.roleName, observed.state.policyName, desired.policyDocument);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteRolePolicyCommand } = await import('@aws-sdk/client-iam');
    const { roleName, policyName } = observed.state as IamRolePolicyState;
    try {
      await ctx.iam.send(new DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  },
} satisfies ResourceKind<'iam-role-policy', IamRolePolicyProps, IamRolePolicyState, AwsContext>;

async function put(ctx: AwsContext, roleName: string, policyName: string, document: PolicyDocument) {
  const { PutRolePolicyCommand } = await import('@aws-sdk/client-iam');
  await ctx.iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: policyName, PolicyDocument: JSON.stringify(document) }));
}
