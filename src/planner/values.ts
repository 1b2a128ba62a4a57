// Property values of desired resources: plain data, references to another resource's outputs,
// and the marker for a value nobody can know until apply has run.

/** A reference to an output of another resource, e.g. the id of the VPC a subnet belongs to. */
export interface Ref {
  readonly $ref: string;
  readonly output: string;
  /** The output may be absent (e.g. a NAT's runningId while it is stopped); it then resolves to undefined. */
  readonly optional?: boolean;
  /**
   * During a rollout of the resource it names, follow the new one only once it is ready (the
   * traffic this carries waits for a proven target); without it, as soon as the new one is made
   * (what proves it, such as the probes of its watcher, goes there first).
   */
  readonly whenReady?: boolean;
}

export type Value = string | number | boolean | null | undefined | Ref | Unknown | readonly Value[] | { readonly [key: string]: Value };

export type Props = { readonly [key: string]: Value };

/** A value that exists only after apply, shown as "(known after apply)". */
export interface Unknown {
  readonly $unknown: true;
  /**
   * Why it is not known yet ("nat/ap-northeast-1c is being replaced"), when the planner knows.
   * Not enumerable: an unknown equals any other in comparisons and JSON, whatever its cause.
   */
  readonly cause?: string;
}

export const UNKNOWN: Unknown = Object.freeze({ $unknown: true as const });

/**
 * An unknown that says why. The value travels wherever the props take it (into nested documents,
 * lists, values derived from it), so every change it ends up in can name its cause.
 */
export function unknownBecause(cause: string): Unknown {
  return Object.freeze(Object.defineProperty({ $unknown: true as const }, 'cause', { value: cause, enumerable: false }));
}

/** The first unknown inside `value`, to stand for a value derived from it (a digest, say), cause and all. */
export function firstUnknown(value: unknown): Unknown | undefined {
  if (isUnknown(value)) return value;
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) {
      const found = firstUnknown(inner);
      if (found) return found;
    }
  }
  return undefined;
}

/** The distinct causes of the unknowns inside `value`, in the order they appear. */
export function unknownCauses(value: unknown): string[] {
  const causes = new Set<string>();
  const visit = (v: unknown): void => {
    if (isUnknown(v)) {
      if (v.cause) causes.add(v.cause);
    } else if (typeof v === 'object' && v !== null) Object.values(v).forEach(visit);
  };
  visit(value);
  return [...causes];
}

export function ref(id: string, output = 'id', options: { optional?: boolean; whenReady?: boolean } = {}): Ref {
  return { $ref: id, output, ...(options.optional ? { optional: true } : {}), ...(options.whenReady ? { whenReady: true } : {}) };
}

export function isRef(value: unknown): value is Ref {
  return typeof value === 'object' && value !== null && typeof (value as Ref).$ref === 'string';
}

export function isUnknown(value: unknown): value is Unknown {
  return typeof value === 'object' && value !== null && (value as Unknown).$unknown === true;
}

/**
 * Every resource id that `value` refers to, anywhere inside it. Optional references are left out
 * with `requiredOnly`: they are read when present but never waited for.
 */
export function referencedIds(value: Value, options: { requiredOnly?: boolean; whenReadyOnly?: boolean } = {}): string[] {
  const ids = new Set<string>();
  const visit = (v: Value): void => {
    if (isRef(v)) {
      if (!(options.requiredOnly && v.optional) && !(options.whenReadyOnly && !v.whenReady)) ids.add(v.$ref);
    } else if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object' && v !== null && !isUnknown(v)) Object.values(v).forEach(visit);
  };
  visit(value);
  return [...ids];
}

/** Replaces every reference by what `lookup` says it is now (a value, or UNKNOWN). */
export function resolve<T extends Value>(value: T, lookup: (ref: Ref) => Value): Resolved<T> {
  const walk = (v: Value): Value => {
    if (isRef(v)) return lookup(v);
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v === 'object' && v !== null && !isUnknown(v)) {
      return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, walk(inner)]));
    }
    return v;
  };
  return walk(value) as Resolved<T>;
}

/** Whether anything inside `value` is still unknown. */
export function containsUnknown(value: unknown): boolean {
  return firstUnknown(value) !== undefined;
}

/**
 * A desired property type after resolution: a `Ref` becomes a string or UNKNOWN. Resource kinds
 * declare their props with `Ref | string` where a value comes from another resource; create and
 * update always receive fully known values.
 */
export type Resolved<T> = T extends Ref
  ? string | Unknown
  : T extends readonly (infer E)[]
    ? Resolved<E>[]
    : T extends object
      ? { [K in keyof T]: Resolved<T[K]> }
      : T;

/** Resolved, and guaranteed known (what create and update are given). */
export type Known<T> = T extends Ref
  ? string
  : T extends readonly (infer E)[]
    ? Known<E>[]
    : T extends object
      ? { [K in keyof T]: Known<T[K]> }
      : T;
