// Every message the engine has for the outside world goes through one IoHost. The terminal, JSON
// output, a log and tests are different hosts; no engine code writes to stdout or reads stdin.
// Every event reaches the host stamped with a sequence number, its time and a level, so a host
// that logs one line per event needs nothing else.

import type { ErrorInfo } from './errors.js';
import type { LockInfo } from './lock/lease.js';
import type { StepOutcome, ApplyResult } from './planner/apply.js';
import type { Operation } from './planner/graph.js';
import type { Plan } from './planner/plan.js';
import type { Outputs } from './planner/resource.js';

/** What a run does to the stack. */
export type RunOperation = 'apply' | 'destroy';

export type EngineEvent =
  | { type: 'observe-start'; stack: string; region: string }
  | { type: 'observe-done'; resources: number; elapsedMs: number }
  /** A run's plan, before it is approved and applied. */
  | { type: 'plan-ready'; operation: RunOperation; plan: Plan }
  | { type: 'step-start'; id: string; operation: Operation; physicalId?: string }
  | { type: 'step-progress'; id: string; operation: Operation; elapsedSeconds: number }
  /** `outputs`: what a create or update made (a NAT's new instance id, for what refers to it). */
  | { type: 'step-done'; id: string; operation: Operation; elapsedSeconds: number; physicalId?: string; outputs?: Outputs }
  | { type: 'step-failed'; id: string; operation: Operation; error: ErrorInfo }
  | { type: 'step-skipped'; id: string; operation: Operation; because: string }
  /**
   * A rollout step's new resource, read again while its ready step waits (each time what it says
   * changes, and once ready): `checks` reads so far.
   */
  | { type: 'ready-check'; id: string; physicalId: string; ready: boolean; reason: string; checks: number; elapsedSeconds: number }
  | { type: 'retry'; operation: string; code: string; attempt: number; delayMs: number }
  /** The lock is held by someone else; this run waits up to waitSeconds for it. */
  | { type: 'lock-waiting'; holder: LockInfo; waitSeconds: number }
  | { type: 'lock-acquired'; lock: LockInfo; tookOverFrom?: LockInfo }
  | { type: 'lock-released'; lock: LockInfo }
  /** No new step starts; the running ones get graceSeconds to finish. */
  | { type: 'stopping'; reason: ErrorInfo; running: StepOutcome['id'][]; graceSeconds: number }
  | { type: 'run-done'; operation: RunOperation; result: ApplyResult }
  | { type: 'debug'; message: string };

export type Level = 'debug' | 'info' | 'warn' | 'error';

export type Stamped<E> = E & { seq: number; time: string; level: Level };

export interface IoHost {
  notify(event: Stamped<EngineEvent>): void;
  /**
   * Asks the operator to approve `question`. Resolves false when they decline; throws (a
   * DupsworksError) when nobody is there to answer.
   */
  confirm(question: string): Promise<boolean>;
}

export function levelOf(event: EngineEvent): Level {
  switch (event.type) {
    case 'retry':
    case 'debug':
    case 'observe-done':
    case 'lock-released':
      return 'debug';
    case 'step-failed':
      return 'error';
    case 'step-skipped':
    case 'lock-waiting':
    case 'stopping':
      return 'warn';
    case 'lock-acquired':
      return event.tookOverFrom ? 'warn' : 'debug';
    case 'run-done':
      return event.result.ok ? 'info' : 'error';
    default:
      return 'info';
  }
}

/** Wraps a host so every event gets the next sequence number, the time and its level. */
export function stamped(host: IoHost): { notify(event: EngineEvent): void; confirm: IoHost['confirm'] } {
  let seq = 0;
  return {
    notify: (event) => host.notify({ ...event, seq: ++seq, time: new Date().toISOString(), level: levelOf(event) }),
    confirm: (q) => host.confirm(q),
  };
}

/** A host that keeps everything, for tests and for callers that only want the result. */
export class RecordingHost implements IoHost {
  readonly events: Stamped<EngineEvent>[] = [];
  readonly questions: string[] = [];
  constructor(private readonly answer = false) {}
  notify(event: Stamped<EngineEvent>): void {
    this.events.push(event);
  }
  async confirm(question: string): Promise<boolean> {
    this.questions.push(question);
    return this.answer;
  }
}
