// An IAM instance profile: how an EC2 instance of the stack gets one of the stack's roles. Named
// as its role, in the same path; found by that name, the stack's only while it carries its tag.

import type { InstanceProfile } from '@aws-sdk/client-iam';
import type { AwsContext } from '../aws/context.js';
import { isNoSuchEntity } from '../aws/errors.js';
import { RESOURCE_TAG, STACK_TAG, tagMap, toTags } from '../aws/tags.js';
import { DupsworksError } from '../errors.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type Observed, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { IAM_PATH, IAM_PURPOSES, iamRole, type IamPurpose } from './iam-role.js';

export type IamInstanceProfileProps = {
  /** The one role it hands its instances. */
  roleName: Ref;
  tags: Record<string, string>;
};

interface IamInstanceProfileState {
  profileName: string;
  arn: string;
  /** The roles in it (IAM allows one), by name, joined with "," when there are several. */
  roleName: string | undefined;
  tags: Record<string, string>;
}

/** "iam-instance-profile/nat". */
const ids = idScheme('iam-instance-profile', ['purpose']);

export const iamInstanceProfile = {
  kind: 'iam-instance-profile',
  ids,
  permissions: [
    'iam:AddRoleToInstanceProfile',
    'iam:CreateInstanceProfile',
    'iam:DeleteInstanceProfile',
    'iam:GetInstanceProfile',
    'iam:RemoveRoleFromInstanceProfile',
    'iam:TagInstanceProfile',
  ],
  desire: (key: { purpose: IamPurpose }, props: IamInstanceProfileProps) => desired('iam-instance-profile', ids.id(key), props),

  async observe(ctx) {
    const found: Observed<IamInstanceProfileState, 'iam-instance-profile'>[] = [];
    for (const purpose of IAM_PURPOSES) {
      const profile = await ctx.iamSnapshot.instanceProfile(iamRole.nameOf(ctx.stack, ctx.region, purpose));
      if (!profile || tagMap(profile.Tags)[STACK_TAG] !== ctx.stack) continue;
      found.push(observed(ids.id({ purpose }), profile));
    }
    return found;
  },

  diff(desired, observed) {
    return [...compareAttributes(desired, observed.state, { roleName: {} }), ...compareTags(desired.tags, observed.state.tags)];
  },

  async create(desired, ctx) {
    const { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand } = await import('@aws-sdk/client-iam');
    const key = ids.parse(ctx.resourceId) as { purpose: IamPurpose };
    const name = iamRole.nameOf(ctx.stack, ctx.region, key.purpose);
    let profile: InstanceProfile;
    try {
      const out = await ctx.iam.send(
        new CreateInstanceProfileCommand({
          InstanceProfileName: name,
          Path: IAM_PATH,
          Tags: toTags({ ...desired.tags, [STACK_TAG]: ctx.stack, [RESOURCE_TAG]: ctx.resourceId }),
        }),
      );
      profile = out.InstanceProfile!;
    } catch (error) {
      if ((error as { name?: string }).name !== 'EntityAlreadyExistsException') throw error;
      // Another apply of this stack made it since the plan read (applies that crossed): it is ours,
      // and holds the role already if that apply got so far.
      const { GetInstanceProfileCommand } = await import('@aws-sdk/client-iam');
      const found = (await ctx.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile;
      if (found && tagMap(found.Tags)[STACK_TAG] === ctx.stack) {
        if (!(found.Roles ?? []).some((r) => r.RoleName === desired.roleName)) {
          await ctx.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: desired.roleName }));
        }
        return { id: found.Arn!, arn: found.Arn!, name };
      }
      throw new DupsworksError(
        'ForeignResource',
        'user',
        `IAM instance profile ${name} already exists without the tag ${STACK_TAG}=${ctx.stack}: it is not this stack's, and dupsworks ` +
          'leaves it alone; delete or rename it, or give the NATs an instance profile of your own (nat.instanceProfileArn)',
      );
    }
    await ctx.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: desired.roleName }));
    return { id: profile.Arn!, arn: profile.Arn!, name };
  },

  async update(desired, observed, changes, ctx) {
    const { AddRoleToInstanceProfileCommand, RemoveRoleFromInstanceProfileCommand, TagInstanceProfileCommand } =
      await import('@aws-sdk/client-iam');
    const InstanceProfileName = observed.state.profileName;
    const changed = new Set(changes.map((c) => c.path));
    if (changed.has('roleName')) {
      const roles = (observed.state.roleName ?? '').split(',').filter(Boolean);
      for (const RoleName of roles.filter((r) => r !== desired.roleName)) {
        await ctx.iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName, RoleName }));
      }
      if (!roles.includes(desired.roleName)) {
        await ctx.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName, RoleName: desired.roleName }));
      }
    }
    const tags = Object.fromEntries(Object.entries(desired.tags).filter(([key]) => changed.has(`tags.${key}`)));
    if (Object.keys(tags).length > 0) await ctx.iam.send(new TagInstanceProfileCommand({ InstanceProfileName, Tags: toTags(tags) }));
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteInstanceProfileCommand, RemoveRoleFromInstanceProfileCommand } = await import('@aws-sdk/client-iam');
    const { profileName: InstanceProfileName, roleName } = observed.state as IamInstanceProfileState;
    try {
      // IAM deletes no profile that still holds a role.
      for (const RoleName of (roleName ?? '').split(',').filter(Boolean)) {
        await ctx.iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName, RoleName }));
      }
      await ctx.iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName }));
    } catch (error) {
      if (!isNoSuchEntity(error)) throw error;
    }
  },
} satisfies ResourceKind<'iam-instance-profile', IamInstanceProfileProps, IamInstanceProfileState, AwsContext>;

function observed(id: string, profile: InstanceProfile): Observed<IamInstanceProfileState, 'iam-instance-profile'> {
  const roles = (profile.Roles ?? []).map((r) => r.RoleName!).sort();
  return {
    id,
    kind: 'iam-instance-profile',
    physicalId: profile.Arn!,
    outputs: { id: profile.Arn!, arn: profile.Arn!, name: profile.InstanceProfileName! },
    references: (profile.Roles ?? []).map((r) => r.Arn!),
    owned: true,
    state: {
      profileName: profile.InstanceProfileName!,
      arn: profile.Arn!,
      roleName: roles.length > 0 ? roles.join(',') : undefined,
      tags: tagMap(profile.Tags),
    },
  };
}
