// The VPC: a CIDR block, DNS support and DNS hostnames on (instances get resolvable names).

import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type Observed, type ResourceKind } from '../planner/resource.js';
import { applyTags } from './tagging.js';

export type VpcProps = {
  cidrBlock: string;
  enableDnsSupport: boolean;
  enableDnsHostnames: boolean;
  tags: Record<string, string>;
};

interface VpcState {
  cidrBlock: string;
  enableDnsSupport: boolean;
  enableDnsHostnames: boolean;
  tags: Record<string, string>;
}

/** "vpc": a stack has one VPC. */
const ids = idScheme('vpc', []);

export const vpc = {
  kind: 'vpc',
  ids,
  permissions: ['ec2:CreateTags', 'ec2:CreateVpc', 'ec2:DeleteVpc', 'ec2:DescribeVpcAttribute', 'ec2:ModifyVpcAttribute'],
  desire: (props: VpcProps) => desired('vpc', ids.id({}), props),

  async observe(ctx) {
    const { DescribeVpcAttributeCommand } = await import('@aws-sdk/client-ec2');
    return Promise.all(
      withLogicalIds(await ctx.snapshot.vpcs(), ctx.stack, ids).map(async ({ id, item: v }): Promise<Observed<VpcState, 'vpc'>> => {
        const [support, hostnames] = await Promise.all([
          ctx.ec2.send(new DescribeVpcAttributeCommand({ VpcId: v.VpcId!, Attribute: 'enableDnsSupport' })),
          ctx.ec2.send(new DescribeVpcAttributeCommand({ VpcId: v.VpcId!, Attribute: 'enableDnsHostnames' })),
        ]);
        return {
          id,
          kind: 'vpc',
          physicalId: v.VpcId!,
          outputs: { id: v.VpcId!, cidrBlock: v.CidrBlock },
          references: [],
          owned: true,
          state: {
            cidrBlock: v.CidrBlock!,
            enableDnsSupport: support.EnableDnsSupport?.Value ?? false,
            enableDnsHostnames: hostnames.EnableDnsHostnames?.Value ?? false,
            tags: tagMap(v.Tags),
          },
        };
      }),
    );
  },

  diff(desired, observed) {
    return [
      ...compareAttributes(desired, observed.state, {
        cidrBlock: { forcesReplacement: true },
        enableDnsSupport: {},
        enableDnsHostnames: {},
      }),
      ...compareTags(desired.tags, observed.state.tags),
    ];
  },

  async create(desired, ctx) {
    const { CreateVpcCommand } = await import('@aws-sdk/client-ec2');
    const created = await ctx.ec2.send(
      new CreateVpcCommand({
        CidrBlock: desired.cidrBlock,
        TagSpecifications: tagSpecifications('vpc', ctx.stack, ctx.resourceId, desired.tags),
      }),
    );
    const id = created.Vpc!.VpcId!;
    await setDnsAttributes(ctx, id, desired);
    return { id, cidrBlock: desired.cidrBlock };
  },

  async update(desired, observed, changes, ctx) {
    const paths = new Set(changes.map((c) => c.path));
    if (paths.has('enableDnsSupport') || paths.has('enableDnsHostnames')) await setDnsAttributes(ctx, observed.physicalId, desired);
    await applyTags(ctx, observed.physicalId, changes, desired.tags);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteVpcCommand } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(ctx.ec2.send(new DeleteVpcCommand({ VpcId: observed.physicalId })));
  },
} satisfies ResourceKind<'vpc', VpcProps, VpcState, AwsContext>;

// One attribute per call is all ModifyVpcAttribute takes. Hostnames need support, so support first.
async function setDnsAttributes(ctx: AwsContext, vpcId: string, desired: Pick<VpcProps, 'enableDnsSupport' | 'enableDnsHostnames'>) {
  const { ModifyVpcAttributeCommand } = await import('@aws-sdk/client-ec2');
  await ctx.ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsSupport: { Value: desired.enableDnsSupport } }));
  await ctx.ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: desired.enableDnsHostnames } }));
}
