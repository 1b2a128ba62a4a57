// The contract between the planner and a resource kind. The planner knows nothing about what a
// kind manages; a kind knows nothing about graphs, ordering or output. One kind = one file in
// src/resources/ that implements this interface, its identity included.

import type { IdScheme } from './identity.js';
import type { Known, Props, Resolved } from './values.js';

/**
 * One resource the spec asks for. `id` is the logical id, stable across runs (e.g.
 * "nat/ap-northeast-1c"); only the kind's `desire` makes one, so the id is always in the kind's scheme.
 */
export interface Desired<N extends string = string, P extends Props = Props> {
  id: string;
  kind: N;
  props: P;
  /**
   * Set: a replacement of this resource because the spec changed is one step of a rollout, made
   * one at a time in this order, each gated on the new one's readiness (see rolling()).
   */
  rollout?: { order: number };
}

/** What a kind's `desire` returns: a desired resource of kind `kind` named `id`. */
export function desired<N extends string, P extends Props>(kind: N, id: string, props: P): Desired<N, P> {
  return { id, kind, props };
}

/** `d`, replaced one at a time with the others of its rollout, `order`-th (see Desired.rollout). */
export function rolling<D extends Desired>(d: D, order: number): D {
  return { ...d, rollout: { order } };
}

/** One resource as found in the world right now. */
export interface Observed<S = unknown, N extends string = string> {
  /** Logical id (from the resource's tags, or derived from its parent's), in its kind's scheme. */
  id: string;
  kind: N;
  /** The provider's id: vpc-…, i-…, or a composite for things that have none (routes). */
  physicalId: string;
  /** Values other resources may reference (always includes `id`). */
  outputs: Outputs;
  /** Physical ids of the resources this one uses; deleting those must wait for this one. */
  references: string[];
  /**
   * Other ids others may know it by (an OpsWorks instance's EC2 instance id): what refers to any of
   * them uses this resource too.
   */
  alsoKnownAs?: string[];
  /**
   * true: carries this stack's tag, so it may be deleted when the spec no longer wants it.
   * false: found inside one of ours without our tag (e.g. a route someone added); it is changed
   * only when the spec names it, and never deleted.
   */
  owned: boolean;
  /** Why this resource is extra, e.g. "duplicate of nat/ap-northeast-1c". Shown when it is deleted. */
  note?: string;
  /**
   * How far it is from serving, in its kind's own terms: 0 (or absent) serves, larger is further
   * (a NAT: running, then pending, then stopped…). Of several claiming one logical id, the planner
   * keeps the one that fits the spec, then the healthiest (see planner/candidates.ts).
   */
  health?: number;
  /** When it was made (ms since the epoch), if the provider says: of equal claimants, the oldest is kept. */
  createdAt?: number;
  /**
   * Whether it serves, and what would make it serve again: kept apart from whether it matches the
   * spec (which is `diff`'s), as Crossplane keeps Ready apart from Synced. Absent: the kind has no
   * notion of either (a subnet serves by existing).
   */
  condition?: Condition;
  /**
   * Set when it is no longer there, though the provider still lists it (a terminated instance): the
   * plan creates the resource anew, not replaces it, and gives this as the reason ("i-0abc is
   * terminated"). Never deleted (`owned` is false).
   */
  gone?: string;
  /** Kind-specific state the diff needs. */
  state: S;
  /** What this resource holds that no other of its kind may hold at the same time (see ResourceKind.claim). */
  claim?: string;
}

/** Whether a resource serves what it is for now, in its kind's terms, and why (or why not). */
export interface Readiness {
  ready: boolean;
  /** Why, in words: what was seen, or what stands in for a signal the kind has no way to read. */
  reason: string;
}

/**
 * What a resource that does not serve needs, as its kind sees it: the planner maps it to an action.
 * start: it is stopped and would serve once started (an update); replace: it never will again, a
 * new one is made in its place (a repair, never held for a rollout); wait: it is on its way (an
 * update that waits for it). `path`, `before` and `after` are how the plan shows it.
 */
export interface Remedy {
  action: 'start' | 'replace' | 'wait';
  reason: string;
  path: string;
  before: unknown;
  after: unknown;
}

export interface Condition extends Readiness {
  /** Absent: nothing to do (it serves, or it will without help). */
  remedy?: Remedy;
}

export type Outputs = { readonly id: string; readonly [name: string]: string | undefined };

type Keys<T> = T extends object ? Extract<keyof T, string> : never;

/**
 * Where a change of a kind with props P and observed state S is, as the plan shows it: a prop
 * ("instanceType"), an attribute of the state that the props imply ("userDataSha256", "state"),
 * or a key inside either ("tags.Name", "customJson.vpcnat.az.ap-northeast-1a.opposite_rtb"). A
 * kind's update switches on these, so a misspelt path does not compile.
 */
export type ChangePath<P, S> = Keys<P> | Keys<S> | `${Keys<P> | Keys<S>}.${string}`;

/** One attribute that differs between desired and observed. */
export interface AttributeChange<Path extends string = string> {
  path: Path;
  before: unknown;
  /**
   * May be or hold unknowns ("known after apply"); each says why it is unknown (see
   * unknownBecause), and the planner turns that into the change's reason.
   */
  after: unknown;
  forcesReplacement?: boolean;
  /** Why this differs when the values alone do not say it (e.g. "instance is terminated"). */
  reason?: string;
}

/** A change of a kind with props P and state S. */
export type ChangeOf<P, S> = AttributeChange<ChangePath<P, S>>;

export interface ResourceKind<N extends string, P extends Props, S, C> {
  readonly kind: N;

  /**
   * How this kind names its resources: its logical ids are made by this scheme (in `desire`) and
   * read back by it (in `observe`), and nowhere else.
   */
  readonly ids: IdScheme<unknown>;

  /**
   * What its file sends to the provider, as the provider's permission names (for AWS, IAM actions
   * such as "ec2:CreateVpc"): the operator's policy is made of these. A unit test fails on a call
   * in the file that is not listed, and on a listed one the file does not make.
   */
  readonly permissions: readonly string[];

  /**
   * A desired resource of this kind, named by `ids`: the only way a topology makes one. Its
   * arguments are the kind's own (a key and the props, or only the props when they name it).
   */
  desire(...args: never[]): Desired<N, P>;

  /**
   * Every resource of this kind that belongs to the stack (read-only). Batched: the kind reads
   * through the context's shared snapshot, never one call per resource.
   */
  observe(ctx: C): Promise<Observed<S, N>[]>;

  /**
   * Which attributes differ from the spec; empty means none. Any change with forcesReplacement
   * makes it a replacement (a rollout of the spec). Health is not an attribute: it is the
   * observed condition's, and the planner adds its remedy.
   */
  diff(desired: Resolved<P>, observed: Observed<S, N>): ChangeOf<P, S>[];

  /**
   * Whether the resource just made (its create's outputs) serves yet, read afresh. A kind that has
   * it gets its rollouts gated: a replacement of a spec change moves what waits for readiness
   * (Ref.whenReady) to the new one, and deletes the old one, only once this says ready. `since`:
   * when its create began (ms since the epoch); a signal older than that is not about it.
   */
  readiness?(outputs: Outputs, ctx: C, since: number): Promise<Readiness>;

  /** What readiness waits for, in words, for the plan ("running and its watcher says it forwards"). */
  readonly readyWhen?: string;

  /**
   * Something worth saying about a resource that needs no change: what the world holds that is
   * fine as it is but not as the spec first made it (a route another NAT serves after a
   * failover). Optional; the plan shows it, and it changes nothing.
   */
  remark?(desired: Resolved<P>, observed: Observed<S, N>): string | undefined;

  /**
   * The attributes shown for a resource about to be created. Optional: by default its props.
   * May look values up (e.g. the default machine image) so the plan shows what will be made.
   */
  preview?(desired: Resolved<P>, ctx: C): Promise<Record<string, unknown>>;

  /**
   * What a resource about to be created will hold exclusively (a subnet: its CIDR block in its
   * VPC), in the same words as Observed.claim; undefined while not known. Replacements create
   * before they delete, so the planner refuses a plan whose new resource needs what an old one
   * still holds, instead of failing halfway through apply.
   */
  claim?(desired: Resolved<P>): string | undefined;

  create(desired: Known<P>, ctx: C & CreateContext): Promise<Outputs>;

  /** Applies exactly `changes` (none of which forces replacement). */
  update(desired: Known<P>, observed: Observed<S, N>, changes: ChangeOf<P, S>[], ctx: C): Promise<Outputs>;

  /** Deletes it and waits until it is gone enough for what it contained to be deleted next. */
  delete(observed: Observed<S>, ctx: C): Promise<void>;
}

export interface CreateContext {
  /** The logical id of the resource being created (kinds tag it with this). */
  resourceId: string;
  /**
   * The physical id of the resource this creation replaces, if any. Kinds whose create takes an
   * idempotency token use it so that a re-run after a crash reuses the token, and a replacement
   * does not collide with the original creation's token.
   */
  replacing?: string;
  /** Values shown in the plan for this resource (from `preview`), so apply makes what was shown. */
  previewed?: Record<string, unknown>;
}

/** Any kind, as the generic planner sees it: it hands each kind only what that kind made or found. */
export type SomeKind<C> = ResourceKind<string, Props, unknown, C>;
