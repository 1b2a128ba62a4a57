// The engine: a validated spec in, a plan out; a plan in, the world changed. It ties the spec's
// topology, the resource kinds and the generic planner together, and talks only through an IoHost.
//
// `run` is one whole apply or destroy as every host does it: take the stack's lock, plan, let the
// host see the plan and approve it, apply, release the lock. A host stops it through an
// AbortSignal (an interrupt): no new step starts, the running ones get a bounded grace, and the
// report says what was done and what was not.

import { hostname, userInfo } from 'node:os';
import { Clients, connect, refreshed, type AwsContext } from './aws/context.js';
import { DEFAULT_TIMEOUTS, type Timeouts } from './aws/endpoint.js';
import { inventory, strangers } from './aws/inventory.js';
import { preflight } from './aws/preflight.js';
import { defaultRetryPolicy, type RetryPolicy } from './aws/retry.js';
import { DupsworksError, toErrorInfo, type ErrorInfo } from './errors.js';
import { stamped, type EngineEvent, type IoHost, type RunOperation } from './io.js';
import { DEFAULT_LEASE_SECONDS, DEFAULT_LOCK_TABLE, StackLock, type Lease, type LockInfo, type LockOwner } from './lock/lease.js';
import { applyPlan, type ApplyResult } from './planner/apply.js';
import type { InventoryItem } from './planner/inventory.js';
import { hasChanges, makePlan, type Plan } from './planner/plan.js';
import type { Desired, Observed } from './planner/resource.js';
import { kindsFor } from './resources/index.js';
import type { Spec } from './spec/types.js';
import { desiredResources } from './topology/index.js';

export interface EngineOptions {
  spec: Spec;
  io: IoHost;
  profile?: string;
  endpointUrl?: string;
  /** The OpsWorks endpoint (the service is shut down: an emulator's). */
  opsworksEndpointUrl?: string;
  /** Steps run at once during apply and destroy. */
  concurrency?: number;
  /** How long transient AWS errors are retried before a step fails. */
  retryTimeoutSeconds?: number;
  /** How long to wait for an instance to start or terminate. */
  instanceWaitSeconds?: number;
  /** How often to look again while waiting on OpsWorks (instances coming online, deployments). */
  pollIntervalMs?: number;
  /** Bounds of every AWS request. */
  timeouts?: Partial<Timeouts>;
  /** Where the stack's lock lives and how long a lease lasts between renewals. */
  lock?: { table?: string; leaseSeconds?: number };
  /** Once stopped, how long running steps may take to finish. */
  graceSeconds?: number;
  /** In a rollout, how long a new resource may take to be ready before the rollout stops. */
  readyTimeoutSeconds?: number;
  /** How often readiness is read again while waiting for it. */
  readyPollSeconds?: number;
}

export interface RunRequest {
  operation: RunOperation;
  /** Aborting it stops the run; its reason (a DupsworksError) is what the report gives. */
  signal?: AbortSignal;
  /**
   * false: run without the lock. Else wait up to waitSeconds for another run's lock; `as` is what
   * the lock shows its holder doing (default: the operation; the reconcile loop says "reconcile").
   */
  lock: false | { waitSeconds: number; command?: string; as?: string };
  /** Apply without asking the host. */
  autoApprove: boolean;
  /** Checks the fresh plan before anything is shown or done (a saved plan against it); throws to refuse. */
  adopt?(fresh: Plan): Plan;
}

export interface RunReport {
  operation: RunOperation;
  /** The plan shown (absent when the run stopped before it was made). */
  plan?: Plan;
  /** What the apply did (absent when there was nothing to do or it never started). */
  result?: ApplyResult;
  /** Why the run stopped early: an interrupt, a lost lock. */
  stopped?: ErrorInfo;
}

export class Engine {
  private readonly ctx: AwsContext;
  private readonly clients: Clients;
  private readonly kinds: ReturnType<typeof kindsFor>;
  /** Whether the OpsWorks side is read: the spec uses it, or an OpsWorks endpoint is configured. */
  private readonly readsOpsWorks: boolean;
  private readonly io: ReturnType<typeof stamped>;
  private readonly notify: (event: EngineEvent) => void;
  private readonly retry: RetryPolicy;

  constructor(private readonly options: EngineOptions) {
    this.readsOpsWorks =
      options.spec.nat.manager === 'opsworks' || !!(options.opsworksEndpointUrl || process.env.AWS_ENDPOINT_URL_OPSWORKS);
    this.kinds = kindsFor({ opsworks: this.readsOpsWorks });
    this.io = stamped(options.io);
    this.notify = this.io.notify;
    this.retry = {
      ...defaultRetryPolicy,
      ...(options.retryTimeoutSeconds !== undefined ? { deadlineMs: options.retryTimeoutSeconds * 1000 } : {}),
      onRetry: (info) => this.notify({ type: 'retry', ...info }),
    };
    const connectOptions = {
      stack: options.spec.name,
      region: options.spec.region,
      profile: options.profile,
      endpointUrl: options.endpointUrl,
      opsworksEndpointUrl: options.opsworksEndpointUrl,
      pollIntervalMs: options.pollIntervalMs,
      instanceWaitSeconds: options.instanceWaitSeconds,
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      retry: this.retry,
    };
    this.clients = new Clients(connectOptions);
    this.ctx = connect(connectOptions, this.clients);
  }

  /**
   * What apply would change to make the world match the spec. Throws SpecRejected when the spec
   * names what the region does not have (src/aws/preflight.ts).
   */
  plan(): Promise<Plan> {
    return this.planFor(desiredResources(this.options.spec), { check: (ctx) => preflight(this.options.spec, ctx) });
  }

  /**
   * What destroy would delete: every resource carrying this stack's tag, nothing else. What no
   * kind claims is kept, and so is what it uses (the plan names both).
   */
  destroyPlan(): Promise<Plan> {
    return this.planFor([], { destroy: true });
  }

  apply(plan: Plan, options: { signal?: AbortSignal } = {}): Promise<ApplyResult> {
    return applyPlan(plan, {
      kinds: this.kinds,
      ctx: refreshed(this.ctx),
      concurrency: this.options.concurrency ?? 10,
      notify: this.notify,
      signal: options.signal,
      graceSeconds: this.options.graceSeconds,
      readyTimeoutSeconds: this.options.readyTimeoutSeconds,
      readyPollSeconds: this.options.readyPollSeconds,
    });
  }

  /** Lock, plan, approve, apply, unlock: one apply or destroy, start to end. */
  async run(request: RunRequest): Promise<RunReport> {
    const { operation } = request;
    const lease = request.lock === false ? undefined : await this.lock(operation, { ...request.lock, signal: request.signal });
    try {
      const signal = anySignal([request.signal, lease?.signal]);
      const stopped = (): RunReport => ({ operation, stopped: toErrorInfo(signal?.reason) });
      const fresh = await untilAborted(operation === 'destroy' ? this.destroyPlan() : this.plan(), signal);
      if (!fresh) return stopped();
      const plan = request.adopt ? request.adopt(fresh) : fresh;
      this.notify({ type: 'plan-ready', operation, plan });
      if (!hasChanges(plan)) return { operation, plan };
      if (!request.autoApprove) {
        const question =
          operation === 'destroy'
            ? `Do you really want to destroy every resource of stack ${this.options.spec.name}?`
            : 'Do you want to perform these actions?';
        const answer = await untilAborted(this.io.confirm(question), signal);
        if (answer === undefined) return { ...stopped(), plan };
        if (!answer) throw new DupsworksError('Cancelled', 'user', 'cancelled; nothing was changed');
      }
      const result = await this.apply(plan, { signal });
      this.notify({ type: 'run-done', operation, result });
      return { operation, plan, result, ...(result.stopped ? { stopped: result.stopped } : {}) };
    } finally {
      if (lease) {
        await lease.release();
        this.notify({ type: 'lock-released', lock: lease.info });
      }
    }
  }

  /** Takes the stack's lock for `operation`, waiting up to waitSeconds for another holder; throws LockHeldError. */
  async lock(
    operation: RunOperation,
    options: { waitSeconds: number; command?: string; as?: string; signal?: AbortSignal },
  ): Promise<Lease> {
    const lease = await this.stackLock().acquire({
      owner: owner(options.as ?? operation, options.command),
      leaseSeconds: this.leaseSeconds(),
      waitSeconds: options.waitSeconds,
      signal: options.signal,
      onWait: (holder) => this.notify({ type: 'lock-waiting', holder, waitSeconds: options.waitSeconds }),
    });
    this.notify({ type: 'lock-acquired', lock: lease.info, ...(lease.tookOverFrom ? { tookOverFrom: lease.tookOverFrom } : {}) });
    return lease;
  }

  /** Who holds the stack's lock now, if anyone. */
  lockHolder(): Promise<LockInfo | undefined> {
    return this.stackLock().holder();
  }

  /** Breaks the lock held under lease id `id` (see StackLock.forceRelease); returns whose it was. */
  forceUnlock(id: string): Promise<LockInfo> {
    return this.stackLock().forceRelease(id);
  }

  /** Everything of the stack as it is now, read afresh, and all that carries its mark (to see what no kind claims). */
  observe(): Promise<{ observed: Observed[]; inventory: InventoryItem[]; ctx: AwsContext }> {
    return this.observeWith(refreshed(this.ctx));
  }

  private async observeWith(ctx: AwsContext): Promise<{ observed: Observed[]; inventory: InventoryItem[]; ctx: AwsContext }> {
    const started = Date.now();
    this.notify({ type: 'observe-start', stack: ctx.stack, region: ctx.region });
    const [observed, items] = await Promise.all([
      Promise.all([...this.kinds.values()].map((k) => k.observe(ctx))).then((found) => found.flat()),
      inventory(ctx, { opsworks: this.readsOpsWorks }),
    ]);
    this.notify({ type: 'observe-done', resources: observed.length, elapsedMs: Date.now() - started });
    return { observed, inventory: items, ctx };
  }

  /**
   * `check`: what must hold of the spec before a plan is made, read alongside the world (the same
   * snapshot); `destroy`: the plan deletes everything of the stack.
   */
  private async planFor(
    desired: Desired[],
    options: { destroy?: boolean; check?: (ctx: AwsContext) => Promise<void> } = {},
  ): Promise<Plan> {
    const fresh = refreshed(this.ctx);
    const [{ observed, inventory: items, ctx }] = await Promise.all([this.observeWith(fresh), options.check?.(fresh)]);
    const input = { desired, observed, kinds: this.kinds, ctx, ...(options.destroy ? { destroy: true } : {}) };
    const plan = await makePlan({ ...input, inventory: items });
    if (!plan.changes.some((c) => (c.action === 'delete' || c.action === 'replace') && !c.heldBy)) return plan;
    // Deleting (a replacement deletes the old one): what else is in the stack's VPCs would make some
    // deletes fail; keep those instead.
    const inside = await strangers(ctx, items);
    return inside.length === 0 ? plan : makePlan({ ...input, inventory: [...items, ...inside] });
  }

  private lockClient: StackLock | undefined;
  private stackLock(): StackLock {
    // A renewal retried past a third of the lease would let it run out: the lock's calls give up sooner.
    const retry = { ...this.retry, deadlineMs: Math.min(this.retry.deadlineMs, (this.leaseSeconds() * 1000) / 3) };
    this.lockClient ??= new StackLock(this.clients.dynamodb(retry), this.options.lock?.table ?? DEFAULT_LOCK_TABLE, this.options.spec.name);
    return this.lockClient;
  }

  private leaseSeconds(): number {
    return this.options.lock?.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  }
}

function owner(operation: string, command: string | undefined): LockOwner {
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): the environment's word will do.
  }
  return { user, host: hostname(), pid: process.pid, operation, ...(command ? { command } : {}) };
}

function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  return present.length <= 1 ? present[0] : AbortSignal.any(present);
}

/** The promise's value, or undefined as soon as `signal` aborts (what the promise does then is ignored). */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (!signal) return promise;
  if (signal.aborted) return undefined;
  let onAbort!: () => void;
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {}); // a read still running when the run stopped must not become an unhandled rejection
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
