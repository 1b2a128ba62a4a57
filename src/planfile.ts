// A saved plan (`plan --out FILE`, then `apply FILE`): the plan's JSON form (its changes), the
// dupsworks version that made it, and what is needed to refuse it once it no longer describes
// what apply would do. Applying it means applying a plan made afresh, which must show exactly the
// saved changes: the state hash guards the world (nothing observed changed since), the version
// guards the planner (another dupsworks may plan the same world otherwise), and the changes guard
// the file itself (an edited file is refused, not obeyed).

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import equal from 'fast-deep-equal';
import { planToJson, type JsonPlan, type JsonResourceChange } from './planner/json.js';
import type { Plan } from './planner/plan.js';
import { PROVIDER_NAME } from './resources/provider.js';
import type { Spec } from './spec/types.js';
import { VERSION } from './version.js';

const FORMAT = 'dupsworks-plan/2';

export interface SavedPlan extends JsonPlan {
  format: typeof FORMAT;
  /** package.json's version of the dupsworks that made it. */
  dupsworks_version: string;
  stack: string;
  region: string;
  spec_hash: string;
  /** What each created resource was shown with (e.g. the AMI looked up at plan time), so apply makes exactly that. */
  previews: Record<string, Record<string, unknown>>;
}

/** A saved plan that must not be applied; the message says why and what to do. */
export class PlanFileError extends Error {}

export function specHash(spec: Spec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

export async function savePlan(file: string, plan: Plan, spec: Spec): Promise<void> {
  const previews = Object.fromEntries(plan.changes.filter((c) => c.preview).map((c) => [c.id, c.preview!]));
  const saved: SavedPlan = {
    format: FORMAT,
    dupsworks_version: VERSION,
    stack: spec.name,
    region: spec.region,
    spec_hash: specHash(spec),
    ...planToJson(plan, PROVIDER_NAME),
    previews,
  };
  await writeFile(file, `${JSON.stringify(saved, null, 2)}\n`);
}

/**
 * Reads a saved plan, refusing it (before any AWS call) unless this version of dupsworks made it
 * from this spec.
 */
export async function loadPlan(file: string, spec: Spec): Promise<SavedPlan> {
  let saved: SavedPlan;
  try {
    saved = JSON.parse(await readFile(file, 'utf8')) as SavedPlan;
  } catch (error) {
    throw new PlanFileError(`${file}: not a readable plan file (${(error as Error).message})`);
  }
  const again = 'Run "dupsworks plan --out" again with this version.';
  if ((saved?.format as string) === 'dupsworks-plan/1') {
    throw new PlanFileError(
      `${file} was saved by an earlier dupsworks, which did not record its version; this is dupsworks ${VERSION}. ${again}`,
    );
  }
  if (saved?.format !== FORMAT) throw new PlanFileError(`${file}: not a dupsworks plan file (expected format ${FORMAT})`);
  if (saved.dupsworks_version !== VERSION) {
    throw new PlanFileError(
      `${file} was made by dupsworks ${JSON.stringify(saved.dupsworks_version)}; this is dupsworks ${VERSION}, which may plan the same ` +
        `stack differently. ${again}`,
    );
  }
  if (saved.stack !== spec.name || saved.region !== spec.region) {
    throw new PlanFileError(`${file} is a plan for stack ${saved.stack} in ${saved.region}, not ${spec.name} in ${spec.region}.`);
  }
  if (saved.spec_hash !== specHash(spec)) throw stale(file, 'the spec has changed since the plan was made');
  return saved;
}

/**
 * The plan to apply for `saved`: `fresh` (made just now), creating what the saved one showed
 * (values looked up at plan time included). Refused when the stack changed since, or when the
 * fresh plan's changes are not the saved ones.
 */
export function planToApply(saved: SavedPlan, fresh: Plan, file: string): Plan {
  if (saved.state_hash !== fresh.stateHash) throw stale(file, 'the stack has changed in AWS since the plan was made');
  const plan: Plan = {
    ...fresh,
    changes: fresh.changes.map((c) => (c.preview && saved.previews?.[c.id] ? { ...c, preview: saved.previews[c.id] } : c)),
  };
  const difference = firstDifference(saved, planToJson(plan, PROVIDER_NAME));
  if (difference) {
    throw new PlanFileError(
      `Saved plan ${file} does not match what dupsworks would do now: ${difference}. Was the file edited? Run "dupsworks plan --out" again.`,
    );
  }
  return plan;
}

function stale(file: string, why: string): PlanFileError {
  return new PlanFileError(`Saved plan ${file} is stale: ${why}. Run "dupsworks plan" again.`);
}

/** The first way the saved changes differ from the fresh ones, in words; undefined when they do not. */
function firstDifference(saved: SavedPlan, fresh: JsonPlan): string | undefined {
  // Compared as JSON: what the file can hold (no undefined, unknowns as plain data).
  const now = JSON.parse(JSON.stringify(fresh)) as JsonPlan;
  const savedChanges = byAddress(saved.resource_changes);
  const freshChanges = byAddress(now.resource_changes);
  for (const [address, change] of freshChanges) {
    const kept = savedChanges.get(address);
    if (!kept) return `a plan made now has a change for ${address} (${actionsOf(change)}), the file has none`;
    if (!equal(kept.change?.actions, change.change.actions)) {
      return `the file has ${address} as ${actionsOf(kept)}, a plan made now as ${actionsOf(change)}`;
    }
    if (!equal(kept, change)) return `the change of ${address} (${actionsOf(change)}) is not the same in the file`;
  }
  for (const [address, change] of savedChanges) {
    if (!freshChanges.has(address)) return `the file has a change for ${address} (${actionsOf(change)}), a plan made now has none`;
  }
  if (!equal(saved.unclaimed, now.unclaimed)) return 'what it found unclaimed is not the same in the file';
  if (!equal(saved.summary, now.summary))
    return `the file's summary is ${JSON.stringify(saved.summary)}, a plan made now ${JSON.stringify(now.summary)}`;
  return undefined;
}

function byAddress(changes: readonly JsonResourceChange[] | undefined): Map<string, JsonResourceChange> {
  return new Map((Array.isArray(changes) ? changes : []).map((c) => [c?.address, c]));
}

function actionsOf(change: JsonResourceChange): string {
  return JSON.stringify(change?.change?.actions ?? null);
}
