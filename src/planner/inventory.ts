// The inventory: everything found carrying the stack's mark, each item claimed by exactly one
// kind. The engine lists the items; an observed resource claims its physical id and the ids it is
// also known by. What no kind claims is never touched: the plan shows it with what to do, and
// keeps what it still uses from being deleted (see holdDeletes in plan.ts). (Observed.claim is
// another matter: what a resource holds exclusively, such as a subnet's CIDR block.)

import type { Observed } from './resource.js';

/** One thing found carrying the stack's mark. */
export interface InventoryItem {
  /** Its provider id: vpc-…, i-…, an OpsWorks id. */
  physicalId: string;
  /** What it is, for people: 'EC2 instance i-0abc ("MyVPC-nat-ap-northeast-1c")'. */
  description: string;
  /** What to do about it should no kind claim it. */
  advice: string;
  /** Physical ids of what it uses (its subnet, its groups, …): none of those can go while it stays. */
  references: string[];
}

/** The same thing claimed by two kinds: the plan cannot say what to do with it. */
export class ClaimError extends Error {}

/** The items no observed resource claims. Refuses an item that two kinds claim. */
export function unclaimedItems(items: readonly InventoryItem[], observed: readonly Observed[]): InventoryItem[] {
  const claimedBy = new Map<string, Observed>();
  for (const o of observed) {
    for (const physicalId of new Set([o.physicalId, ...(o.alsoKnownAs ?? [])])) {
      const other = claimedBy.get(physicalId);
      if (other && other.kind !== o.kind) {
        throw new ClaimError(
          `${physicalId} is both ${other.id} (${other.kind}) and ${o.id} (${o.kind}); one thing cannot be two resources of the stack. ` +
            'Check its dupsworks:resource tag: it should name what it is, or be removed.',
        );
      }
      claimedBy.set(physicalId, o);
    }
  }
  return items.filter((item) => !claimedBy.has(item.physicalId));
}
