// A saved plan (`plan --out FILE`, then `apply FILE`). It holds the plan's JSON form plus what is
// needed to refuse it once it no longer describes the world: the hash of the spec it was made
// from and the hash of everything observed when it was made.

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { planToJson, type JsonPlan } from './planner/json.js';
import type { Plan } from './planner/plan.js';
import type { Spec } from './spec/types.js';

const FORMAT = 'dupsworks-plan/1';

export interface SavedPlan extends JsonPlan {
  format: typeof FORMAT;
  stack: string;
  region: string;
  spec_hash: string;
  /** What each created resource was shown with (e.g. the AMI looked up at plan time), so apply makes exactly that. */
  previews: Record<string, Record<string, unknown>>;
}

export function specHash(spec: Spec): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

export async function savePlan(file: string, plan: Plan, spec: Spec): Promise<void> {
  const previews = Object.fromEntries(plan.changes.filter((c) => c.preview).map((c) => [c.id, c.preview!]));
  const saved: SavedPlan = {
    format: FORMAT,
    stack: spec.name,
    region: spec.region,
    spec_hash: specHash(spec),
    ...planToJson(plan),
    previews,
  };
  await writeFile(file, `${JSON.stringify(saved, null, 2)}\n`);
}

export async function loadPlan(file: string): Promise<SavedPlan> {
  let saved: SavedPlan;
  try {
    saved = JSON.parse(await readFile(file, 'utf8')) as SavedPlan;
  } catch (error) {
    throw new Error(`${file}: not a readable plan file (${(error as Error).message})`);
  }
  if (saved?.format !== FORMAT) throw new Error(`${file}: not a dupsworks plan file (expected format ${FORMAT})`);
  return saved;
}

/** Why `saved` must not be applied in place of `fresh` (a plan made just now), or undefined when it may. */
export function staleReason(saved: SavedPlan, fresh: Plan, spec: Spec): string | undefined {
  if (saved.stack !== spec.name || saved.region !== spec.region) {
    return `the plan is for stack ${saved.stack} in ${saved.region}, not ${spec.name} in ${spec.region}`;
  }
  if (saved.spec_hash !== specHash(spec)) return 'the spec has changed since the plan was made';
  if (saved.state_hash !== fresh.stateHash) return 'the stack has changed in AWS since the plan was made';
  return undefined;
}

/** The fresh plan, creating what the saved one showed (values looked up at plan time included). */
export function withSavedPreviews(fresh: Plan, saved: SavedPlan): Plan {
  return { ...fresh, changes: fresh.changes.map((c) => (c.preview && saved.previews[c.id] ? { ...c, preview: saved.previews[c.id] } : c)) };
}
