// How the reconcile loop's log lines show values and durations.

import { isUnknown } from '../planner/values.js';

/**
 * A value in a log line: strings as they are, anything else as JSON, cut at 60 characters; a
 * value not known yet as `unknown` says.
 */
export function show(value: unknown, unknown = '(known after apply)'): string {
  if (value === undefined) return '(none)';
  if (isUnknown(value)) return unknown;
  const text = typeof value === 'string' ? value : JSON.stringify(value, (_key, v: unknown) => (isUnknown(v) ? unknown : v));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** 4.2s, 45s, 2m, 1m30s, 1h5m. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Number(seconds.toFixed(seconds < 10 ? 1 : 0))}s`;
  const s = Math.round(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  if (h > 0) return `${h}h${m > 0 ? `${m}m` : ''}`;
  return `${m}m${r > 0 ? `${r}s` : ''}`;
}
