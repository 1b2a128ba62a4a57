// The generic part of a diff: compare desired attributes with what was observed. Kinds call this
// for plain attributes and add their own changes for what values alone cannot say (health, state).

import equal from 'fast-deep-equal';
import type { AttributeChange } from './resource.js';
import { isUnknown } from './values.js';

export interface AttributeRule {
  /** Changing it in place is impossible; the resource must be replaced. */
  forcesReplacement?: boolean;
}

/**
 * One change per attribute in `rules` whose desired value differs from the observed one. An
 * UNKNOWN desired value always differs: it will be something new.
 */
export function compareAttributes<D extends object, O extends object>(
  desired: D,
  observed: O,
  rules: Readonly<Partial<Record<keyof D & keyof O & string, AttributeRule>>>,
): AttributeChange[] {
  const changes: AttributeChange[] = [];
  for (const [path, rule] of Object.entries(rules) as [string, AttributeRule][]) {
    const after = (desired as Record<string, unknown>)[path];
    const before = (observed as Record<string, unknown>)[path];
    if (!isUnknown(after) && equal(normalize(after), normalize(before))) continue;
    changes.push({ path, before, after, ...(rule.forcesReplacement ? { forcesReplacement: true } : {}) });
  }
  return changes;
}

/** Compares tag maps key by key, so the plan says which tag differs ("tags.Name"). */
export function compareTags(desired: Readonly<Record<string, string>>, observed: Readonly<Record<string, string>>): AttributeChange[] {
  const changes: AttributeChange[] = [];
  for (const [key, after] of Object.entries(desired)) {
    if (observed[key] !== after) changes.push({ path: `tags.${key}`, before: observed[key], after });
  }
  return changes;
}

// An absent optional attribute and an empty one mean the same thing to AWS.
function normalize(value: unknown): unknown {
  if (value === null || value === '') return undefined;
  return value;
}

export function forcesReplacement(changes: readonly AttributeChange[]): boolean {
  return changes.some((c) => c.forcesReplacement);
}
