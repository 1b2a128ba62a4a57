// The generic part of a diff: compare desired attributes with what was observed. Kinds call this
// for plain attributes and add their own changes for what values alone cannot say (health, state).

import equal from 'fast-deep-equal';
import type { AttributeChange } from './resource.js';
import { containsUnknown, isUnknown } from './values.js';

export interface AttributeRule {
  /** Changing it in place is impossible; the resource must be replaced. */
  forcesReplacement?: boolean;
}

/**
 * One change per attribute in `rules` whose desired value differs from the observed one. An
 * UNKNOWN desired value always differs: it will be something new.
 */
export function compareAttributes<D extends object, O extends object, K extends keyof D & keyof O & string>(
  desired: D,
  observed: O,
  rules: Readonly<Partial<Record<K, AttributeRule>>>,
): AttributeChange<K>[] {
  const changes: AttributeChange<K>[] = [];
  for (const [path, rule] of Object.entries(rules) as [K, AttributeRule][]) {
    const after = (desired as Record<string, unknown>)[path];
    const before = (observed as Record<string, unknown>)[path];
    if (!isUnknown(after) && equal(normalize(after), normalize(before))) continue;
    changes.push({ path, before, after, ...(rule.forcesReplacement ? { forcesReplacement: true } : {}) });
  }
  return changes;
}

/** Compares tag maps key by key, so the plan says which tag differs ("tags.Name"). */
export function compareTags(
  desired: Readonly<Record<string, string>>,
  observed: Readonly<Record<string, string>>,
): AttributeChange<`tags.${string}`>[] {
  const changes: AttributeChange<`tags.${string}`>[] = [];
  for (const [key, after] of Object.entries(desired)) {
    if (observed[key] !== after) changes.push({ path: `tags.${key}`, before: observed[key], after });
  }
  return changes;
}

/**
 * One change per leaf that differs between two nested values, mappings compared key by key
 * ("customJson.vpcnat.az.ap-northeast-1a.opposite_primary_nat_id"), so a large document shows
 * only what changed in it.
 */
export function compareNested<Path extends string>(
  path: Path,
  desired: unknown,
  observed: unknown,
): AttributeChange<Path | `${Path}.${string}`>[] {
  if (isMapping(desired) && isMapping(observed)) {
    const keys = [...new Set([...Object.keys(desired), ...Object.keys(observed)])];
    return keys.flatMap((key) => compareNested(`${path}.${key}` as `${Path}.${string}`, desired[key], observed[key]));
  }
  if (!containsUnknown(desired) && equal(desired, observed)) return [];
  return [{ path, before: observed, after: desired }];
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !isUnknown(value);
}

// An absent optional attribute and an empty one mean the same thing to AWS.
function normalize(value: unknown): unknown {
  if (value === null || value === '') return undefined;
  return value;
}

export function forcesReplacement(changes: readonly AttributeChange[]): boolean {
  return changes.some((c) => c.forcesReplacement);
}
