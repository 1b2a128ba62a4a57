// Runs the real CLI (bin/dupsworks.js) as a child process, the way a user does.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/support/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = join(ROOT, 'bin/dupsworks.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { AWS_ENDPOINT_URL: _, NO_COLOR: __, ...env } = process.env;
  return { ...env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', ...extra };
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function runCli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = startCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

/** Writes `text` to a new temporary file and returns its path. */
export async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dupsworks-'));
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

/** A CLI child process whose output is kept as it comes. */
export interface Watched {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves once `stream` (default stderr) matches `pattern`; rejects if the process exits first. */
  until(pattern: RegExp, stream?: 'stdout' | 'stderr'): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** `killAfterMs`: a child that runs until stopped (the reconcile loop) is killed then, failing what waits on it. */
export function watch(child: ChildProcess, killAfterMs?: number): Watched {
  const started = Date.now();
  if (killAfterMs !== undefined) {
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('close', () => clearTimeout(timer));
  }
  const watched: Watched = {
    child,
    stdout: '',
    stderr: '',
    until: (pattern, stream = 'stderr') =>
      new Promise((resolve, reject) => {
        const source = child[stream]!;
        const check = () => {
          if (pattern.test(watched[stream])) {
            source.off('data', check);
            resolve();
          }
        };
        source.on('data', check);
        child.once('close', () => reject(new Error(`exited before ${stream} matched ${pattern}:\n${watched.stderr}\n${watched.stdout}`)));
        check();
      }),
    exited: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, ms: Date.now() - started }))),
  };
  // Registered first, so a check registered by until() sees the text it was called for.
  child.stdout!.on('data', (d) => (watched.stdout += d));
  child.stderr!.on('data', (d) => (watched.stderr += d));
  return watched;
}
