// The engine: a validated spec in, a plan out; a plan in, the world changed. It ties the spec's
// topology, the resource kinds and the generic planner together, and talks only through an IoHost.

import { connect, refreshed, type AwsContext } from './aws/context.js';
import { inventory, strangers } from './aws/inventory.js';
import { defaultRetryPolicy } from './aws/retry.js';
import { sequenced, type EngineEvent, type IoHost } from './io.js';
import { applyPlan, type ApplyResult } from './planner/apply.js';
import type { InventoryItem } from './planner/inventory.js';
import { makePlan, type Plan } from './planner/plan.js';
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
}

export class Engine {
  private readonly ctx: AwsContext;
  private readonly kinds: ReturnType<typeof kindsFor>;
  /** Whether the OpsWorks side is read: the spec uses it, or an OpsWorks endpoint is configured. */
  private readonly readsOpsWorks: boolean;
  private readonly notify: (event: EngineEvent) => void;

  constructor(private readonly options: EngineOptions) {
    this.readsOpsWorks =
      options.spec.nat.manager === 'opsworks' || !!(options.opsworksEndpointUrl || process.env.AWS_ENDPOINT_URL_OPSWORKS);
    this.kinds = kindsFor({ opsworks: this.readsOpsWorks });
    const io = sequenced(options.io);
    this.notify = io.notify;
    this.ctx = connect({
      stack: options.spec.name,
      region: options.spec.region,
      profile: options.profile,
      endpointUrl: options.endpointUrl,
      opsworksEndpointUrl: options.opsworksEndpointUrl,
      pollIntervalMs: options.pollIntervalMs,
      instanceWaitSeconds: options.instanceWaitSeconds,
      retry: {
        ...defaultRetryPolicy,
        ...(options.retryTimeoutSeconds !== undefined ? { deadlineMs: options.retryTimeoutSeconds * 1000 } : {}),
        onRetry: (info) => this.notify({ type: 'retry', ...info }),
      },
    });
  }

  /** What apply would change to make the world match the spec. */
  plan(): Promise<Plan> {
    return this.planFor(desiredResources(this.options.spec));
  }

  /**
   * What destroy would delete: every resource carrying this stack's tag, nothing else. What no
   * kind claims is kept, and so is what it uses (the plan names both).
   */
  destroyPlan(): Promise<Plan> {
    return this.planFor([]);
  }

  apply(plan: Plan): Promise<ApplyResult> {
    return applyPlan(plan, {
      kinds: this.kinds,
      ctx: refreshed(this.ctx),
      concurrency: this.options.concurrency ?? 10,
      notify: this.notify,
    });
  }

  /** Everything of the stack as it is now, read afresh, and all that carries its mark (to see what no kind claims). */
  async observe(): Promise<{ observed: Observed[]; inventory: InventoryItem[]; ctx: AwsContext }> {
    const ctx = refreshed(this.ctx);
    const started = Date.now();
    this.notify({ type: 'observe-start', stack: ctx.stack, region: ctx.region });
    const [observed, items] = await Promise.all([
      Promise.all([...this.kinds.values()].map((k) => k.observe(ctx))).then((found) => found.flat()),
      inventory(ctx, { opsworks: this.readsOpsWorks }),
    ]);
    this.notify({ type: 'observe-done', resources: observed.length, elapsedMs: Date.now() - started });
    return { observed, inventory: items, ctx };
  }

  private async planFor(desired: Desired[]): Promise<Plan> {
    const { observed, inventory: items, ctx } = await this.observe();
    const plan = await makePlan({ desired, observed, inventory: items, kinds: this.kinds, ctx });
    if (!plan.changes.some((c) => c.action === 'delete' && !c.heldBy)) return plan;
    // Deleting: what else is in the stack's VPCs would make some deletes fail; keep those instead.
    const inside = await strangers(ctx, items);
    return inside.length === 0 ? plan : makePlan({ desired, observed, inventory: [...items, ...inside], kinds: this.kinds, ctx });
  }
}
