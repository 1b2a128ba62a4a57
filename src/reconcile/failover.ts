// A failover in effect, read off a plan. The NATs fail over by pointing a zone's private route at
// another NAT of the stack; the plan accepts that as no change, so a plan alone would hide it. A
// log must not: a zone served by its neighbour has lost one NAT's worth of redundancy.

import type { Plan } from '../planner/plan.js';
import { isRef } from '../planner/values.js';

export interface Failover {
  /** The route's logical id, e.g. "route/private/ap-northeast-1c/0.0.0.0/0". */
  route: string;
  /** The NAT the spec routes it through. */
  meantFor: string;
  /** The NAT that serves it now, and its id in AWS. */
  servedBy: string;
  servedByPhysicalId: string;
}

/**
 * Routes left as they are (no-op) that point at another resource of the kind they are meant to
 * point at: for routes through a NAT instance, another NAT of the stack.
 */
export function failovers(plan: Plan): Failover[] {
  const byId = new Map(plan.changes.map((c) => [c.id, c]));
  // Every id by which a resource of the plan is known in AWS (an OpsWorks NAT also by its EC2 id).
  const known = new Map<string, string>();
  for (const c of plan.changes) {
    if (!c.observed || c.action === 'delete') continue;
    for (const physical of [c.observed.physicalId, ...(c.observed.alsoKnownAs ?? [])]) known.set(physical, c.id);
  }
  const found: Failover[] = [];
  for (const c of plan.changes) {
    const target = c.desired?.props.instanceId;
    if (c.kind !== 'route' || c.action !== 'no-op' || !isRef(target)) continue;
    const meant = byId.get(target.$ref);
    for (const physical of c.observed!.references) {
      const by = byId.get(known.get(physical) ?? '');
      if (!by || !meant || by.kind !== meant.kind || by.id === meant.id) continue;
      found.push({ route: c.id, meantFor: meant.id, servedBy: by.id, servedByPhysicalId: physical });
    }
  }
  return found;
}
