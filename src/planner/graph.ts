// The plan as a graph of steps. A resource is created or updated after everything it refers to;
// a resource is deleted only after everything that still uses it has moved off it or is gone.
// Replacements create the new resource first, then delete the old one (a NAT is never missing
// while its routes are re-pointed). A delete the plan keeps back (Change.heldBy) is no step at all.
//
// A rollout (Change.gate) goes one step at a time, in its order, after the repairs: each new one
// is made, then what proves it follows it (references without whenReady), then a `ready` step
// waits until its kind says it serves; only then does what waits for readiness follow it and the
// old one go, and only once the old one is gone does the next step's new one start. A step whose
// new one never becomes ready fails its `ready` step: what comes after it in the rollout does not
// start, and what it replaces keeps serving.

import { rolloutOf, type Change, type Plan } from './plan.js';
import { referencedIds } from './values.js';

export type Operation = 'create' | 'update' | 'delete' | 'ready';

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

  const rollout = rolloutOf(plan);
  const readyKey = new Map<string, string>(); // logical id -> its ready step, for a rollout step
  for (const { id } of rollout?.steps ?? []) {
    const key = `ready:${id}`;
    steps.set(key, { key, operation: 'ready', change: steps.get(applyKey.get(id)!)!.change, after: [applyKey.get(id)!] });
    readyKey.set(id, key);
  }

  for (const step of steps.values()) {
    const { change } = step;
    if (step.operation === 'ready') continue;
    if (step.operation !== 'delete') {
      const afterReady = new Set(referencedIds(change.desired!.props, { requiredOnly: true, whenReadyOnly: true }));
      for (const dep of change.dependsOn) {
        const key = (afterReady.has(dep) && readyKey.get(dep)) || applyKey.get(dep);
        if (key) step.after.push(key);
      }
      continue;
    }
    const ready = readyKey.get(change.id);
    if (ready) step.after.push(ready);
    if (change.action === 'replace') step.after.push(applyKey.get(change.id)!);
    const doomed = [change.observed!.physicalId, ...(change.observed!.alsoKnownAs ?? [])];
    for (const user of plan.changes) {
      if (user === change || !user.observed?.references.some((r) => doomed.includes(r))) continue;
      // An update moves the user off the doomed resource; a replacement or delete removes it.
      const key = user.action === 'update' ? applyKey.get(user.id) : deleteKey.get(user.id);
      if (key) step.after.push(key);
    }
  }

  if (rollout) {
    // The repairs first, together; then one step at a time, each once the one before is done.
    let previous = rollout.repairsFirst.flatMap((id) => [applyKey.get(id), deleteKey.get(id)]).filter((k): k is string => !!k);
    for (const { id } of rollout.steps) {
      steps.get(applyKey.get(id)!)!.after.push(...previous);
      previous = [deleteKey.get(id) ?? readyKey.get(id)!];
    }
  }
  return [...steps.values()];
}
