// One read of the stack's IAM side per plan, as snapshot.ts is for EC2. IAM has no tag filter and
// its listings leave tags out, so what the stack owns is read by name (the names the IAM kinds
// make from the stack and its region): one Get per role, inline policy and instance profile.

import {
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  type IAMClient,
  type InstanceProfile,
  type Role,
} from '@aws-sdk/client-iam';
import { parsePolicy } from '../resources/iam-role.js';
import { isNoSuchEntity } from './errors.js';
import { Memo } from './memo.js';

/** What it sends, as IAM actions (the operator's policy is made of these). */
export const permissions = ['iam:GetInstanceProfile', 'iam:GetRole', 'iam:GetRolePolicy'];

export class IamSnapshot {
  private readonly memo = new Memo();

  constructor(private readonly iam: IAMClient) {}

  role(name: string): Promise<Role | undefined> {
    return this.memo.once(`role:${name}`, () => absentIfNoSuchEntity(this.iam.send(new GetRoleCommand({ RoleName: name })), (o) => o.Role));
  }

  /** An inline policy's document, parsed (IAM returns it URL-encoded). */
  rolePolicy(roleName: string, policyName: string): Promise<unknown> {
    return this.memo.once(`role-policy:${roleName}:${policyName}`, () =>
      absentIfNoSuchEntity(this.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName })), (o) =>
        o.PolicyDocument === undefined ? undefined : parsePolicy(o.PolicyDocument),
      ),
    );
  }

  instanceProfile(name: string): Promise<InstanceProfile | undefined> {
    return this.memo.once(`instance-profile:${name}`, () =>
      absentIfNoSuchEntity(this.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })), (o) => o.InstanceProfile),
    );
  }
}

async function absentIfNoSuchEntity<O, T>(call: Promise<O>, pick: (out: O) => T | undefined): Promise<T | undefined> {
  try {
    return pick(await call);
  } catch (error) {
    if (isNoSuchEntity(error)) return undefined;
    throw error;
  }
}
