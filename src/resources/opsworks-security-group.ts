// A security group OpsWorks creates in the stack's VPC (AWS-OpsWorks-Custom-Server, …), some time
// after CreateStack. Instances started before it exists fail to start: the original waited for
// the groups by hand. Here "creating" one means waiting for OpsWorks to make it, then adopting it
// with the stack's tags: OpsWorks leaves the groups behind when its stack goes, and the VPC could
// not be deleted while they remain. Only groups of these names, in the stack's own VPC, are adopted.

import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { RESOURCE_TAG, STACK_TAG, toTags, withLogicalIds } from '../aws/tags.js';
import { pollUntil } from '../aws/wait.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';

export type OpsWorksSecurityGroupProps = {
  vpcId: Ref;
  groupName: string;
  /** The OpsWorks stack that makes it (it appears only after the stack exists). */
  stackId: Ref;
};

interface OpsWorksSecurityGroupState {
  vpcId: string;
  groupName: string;
}

/** "opsworks/security-group/AWS-OpsWorks-Custom-Server": named by the group's name (OpsWorks chooses it). */
const ids = idScheme('opsworks/security-group', ['groupName']);

export const opsworksSecurityGroup = {
  kind: 'opsworks-security-group',
  ids,
  permissions: ['ec2:CreateTags', 'ec2:DeleteSecurityGroup', 'ec2:DescribeSecurityGroups'],
  desire: (props: OpsWorksSecurityGroupProps) => desired('opsworks-security-group', ids.id({ groupName: props.groupName }), props),

  async observe(ctx) {
    return withLogicalIds(await ctx.snapshot.securityGroups(), ctx.stack, ids).map(({ id, item: g }) => ({
      id,
      kind: 'opsworks-security-group' as const,
      physicalId: g.GroupId!,
      outputs: { id: g.GroupId! },
      references: [g.VpcId!],
      owned: true,
      state: { vpcId: g.VpcId!, groupName: g.GroupName! },
    }));
  },

  // Its rules are OpsWorks's business; only where it is matters.
  diff(desired, observed) {
    return compareAttributes(desired, observed.state, { vpcId: { forcesReplacement: true }, groupName: { forcesReplacement: true } });
  },

  async preview({ stackId: _, ...shown }) {
    return shown;
  },

  async create(desired, ctx) {
    const { CreateTagsCommand, DescribeSecurityGroupsCommand } = await import('@aws-sdk/client-ec2');
    const filters = [
      { Name: 'vpc-id', Values: [desired.vpcId] },
      { Name: 'group-name', Values: [desired.groupName] },
    ];
    const found = await pollUntil(
      {
        what: `OpsWorks to create ${desired.groupName} in ${desired.vpcId}`,
        intervalMs: ctx.pollIntervalMs,
        timeoutSeconds: ctx.instanceWaitSeconds,
      },
      async () => (await ctx.ec2.send(new DescribeSecurityGroupsCommand({ Filters: filters }))).SecurityGroups ?? [],
      (groups) => (groups.length > 0 ? 'done' : 'waiting'),
    );
    const groupId = found[0]!.GroupId!;
    await ctx.ec2.send(
      new CreateTagsCommand({ Resources: [groupId], Tags: toTags({ [STACK_TAG]: ctx.stack, [RESOURCE_TAG]: ctx.resourceId }) }),
    );
    return { id: groupId };
  },

  async update(_desired, observed) {
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteSecurityGroupCommand } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(ctx.ec2.send(new DeleteSecurityGroupCommand({ GroupId: observed.physicalId })));
  },
} satisfies ResourceKind<'opsworks-security-group', OpsWorksSecurityGroupProps, OpsWorksSecurityGroupState, AwsContext>;
