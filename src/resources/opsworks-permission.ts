// An IAM user's permissions on the OpsWorks stack (SSH, sudo, level). OpsWorks has no way to delete
// a permission: removing one sets it to nothing (no SSH, no sudo, level deny), and such a
// permission is read back as absent.

import type { Permission } from '@aws-sdk/client-opsworks';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';

export type OpsWorksPermissionProps = {
  stackId: Ref;
  iamUserArn: string;
  allowSsh: boolean;
  allowSudo: boolean;
  level: string;
};

interface OpsWorksPermissionState {
  stackId: string;
  iamUserArn: string;
  allowSsh: boolean;
  allowSudo: boolean;
  level: string;
}

/** "opsworks/permission/ops/alice": a permission is named by its IAM user ("arn:aws:iam::123456789012:user/ops/alice"). */
const ids = idScheme('opsworks/permission', ['user']);

function idOf(iamUserArn: string): string {
  return ids.id({ user: iamUserArn.replace(/^arn:[^:]+:iam::\d+:user\//, '') });
}

export const opsworksPermission = {
  kind: 'opsworks-permission',
  ids,
  permissions: ['opsworks:SetPermission'],
  desire: (props: OpsWorksPermissionProps) => desired('opsworks-permission', idOf(props.iamUserArn), props),

  async observe(ctx) {
    return (await ctx.opsworksSnapshot.permissions()).filter(granted).map((p) => ({
      id: idOf(p.IamUserArn!),
      kind: 'opsworks-permission' as const,
      physicalId: `${p.StackId}/${p.IamUserArn}`,
      outputs: { id: `${p.StackId}/${p.IamUserArn}` },
      references: [p.StackId!],
      owned: true,
      state: {
        stackId: p.StackId!,
        iamUserArn: p.IamUserArn!,
        allowSsh: p.AllowSsh ?? false,
        allowSudo: p.AllowSudo ?? false,
        level: p.Level ?? 'deny',
      },
    }));
  },

  diff(desired, observed) {
    return compareAttributes(desired, observed.state, {
      stackId: { forcesReplacement: true },
      iamUserArn: { forcesReplacement: true },
      allowSsh: {},
      allowSudo: {},
      level: {},
    });
  },

  async create(desired, ctx) {
    await set(ctx, desired);
    return { id: `${desired.stackId}/${desired.iamUserArn}` };
  },

  async update(desired, observed, _changes, ctx) {
    await set(ctx, desired);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    await ignoreNotFound(set(ctx, { ...observed.state, allowSsh: false, allowSudo: false, level: 'deny' }));
  },
} satisfies ResourceKind<'opsworks-permission', OpsWorksPermissionProps, OpsWorksPermissionState, AwsContext>;

function granted(p: Permission): boolean {
  return p.AllowSsh === true || p.AllowSudo === true || (p.Level !== undefined && p.Level !== 'deny');
}

async function set(ctx: AwsContext, p: OpsWorksPermissionState) {
  const { SetPermissionCommand } = await import('@aws-sdk/client-opsworks');
  await ctx.opsworks.send(
    new SetPermissionCommand({
      StackId: p.stackId,
      IamUserArn: p.iamUserArn,
      AllowSsh: p.allowSsh,
      AllowSudo: p.allowSudo,
      Level: p.level,
    }),
  );
}
