// A route table and its association with one subnet. The routes in it are their own kind
// (route.ts); this file only owns the table and which subnet uses it.

import { randomUUID } from 'node:crypto';
import type { AwsContext } from '../aws/context.js';
import { errorCode } from '../aws/retry.js';
import { ignoreNotFound } from '../aws/errors.js';
import { tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { applyTags } from './tagging.js';

export type RouteTableProps = {
  vpcId: Ref;
  /** The subnet that uses this table. */
  subnetId: Ref;
  tags: Record<string, string>;
};

export interface RouteTableState {
  vpcId: string;
  /** The one associated subnet (shown and compared); extra associations are listed apart. */
  subnetId: string | undefined;
  associations: { associationId: string; subnetId: string }[];
  tags: Record<string, string>;
}

/** "route-table/public/ap-northeast-1c": a route table is named by the tier and zone of its subnet. */
const ids = idScheme('route-table', ['tier', 'availabilityZone']);

export type RouteTableKey = { tier: 'public' | 'private'; availabilityZone: string };

export const routeTable = {
  kind: 'route-table',
  ids,
  permissions: [
    'ec2:AssociateRouteTable',
    'ec2:CreateRouteTable',
    'ec2:CreateTags',
    'ec2:DeleteRouteTable',
    'ec2:DescribeRouteTables',
    'ec2:DisassociateRouteTable',
    'ec2:ReplaceRouteTableAssociation',
  ],
  desire: (key: RouteTableKey, props: RouteTableProps) => desired('route-table', ids.id(key), props),

  async observe(ctx) {
    return withLogicalIds(await ctx.snapshot.routeTables(), ctx.stack, ids).map(({ id, item: t }) => {
      const associations = (t.Associations ?? [])
        .filter((a) => a.SubnetId && !a.Main && (a.AssociationState?.State ?? 'associated') === 'associated')
        .map((a) => ({ associationId: a.RouteTableAssociationId!, subnetId: a.SubnetId! }));
      return {
        id,
        kind: 'route-table' as const,
        physicalId: t.RouteTableId!,
        outputs: { id: t.RouteTableId! },
        references: [t.VpcId!, ...associations.map((a) => a.subnetId)],
        owned: true,
        state: {
          vpcId: t.VpcId!,
          subnetId:
            associations.length === 1
              ? associations[0]!.subnetId
              : associations
                  .map((a) => a.subnetId)
                  .sort()
                  .join(',') || undefined,
          associations,
          tags: tagMap(t.Tags),
        },
      };
    });
  },

  diff(desired, observed) {
    return [
      ...compareAttributes(desired, observed.state, { vpcId: { forcesReplacement: true }, subnetId: {} }),
      ...compareTags(desired.tags, observed.state.tags),
    ];
  },

  async create(desired, ctx) {
    const { CreateRouteTableCommand } = await import('@aws-sdk/client-ec2');
    const created = await ctx.ec2.send(
      new CreateRouteTableCommand({
        VpcId: desired.vpcId,
        TagSpecifications: tagSpecifications('route-table', ctx.stack, ctx.resourceId, desired.tags),
        // Sent again after a lost reply (the retry resends this input), it returns the table made.
        ClientToken: randomUUID(),
      }),
    );
    const id = created.RouteTable!.RouteTableId!;
    await associate(ctx, id, desired.subnetId);
    return { id };
  },

  async update(desired, observed, changes, ctx) {
    if (changes.some((c) => c.path === 'subnetId')) {
      const { DisassociateRouteTableCommand } = await import('@aws-sdk/client-ec2');
      for (const a of observed.state.associations.filter((a) => a.subnetId !== desired.subnetId)) {
        await ignoreNotFound(ctx.ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.associationId })));
      }
      if (!observed.state.associations.some((a) => a.subnetId === desired.subnetId))
        await associate(ctx, observed.physicalId, desired.subnetId);
    }
    await applyTags(ctx, observed.physicalId, changes, desired.tags);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteRouteTableCommand, DisassociateRouteTableCommand } = await import('@aws-sdk/client-ec2');
    for (const a of observed.state.associations) {
      await ignoreNotFound(ctx.ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.associationId })));
    }
    await ignoreNotFound(ctx.ec2.send(new DeleteRouteTableCommand({ RouteTableId: observed.physicalId })));
  },
} satisfies ResourceKind<'route-table', RouteTableProps, RouteTableState, AwsContext>;

// A subnet belongs to exactly one table. When it is still in another (the VPC's main table after
// someone removed our association, or a table this stack is replacing), move it over.
async function associate(ctx: AwsContext, routeTableId: string, subnetId: string) {
  const { AssociateRouteTableCommand, DescribeRouteTablesCommand, ReplaceRouteTableAssociationCommand } =
    await import('@aws-sdk/client-ec2');
  try {
    await ctx.ec2.send(new AssociateRouteTableCommand({ RouteTableId: routeTableId, SubnetId: subnetId }));
  } catch (error) {
    if (errorCode(error) !== 'Resource.AlreadyAssociated') throw error;
    const found = await ctx.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnetId] }] }));
    const current = found.RouteTables?.flatMap((t) => t.Associations ?? []).find((a) => a.SubnetId === subnetId);
    if (!current?.RouteTableAssociationId) throw error;
    await ctx.ec2.send(
      new ReplaceRouteTableAssociationCommand({ AssociationId: current.RouteTableAssociationId, RouteTableId: routeTableId }),
    );
  }
}
