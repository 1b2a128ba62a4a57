// The reconcile loop's log as it is written: one line per entry, as text for people (and the
// journal) or as JSON for log shippers. Debug entries only with --debug.

import type { LogEntry } from './loop.js';

export type LogFormat = 'text' | 'json';

export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** "2026-03-01T10:00:00.000Z INFO  round 3: converged: no changes to 19 resources (0.8s)" */
export function formatEntry(entry: LogEntry, format: LogFormat): string {
  if (format === 'json') {
    const { time, level, event, stack, round, message, data } = entry;
    return JSON.stringify({ time, level, event, stack, ...(round !== undefined ? { round } : {}), message, ...data });
  }
  const where = entry.round !== undefined ? `round ${entry.round}: ` : '';
  return `${entry.time} ${entry.level.toUpperCase().padEnd(5)} ${where}${entry.message.replace(/\s*\n\s*/g, ' ')}`;
}

/** Writes each entry worth writing as one line. */
export function logWriter(options: { format: LogFormat; debug: boolean; write(line: string): void }): (entry: LogEntry) => void {
  return (entry) => {
    if (entry.level === 'debug' && !options.debug) return;
    options.write(`${formatEntry(entry, options.format)}\n`);
  };
}
