// Desired + observed -> the list of changes, in dependency order. Pure apart from the kinds'
// optional `preview` look-ups; no AWS knowledge here.

import { createHash } from 'node:crypto';
import { bestFirst, preferredBecause, type Claimant } from './candidates.js';
import { forcesReplacement } from './diff.js';
import { unclaimedItems, type InventoryItem } from './inventory.js';
import type { AttributeChange, Desired, Observed, Remedy, SomeKind } from './resource.js';
import { referencedIds, resolve, unknownBecause, unknownCauses, type Props, type Ref, type Resolved, type Value } from './values.js';

export type Action = 'no-op' | 'create' | 'update' | 'replace' | 'delete';

export interface Change {
  id: string;
  kind: string;
  action: Action;
  /** The desired resource as the spec gives it (references unresolved); absent for delete. */
  desired?: Desired;
  /** Desired props with references resolved as far as they can be before apply. */
  planned?: Resolved<Props>;
  /** What exists now; absent for create. */
  observed?: Observed;
  /** update / replace: what differs and why. */
  attributes: AttributeChange[];
  /** create / replace: the attributes the new resource will have. */
  preview?: Record<string, unknown>;
  /** delete: why it goes; create: why anew (what it follows that is gone). */
  reason?: string;
  /** no-op: what is worth saying about it all the same (ResourceKind.remark). */
  remark?: string;
  /**
   * replace: why. repair: what exists does not serve and never will again (its condition's
   * remedy), so it is replaced at once; rollout: it serves, and the spec changed an attribute that
   * forces a new one. A create is a repair when what it follows is gone (a terminated instance).
   */
  cause?: 'repair' | 'rollout';
  /**
   * A rollout step: replaced one at a time, in `order`, the next only once the new one is ready
   * (`readyWhen`, in words). Set on replacements whose cause is rollout, whose desired resource is
   * in a rollout and whose kind can tell readiness.
   */
  gate?: { order: number; readyWhen: string };
  /** Logical ids whose outputs this resource needs (its optional references excluded). */
  dependsOn: string[];
  /**
   * delete / replace: what keeps the resource that would go (physical ids of unclaimed items,
   * logical ids of other kept resources): it is not deleted, since that could not succeed.
   */
  heldBy?: string[];
}

export interface Plan {
  changes: Change[];
  /** What carries the stack's mark but no kind claims: never touched, shown with what to do. */
  unclaimed: InventoryItem[];
  /** Hash of everything observed; a saved plan is applied only while the world still hashes the same. */
  stateHash: string;
  /** A destroy plan: everything of the stack goes, whatever the spec says. */
  destroy?: true;
}

export type Kinds<C> = ReadonlyMap<string, SomeKind<C>>;

export interface PlanInput<C> {
  desired: readonly Desired[];
  observed: readonly Observed[];
  /** Everything found carrying the stack's mark; what `observed` does not claim is unclaimed. */
  inventory?: readonly InventoryItem[];
  kinds: Kinds<C>;
  ctx: C;
  /** A destroy plan (nothing desired): its deletes need no reason beyond the command. */
  destroy?: boolean;
}

export async function makePlan<C>({ desired, observed, inventory = [], kinds, ctx, destroy = false }: PlanInput<C>): Promise<Plan> {
  // In a stable order, whatever order AWS listed things in: a saved plan must compare equal.
  const unclaimed = unclaimedItems(inventory, observed)
    .map((u) => ({ ...u, references: [...new Set(u.references)].sort() }))
    .sort((a, b) => a.physicalId.localeCompare(b.physicalId));
  const observedById = groupObserved(observed);
  const usage = usageOf(observed, unclaimed);
  const changes = new Map<string, Change>();
  /** Logical id -> its claimants, the one kept first. */
  const ranked = new Map<string, Claimant<Observed>[]>();

  const lookup = (r: Ref): Value => {
    const target = changes.get(r.$ref);
    if (!target) throw new Error(`internal: ${r.$ref} is referenced before it was planned`);
    if (target.action === 'create') return unknownBecause(`${target.id} is being created`);
    if (target.action === 'replace') return unknownBecause(`${target.id} is being replaced`);
    const value = target.observed?.outputs[r.output];
    // An update can bring a required output into being (an instance still starting gets its EC2 id).
    if (value === undefined && !r.optional && target.action === 'update') return unknownBecause(`${target.id} is being updated`);
    return value;
  };

  for (const want of dependencyOrder(desired)) {
    const kind = kindOf(kinds, want.kind);
    const planned = resolve(want.props, lookup) as Resolved<Props>;
    const diffs = new Map<Observed, AttributeChange[]>();
    const all = observedById.get(want.id) ?? [];
    // One that is gone (a terminated instance EC2 still lists) claims nothing: the resource is made anew.
    const claimants = bestFirst(
      all
        .filter((o) => o.gone === undefined)
        .map((o) => {
          const attributes = explainUnknowns(withRemedy(o.condition?.remedy, kind.diff(planned, o)));
          diffs.set(o, attributes);
          return claimant(o, usage, { fits: !forcesReplacement(attributes), changes: attributes.length });
        }),
    );
    ranked.set(want.id, claimants);
    const found = claimants[0]?.item;
    const gone = all.find((o) => o.gone !== undefined)?.gone;
    const dependsOn = referencedIds(want.props, { requiredOnly: true });
    let change: Change;
    if (!found) {
      change = { id: want.id, kind: want.kind, action: 'create', desired: want, planned, attributes: [], dependsOn };
      if (gone) Object.assign(change, { reason: gone, cause: 'repair' as const });
    } else {
      const attributes = diffs.get(found)!;
      const action: Action = attributes.length === 0 ? 'no-op' : forcesReplacement(attributes) ? 'replace' : 'update';
      change = { id: want.id, kind: want.kind, action, desired: want, planned, observed: found, attributes, dependsOn };
      const remark = action === 'no-op' ? kind.remark?.(planned, found) : undefined;
      if (remark) change.remark = remark;
      if (action === 'replace') {
        change.cause = found.condition?.remedy?.action === 'replace' ? 'repair' : 'rollout';
        // What it sits in is made anew too (a new subnet, a new network): what it serves is new as
        // well, and what would vouch for it (its watcher) is rebuilt beside it: nothing to keep
        // serving, nothing to wait for.
        const rebuilt = dependsOn.some((id) => ['create', 'replace'].includes(changes.get(id)?.action ?? ''));
        if (change.cause === 'rollout' && want.rollout && kind.readiness && !rebuilt) {
          change.gate = { order: want.rollout.order, readyWhen: kind.readyWhen ?? 'its kind says it is ready' };
        }
      }
    }
    if (change.action === 'create' || change.action === 'replace') {
      change.preview = kind.preview ? await kind.preview(planned, ctx) : { ...planned };
    }
    changes.set(want.id, change);
  }

  const wanted = new Set(desired.map((d) => d.id));
  for (const [id, found] of observedById) {
    const claimants = ranked.get(id) ?? bestFirst(found.map((o) => claimant(o, usage)));
    claimants.forEach((extra, index) => {
      const unwanted = index > 0 || !wanted.has(id);
      if (!unwanted || !extra.item.owned) return;
      const key = index === 0 ? id : `${id}~${extra.physicalId}`;
      const kept = claimants[0]!;
      const reason =
        extra.item.note ??
        (wanted.has(id)
          ? `duplicate of ${id}; ${kept.physicalId} is kept: ${preferredBecause(kept, extra)}`
          : destroy
            ? undefined
            : 'not in the spec');
      changes.set(key, {
        id: key,
        kind: extra.item.kind,
        action: 'delete',
        observed: extra.item,
        attributes: [],
        ...(reason ? { reason } : {}),
        dependsOn: [],
      });
    });
  }

  checkClaims([...changes.values()], kinds);
  holdDeletes([...changes.values()], unclaimed);
  return {
    changes: deletesLast([...changes.values()]),
    unclaimed,
    stateHash: hashState(observed, unclaimed),
    ...(destroy ? { destroy: true as const } : {}),
  };
}

/**
 * The changes in the order they are shown: creates, updates and replacements in dependency order,
 * then the deletes in reverse dependency order, each after everything that still uses it (the order
 * apply can delete them in, as Terraform lists a destroy). The deletes go in rounds: each round is
 * every delete that nothing left uses, in the order the kinds found them, so a kind's resources
 * stay together (the routes, then the NATs and tables they used, then the subnets, the VPC last).
 */
function deletesLast(changes: readonly Change[]): Change[] {
  let left = changes.filter((c) => c.action === 'delete');
  const uses = (user: Change, c: Change): boolean => {
    const known = [c.observed!.physicalId, ...(c.observed!.alsoKnownAs ?? [])];
    return user !== c && user.observed!.references.some((r) => known.includes(r));
  };
  const ordered: Change[] = [];
  while (left.length > 0) {
    const free = left.filter((c) => !left.some((user) => uses(user, c)));
    // A cycle (none free) keeps the order it was found in.
    const round = free.length > 0 ? free : left;
    ordered.push(...round);
    left = left.filter((c) => !round.includes(c));
  }
  return [...changes.filter((c) => c.action !== 'delete'), ...ordered];
}

// A resource something unclaimed still uses cannot be deleted (AWS would answer
// DependencyViolation until the retries give up): it is kept, and so is everything a kept
// resource uses in turn (the subnet an unclaimed instance is in, then the subnet's VPC).
function holdDeletes(changes: readonly Change[], unclaimed: readonly InventoryItem[]): void {
  const doomed = new Map<string, Change>();
  for (const c of changes) {
    if ((c.action !== 'delete' && c.action !== 'replace') || !c.observed) continue;
    for (const physicalId of [c.observed.physicalId, ...(c.observed.alsoKnownAs ?? [])]) doomed.set(physicalId, c);
  }
  const staying = unclaimed.map((u) => ({ by: u.physicalId, uses: u.references }));
  for (let next = staying.shift(); next; next = staying.shift()) {
    for (const used of next.uses) {
      const kept = doomed.get(used);
      if (!kept || kept.heldBy?.includes(next.by)) continue;
      const firstTime = kept.heldBy === undefined;
      kept.heldBy = [...(kept.heldBy ?? []), next.by];
      if (firstTime) staying.push({ by: kept.id, uses: kept.observed!.references });
    }
  }
  for (const c of changes) c.heldBy?.sort();
}

/** A plan that cannot be carried out as asked; the message says what to do instead. */
export class PlanError extends Error {}

function checkClaims<C>(changes: readonly Change[], kinds: Kinds<C>): void {
  const doomed = new Map<string, Change>();
  for (const c of changes) {
    if ((c.action === 'delete' || c.action === 'replace') && c.observed?.claim) doomed.set(`${c.kind}:${c.observed.claim}`, c);
  }
  for (const c of changes) {
    if (c.action !== 'create' && c.action !== 'replace') continue;
    const claim = kindOf(kinds, c.kind).claim?.(c.planned!);
    const holder = claim === undefined ? undefined : doomed.get(`${c.kind}:${claim}`);
    if (!holder) continue;
    throw new PlanError(
      `${c.id} needs ${claim}, which ${holder.id} holds until it is deleted, and that happens only after what replaces it is made. ` +
        `Make this change in two applies: first without ${holder.id}, then with ${c.id}.`,
    );
  }
}

// A remedy is a change like any other: what the kind's update is given (start it, wait for it),
// or a replacement. A replacement makes a new one from the spec, so what else differs in what is
// being replaced is moot (EC2 forgets a terminated instance's profile, for one): only why is shown.
// Where the spec itself says what the attribute should be (an instance it keeps stopped), the
// diff's change stands instead of a start or a wait.
function withRemedy(remedy: Remedy | undefined, attributes: AttributeChange[]): AttributeChange[] {
  if (!remedy) return attributes;
  const shown: AttributeChange = { path: remedy.path, before: remedy.before, after: remedy.after, reason: remedy.reason };
  if (remedy.action === 'replace') return [{ ...shown, forcesReplacement: true }];
  return attributes.some((a) => a.path === remedy.path) ? attributes : [shown, ...attributes];
}

/** A rollout as the plan has it: its steps in the order they go, and the repairs that go first, together. */
export interface Rollout {
  steps: { id: string; readyWhen: string }[];
  /** Replacements of what does not serve, and creates for what is gone: at once, in parallel, before the first step. */
  repairsFirst: string[];
}

/** The plan's rollout, if it has one. */
export function rolloutOf(plan: Pick<Plan, 'changes'>): Rollout | undefined {
  const gated = plan.changes
    .filter((c) => c.action === 'replace' && c.gate)
    .sort((a, b) => a.gate!.order - b.gate!.order || a.id.localeCompare(b.id));
  if (gated.length === 0) return undefined;
  return {
    steps: gated.map((c) => ({ id: c.id, readyWhen: c.gate!.readyWhen })),
    repairsFirst: plan.changes.filter((c) => (c.action === 'replace' || c.action === 'create') && c.cause === 'repair').map((c) => c.id),
  };
}

/** Whether applying the plan would change anything (a kept delete changes nothing). */
export function hasChanges(plan: Plan): boolean {
  return plan.changes.some((c) => c.action !== 'no-op' && !(c.action === 'delete' && c.heldBy));
}

/** The deletes the plan keeps back: the world cannot match the spec until what holds them goes. */
export function heldChanges(plan: Plan): Change[] {
  return plan.changes.filter((c) => c.heldBy);
}

export function countActions(plan: Plan): { add: number; change: number; destroy: number } {
  const count = { add: 0, change: 0, destroy: 0 };
  for (const c of plan.changes) {
    if (c.action === 'create' || c.action === 'replace') count.add++;
    if (c.action === 'update') count.change++;
    if ((c.action === 'delete' || c.action === 'replace') && !c.heldBy) count.destroy++;
  }
  return count;
}

/** Stable order in which every resource comes after the ones it refers to (spec order otherwise). */
export function dependencyOrder(desired: readonly Desired[]): Desired[] {
  const byId = new Map(desired.map((d) => [d.id, d]));
  const ordered: Desired[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (d: Desired, path: string[]): void => {
    const seen = state.get(d.id);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new Error(`dependency cycle: ${[...path, d.id].join(' -> ')}`);
    state.set(d.id, 'visiting');
    for (const dep of referencedIds(d.props)) {
      const target = byId.get(dep);
      if (!target) throw new Error(`${d.id} refers to ${dep}, which the spec does not define`);
      visit(target, [...path, d.id]);
    }
    state.set(d.id, 'done');
    ordered.push(d);
  };
  desired.forEach((d) => visit(d, []));
  return ordered;
}

// "(known after apply)" says what, not why: the unknowns in a change say what they wait for, in
// whatever nested or derived attribute the kind put them.
function explainUnknowns(attributes: AttributeChange[]): AttributeChange[] {
  return attributes.map((a) => {
    const causes = a.reason ? [] : unknownCauses(a.after);
    return causes.length > 0 ? { ...a, reason: causes.join('; ') } : a;
  });
}

function kindOf<C>(kinds: Kinds<C>, name: string): SomeKind<C> {
  const kind = kinds.get(name);
  if (!kind) throw new Error(`internal: no resource kind "${name}"`);
  return kind;
}

function groupObserved(observed: readonly Observed[]): Map<string, Observed[]> {
  const groups = new Map<string, Observed[]>();
  for (const o of observed) {
    const group = groups.get(o.id);
    if (group) group.push(o);
    else groups.set(o.id, [o]);
  }
  return groups;
}

interface Usage {
  /** Physical id -> the observed resources that refer to it. */
  stack: Map<string, Set<Observed>>;
  /** Physical id -> the unclaimed items that refer to it. */
  others: Map<string, Set<string>>;
}

// What refers to what, for the rule that picks among several claimants of one logical id: a
// resource others use is the one they were made for.
function usageOf(observed: readonly Observed[], unclaimed: readonly InventoryItem[]): Usage {
  const usage: Usage = { stack: new Map(), others: new Map() };
  const add = <T>(map: Map<string, Set<T>>, used: string, by: T) => map.set(used, (map.get(used) ?? new Set()).add(by));
  for (const o of observed) for (const used of o.references) add(usage.stack, used, o);
  for (const u of unclaimed) for (const used of u.references) add(usage.others, used, u.physicalId);
  return usage;
}

function claimant(o: Observed, usage: Usage, fit: Pick<Claimant<Observed>, 'fits' | 'changes'> = {}): Claimant<Observed> {
  const names = [o.physicalId, ...(o.alsoKnownAs ?? [])];
  const users = new Set(names.flatMap((n) => [...(usage.stack.get(n) ?? [])]).filter((u) => u !== o));
  const others = new Set(names.flatMap((n) => [...(usage.others.get(n) ?? [])]));
  return {
    item: o,
    physicalId: o.physicalId,
    ...fit,
    ...(o.condition ? { ready: o.condition.ready } : {}),
    ...(o.health !== undefined ? { health: o.health } : {}),
    usedBy: users.size,
    usedByOthers: others.size,
    ...(o.createdAt !== undefined ? { createdAt: o.createdAt } : {}),
  };
}

// Independent of the order AWS lists things in (resources, references, keys, tags).
function hashState(observed: readonly Observed[], unclaimed: readonly InventoryItem[]): string {
  const resources = [...observed]
    .map((o) => ({ id: o.id, physicalId: o.physicalId, outputs: o.outputs, references: [...o.references].sort(), state: o.state }))
    .sort((a, b) => a.id.localeCompare(b.id) || a.physicalId.localeCompare(b.physicalId));
  const strays = [...unclaimed]
    .map((u) => ({ physicalId: u.physicalId, references: [...u.references].sort() }))
    .sort((a, b) => a.physicalId.localeCompare(b.physicalId));
  // Without unclaimed items the hash is what it always was, so saved plans of a clean stack hash alike.
  const canonical = strays.length > 0 ? { resources, unclaimed: strays } : resources;
  return createHash('sha256').update(canonicalJson(canonical)).digest('hex');
}

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
