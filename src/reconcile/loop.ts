// The reconcile loop: the engine's second host, for when nobody is watching. A round is one
// `Engine.run` of an apply under the stack's lock, approved by policy instead of a person: plan,
// hold back what an unattended loop may not do (policy.ts), apply the rest, say what happened.
// Between rounds it sleeps, with jitter so that several hosts reconciling one stack drift apart,
// and longer after failures (doubling, capped). It stops when its signal aborts: a round under
// way finishes its running changes and releases the lock as an interrupted apply does; a sleep
// ends at once.
//
// Everything it has to say is one LogEntry per event; how entries are written is the host's
// business (log.ts). The spec is read again every round, so an edit takes effect at the next one.

import equal from 'fast-deep-equal';
import type { Engine } from '../engine.js';
import { toErrorInfo, type ErrorInfo } from '../errors.js';
import type { EngineEvent, IoHost, Level, Stamped } from '../io.js';
import { LockHeldError, who, type LockInfo } from '../lock/lease.js';
import type { ApplyResult } from '../planner/apply.js';
import { hasChanges, PlanError, rolloutOf, type Change, type Plan } from '../planner/plan.js';
import type { Outputs } from '../planner/resource.js';
import { containsUnknown, resolve, UNKNOWN, type Ref, type Value } from '../planner/values.js';
import type { Spec } from '../spec/types.js';
import { failovers } from './failover.js';
import { screen, type Allowed, type HeldBack } from './policy.js';
import { duration, show } from './text.js';

export const DEFAULT_EVERY_SECONDS = 60;
export const DEFAULT_MAX_BACKOFF_SECONDS = 15 * 60;
/** Each wait is this fraction longer or shorter, at random. */
export const DEFAULT_JITTER = 0.1;

/** What a round came to. */
export type Outcome =
  /** Nothing to change. */
  | 'converged'
  /** Changes made, all of them. */
  | 'healed'
  /** Another run holds the stack's lock: it is doing the work. */
  | 'skipped'
  /** Changes the loop may not make wait for a person (whatever else it could do, it did). */
  | 'refused'
  /** An error: AWS, the spec, a change that failed. */
  | 'failed'
  /** Interrupted. */
  | 'stopped';

export interface RoundResult {
  round: number;
  outcome: Outcome;
  /** Changes applied. */
  applied: number;
  held: HeldBack[];
  error?: ErrorInfo;
}

/** One line of the loop's log, before it is written as text or JSON. */
export interface LogEntry {
  time: string;
  level: Level;
  /** What happened, for machines: "round", "heal", "failover", "held-back", ... */
  event: string;
  stack: string;
  round?: number;
  /** What happened, for people: one line. */
  message: string;
  /** The same as data, for the JSON log. */
  data?: Record<string, unknown>;
}

export type SpecRead = { ok: true; spec: Spec } | { ok: false; problems: string[] };

export interface ReconcilerOptions {
  /** The spec of the first round. */
  spec: Spec;
  /** Reads the spec again for each later round (absent: the first one stays). */
  readSpec?: () => Promise<SpecRead>;
  /** An engine for a spec, talking through `io`; asked again only when the spec changes. */
  engine(spec: Spec, io: IoHost): Engine | Promise<Engine>;
  log(entry: LogEntry): void;
  /** How long to wait between rounds. */
  everySeconds: number;
  /** One round, then return. */
  once?: boolean;
  /** The longest wait after failures. */
  maxBackoffSeconds?: number;
  jitter?: number;
  /** [0, 1); Math.random by default. */
  random?: () => number;
  allowed: Allowed;
  /** How long a round waits for another run's lock before it skips. */
  lockWaitSeconds?: number;
  /** The command line the lock shows its holder running. */
  command?: string;
  /** Aborted (its reason a DupsworksError): stop. */
  signal?: AbortSignal;
}

/** How long to wait before the next round, after `failures` failed rounds in a row. */
export function nextDelaySeconds(options: {
  everySeconds: number;
  failures: number;
  maxBackoffSeconds: number;
  jitter: number;
  random: () => number;
}): number {
  const { everySeconds: every, failures, jitter } = options;
  const cap = Math.max(every, options.maxBackoffSeconds);
  const base = failures === 0 ? every : Math.min(every * 2 ** failures, cap);
  const jittered = base * (1 + jitter * (2 * options.random() - 1));
  return failures === 0 ? jittered : Math.min(jittered, cap);
}

/** --once: 0 converged or healed (or skipped: another run is at it), 1 an error, 2 changes it may not make. */
export function exitCodeFor(outcome: Exclude<Outcome, 'stopped'>): 0 | 1 | 2 {
  return outcome === 'failed' ? 1 : outcome === 'refused' ? 2 : 0;
}

export class Reconciler {
  private spec: Spec;
  private engine: Engine | undefined;
  private engineSpec: Spec | undefined;
  private rounds = 0;
  private current: Round | undefined;
  private wakeUp: (() => void) | undefined;
  private wakeRequested = false;
  private readonly host: IoHost = {
    notify: (event) => this.current?.notify(event),
    confirm: async () => {
      throw new Error('internal: the reconcile loop approves through its policy, never by asking');
    },
  };

  constructor(private readonly options: ReconcilerOptions) {
    this.spec = options.spec;
  }

  /** Rounds until stopped (or one, with `once`); the last round's result. */
  async run(): Promise<RoundResult> {
    const { signal } = this.options;
    const every = this.options.everySeconds;
    const allowed = this.options.allowed;
    const waits = [
      !allowed.replace && 'replacing healthy resources (--allow-replace)',
      !allowed.destroy && 'deleting what the spec no longer names (--allow-destroy)',
    ].filter((w): w is string => typeof w === 'string');
    this.log('info', 'start', {
      message:
        `reconciling stack ${this.spec.name} in ${this.spec.region} ${this.options.once ? 'once' : `every ${duration(every)}`}; ` +
        (waits.length > 0
          ? `it heals, and leaves to a person ${waits.join(' and ')}`
          : 'it may replace healthy resources and delete what the spec no longer names'),
      data: { everySeconds: this.options.once ? null : every, allowReplace: allowed.replace, allowDestroy: allowed.destroy },
    });
    let failures = 0;
    for (;;) {
      const result = await this.round();
      if (result.outcome === 'stopped' || this.options.once) return result;
      if (signal?.aborted) return this.stopped(signal, 'after the round');
      failures = result.outcome === 'failed' ? failures + 1 : 0;
      // After a failure the next round connects afresh: credentials are searched again (a profile
      // written or rotated since), and nothing a failed connection left behind is kept.
      if (result.outcome === 'failed') this.engine = undefined;
      const seconds = this.wakeRequested
        ? 0
        : nextDelaySeconds({
            everySeconds: every,
            failures,
            maxBackoffSeconds: this.options.maxBackoffSeconds ?? DEFAULT_MAX_BACKOFF_SECONDS,
            jitter: this.options.jitter ?? DEFAULT_JITTER,
            random: this.options.random ?? Math.random,
          });
      this.wakeRequested = false;
      this.log(failures > 0 ? 'warn' : 'debug', 'sleep', {
        message:
          `next round in ${duration(seconds)}` +
          (failures > 0 ? ` (back-off after ${failures} failed round${failures === 1 ? '' : 's'} in a row)` : ''),
        data: { seconds: round3(seconds), failures },
      });
      if (!(await this.sleep(seconds))) return this.stopped(signal!, 'while waiting for the next round');
    }
  }

  private stopped(signal: AbortSignal, when: string): RoundResult {
    const reason = toErrorInfo(signal.reason);
    this.log('info', 'stopped', { message: `stopped (${reason.message}) ${when}`, data: { reason } });
    return { round: this.rounds, outcome: 'stopped', applied: 0, held: [], error: reason };
  }

  /** Starts the next round now (SIGHUP): at once if sleeping, else right after the round under way. */
  wake(reason: string): void {
    this.log('info', 'wake', { message: `${reason}: the next round starts ${this.wakeUp ? 'now' : 'right after this one'}` });
    if (this.wakeUp) this.wakeUp();
    else this.wakeRequested = true;
  }

  /** One round: read the spec, plan, screen, apply, report. */
  async round(): Promise<RoundResult> {
    const n = ++this.rounds;
    const started = Date.now();
    const round = new Round(n, (level, event, entry) => this.log(level, event, { ...entry, round: n }));
    this.current = round;
    const { signal } = this.options;
    // The round's own signal: the loop's lives as long as the process, and must not collect a
    // listener (or a dependent signal) per round.
    const stop = new AbortController();
    const onStop = () => {
      round.log('warn', 'stopping', {
        message: `${toErrorInfo(signal!.reason).message}: stopping the round; the lock is released once the changes under way finish`,
      });
      stop.abort(signal!.reason);
    };
    if (signal?.aborted) stop.abort(signal.reason);
    else signal?.addEventListener('abort', onStop, { once: true });
    try {
      round.log('debug', 'round-start', { message: 'started' });
      const spec = await this.readSpec(round);
      if (!spec) {
        return round.finish('failed', started, {
          error: { code: 'InvalidSpec', fault: 'user', message: 'the spec has problems (above); nothing was sent to AWS' },
        });
      }
      let held: HeldBack[] = [];
      const report = await (
        await this.engineFor(spec)
      ).run({
        operation: 'apply',
        signal: stop.signal,
        lock: { waitSeconds: this.options.lockWaitSeconds ?? 0, command: this.options.command, as: 'reconcile' },
        autoApprove: true,
        adopt: (fresh) => {
          for (const f of failovers(fresh)) {
            round.log('warn', 'failover', {
              message:
                `failover in effect: ${f.route} is served by ${f.servedBy} (${f.servedByPhysicalId}) instead of ${f.meantFor}; ` +
                'left as it is while that NAT runs',
              data: { ...f },
            });
          }
          const screened = screen(fresh, this.options.allowed);
          held = screened.held;
          for (const [root, followers] of byRoot(held)) {
            const also = followers.length > 0 ? `; with it wait ${followers.map((f) => `${f.id} (${f.action})`).join(', ')}` : '';
            round.log('warn', 'held-back', {
              message: `held back: ${root.id}: ${root.why}; allow it with ${root.flag}, or apply it by hand${also}`,
              data: { ...root, with: followers.map((f) => ({ id: f.id, action: f.action })) },
            });
          }
          return screened.plan;
        },
      });
      if (report.stopped?.code === 'Interrupted')
        return round.finish('stopped', started, { error: report.stopped, held, result: report.result });
      if (report.stopped) return round.finish('failed', started, { error: report.stopped, held, result: report.result });
      if (report.result && !report.result.ok) {
        const error = report.result.outcomes.find((o) => o.status === 'failed')?.error;
        return round.finish('failed', started, { held, result: report.result, ...(error ? { error } : {}) });
      }
      const resources = report.plan?.changes.length ?? 0;
      if (held.length > 0) return round.finish('refused', started, { held, result: report.result, resources });
      return round.finish(report.result ? 'healed' : 'converged', started, { result: report.result, resources });
    } catch (error) {
      if (error instanceof LockHeldError) return round.finish('skipped', started, { holder: error.holder });
      const info = toErrorInfo(error);
      if (info.code === 'Interrupted') return round.finish('stopped', started, { error: info });
      if (error instanceof PlanError) {
        round.log('error', 'refused', { message: `the plan is refused: ${info.message}`, data: { reason: info.message } });
        return round.finish('refused', started, {});
      }
      return round.finish('failed', started, { error: info });
    } finally {
      signal?.removeEventListener('abort', onStop);
      this.current = undefined;
    }
  }

  private async readSpec(round: Round): Promise<Spec | undefined> {
    // The first round plans with the spec the loop was started with (already read and checked).
    if (this.rounds === 1 || !this.options.readSpec) return this.spec;
    const read = await this.options.readSpec();
    if (!read.ok) {
      for (const problem of read.problems) round.log('error', 'spec-problem', { message: problem });
      return undefined;
    }
    if (!equal(read.spec, this.spec)) {
      round.log('info', 'spec-changed', { message: 'the spec changed since the last round; this round plans with the new one' });
      this.spec = read.spec;
    }
    return this.spec;
  }

  /** The engine of the last round, unless the spec changed or that round failed. */
  private async engineFor(spec: Spec): Promise<Engine> {
    if (!this.engine || spec !== this.engineSpec) {
      this.engine = await this.options.engine(spec, this.host);
      this.engineSpec = spec;
    }
    return this.engine;
  }

  /** Resolves true after `seconds`, or early on wake(); false as soon as the loop is stopped. */
  private sleep(seconds: number): Promise<boolean> {
    const { signal } = this.options;
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (awake: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.wakeUp = undefined;
        resolve(awake);
      };
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(true), seconds * 1000);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.wakeUp = () => done(true);
    });
  }

  private log(level: Level, event: string, entry: { message: string; round?: number; data?: Record<string, unknown> }): void {
    this.options.log({ time: new Date().toISOString(), level, event, stack: this.spec.name, ...entry });
  }
}

type Emit = (level: Level, event: string, entry: { message: string; data?: Record<string, unknown> }) => void;

/** One round's view of the engine's events: what to log, and what each change came to. */
class Round {
  private plan: Plan | undefined;
  /** Steps of each change still to finish. */
  private readonly pending = new Map<string, number>();
  /** Physical ids made by each change's create step. */
  private readonly made = new Map<string, string>();
  /** What each change's create or update step made. */
  private readonly outputs = new Map<string, Outputs>();
  private healed = 0;

  constructor(
    readonly n: number,
    readonly log: Emit,
  ) {}

  notify(event: Stamped<EngineEvent>): void {
    switch (event.type) {
      case 'plan-ready':
        this.plan = event.plan;
        this.announce(event.plan);
        return;
      case 'step-done':
        return this.stepDone(event.id, event.operation, event.physicalId, event.outputs);
      case 'step-failed':
        if (event.operation === 'ready') {
          return this.log('error', 'rollout-stopped', {
            message: `${event.error.message}; the zones after it keep their NATs, and the next round tries again`,
            data: { id: event.id, error: event.error },
          });
        }
        return this.log('error', 'step-failed', {
          message: `${event.id}: ${event.operation} failed: ${event.error.message}`,
          data: { id: event.id, operation: event.operation, error: event.error },
        });
      case 'step-skipped':
        return this.log('warn', 'step-skipped', {
          message: `${event.id}: ${event.operation} not started: it waits on ${event.because}, which failed`,
          data: { id: event.id, operation: event.operation, because: event.because },
        });
      case 'stopping':
        return this.log('warn', 'stopping', {
          message:
            `stopping (${event.reason.message}): no new change starts` +
            (event.running.length > 0 ? `; waiting up to ${event.graceSeconds}s for ${event.running.join(', ')} to finish` : ''),
          data: { running: event.running, graceSeconds: event.graceSeconds },
        });
      case 'lock-waiting':
        return this.log('info', 'lock-waiting', {
          message: `the lock is held by ${who(event.holder)} since ${event.holder.since}; waiting up to ${event.waitSeconds}s`,
          data: { holder: event.holder },
        });
      case 'lock-acquired':
        if (event.tookOverFrom) {
          return this.log('warn', 'lock-taken-over', {
            message: `took over the expired lock held by ${who(event.tookOverFrom)} since ${event.tookOverFrom.since}`,
            data: { holder: event.tookOverFrom },
          });
        }
        return this.log('debug', 'lock', { message: `took the lock [ID ${event.lock.id}]` });
      case 'lock-released':
        return this.log('debug', 'lock', { message: `released the lock [ID ${event.lock.id}]` });
      case 'retry':
        return this.log('debug', 'retry', {
          message: `retrying ${event.operation} after ${event.code} (attempt ${event.attempt}, in ${event.delayMs} ms)`,
        });
      case 'ready-check':
        return this.log(event.ready ? 'info' : 'debug', 'ready', {
          message: `${event.id}: ${event.physicalId} ${event.ready ? 'is ready' : 'not ready yet'} after ${event.elapsedSeconds}s: ${event.reason}`,
          data: { id: event.id, physicalId: event.physicalId, ready: event.ready, reason: event.reason, checks: event.checks },
        });
      case 'step-start':
        if (event.operation === 'ready') {
          return this.log('info', 'rollout-step', {
            message: `${event.id}: waiting until ${event.physicalId ?? 'the new one'} is ready before its routes move and the old one goes`,
            data: { id: event.id, physicalId: event.physicalId },
          });
        }
        return this.log('debug', 'step', { message: `${event.id}: ${event.operation} started` });
      case 'step-progress':
        return this.log('debug', 'step', { message: `${event.id}: ${event.operation} still running [${event.elapsedSeconds}s elapsed]` });
      case 'observe-done':
        return this.log('debug', 'observe', { message: `read ${event.resources} resources in ${event.elapsedMs} ms` });
      case 'debug':
        return this.log('debug', 'debug', { message: event.message });
      case 'observe-start':
      case 'run-done':
        return;
    }
  }

  finish(
    outcome: Outcome,
    started: number,
    what: { error?: ErrorInfo; held?: HeldBack[]; result?: ApplyResult; holder?: LockInfo; resources?: number },
  ): RoundResult {
    const held = what.held ?? [];
    const seconds = (Date.now() - started) / 1000;
    const took = `(${duration(seconds)})`;
    const changes = (n: number) => `${n} change${n === 1 ? '' : 's'}`;
    const steps = what.result ? `; ${stepsSummary(what.result)}` : '';
    const message = {
      converged: () => `converged: no changes to ${what.resources} resources ${took}`,
      healed: () => `healed: ${changes(this.healed)} made ${took}`,
      skipped: () => `skipped: the lock of stack ${what.holder!.stack} is held by ${who(what.holder!)} since ${what.holder!.since}`,
      refused: () =>
        held.length > 0
          ? `${changes(held.length)} held back, ${changes(this.healed)} made ${took}`
          : `nothing changed: the plan is refused ${took}`,
      failed: () => `failed: ${what.error?.message ?? 'changes failed'}${steps} ${took}`,
      stopped: () => `stopped (${what.error?.message})${steps} ${took}`,
    }[outcome]();
    const level: Level = outcome === 'failed' ? 'error' : outcome === 'refused' ? 'warn' : 'info';
    this.log(level, 'round', {
      message,
      data: {
        outcome,
        seconds: round3(seconds),
        applied: this.healed,
        held: held.length,
        ...(what.resources !== undefined ? { resources: what.resources } : {}),
        ...(what.error ? { error: what.error } : {}),
        ...(what.holder ? { holder: what.holder } : {}),
      },
    });
    return { round: this.n, outcome, applied: this.healed, held, ...(what.error ? { error: what.error } : {}) };
  }

  private announce(plan: Plan): void {
    const changes = plan.changes.filter((c) => c.action !== 'no-op');
    for (const c of changes) this.pending.set(c.id, c.action === 'replace' ? (c.gate ? 3 : 2) : 1);
    const rollout = rolloutOf(plan);
    if (rollout) {
      this.log('info', 'rollout', {
        message:
          `rollout of ${rollout.steps.map((s) => s.id).join(', then ')}, one at a time` +
          (rollout.repairsFirst.length > 0 ? `, after the repair of ${rollout.repairsFirst.join(', ')}` : '') +
          `; each new one must be ready (${rollout.steps[0]!.readyWhen}) before the next starts`,
        data: { ...rollout },
      });
    }
    if (!hasChanges(plan)) return;
    // A build lists its creates by number: the heal lines name each one as it is made.
    const creates = changes.filter((c) => c.action === 'create');
    const listed = creates.length > 3 ? changes.filter((c) => c.action !== 'create') : changes;
    const list = listed.map((c) => {
      const reasons = [...new Set(c.attributes.flatMap((a) => (a.reason ? [a.reason] : [])))];
      return `${c.id} ${c.action}${c.reason ? ` (${c.reason})` : reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}`;
    });
    if (listed.length < changes.length) list.unshift(`${creates.length} creates`);
    this.log('info', 'plan', {
      message: `applying ${changes.length} change${changes.length === 1 ? '' : 's'}: ${list.join(', ')}`,
      data: { changes: changes.map((c) => ({ id: c.id, action: c.action })) },
    });
  }

  private stepDone(id: string, operation: string, physicalId: string | undefined, outputs: Outputs | undefined): void {
    const change = this.plan?.changes.find((c) => c.id === id);
    if (!change) return;
    if (operation === 'create' && physicalId) this.made.set(id, physicalId);
    if (outputs) this.outputs.set(id, outputs);
    const left = (this.pending.get(id) ?? 1) - 1;
    this.pending.set(id, left);
    if (left > 0) return;
    this.healed++;
    this.log('info', 'heal', {
      message: `${id}: ${this.describe(change)}`,
      data: { id, action: change.action, physicalId: this.made.get(id) },
    });
  }

  /** What a change that is done did, e.g. "replaced i-0a by i-0b (state: instance is impaired)", "created i-0c (i-0a is terminated)". */
  private describe(change: Change): string {
    const old = change.observed?.physicalId;
    const made = this.made.get(change.id);
    const attributes = (which: Change['attributes']) =>
      which
        .map((a) => `${a.path} ${show(a.before)} -> ${this.after(change, a.path, a.after)}${a.reason ? ` (${a.reason})` : ''}`)
        .join('; ');
    switch (change.action) {
      case 'create':
        return [`created ${made ?? ''}`.trim(), ...(change.reason ? [`(${change.reason})`] : [])].join(' ');
      case 'update':
        return `updated ${old}: ${attributes(change.attributes)}`;
      case 'replace': {
        const why = change.attributes.filter((a) => a.forcesReplacement).map((a) => a.reason ?? attributes([a]));
        return `replaced ${old} by ${made} (${why.join('; ')})`;
      }
      case 'delete':
        return `deleted ${old} (${change.reason ?? 'not in the spec'})`;
      case 'no-op':
        return 'unchanged';
    }
  }

  /** An attribute's new value; one known only after apply, as apply resolved it, from what this round made. */
  private after(change: Change, path: string, value: unknown): string {
    const wanted = change.desired?.props[path];
    if (!containsUnknown(value as Value) || wanted === undefined) return show(value, '(new)');
    const lookup = (r: Ref): Value => {
      const made = this.outputs.get(r.$ref);
      if (made) return made[r.output];
      // Not made in this round: what was observed still stands, unless it was being replaced.
      const other = this.plan?.changes.find((c) => c.id === r.$ref);
      return other && (other.action === 'no-op' || other.action === 'update') ? other.observed?.outputs[r.output] : UNKNOWN;
    };
    return show(resolve(wanted, lookup), '(new)');
  }
}

/** "done: a (create); not done: b (update), c (delete)", ten of each at most. */
function stepsSummary(result: ApplyResult): string {
  const list = (outcomes: ApplyResult['outcomes']) => {
    const named = outcomes.slice(0, 10).map((o) => `${o.id} (${o.operation})`);
    if (outcomes.length > 10) named.push(`${outcomes.length - 10} more`);
    return named.join(', ');
  };
  const done = result.outcomes.filter((o) => o.status === 'done');
  const rest = result.outcomes.filter((o) => o.status !== 'done');
  return [done.length > 0 && `done: ${list(done)}`, rest.length > 0 && `not done: ${list(rest)}`].filter(Boolean).join('; ');
}

/** Each held-back change that a flag would allow, with the changes that wait on it. */
function byRoot(held: readonly HeldBack[]): Map<HeldBack, HeldBack[]> {
  const byId = new Map(held.map((h) => [h.id, h]));
  const rootOf = (h: HeldBack): HeldBack => (h.waitsOn && byId.has(h.waitsOn) ? rootOf(byId.get(h.waitsOn)!) : h);
  const groups = new Map<HeldBack, HeldBack[]>();
  for (const h of held) if (!h.waitsOn) groups.set(h, []);
  for (const h of held) if (h.waitsOn) groups.get(rootOf(h))?.push(h);
  return groups;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
