// The internet gateway and its attachment to the VPC. A detached gateway is re-attached in place.

import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { errorCode } from '../aws/retry.js';
import { tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { applyTags } from './tagging.js';

export type InternetGatewayProps = {
  vpcId: Ref;
  tags: Record<string, string>;
};

interface InternetGatewayState {
  /** The VPC it is attached to, if any. */
  vpcId: string | undefined;
  tags: Record<string, string>;
}

/** "internet-gateway": a stack has one. */
const ids = idScheme('internet-gateway', []);

export const internetGateway = {
  kind: 'internet-gateway',
  ids,
  permissions: [
    'ec2:AttachInternetGateway',
    'ec2:CreateInternetGateway',
    'ec2:CreateTags',
    'ec2:DeleteInternetGateway',
    'ec2:DescribeInternetGateways',
    'ec2:DetachInternetGateway',
  ],
  desire: (props: InternetGatewayProps) => desired('internet-gateway', ids.id({}), props),

  async observe(ctx) {
    return withLogicalIds(await ctx.snapshot.internetGateways(), ctx.stack, ids).map(({ id, item: g }) => {
      const vpcId = g.Attachments?.find((a) => ['available', 'attached', 'attaching'].includes(String(a.State)))?.VpcId;
      return {
        id,
        kind: 'internet-gateway' as const,
        physicalId: g.InternetGatewayId!,
        outputs: { id: g.InternetGatewayId! },
        references: vpcId ? [vpcId] : [],
        owned: true,
        state: { vpcId, tags: tagMap(g.Tags) },
      };
    });
  },

  // A detached gateway is attached again in place. One attached to another VPC (the old one,
  // when the VPC is being replaced) is replaced: it cannot be detached while instances with
  // public addresses still use it, and the old NATs go only after the new network works.
  diff(desired, observed) {
    const attachment = compareAttributes(desired, observed.state, { vpcId: { forcesReplacement: observed.state.vpcId !== undefined } });
    return [...attachment, ...compareTags(desired.tags, observed.state.tags)];
  },

  async create(desired, ctx) {
    const { CreateInternetGatewayCommand } = await import('@aws-sdk/client-ec2');
    const created = await ctx.ec2.send(
      new CreateInternetGatewayCommand({
        TagSpecifications: tagSpecifications('internet-gateway', ctx.stack, ctx.resourceId, desired.tags),
      }),
    );
    const id = created.InternetGateway!.InternetGatewayId!;
    await attach(ctx, id, desired.vpcId);
    return { id };
  },

  async update(desired, observed, changes, ctx) {
    if (changes.some((c) => c.path === 'vpcId')) await attach(ctx, observed.physicalId, desired.vpcId);
    await applyTags(ctx, observed.physicalId, changes, desired.tags);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteInternetGatewayCommand } = await import('@aws-sdk/client-ec2');
    if (observed.state.vpcId) await detach(ctx, observed.physicalId, observed.state.vpcId);
    await ignoreNotFound(ctx.ec2.send(new DeleteInternetGatewayCommand({ InternetGatewayId: observed.physicalId })));
  },
} satisfies ResourceKind<'internet-gateway', InternetGatewayProps, InternetGatewayState, AwsContext>;

async function attach(ctx: AwsContext, gatewayId: string, vpcId: string) {
  const { AttachInternetGatewayCommand, DescribeInternetGatewaysCommand } = await import('@aws-sdk/client-ec2');
  try {
    await ctx.ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: gatewayId, VpcId: vpcId }));
  } catch (error) {
    // Sent again after a lost reply, the attach finds its own work done. Another gateway on the
    // VPC is a refusal to pass on.
    if (errorCode(error) !== 'Resource.AlreadyAssociated') throw error;
    const found = await ctx.ec2.send(new DescribeInternetGatewaysCommand({ InternetGatewayIds: [gatewayId] }));
    if (!found.InternetGateways?.[0]?.Attachments?.some((a) => a.VpcId === vpcId)) throw error;
  }
}

async function detach(ctx: AwsContext, gatewayId: string, vpcId: string) {
  const { DetachInternetGatewayCommand } = await import('@aws-sdk/client-ec2');
  try {
    await ctx.ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: gatewayId, VpcId: vpcId }));
  } catch (error) {
    // Already detached (or the VPC is gone): nothing left to undo.
    if (!['Gateway.NotAttached', 'InvalidVpcID.NotFound', 'InvalidInternetGatewayID.NotFound'].includes((error as Error).name)) throw error;
  }
}
