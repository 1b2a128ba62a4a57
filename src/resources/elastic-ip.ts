// An Elastic IP the stack allocated for a zone's NAT (nat.elasticIps: true): the zone's egress
// address, kept when the NAT is replaced. Which NAT holds it is the eip-association kind's part;
// this file only owns the allocation, released by destroy. Addresses the spec names for reuse
// (nat.elasticIps: [eipalloc-…]) are not of this kind: the stack never allocates, tags or
// releases those.

import type { Address } from '@aws-sdk/client-ec2';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type Observed, type ResourceKind } from '../planner/resource.js';
import { UNKNOWN } from '../planner/values.js';
import { applyTags } from './tagging.js';

export type ElasticIpProps = {
  tags: Record<string, string>;
};

export interface ElasticIpState {
  publicIp: string | undefined;
  /** What holds it now, if anything (an instance's interface). */
  associationId: string | undefined;
  instanceId: string | undefined;
  tags: Record<string, string>;
}

/** "eip/ap-northeast-1c": a zone's NAT has one egress address. */
const ids = idScheme('eip', ['availabilityZone']);

export const elasticIp = {
  kind: 'elastic-ip',
  ids,
  permissions: ['ec2:AllocateAddress', 'ec2:CreateTags', 'ec2:DisassociateAddress', 'ec2:ReleaseAddress'],
  desire: (key: { availabilityZone: string }, props: ElasticIpProps) => desired('elastic-ip', ids.id(key), props),

  async observe(ctx) {
    const found = withLogicalIds(await ctx.snapshot.addresses(), ctx.stack, ids).map(({ id, item }) => observed(id, item));
    // Of two addresses tagged for one zone (one allocated by hand with copied tags), the one in use stays.
    return found.sort(
      (a, b) => Number(!!b.state.associationId) - Number(!!a.state.associationId) || a.physicalId.localeCompare(b.physicalId),
    );
  },

  diff(desired, observed) {
    return compareTags(desired.tags, observed.state.tags);
  },

  async preview(desired) {
    return { ...desired, publicIp: UNKNOWN };
  },

  async create(desired, ctx) {
    const { AllocateAddressCommand } = await import('@aws-sdk/client-ec2');
    // Tagged as it is made: a run interrupted right after still finds it, and allocates no second one.
    const out = await ctx.ec2.send(
      new AllocateAddressCommand({
        Domain: 'vpc',
        TagSpecifications: tagSpecifications('elastic-ip', ctx.stack, ctx.resourceId, desired.tags),
      }),
    );
    return { id: out.AllocationId!, publicIp: out.PublicIp };
  },

  async update(desired, observed, changes, ctx) {
    await applyTags(ctx, observed.physicalId, changes, desired.tags);
    return observed.outputs;
  },

  // Its association with a NAT of the stack is removed first (that kind's delete); what still
  // holds it then (an instance someone attached it to) lets go, since the address is the stack's.
  async delete(observed, ctx) {
    const { DisassociateAddressCommand, ReleaseAddressCommand } = await import('@aws-sdk/client-ec2');
    const { associationId } = observed.state as ElasticIpState;
    if (associationId) await ignoreNotFound(ctx.ec2.send(new DisassociateAddressCommand({ AssociationId: associationId })));
    await ignoreNotFound(ctx.ec2.send(new ReleaseAddressCommand({ AllocationId: observed.physicalId })));
  },
} satisfies ResourceKind<'elastic-ip', ElasticIpProps, ElasticIpState, AwsContext>;

function observed(id: string, a: Address): Observed<ElasticIpState, 'elastic-ip'> {
  return {
    id,
    kind: 'elastic-ip',
    physicalId: a.AllocationId!,
    outputs: { id: a.AllocationId!, publicIp: a.PublicIp },
    references: [],
    owned: true,
    state: {
      publicIp: a.PublicIp,
      associationId: a.AssociationId || undefined,
      instanceId: a.InstanceId || undefined,
      tags: tagMap(a.Tags),
    },
  };
}
