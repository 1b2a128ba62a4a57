// What an unattended loop may change on its own. A reconciler heals: it makes what is missing,
// sets back what drifted, starts what stopped, replaces what died and removes duplicates of what
// the spec names. Two kinds of change wait for a person, or for a flag by which a person allowed
// them once and for all:
//
//   - replacing something that is healthy, because an attribute that forces a new one changed (a
//     NAT's instance type, AMI or user data, a subnet's CIDR): --allow-replace. Such a change is a
//     rollout (one zone at a time, each gated on its new NAT's readiness), not a repair;
//   - deleting something the spec no longer names (a zone taken out of the spec, another stack's
//     spec pointed at this one): --allow-destroy.
//
// A change held back keeps out of the round everything that depends on it; the rest is applied,
// so a dead NAT is still replaced while a rollout waits for its flag.

import type { Action, Change, Plan } from '../planner/plan.js';
import { show } from './text.js';

export interface Allowed {
  /** Replace resources that are healthy (a rollout of a spec change). */
  replace: boolean;
  /** Delete resources of the stack that the spec no longer names. */
  destroy: boolean;
}

/** A change the round leaves for a person. */
export interface HeldBack {
  id: string;
  action: Exclude<Action, 'no-op'>;
  /** What the change is and why it waits, in one clause. */
  why: string;
  /** The flag that would allow it; absent when it waits on another held-back change. */
  flag?: '--allow-replace' | '--allow-destroy';
  /** The held-back change this one depends on. */
  waitsOn?: string;
}

/** The plan without what `allowed` keeps from an unattended round, and what was held back. */
export function screen(plan: Plan, allowed: Allowed): { plan: Plan; held: HeldBack[] } {
  const wanted = new Set(plan.changes.filter((c) => c.desired).map((c) => c.id));
  const held = new Map<string, HeldBack>();
  for (const change of plan.changes) {
    const refusal = refused(change, allowed, wanted);
    if (refusal) held.set(change.id, refusal);
  }
  // Whatever needs a held-back change waits with it (the list is in dependency order; loop anyway).
  for (let grew = true; grew;) {
    grew = false;
    for (const change of plan.changes) {
      if (change.action === 'no-op' || held.has(change.id)) continue;
      const on = change.dependsOn.find((id) => held.has(id));
      if (on === undefined) continue;
      held.set(change.id, { id: change.id, action: change.action, why: `${change.action}, which waits on ${on}`, waitsOn: on });
      grew = true;
    }
  }
  if (held.size === 0) return { plan, held: [] };
  const changes = plan.changes.flatMap((c): Change[] => {
    if (!held.has(c.id)) return [c];
    // Left as it is: what still exists keeps serving its outputs to the rest of the plan.
    return c.observed && c.action !== 'delete' ? [{ ...c, action: 'no-op', attributes: [] }] : [];
  });
  return { plan: { ...plan, changes }, held: [...held.values()] };
}

function refused(change: Change, allowed: Allowed, wanted: ReadonlySet<string>): HeldBack | undefined {
  if (change.action === 'replace' && !allowed.replace) {
    // What does not serve and never will again (its condition's remedy) is repaired, not rolled out.
    if (change.cause === 'repair') return undefined;
    const forcing = change.attributes.filter((a) => a.forcesReplacement);
    const what = forcing.map((a) => (a.reason ? `${a.path} (${a.reason})` : `${a.path} ${show(a.before)} -> ${show(a.after)}`));
    return {
      id: change.id,
      action: 'replace',
      why: `replace, a healthy resource: ${what.join('; ')}`,
      flag: '--allow-replace',
    };
  }
  // A duplicate of what the spec names is removed (the best one stays); what the spec no longer names stays.
  if (change.action === 'delete' && !allowed.destroy && !wanted.has(change.observed!.id)) {
    return { id: change.id, action: 'delete', why: `delete, ${change.reason ?? 'not in the spec'}`, flag: '--allow-destroy' };
  }
  return undefined;
}
