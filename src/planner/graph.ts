// The plan as a graph of steps. A resource is created or updated after everything it refers to;
// a resource is deleted only after everything that still uses it has moved off it or is gone.
// Replacements create the new resource first, then delete the old one (a NAT is never missing
// while its routes are re-pointed). A delete the plan keeps back (Change.heldBy) is no step at all.

import type { Change, Plan } from './plan.js';

export type Operation = 'create' | 'update' | 'delete';

export interface Step {
  key: string;
  operation: Operation;
  change: Change;
  /** Keys of the steps that must finish first. */
  after: string[];
}

export function buildSteps(plan: Plan): Step[] {
  const steps = new Map<string, Step>();
  const applyKey = new Map<string, string>(); // logical id -> its create/update step
  const deleteKey = new Map<string, string>(); // logical id -> its delete step

  for (const change of plan.changes) {
    const { id, action } = change;
    if (action === 'create' || action === 'replace' || action === 'update') {
      const operation = action === 'update' ? 'update' : 'create';
      const key = `${operation}:${id}`;
      steps.set(key, { key, operation, change, after: [] });
      applyKey.set(id, key);
    }
    if ((action === 'delete' || action === 'replace') && !change.heldBy) {
      const key = `delete:${id}`;
      steps.set(key, { key, operation: 'delete', change, after: [] });
      deleteKey.set(id, key);
    }
  }

  for (const step of steps.values()) {
    const { change } = step;
    if (step.operation !== 'delete') {
      for (const dep of change.dependsOn) {
        const key = applyKey.get(dep);
        if (key) step.after.push(key);
      }
      continue;
    }
    if (change.action === 'replace') step.after.push(applyKey.get(change.id)!);
    const doomed = [change.observed!.physicalId, ...(change.observed!.alsoKnownAs ?? [])];
    for (const user of plan.changes) {
      if (user === change || !user.observed?.references.some((r) => doomed.includes(r))) continue;
      // An update moves the user off the doomed resource; a replacement or delete removes it.
      const key = user.action === 'update' ? applyKey.get(user.id) : deleteKey.get(user.id);
      if (key) step.after.push(key);
    }
  }
  return [...steps.values()];
}
