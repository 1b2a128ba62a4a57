// Several things can claim one logical id: a create whose reply was lost and that was sent again,
// two applies that crossed, a replacement interrupted halfway, a copy made by hand, a forged tag.
// One of them is the resource; the others are extra. Which one is decided by one rule, the same
// for every kind and for whatever else must choose among claimants (a NAT choosing its peer):
//
//   1. it is ready (it serves, by its kind's own signal) where the other is not: a NAT proven to
//      forward is never given up for one not yet proven (a rollout that stopped on a new NAT
//      that never became ready leaves both; the old one stays, the next rollout tries again);
//   2. it fits: keeping it needs no replacement. What an apply made for this same spec always
//      fits, so no later plan deletes it to make another one like it;
//   3. it is the healthiest, in its kind's own terms (a running NAT before a stopped one);
//   4. it is in use by more of the stack's resources (routes point at it, subnets are in it):
//      keeping another would mean replacing those;
//   5. it needs the fewest changes;
//   6. it is in use by more of what else was found (a workload in it);
//   7. it is the oldest, when its kind knows when it was made;
//   8. its id, so that the choice never depends on the order AWS lists things in.
//
// Each criterion only counts when the claimants differ in it; unknown ones count as equal.

/** One thing claiming a logical id, with what the rule compares (each optional: absent is neutral). */
export interface Claimant<T> {
  item: T;
  /** The provider's id: the last tie-break. */
  physicalId: string;
  /** It serves now, by its kind's signal (Observed.condition). */
  ready?: boolean;
  /** Keeping it needs no replacement. */
  fits?: boolean;
  /** Its kind's health rank: 0 is serving, larger is further from it. */
  health?: number;
  /** How many changes keeping it needs. */
  changes?: number;
  /** How many of the stack's own resources refer to it. */
  usedBy?: number;
  /** How many other things found (not the stack's) refer to it. */
  usedByOthers?: number;
  /** When it was made (ms since the epoch). */
  createdAt?: number;
}

type Criterion = (a: Claimant<unknown>, b: Claimant<unknown>) => number;

const fewer =
  (pick: (c: Claimant<unknown>) => number | undefined): Criterion =>
  (a, b) =>
    (pick(a) ?? 0) - (pick(b) ?? 0);
const more =
  (pick: (c: Claimant<unknown>) => number | undefined): Criterion =>
  (a, b) =>
    (pick(b) ?? 0) - (pick(a) ?? 0);

/** The rule, in order, each with what it says about the one it prefers. */
const CRITERIA: readonly { compare: Criterion; because: (best: Claimant<unknown>) => string }[] = [
  { compare: more((c) => (c.ready ? 1 : 0)), because: () => 'it is ready (it serves; the other does not yet)' },
  { compare: more((c) => (c.fits === false ? 0 : 1)), because: () => 'it fits the spec' },
  { compare: fewer((c) => c.health), because: () => 'it is healthier' },
  { compare: more((c) => c.usedBy), because: (c) => `it is in use (by ${c.usedBy} of the stack's resources)` },
  { compare: fewer((c) => c.changes), because: (c) => (c.changes ? 'it needs fewer changes' : 'it matches the spec') },
  { compare: more((c) => c.usedByOthers), because: (c) => `it is in use (by ${c.usedByOthers} found that are not the stack's)` },
  {
    compare: (a, b) => (a.createdAt ?? Infinity) - (b.createdAt ?? Infinity) || 0, // two unknowns: NaN, so equal
    because: (c) => `it is older (made ${new Date(c.createdAt!).toISOString()})`,
  },
];

const byId: Criterion = (a, b) => (a.physicalId < b.physicalId ? -1 : a.physicalId > b.physicalId ? 1 : 0);

function compare(a: Claimant<unknown>, b: Claimant<unknown>): number {
  for (const { compare } of CRITERIA) {
    const order = compare(a, b);
    if (order !== 0) return order;
  }
  return byId(a, b);
}

/** The claimants, the one to keep first. */
export function bestFirst<T>(claimants: readonly Claimant<T>[]): Claimant<T>[] {
  return [...claimants].sort(compare);
}

/** Why `best` is kept rather than `other` (the first criterion that tells them apart). */
export function preferredBecause(best: Claimant<unknown>, other: Claimant<unknown>): string {
  for (const { compare, because } of CRITERIA) {
    if (compare(best, other) !== 0) return because(best);
  }
  return 'of equals, its id sorts first';
}
