// Probes from inside a namespace: "which address did the target see me as" (HTTP to a target's
// whoami), and ping. A probe that gets no answer says so; it never throws.

import { execFile } from 'node:child_process';

const CHILD = new URL('./probe-child.js', import.meta.url).pathname;

export type Seen = { ok: true; source: string } | { ok: false; error: string };

/** The source address `target` saw a request from `namespace` come from. */
export function whoami(namespace: string, target: string, timeoutMs = 1500): Promise<Seen> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', namespace, process.execPath, CHILD, `http://${target}/`, String(timeoutMs)],
      { timeout: timeoutMs + 5000 },
      (error, stdout, stderr) => {
        if (error) resolve({ ok: false, error: (stderr || error.message).trim() });
        else resolve({ ok: true, source: stdout.trim() });
      },
    );
  });
}

/** Pings `target` from `namespace`: how many of `count` echo requests were answered. */
export function ping(namespace: string, target: string, options: { count?: number; timeoutSeconds?: number } = {}): Promise<number> {
  const count = options.count ?? 1;
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', namespace, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', String(options.timeoutSeconds ?? 1), target],
      (_error, stdout) => {
        const received = /(\d+) (?:packets )?received/.exec(stdout);
        resolve(received ? Number(received[1]) : 0);
      },
    );
  });
}
