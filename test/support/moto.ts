/**
 * Test support: run a private `moto_server` (Python moto's standalone AWS mock)
 * on a free loopback port.
 *
 * Integration tests must FAIL (never skip) when moto is unavailable, so every
 * problem starting it surfaces as an Error explaining what is missing and how
 * to install it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, accessSync, constants as fsConstants, statSync, type WriteStream } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

export interface Moto {
  /** e.g. `http://127.0.0.1:53121` — pass as `endpoint` to AWS SDK clients. */
  endpoint: string;
  port: number;
  /** Wipe all of moto's state (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /** Kill moto (its whole process group) and wait for it to exit. Idempotent. */
  stop(): Promise<void>;
}

const MOTO_BIN = 'moto_server';
const INSTALL_HINT =
  'Install it with: pip install "moto[server]"  (moto 5.x; the tests were written against 5.2.1), ' +
  `and make sure the directory containing the \`${MOTO_BIN}\` script is on PATH.`;
const READY_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 100;
const MAX_PORT_ATTEMPTS = 5;
const STOP_GRACE_MS = 5_000;
const OUTPUT_TAIL_CHARS = 4_000;

/** Bind 127.0.0.1:0, read the port the OS picked, release it. */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

// ---------------------------------------------------------------------------
// Orphan protection: if the test process exits (normally, by crash, or by a
// terminating signal) while moto servers are still running, kill them.
// ---------------------------------------------------------------------------

const running = new Set<ChildProcess>();
let hooksInstalled = false;
const TERMINATING_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // negative pid = the whole process group (spawned detached)
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function killAllSync(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
  running.clear();
}

function onTerminatingSignal(signal: NodeJS.Signals): void {
  killAllSync();
  // Only re-raise when nobody else handles the signal, preserving Node's
  // default "terminate" behaviour that our listener would otherwise suppress.
  const others = process.listeners(signal).filter((l) => l !== onTerminatingSignal);
  if (others.length === 0) {
    removeHooks();
    process.kill(process.pid, signal);
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of TERMINATING_SIGNALS) process.on(sig, onTerminatingSignal);
}

function removeHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', killAllSync);
  for (const sig of TERMINATING_SIGNALS) process.off(sig, onTerminatingSignal);
}

// ---------------------------------------------------------------------------

function findOnPath(bin: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = path.join(dir, bin);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function httpRequest(url: string, method: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class PortInUseError extends Error {}

interface Launched {
  child: ChildProcess;
  exited: Promise<void>;
}

async function launch(bin: string, port: number, log: WriteStream | undefined): Promise<Launched> {
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true, // own process group, so stop() can kill moto and anything it forked
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  running.add(child);
  installHooks();

  let tail = '';
  let spawnError: Error | undefined;
  let exitInfo: string | undefined;
  let announcedBind = false; // saw werkzeug's "Running on http://127.0.0.1:<port>"
  const onOutput = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
    announcedBind ||= tail.includes(`Running on http://127.0.0.1:${port}`);
    log?.write(chunk);
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);
  // Don't let moto's pipes or the child itself keep the test process alive; the
  // 'exit' hook above kills moto if a test forgets to call stop().
  child.unref();
  (child.stdout as unknown as net.Socket | null)?.unref?.();
  (child.stderr as unknown as net.Socket | null)?.unref?.();

  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      running.delete(child);
      if (running.size === 0) removeHooks();
      resolve();
    });
    // 'close' (not 'exit') so that all of moto's output has been read by then.
    child.once('close', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      running.delete(child);
      if (running.size === 0) removeHooks();
      resolve();
    });
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastProbeError = '';
  let firstOkAt: number | undefined;
  for (;;) {
    if (spawnError !== undefined) {
      const err = spawnError as NodeJS.ErrnoException;
      throw new Error(
        err.code === 'ENOENT'
          ? `Cannot run \`${bin}\` (ENOENT). ${INSTALL_HINT}`
          : `Failed to spawn \`${bin}\`: ${err.message}. ${INSTALL_HINT}`,
      );
    }
    if (exitInfo !== undefined) {
      if (/address already in use|is in use by another program/i.test(tail)) {
        throw new PortInUseError(`port ${port} is in use`);
      }
      throw new Error(
        `\`${bin} -H 127.0.0.1 -p ${port}\` exited during startup (${exitInfo}). ` +
          `${INSTALL_HINT}\n--- moto_server output (tail) ---\n${tail.trim() || '(no output)'}`,
      );
    }
    try {
      const res = await httpRequest(`${endpoint}/moto-api/`, 'GET', 2_000);
      if (res.status === 200) {
        // Make sure it is *our* moto answering, not another process that grabbed
        // the port after freePort() released it (ours would then be about to
        // exit with "address already in use"): werkzeug logs "Running on …"
        // once it has bound. If this moto version doesn't log that, accept a
        // steady 200 from a still-running child after a grace period.
        firstOkAt ??= Date.now();
        if (announcedBind || Date.now() - firstOkAt > 3_000) {
          return { child, exited };
        }
      }
      lastProbeError = `HTTP ${res.status}`;
    } catch (err) {
      lastProbeError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL');
      await exited;
      throw new Error(
        `\`${bin}\` did not answer GET ${endpoint}/moto-api/ within ${READY_TIMEOUT_MS / 1000} s ` +
          `(last probe: ${lastProbeError}). Is moto installed correctly? ${INSTALL_HINT}\n` +
          `--- moto_server output (tail) ---\n${tail.trim() || '(no output)'}`,
      );
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

export async function startMoto(options?: { log?: string }): Promise<Moto> {
  const bin = findOnPath(MOTO_BIN);
  if (bin === undefined) {
    throw new Error(
      `\`${MOTO_BIN}\` was not found on PATH, but the integration tests need moto's standalone server. ` +
        `${INSTALL_HINT}\nPATH=${process.env.PATH ?? ''}`,
    );
  }

  const log = options?.log !== undefined ? createWriteStream(options.log, { flags: 'a' }) : undefined;
  const closeLog = () =>
    new Promise<void>((resolve) => {
      if (log === undefined || log.closed) resolve();
      else log.end(() => resolve());
    });

  let launched: Launched | undefined;
  let port = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        launched = await launch(bin, port, log);
        break;
      } catch (err) {
        // Someone grabbed the port between freePort() and moto binding it: try another.
        if (err instanceof PortInUseError && attempt < MAX_PORT_ATTEMPTS) continue;
        if (err instanceof PortInUseError) {
          throw new Error(`moto_server could not bind a free port after ${MAX_PORT_ATTEMPTS} attempts`);
        }
        throw err;
      }
    }
  } catch (err) {
    await closeLog();
    throw err;
  }

  const { child, exited } = launched;
  const endpoint = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;

  return {
    endpoint,
    port,
    async reset() {
      const res = await httpRequest(`${endpoint}/moto-api/reset`, 'POST', 10_000);
      if (res.status !== 200) {
        throw new Error(`POST ${endpoint}/moto-api/reset answered HTTP ${res.status}: ${res.body.slice(0, 500)}`);
      }
    },
    stop() {
      stopping ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        if (child.exitCode === null && child.signalCode === null) {
          killGroup(child, 'SIGTERM');
          timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_GRACE_MS);
        }
        await exited;
        clearTimeout(timer);
        await closeLog();
      })();
      return stopping;
    },
  };
}
