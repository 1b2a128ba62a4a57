// Every message the engine has for the outside world goes through one IoHost. The terminal, JSON
// output and tests are different hosts; no engine code writes to stdout or reads stdin.

import type { Operation } from './planner/graph.js';

export type EngineEvent =
  | { type: 'observe-start'; stack: string; region: string }
  | { type: 'observe-done'; resources: number; elapsedMs: number }
  | { type: 'step-start'; id: string; operation: Operation; physicalId?: string }
  | { type: 'step-progress'; id: string; operation: Operation; elapsedSeconds: number }
  | { type: 'step-done'; id: string; operation: Operation; elapsedSeconds: number; physicalId?: string }
  | { type: 'step-failed'; id: string; operation: Operation; error: string }
  | { type: 'step-skipped'; id: string; operation: Operation; because: string }
  | { type: 'retry'; operation: string; code: string; attempt: number; delayMs: number }
  | { type: 'debug'; message: string };

export type Sequenced<E> = E & { seq: number };

export interface IoHost {
  notify(event: Sequenced<EngineEvent>): void;
  /** Asks the operator a yes/no question; false when nobody can answer. */
  confirm(question: string): Promise<boolean>;
}

/** Wraps a host so every event gets the next sequence number. */
export function sequenced(host: IoHost): { notify(event: EngineEvent): void; confirm: IoHost['confirm'] } {
  let seq = 0;
  return { notify: (event) => host.notify({ ...event, seq: ++seq }), confirm: (q) => host.confirm(q) };
}

/** A host that keeps everything, for tests and for callers that only want the result. */
export class RecordingHost implements IoHost {
  readonly events: Sequenced<EngineEvent>[] = [];
  constructor(private readonly answer = false) {}
  notify(event: Sequenced<EngineEvent>): void {
    this.events.push(event);
  }
  async confirm(): Promise<boolean> {
    return this.answer;
  }
}
