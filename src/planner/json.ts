// The plan as data, shaped like Terraform's JSON plan (`resource_changes` with `address`, `mode`,
// `type`, `name`, `provider_name`, `change.actions` arrays, `replace_paths` and `action_reason`), so
// tools that read one can read the other. It is also the saved plan file's body.

import { countActions, rolloutOf, type Change, type Plan } from './plan.js';
import { isUnknown } from './values.js';

export interface JsonPlan {
  format_version: '1.0';
  /** A destroy plan (`plan --destroy`): applying it deletes everything of the stack. */
  destroy?: true;
  resource_changes: JsonResourceChange[];
  /** What carries the stack's mark but no resource of the spec claims: left alone (dupsworks's own). */
  unclaimed: { physical_id: string; description: string; advice: string; references: string[] }[];
  summary: { add: number; change: number; destroy: number };
  /**
   * Replacements of a spec change, one at a time in this order, each gated on its new one's
   * readiness (dupsworks's own); the repairs go first, together. Absent: no rollout.
   */
  rollout?: { steps: { address: string; ready_when: string }[]; repairs_first: string[] };
  state_hash: string;
}

export interface JsonResourceChange {
  address: string;
  /** Terraform's: "managed" (every resource here is one the plan manages; none is a data source). */
  mode: 'managed';
  type: string;
  /** The resource's name within its type: its logical id, as the address. */
  name: string;
  provider_name: string;
  change: {
    actions: string[];
    before: unknown;
    after: unknown;
    /** Terraform's convention: true where the value is known only after apply. */
    after_unknown: unknown;
    replace_paths?: string[][];
  };
  /** Per changed attribute: the path, and why (Terraform has only one reason per resource). */
  reasons?: { path: string; reason?: string; forces_replacement?: boolean }[];
  /** Terraform's reason code, where one of Terraform's fits. */
  action_reason?: ActionReason;
  /** Why, in words (dupsworks's own): "not in the spec", "duplicate of nat/…", "i-0abc is terminated". */
  reason?: string;
  /** A delete kept back (dupsworks's own): what still uses the resource. Its actions leave the delete out. */
  held_by?: string[];
  /** A no-op worth a word all the same (dupsworks's own), such as a zone served after a failover. */
  remark?: string;
  /** A replacement's cause (dupsworks's own): repair (it does not serve) or rollout (the spec changed). */
  replace_cause?: 'repair' | 'rollout';
}

/** Terraform's action_reason values that dupsworks's changes can have. */
export type ActionReason = 'replace_because_cannot_update' | 'delete_because_no_resource_config';

const ACTIONS: Record<Change['action'], string[]> = {
  'no-op': ['no-op'],
  create: ['create'],
  update: ['update'],
  // The new resource is created before the old one is deleted.
  replace: ['create', 'delete'],
  delete: ['delete'],
};

/** `provider` names, as Terraform's provider_name, what the kinds manage their resources through. */
export function planToJson(plan: Plan, provider: string): JsonPlan {
  return {
    format_version: '1.0',
    ...(plan.destroy ? { destroy: true as const } : {}),
    resource_changes: plan.changes.map((c) => resourceChange(c, provider, plan.destroy ?? false)),
    unclaimed: plan.unclaimed.map((u) => ({
      physical_id: u.physicalId,
      description: u.description,
      advice: u.advice,
      references: u.references,
    })),
    summary: countActions(plan),
    ...rolloutJson(plan),
    state_hash: plan.stateHash,
  };
}

function rolloutJson(plan: Plan): Pick<JsonPlan, 'rollout'> {
  const rollout = rolloutOf(plan);
  if (!rollout) return {};
  return {
    rollout: {
      steps: rollout.steps.map((s) => ({ address: s.id, ready_when: s.readyWhen })),
      repairs_first: rollout.repairsFirst,
    },
  };
}

function resourceChange(c: Change, provider: string, destroy: boolean): JsonResourceChange {
  const after = c.action === 'delete' ? null : (c.preview ?? c.planned ?? null);
  const replacePaths = c.attributes.filter((a) => a.forcesReplacement).map((a) => [a.path]);
  const actions = c.heldBy ? ACTIONS[c.action].filter((a) => a !== 'delete') : ACTIONS[c.action];
  const actionReason = terraformReason(c, destroy);
  return {
    address: c.id,
    mode: 'managed',
    type: c.kind,
    name: c.id,
    provider_name: provider,
    change: {
      actions: actions.length > 0 ? actions : ['no-op'],
      before: c.observed ? { id: c.observed.physicalId, ...(c.observed.state as object) } : null,
      after: known(after),
      after_unknown: unknownMask(after),
      ...(replacePaths.length > 0 ? { replace_paths: replacePaths } : {}),
    },
    ...(c.attributes.length > 0
      ? {
          reasons: c.attributes.map((a) => ({
            path: a.path,
            ...(a.reason ? { reason: a.reason } : {}),
            ...(a.forcesReplacement ? { forces_replacement: true } : {}),
          })),
        }
      : {}),
    ...(actionReason ? { action_reason: actionReason } : {}),
    ...(c.reason ? { reason: c.reason } : {}),
    ...(c.heldBy ? { held_by: c.heldBy } : {}),
    ...(c.remark ? { remark: c.remark } : {}),
    ...(c.cause && c.action === 'replace' ? { replace_cause: c.cause } : {}),
  };
}

// Terraform gives a reason only where the action is not the obvious one: a replacement (an
// attribute that cannot change in place), a delete of what the configuration no longer has. A
// destroy plan's deletes, a duplicate's (Terraform has no such thing) and a create after the old
// resource vanished get none; `reason` says those in words.
function terraformReason(c: Change, destroy: boolean): ActionReason | undefined {
  if (c.heldBy) return undefined;
  if (c.action === 'replace') return 'replace_because_cannot_update';
  const duplicate = c.observed !== undefined && c.id !== c.observed.id;
  if (c.action === 'delete' && !destroy && !duplicate) return 'delete_because_no_resource_config';
  return undefined;
}

// Terraform leaves unknown values out of `after` and marks them in `after_unknown`.
function known(value: unknown): unknown {
  if (isUnknown(value)) return undefined;
  if (Array.isArray(value)) return value.map((v) => (isUnknown(v) ? null : known(v)));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => !isUnknown(v))
        .map(([k, v]) => [k, known(v)]),
    );
  }
  return value;
}

// A mask with nothing unknown in it: {}, or a list of only false.
function isEmptyMask(mask: unknown): boolean {
  if (Array.isArray(mask)) return mask.every((m) => m === false || isEmptyMask(m));
  return typeof mask === 'object' && mask !== null && Object.keys(mask).length === 0;
}

function unknownMask(value: unknown): unknown {
  if (isUnknown(value)) return true;
  if (Array.isArray(value)) return value.map(unknownMask);
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .map(([k, v]) => [k, unknownMask(v)] as const)
      .filter(([, v]) => v !== false && !isEmptyMask(v));
    return Object.fromEntries(entries);
  }
  return false;
}
