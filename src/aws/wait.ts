// Waiting on what AWS does in the background (an OpsWorks instance walking to "online", a
// deployment finishing), where the SDK has no waiter.

export interface PollOptions {
  /** What is awaited, for the timeout message ("opsworks instance 1234 to be online"). */
  what: string;
  intervalMs: number;
  timeoutSeconds: number;
}

/**
 * Reads until `verdict` says "done" (returns the last value) or names a failure (throws it).
 * "waiting" reads again after the interval, until the timeout.
 */
export async function pollUntil<T>(
  options: PollOptions,
  read: () => Promise<T>,
  verdict: (value: T) => 'done' | 'waiting' | { failed: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  for (;;) {
    const value = await read();
    const v = verdict(value);
    if (v === 'done') return value;
    if (v !== 'waiting') throw new Error(v.failed);
    if (Date.now() + options.intervalMs > deadline)
      throw new Error(`timed out after ${options.timeoutSeconds}s waiting for ${options.what}`);
    await new Promise((r) => setTimeout(r, options.intervalMs));
  }
}
