// The commands that make and change the lab's namespaces: iproute2 and iptables, run as root.
// Nothing here touches the host's own namespace: links are created with both ends directly inside
// their namespaces, and every address, route and rule is set with `ip -n` or inside `ip netns exec`.

import { execFile, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NETNS_ETC } from './names.js';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(`${command}: ${stderr.trim() || `exit code ${code}`}`);
  }
}

/** Runs a command, feeding `input` to its stdin; resolves with its stdout, rejects with its stderr. */
export function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const code = typeof error.code === 'number' ? error.code : null;
      reject(new CommandError([command, ...args].join(' '), stderr || stdout || error.message, code));
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** A command inside a namespace. */
export function inNamespace(namespace: string, command: string, args: readonly string[], input?: string): Promise<string> {
  return run('ip', ['netns', 'exec', namespace, command, ...args], input);
}

/** `ip -n NS` commands, one per line; with `force`, a failing line does not stop the others. */
export async function ipBatch(namespace: string | undefined, lines: readonly string[], force = false): Promise<void> {
  if (lines.length === 0) return;
  const args = [...(namespace ? ['-n', namespace] : []), ...(force ? ['-force'] : []), '-batch', '-'];
  await run('ip', args, `${lines.join('\n')}\n`);
}

export async function setSysctls(namespace: string, settings: Record<string, string | number>): Promise<void> {
  await inNamespace(namespace, 'sysctl', ['-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]);
}

/** Replaces the namespace's iptables tables named in `rules` at once (iptables-restore is atomic). */
export async function restoreFirewall(namespace: string, rules: string): Promise<void> {
  await inNamespace(namespace, 'iptables-restore', [], rules);
}

export async function listNamespaces(): Promise<string[]> {
  const out = await run('ip', ['-j', 'netns', 'list']);
  if (!out.trim()) return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/** A namespace of its own, with its loopback up and the hosts file `ip netns exec` will show it. */
export async function addNamespace(name: string, hosts?: string): Promise<void> {
  await run('ip', ['netns', 'add', name]);
  await ipBatch(name, ['link set lo up']);
  if (hosts !== undefined) {
    const dir = join(NETNS_ETC, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'hosts'), hosts);
    // No DNS in the lab: with no name server listed, lookups fail at once instead of waiting.
    await writeFile(join(dir, 'resolv.conf'), '# dupsworks lab: no DNS; names come from the hosts file\n');
  }
}

/** Deletes a namespace (its links go with it) and its /etc/netns directory; a missing one is fine. */
export async function deleteNamespace(name: string): Promise<void> {
  await run('ip', ['netns', 'delete', name]).catch((error: CommandError) => {
    if (!/No such file|not found|Invalid argument/i.test(error.stderr)) throw error;
  });
  await rm(join(NETNS_ETC, name), { recursive: true, force: true });
}

/** A veth pair whose two ends are born inside their namespaces. */
export async function addVeth(a: { namespace: string; name: string }, b: { namespace: string; name: string }): Promise<void> {
  await run('ip', ['link', 'add', a.name, 'netns', a.namespace, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.namespace]);
}

/** The pids of processes whose network namespace is `namespace` (what `ip netns pids` says). */
export async function namespacePids(namespace: string): Promise<number[]> {
  const out = await run('ip', ['netns', 'pids', namespace]).catch(() => '');
  return out
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid !== process.pid);
}

/** Starts a long-running command inside a namespace; the caller owns the child. */
export function spawnInNamespace(namespace: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  return spawn('ip', ['netns', 'exec', namespace, command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}
