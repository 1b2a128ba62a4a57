// Carries a plan out: walks its step graph in parallel, resolving each resource's references from
// the outputs of what was observed or made so far. Stopped (an interrupt, a lost lock), it starts no
// new step and gives the running ones a bounded grace to finish: a step cut short could leave half
// a change (a NAT launched but still checking source and destination).

import { DupsworksError, toErrorInfo, type ErrorInfo } from '../errors.js';
import type { EngineEvent } from '../io.js';
import { buildSteps, type Step } from './graph.js';
import type { Kinds, Plan } from './plan.js';
import type { Outputs } from './resource.js';
import { containsUnknown, resolve, type Known, type Props, type Ref } from './values.js';
import { walk, type WalkResult } from './walk.js';

export interface ApplyOptions<C> {
  kinds: Kinds<C>;
  ctx: C;
  concurrency: number;
  notify(event: EngineEvent): void;
  /** How often a long step reports that it is still running. */
  progressEverySeconds?: number;
  /** Aborted: start no new step (its reason says why). */
  signal?: AbortSignal;
  /** Once stopped, how long the running steps may take to finish before the apply returns without them. */
  graceSeconds?: number;
  /** How long a rollout step's new resource may take to be ready before the rollout stops. */
  readyTimeoutSeconds?: number;
  /** How often readiness is read again while waiting for it. */
  readyPollSeconds?: number;
}

export interface StepOutcome {
  key: string;
  id: string;
  operation: Step['operation'];
  /**
   * skipped: something it waits on failed (`because` names it); cancelled: not started because the
   * apply was stopped; abandoned: still running when the grace after a stop ran out.
   */
  status: 'done' | 'failed' | 'skipped' | 'cancelled' | 'abandoned';
  error?: ErrorInfo;
  because?: string;
}

export interface ApplyResult {
  outcomes: StepOutcome[];
  ok: boolean;
  /** Why the apply stopped before the end, if it was stopped. */
  stopped?: ErrorInfo;
}

export const DEFAULT_GRACE_SECONDS = 60;
export const DEFAULT_READY_TIMEOUT_SECONDS = 300;
export const DEFAULT_READY_POLL_SECONDS = 5;

export async function applyPlan<C>(plan: Plan, options: ApplyOptions<C>): Promise<ApplyResult> {
  const { kinds, ctx, notify } = options;
  const outputs = new Map<string, Outputs>();
  for (const change of plan.changes) {
    if (change.observed && change.action !== 'replace' && change.action !== 'delete') outputs.set(change.id, change.observed.outputs);
  }
  const lookup = (r: Ref): string | undefined => {
    const value = outputs.get(r.$ref)?.[r.output];
    if (value === undefined && !r.optional) throw new Error(`${r.$ref} has no ${r.output} yet`);
    return value;
  };

  const steps = buildSteps(plan);
  const byKey = new Map(steps.map((s) => [s.key, s]));

  /** When each create began: a readiness signal older than that is about what it replaces. */
  const createStarted = new Map<string, number>();

  const awaitReady = async (step: Step, started: number): Promise<void> => {
    const { change } = step;
    const kind = kinds.get(change.kind)!;
    const made = outputs.get(change.id)!;
    const timeout = options.readyTimeoutSeconds ?? DEFAULT_READY_TIMEOUT_SECONDS;
    const poll = (options.readyPollSeconds ?? DEFAULT_READY_POLL_SECONDS) * 1000;
    let said: string | undefined;
    for (let checks = 1; ; checks++) {
      const now = await kind.readiness!(made, ctx, createStarted.get(change.id) ?? started);
      const elapsedSeconds = Math.round((Date.now() - started) / 1000);
      if (now.reason !== said || now.ready) {
        notify({ type: 'ready-check', id: change.id, physicalId: made.id, ready: now.ready, reason: now.reason, checks, elapsedSeconds });
        said = now.reason;
      }
      if (now.ready) return;
      if (Date.now() - started + poll > timeout * 1000) {
        throw new DupsworksError(
          'RolloutStopped',
          'user',
          `rollout stopped: ${change.id} ${made.id} not ready after ${timeout} s: ${now.reason}`,
        );
      }
      await new Promise((r) => setTimeout(r, poll));
    }
  };

  const run = async (step: Step): Promise<void> => {
    const { change, operation } = step;
    const kind = kinds.get(change.kind)!;
    const started = Date.now();
    const elapsed = (): number => Math.round((Date.now() - started) / 1000);
    const existing = operation === 'create' ? undefined : operation === 'ready' ? outputs.get(change.id)?.id : change.observed?.physicalId;
    notify({ type: 'step-start', id: change.id, operation, ...(existing ? { physicalId: existing } : {}) });
    const every = (options.progressEverySeconds ?? 10) * 1000;
    const timer = setInterval(() => notify({ type: 'step-progress', id: change.id, operation, elapsedSeconds: elapsed() }), every);
    if (operation === 'create') createStarted.set(change.id, started);
    try {
      if (operation === 'ready') {
        await awaitReady(step, started);
        notify({ type: 'step-done', id: change.id, operation, elapsedSeconds: elapsed(), ...(existing ? { physicalId: existing } : {}) });
        return;
      }
      if (operation === 'delete') {
        await kind.delete(change.observed!, ctx);
        notify({ type: 'step-done', id: change.id, operation, elapsedSeconds: elapsed(), physicalId: change.observed!.physicalId });
        return;
      }
      const desired = resolve(change.desired!.props, lookup) as Known<Props>;
      if (containsUnknown(desired)) throw new Error(`internal: ${change.id} still has unknown values at apply time`);
      const made =
        operation === 'create'
          ? await kind.create(desired, { ...ctx, resourceId: change.id, replacing: change.observed?.physicalId, previewed: change.preview })
          : await kind.update(desired, change.observed!, change.attributes, ctx);
      outputs.set(change.id, made);
      notify({ type: 'step-done', id: change.id, operation, elapsedSeconds: elapsed(), physicalId: made.id, outputs: made });
    } catch (error) {
      notify({ type: 'step-failed', id: change.id, operation, error: toErrorInfo(error) });
      throw error;
    } finally {
      clearInterval(timer);
    }
  };

  const running = new Set<string>();
  const abandon = new AbortController();
  let grace: NodeJS.Timeout | undefined;
  const stop = (): void => {
    const graceSeconds = options.graceSeconds ?? DEFAULT_GRACE_SECONDS;
    notify({ type: 'stopping', reason: toErrorInfo(options.signal!.reason), running: [...running], graceSeconds });
    grace = setTimeout(() => abandon.abort(), graceSeconds * 1000);
  };
  if (options.signal?.aborted) stop();
  else options.signal?.addEventListener('abort', stop, { once: true });

  const result: WalkResult = await walk(
    steps,
    options.concurrency,
    {
      run: async (step) => {
        running.add(step.change.id);
        try {
          await run(step);
        } finally {
          running.delete(step.change.id);
        }
      },
      onSkip: (step, because) =>
        notify({ type: 'step-skipped', id: step.change.id, operation: step.operation, because: byKey.get(because)!.change.id }),
    },
    { stop: options.signal, abandon: abandon.signal },
  ).finally(() => {
    clearTimeout(grace);
    options.signal?.removeEventListener('abort', stop);
  });

  const outcome = (key: string, status: StepOutcome['status'], extra: Partial<StepOutcome> = {}): StepOutcome => {
    const step = byKey.get(key)!;
    return { key, id: step.change.id, operation: step.operation, status, ...extra };
  };
  const stopped = options.signal?.aborted ? toErrorInfo(options.signal.reason) : undefined;
  const outcomes = [
    ...result.done.map((k) => outcome(k, 'done')),
    ...result.failed.map((f) => outcome(f.key, 'failed', { error: toErrorInfo(f.error) })),
    ...result.skipped.map((s) => outcome(s.key, 'skipped', { because: byKey.get(s.because)!.change.id })),
    ...result.cancelled.map((k) => outcome(k, 'cancelled', stopped && { error: stopped })),
    ...result.abandoned.map((k) => outcome(k, 'abandoned', stopped && { error: stopped })),
  ];
  return { outcomes, ok: outcomes.every((o) => o.status === 'done'), ...(stopped ? { stopped } : {}) };
}
