// A subnet: a CIDR block of the VPC in one availability zone. Nothing about it changes in place
// except its tags.

import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { applyTags, madeBefore } from './tagging.js';

export type SubnetProps = {
  vpcId: Ref;
  cidrBlock: string;
  availabilityZone: string;
  tags: Record<string, string>;
};

interface SubnetState {
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  tags: Record<string, string>;
}

/** "subnet/public/ap-northeast-1c": a subnet is named by its tier and zone. */
const ids = idScheme('subnet', ['tier', 'availabilityZone']);

export type SubnetKey = { tier: 'public' | 'private'; availabilityZone: string };

export const subnet = {
  kind: 'subnet',
  ids,
  permissions: ['ec2:CreateSubnet', 'ec2:CreateTags', 'ec2:DeleteSubnet', 'ec2:DescribeSubnets'],
  desire: (key: SubnetKey, props: SubnetProps) => desired('subnet', ids.id(key), props),

  async observe(ctx) {
    return withLogicalIds(await ctx.snapshot.subnets(), ctx.stack, ids).map(({ id, item: s }) => ({
      id,
      kind: 'subnet' as const,
      physicalId: s.SubnetId!,
      outputs: { id: s.SubnetId! },
      references: [s.VpcId!],
      claim: claimOf(s.CidrBlock!, s.VpcId!),
      owned: true,
      state: { vpcId: s.VpcId!, cidrBlock: s.CidrBlock!, availabilityZone: s.AvailabilityZone!, tags: tagMap(s.Tags) },
    }));
  },

  diff(desired, observed) {
    return [
      ...compareAttributes(desired, observed.state, {
        vpcId: { forcesReplacement: true },
        cidrBlock: { forcesReplacement: true },
        availabilityZone: { forcesReplacement: true },
      }),
      ...compareTags(desired.tags, observed.state.tags),
    ];
  },

  claim(desired) {
    return typeof desired.vpcId === 'string' ? claimOf(desired.cidrBlock, desired.vpcId) : undefined;
  },

  async create(desired, ctx) {
    const { CreateSubnetCommand, DescribeSubnetsCommand } = await import('@aws-sdk/client-ec2');
    try {
      const created = await ctx.ec2.send(
        new CreateSubnetCommand({
          VpcId: desired.vpcId,
          CidrBlock: desired.cidrBlock,
          AvailabilityZone: desired.availabilityZone,
          TagSpecifications: tagSpecifications('subnet', ctx.stack, ctx.resourceId, desired.tags),
        }),
      );
      return { id: created.Subnet!.SubnetId! };
    } catch (error) {
      // The block is taken: by this very subnet, if the first send made it.
      const made = await madeBefore(error, 'InvalidSubnet.Conflict', ctx, async () => {
        const found = await ctx.ec2.send(
          new DescribeSubnetsCommand({
            Filters: [
              { Name: 'vpc-id', Values: [desired.vpcId] },
              { Name: 'cidr-block', Values: [desired.cidrBlock] },
              { Name: 'availability-zone', Values: [desired.availabilityZone] },
            ],
          }),
        );
        return found.Subnets;
      });
      return { id: made.SubnetId! };
    }
  },

  async update(desired, observed, changes, ctx) {
    await applyTags(ctx, observed.physicalId, changes, desired.tags);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteSubnetCommand } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(ctx.ec2.send(new DeleteSubnetCommand({ SubnetId: observed.physicalId })));
  },
} satisfies ResourceKind<'subnet', SubnetProps, SubnetState, AwsContext>;

// Two subnets of a VPC cannot share a CIDR block, even for a moment.
function claimOf(cidrBlock: string, vpcId: string): string {
  return `${cidrBlock} in ${vpcId}`;
}
