// Which Elastic IP a zone's NAT holds: the stack's own (elastic-ip.ts) or one the spec names for
// reuse. The address outlives the NAT: when the NAT is replaced, the association is moved to the
// new one (an update), and the planner terminates the old NAT only after that, so the zone's
// egress address never changes hands to anyone else.
//
// An association has no tags: it is named by the NAT it holds (the instance's logical id), and it
// is the stack's to remove only when the address is the stack's own. A reused address is never
// disassociated by a plan; it is let go when its NAT is terminated, and stays allocated.

import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { logicalIdOf, ofStack } from '../aws/tags.js';
import { compareAttributes } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ChangeOf, type Observed, type ResourceKind } from '../planner/resource.js';
import { isUnknown, UNKNOWN, type Ref } from '../planner/values.js';
import { natInstance } from './nat-instance.js';

export type EipAssociationProps = {
  /** The stack's own address (a reference to it), or the allocation id of one to reuse. */
  allocationId: Ref | string;
  /** The NAT instance that holds it. */
  instanceId: Ref;
};

export interface EipAssociationState {
  allocationId: string;
  instanceId: string;
  publicIp: string | undefined;
}

/** "eip-association/ap-northeast-1c": what the zone's NAT holds. */
const ids = idScheme('eip-association', ['availabilityZone']);

const GONE = new Set(['shutting-down', 'terminated']);

export const eipAssociation = {
  kind: 'eip-association',
  ids,
  permissions: ['ec2:AssociateAddress', 'ec2:DisassociateAddress'],
  desire: (key: { availabilityZone: string }, props: EipAssociationProps) => desired('eip-association', ids.id(key), props),

  async observe(ctx) {
    const [addresses, instances] = await Promise.all([ctx.snapshot.addresses(), ctx.snapshot.instances()]);
    const nats = new Map(
      instances.flatMap((i) => {
        const key = natInstance.ids.parse(logicalIdOf(i.Tags, ctx.stack) ?? '');
        // An address still shown on a terminated instance is no longer held (AWS lets go of it).
        return key && !GONE.has(i.State?.Name ?? '') ? [[i.InstanceId!, key.availabilityZone] as const] : [];
      }),
    );
    return addresses.flatMap((a): Observed<EipAssociationState, 'eip-association'>[] => {
      const zone = a.InstanceId ? nats.get(a.InstanceId) : undefined;
      if (!zone || !a.AssociationId) return [];
      return [
        {
          id: ids.id({ availabilityZone: zone }),
          kind: 'eip-association',
          physicalId: a.AssociationId,
          outputs: { id: a.AssociationId, publicIp: a.PublicIp },
          references: [a.AllocationId!, a.InstanceId!],
          owned: ofStack(a.Tags, ctx.stack),
          state: { allocationId: a.AllocationId!, instanceId: a.InstanceId!, publicIp: a.PublicIp },
        },
      ];
    });
  },

  diff(desired, observed) {
    const changes: ChangeOf<EipAssociationProps, EipAssociationState>[] = compareAttributes(desired, observed.state, {
      allocationId: {},
      instanceId: {},
    });
    // A NAT being replaced: say that its address goes with it (the plan's one word on the egress IP).
    return changes.map((c) => {
      if (c.path !== 'instanceId' || !observed.state.publicIp) return c;
      const cause = isUnknown(c.after) ? c.after.cause : undefined;
      return { ...c, reason: [cause, `${observed.state.publicIp} moves to the new NAT`].filter(Boolean).join('; ') };
    });
  },

  async preview(desired, ctx) {
    const { allocationId } = desired;
    const address = isUnknown(allocationId) ? undefined : (await ctx.snapshot.addresses()).find((a) => a.AllocationId === allocationId);
    return { ...desired, publicIp: address?.PublicIp ?? UNKNOWN };
  },

  async create(desired, ctx) {
    return associate(desired, ctx);
  },

  // Moving it to another NAT (a replacement) or holding another address is one call: AWS takes
  // the address from where it was, and the NAT's earlier address off it.
  async update(desired, _observed, _changes, ctx) {
    return associate(desired, ctx);
  },

  async delete(observed, ctx) {
    const { DisassociateAddressCommand } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(ctx.ec2.send(new DisassociateAddressCommand({ AssociationId: observed.physicalId })));
  },
} satisfies ResourceKind<'eip-association', EipAssociationProps, EipAssociationState, AwsContext>;

async function associate(desired: { allocationId: string; instanceId: string }, ctx: AwsContext) {
  const { AssociateAddressCommand } = await import('@aws-sdk/client-ec2');
  // AllowReassociation: from the NAT being replaced (or the stack's NAT of another zone, when the
  // spec swapped two reused addresses); the plan's preflight refused any other holder.
  const out = await ctx.ec2.send(
    new AssociateAddressCommand({ AllocationId: desired.allocationId, InstanceId: desired.instanceId, AllowReassociation: true }),
  );
  return { id: out.AssociationId! };
}
