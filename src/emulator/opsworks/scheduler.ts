// Every delayed action of the emulator (an instance's next status, the OpsWorks security groups, a
// deployment's end) and every EC2 call in flight belongs to one epoch. Reset and stop end the epoch:
// pending timers never fire and EC2 calls are aborted, so nothing of an old test leaks into the next.

export class Scheduler {
  private timers = new Set<NodeJS.Timeout>();
  private controller = new AbortController();

  constructor(private readonly log: (line: string) => void) {}

  /** Aborts when the epoch ends; pass it to every EC2 call. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  after(ms: number, action: () => void | Promise<void>): void {
    const signal = this.signal;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (signal.aborted) return;
      Promise.resolve()
        .then(action)
        .catch((error: unknown) => {
          if (!isAbort(error)) this.log(`internal error in a delayed action: ${(error as Error)?.stack ?? error}`);
        });
    }, ms);
    this.timers.add(timer);
  }

  endEpoch(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.controller.abort();
    this.controller = new AbortController();
  }
}

/** An EC2 call cut short by the end of its epoch: not a failure of anything still running. */
export function isAbort(error: unknown): boolean {
  return (error as Error)?.name === 'AbortError';
}
