// Carries a plan out: walks its step graph in parallel, resolving each resource's references from
// the outputs of what was observed or made so far.

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
}

export interface StepOutcome {
  key: string;
  id: string;
  operation: Step['operation'];
  status: 'done' | 'failed' | 'skipped';
  error?: string;
  because?: string;
}

export interface ApplyResult {
  outcomes: StepOutcome[];
  ok: boolean;
}

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

  const run = async (step: Step): Promise<void> => {
    const { change, operation } = step;
    const kind = kinds.get(change.kind)!;
    const started = Date.now();
    const elapsed = (): number => Math.round((Date.now() - started) / 1000);
    const existing = operation === 'create' ? undefined : change.observed?.physicalId;
    notify({ type: 'step-start', id: change.id, operation, ...(existing ? { physicalId: existing } : {}) });
    const every = (options.progressEverySeconds ?? 10) * 1000;
    const timer = setInterval(() => notify({ type: 'step-progress', id: change.id, operation, elapsedSeconds: elapsed() }), every);
    try {
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
      notify({ type: 'step-done', id: change.id, operation, elapsedSeconds: elapsed(), physicalId: made.id });
    } catch (error) {
      notify({ type: 'step-failed', id: change.id, operation, error: describeError(error) });
      throw error;
    } finally {
      clearInterval(timer);
    }
  };

  const result: WalkResult = await walk(steps, options.concurrency, {
    run,
    onSkip: (step, because) =>
      notify({ type: 'step-skipped', id: step.change.id, operation: step.operation, because: byKey.get(because)!.change.id }),
  });

  const outcome = (key: string, status: StepOutcome['status'], extra: Partial<StepOutcome> = {}): StepOutcome => {
    const step = byKey.get(key)!;
    return { key, id: step.change.id, operation: step.operation, status, ...extra };
  };
  const outcomes = [
    ...result.done.map((k) => outcome(k, 'done')),
    ...result.failed.map((f) => outcome(f.key, 'failed', { error: describeError(f.error) })),
    ...result.skipped.map((s) => outcome(s.key, 'skipped', { because: byKey.get(s.because)!.change.id })),
  ];
  return { outcomes, ok: result.failed.length === 0 && result.skipped.length === 0 };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { name?: string }).name;
    return code && code !== 'Error' && !error.message.startsWith(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
