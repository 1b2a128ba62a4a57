// Property values of desired resources: plain data, references to another resource's outputs,
// and the marker for a value nobody can know until apply has run.

/** A reference to an output of another resource, e.g. the id of the VPC a subnet belongs to. */
export interface Ref {
  readonly $ref: string;
  readonly output: string;
  /** The output may be absent (e.g. a NAT's runningId while it is stopped); it then resolves to undefined. */
  readonly optional?: boolean;
}

export type Value = string | number | boolean | null | undefined | Ref | Unknown | readonly Value[] | { readonly [key: string]: Value };

export type Props = { readonly [key: string]: Value };

/** A value that exists only after apply, shown as "(known after apply)". */
export interface Unknown {
  readonly $unknown: true;
}

export const UNKNOWN: Unknown = Object.freeze({ $unknown: true as const });

export function ref(id: string, output = 'id', options: { optional?: boolean } = {}): Ref {
  return { $ref: id, output, ...(options.optional ? { optional: true } : {}) };
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
export function referencedIds(value: Value, options: { requiredOnly?: boolean } = {}): string[] {
  const ids = new Set<string>();
  const visit = (v: Value): void => {
    if (isRef(v)) {
      if (!(options.requiredOnly && v.optional)) ids.add(v.$ref);
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
  if (isUnknown(value)) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (typeof value === 'object' && value !== null) return Object.values(value).some(containsUnknown);
  return false;
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
