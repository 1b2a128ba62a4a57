// Waiting on what AWS does in the background (an OpsWorks instance walking to "online", a
// deployment finishing), where the SDK has no waiter.

export interface PollOptions {
  /** What is awaited, for the timeout message ("opsworks instance 1234 to be online"). */
  what: string;
  /** The longest pause between two reads. */
  intervalMs: number;
  timeoutSeconds: number;
}

/** The first pause; it grows by half each time up to the interval, so short waits end soon and long ones cost few calls. */
const FIRST_PAUSE_MS = 250;

/**
 * Reads until `verdict` says "done" (returns the last value) or names a failure (throws it).
 * "waiting" reads again after a pause, until the timeout.
 */
export async function pollUntil<T>(
  options: PollOptions,
  read: () => Promise<T>,
  verdict: (value: T) => 'done' | 'waiting' | { failed: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let pause = Math.min(FIRST_PAUSE_MS, options.intervalMs);
  for (;;) {
    const value = await read();
    const v = verdict(value);
    if (v === 'done') return value;
    if (v !== 'waiting') throw new Error(v.failed);
    if (Date.now() + pause > deadline) throw new Error(`timed out after ${options.timeoutSeconds}s waiting for ${options.what}`);
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(options.intervalMs, Math.round(pause * 1.5));
  }
}
