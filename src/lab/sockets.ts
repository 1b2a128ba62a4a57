// Sockets that listen inside a namespace, served by the lab's own process. A socket belongs to the
// namespace it was made in, whoever later uses it; so a short-lived child started inside the
// namespace makes it and passes it back over Node's IPC channel. One lab process thereby serves
// every namespace's metadata service, the internet's targets and the API, and still reaches the
// emulator on the host's loopback.

import { spawn } from 'node:child_process';
import type { Server } from 'node:net';

const CHILD = new URL('./listen-child.js', import.meta.url).pathname;
const TIMEOUT_MS = 10_000;

export function listenIn(namespace: string, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, CHILD, host, String(port)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`listening on ${host}:${port} in ${namespace} took over ${TIMEOUT_MS / 1000}s`));
    }, TIMEOUT_MS);
    child.once('message', (message: { error?: string }, handle) => {
      clearTimeout(timer);
      if (message.error || !handle) reject(new Error(`cannot listen in ${namespace}: ${message.error ?? 'no socket came back'}`));
      else resolve(handle as Server);
    });
    // After a success it exits 0, maybe before its message is read: only a failure settles here.
    child.once('exit', (code) => {
      if (code === 0) return;
      clearTimeout(timer);
      reject(new Error(`cannot listen on ${host}:${port} in ${namespace}: exit code ${code} ${stderr.trim()}`));
    });
  });
}
