// The lab's commands as the CLI offers them: up (in the foreground, or detached with a pid file),
// exec, status and down. They print through the Output they are given, never to the terminal
// directly; src/cli.ts only parses and calls these.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, openSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { internetGateway } from '../resources/internet-gateway.js';
import { natInstance } from '../resources/nat-instance.js';
import { removeLab } from './cleanup.js';
import { TEST_TARGETS, type LabZone } from './fabric.js';
import { Lab, runningPid, type LabDescription, type LabEvent } from './lab.js';
import { NoStackError } from './world.js';
import { STATE_ROOT, labNames } from './names.js';
import { whoami } from './probe.js';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** A failure already explained in its message: the CLI prints it and exits 1. */
export class LabFailure extends Error {}

/** What is missing for the lab to run here, each said with how to get it; empty when nothing is. */
export function missingPrerequisites(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('the lab needs root (it makes network namespaces); run it as root, e.g. with sudo');
  const commands: [string, string][] = [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['iptables-restore', 'iptables'],
    ['iptables-save', 'iptables'],
    ['sysctl', 'procps'],
    ['bash', 'bash'],
  ];
  for (const [command, pkg] of commands) {
    if (!onPath(command)) problems.push(`${command} is not installed or not on PATH (Debian and Ubuntu: apt-get install ${pkg})`);
  }
  return problems;
}

/** exec, status and down work inside namespaces too: root and ip, said the same way. */
export function requireRoot(): void {
  const missing = missingPrerequisites().filter((p) => p.startsWith('the lab needs root') || p.startsWith('ip '));
  if (missing.length > 0) throw new LabFailure(missing.join('; '));
}

export interface UpOptions {
  /** The spec file, to say what to run when the emulator has no such stack. */
  specFile: string;
  stack: string;
  region: string;
  zones: readonly LabZone[];
  endpointUrl: string;
  profile?: string;
  intervalMs: number;
  propagationDelayMs: number;
  json: boolean;
  pidFile?: string;
  debug: boolean;
}

/**
 * Builds the lab and follows the emulator until SIGINT or SIGTERM, then removes it. When started
 * by `up --detach` (an IPC channel to the parent), it reports there once ready instead of printing.
 */
export async function up(options: UpOptions, output: Output): Promise<number> {
  const detachedChild = typeof process.send === 'function';
  const onEvent = (event: LabEvent) => {
    const line = eventLine(event, options.debug);
    if (line) output.err(`${line}\n`);
  };
  let lab: Lab;
  try {
    lab = await Lab.start({ ...options, onEvent });
  } catch (error) {
    const failure =
      error instanceof NoStackError
        ? new LabFailure(
            `the EC2 emulator at ${options.endpointUrl} has no stack ${options.stack} (${error.message}); build it first: dupsworks apply -f ${options.specFile} --endpoint-url ${options.endpointUrl}`,
          )
        : error;
    if (detachedChild) process.send!({ error: (failure as Error).message });
    throw failure;
  }
  if (options.pidFile) await writeFile(options.pidFile, `${process.pid}\n`);
  const description = lab.describe();
  if (detachedChild) {
    process.send!({ ready: description });
    process.disconnect();
  } else {
    output.out(options.json ? `${JSON.stringify(description, null, 2)}\n` : describeText(description, options, false));
  }
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    if (detachedChild) process.on('SIGHUP', () => undefined);
  });
  output.err(`Stopping the lab of stack ${options.stack}...\n`);
  await lab.stop();
  if (options.pidFile) await rm(options.pidFile, { force: true });
  output.err('The lab is down: its namespaces, links and processes are gone.\n');
  return 0;
}

/** `up --detach`: runs `up` in a process of its own and returns once it is ready (or failed). */
export async function upDetached(argv: readonly string[], options: UpOptions, output: Output): Promise<number> {
  const log = join(STATE_ROOT, `${options.stack}.log`);
  await mkdir(STATE_ROOT, { recursive: true });
  // Appended to: a refused second `up` must not wipe the running lab's log.
  const fd = openSync(log, 'a');
  const child = spawn(
    process.execPath,
    argv.filter((a) => a !== '--detach'),
    {
      detached: true,
      stdio: ['ignore', fd, fd, 'ipc'],
    },
  );
  const answer = await new Promise<{ ready?: LabDescription; error?: string }>((resolve) => {
    child.once('message', (message) => resolve(message as { ready?: LabDescription; error?: string }));
    child.once('exit', (code) => resolve({ error: `the lab exited (code ${code}) before it was ready; see ${log}` }));
  });
  if (answer.error || !answer.ready) throw new LabFailure(answer.error ?? 'the lab did not start');
  child.unref();
  child.disconnect?.();
  output.out(options.json ? `${JSON.stringify(answer.ready, null, 2)}\n` : describeText(answer.ready, options, true));
  output.err(`The lab runs in the background (pid ${answer.ready.pid}); its log is ${log}.\n`);
  return 0;
}

/** The running lab of `stack`, or the only running one; explains what to do otherwise. */
export async function findLab(stack: string | undefined): Promise<LabDescription> {
  requireRoot();
  const running: LabDescription[] = [];
  const stacks = stack ? [stack] : await readdir(STATE_ROOT).catch(() => [] as string[]);
  for (const name of stacks) {
    const names = labNames(name);
    if (!existsSync(names.descriptionFile) || (await runningPid(names.pidFile)) === undefined) continue;
    running.push(JSON.parse(await readFile(names.descriptionFile, 'utf8')) as LabDescription);
  }
  if (running.length === 1) return running[0]!;
  if (running.length === 0) {
    throw new LabFailure(
      `${stack ? `no lab of stack ${stack} is running` : 'no lab is running'}; start one with: dupsworks lab up -f SPEC --endpoint-url URL`,
    );
  }
  throw new LabFailure(`${running.length} labs are running (${running.map((d) => d.stack).join(', ')}); say which with --stack NAME`);
}

/**
 * The namespace `where` names: an availability zone (its private host), nat/<zone> (the zone's
 * NAT now), an instance id, router, internet-gateway or internet.
 */
export function namespaceOf(lab: LabDescription, where: string): string {
  const fixed: Record<string, string> = {
    router: lab.namespaces.router,
    // Places are named as the resources they model: the internet gateway's and a NAT's logical ids.
    [internetGateway.ids.id({})]: lab.namespaces.internetGateway,
    igw: lab.namespaces.internetGateway,
    internet: lab.namespaces.internet,
  };
  if (fixed[where]) return fixed[where];
  const natZone = natInstance.ids.parse(where)?.availabilityZone;
  const zone = lab.zones.find((z) => z.availabilityZone === (natZone ?? where));
  if (zone && !natZone && zone.host) return zone.host.namespace;
  if (zone && natZone && zone.nat) return zone.nat.namespace;
  if (zone && natZone) throw new LabFailure(`zone ${natZone} has no NAT instance in the lab now`);
  const instance = lab.zones.flatMap((z) => z.nats).find((n) => n.instanceId === where);
  if (instance) return instance.namespace;
  const zones = lab.zones.map((z) => z.availabilityZone);
  throw new LabFailure(
    `"${where}" is not a place in the lab of stack ${lab.stack}; use a zone (${zones.join(', ')}), nat/<zone>, an instance id, router, internet-gateway or internet`,
  );
}

/** Runs a command inside a lab namespace, attached to the terminal; its exit code is ours. */
export function exec(namespace: string, command: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', namespace, ...command], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
}

export interface Egress {
  availabilityZone: string;
  /** The source address the internet saw, or null when no answer came. */
  leavesAs: string | null;
  /** The NAT whose public IP that is. */
  throughNat: { instanceId: string; availabilityZone: string } | null;
  error: string | null;
}

/** Asks every private host, now, which address the internet sees it as. */
export async function egress(lab: LabDescription, target = TEST_TARGETS[0]!): Promise<Egress[]> {
  const nats = lab.zones.flatMap((z) => z.nats.map((n) => ({ ...n, availabilityZone: z.availabilityZone })));
  return Promise.all(
    lab.zones.map(async (zone): Promise<Egress> => {
      if (!zone.host) return { availabilityZone: zone.availabilityZone, leavesAs: null, throughNat: null, error: 'no private host' };
      const seen = await whoami(zone.host.namespace, target);
      const nat = seen.ok ? nats.find((n) => n.publicIp === seen.source) : undefined;
      return {
        availabilityZone: zone.availabilityZone,
        leavesAs: seen.ok ? seen.source : null,
        throughNat: nat ? { instanceId: nat.instanceId, availabilityZone: nat.availabilityZone } : null,
        error: seen.ok ? null : seen.error,
      };
    }),
  );
}

export async function status(stack: string | undefined, json: boolean, output: Output): Promise<number> {
  const lab = await findLab(stack);
  const seen = await egress(lab);
  if (json) {
    output.out(`${JSON.stringify({ ...lab, egress: seen }, null, 2)}\n`);
    return 0;
  }
  const lines = [`Lab of stack ${lab.stack} (pid ${lab.pid}); what ${TEST_TARGETS[0]} sees from each private host now:`];
  for (const zone of lab.zones) {
    const e = seen.find((s) => s.availabilityZone === zone.availabilityZone)!;
    const through = e.throughNat
      ? `leaves through NAT ${e.throughNat.instanceId}${e.throughNat.availabilityZone === zone.availabilityZone ? " (the zone's own)" : ` (zone ${e.throughNat.availabilityZone}'s)`} as ${e.leavesAs}`
      : e.leavesAs
        ? `leaves as ${e.leavesAs}, which is no NAT's public IP`
        : `no egress (${e.error})`;
    const running = lab.zones.flatMap((z) => z.nats).filter((n) => n.state === 'running');
    const target = zone.privateDefaultRoute;
    const dead =
      target?.startsWith('i-') && !running.some((n) => n.instanceId === target) ? ' (a blackhole: no such running instance)' : '';
    lines.push(
      `  ${zone.availabilityZone}  private host ${zone.host?.address ?? '-'}: ${through}; route 0.0.0.0/0 -> ${target ?? 'none'}${dead}`,
    );
    for (const nat of zone.nats) {
      lines.push(
        `      NAT ${nat.instanceId} ${nat.address} public ${nat.publicIp ?? 'none'}: ${nat.state}${nat.sourceDestCheck ? ', source/dest check ON' : ''}`,
      );
    }
  }
  output.out(`${lines.join('\n')}\n`);
  return 0;
}

/** Stops the lab of `stack` (or the only one) and removes whatever it left; fine when none runs. */
export async function down(stack: string | undefined, output: Output): Promise<number> {
  requireRoot();
  const target = stack ?? (await findLab(undefined)).stack;
  const names = labNames(target);
  const pid = await runningPid(names.pidFile);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while ((await runningPid(names.pidFile)) !== undefined && Date.now() < deadline) await sleep(100);
    if ((await runningPid(names.pidFile)) !== undefined) {
      output.err(`The lab (pid ${pid}) did not stop within 15 s; killing it.\n`);
      process.kill(pid, 'SIGKILL');
    }
  }
  const left = await removeLab(target);
  const extra = left.length > 0 ? `; removed what it left: ${left.join(', ')}` : '';
  output.out(pid !== undefined ? `The lab of stack ${target} is down${extra}.\n` : `No lab of stack ${target} was running${extra}.\n`);
  return 0;
}

export function describeText(lab: LabDescription, options: { endpointUrl: string; intervalMs: number }, detached: boolean): string {
  const lines = [`The lab of stack ${lab.stack} is up (pid ${lab.pid}), following ${options.endpointUrl} every ${options.intervalMs} ms.`];
  for (const zone of lab.zones) {
    lines.push(`  ${zone.availabilityZone}`);
    if (zone.host) lines.push(`    private host ${zone.host.address} via ${zone.host.gateway}   namespace ${zone.host.namespace}`);
    const nat = zone.nat;
    if (nat) lines.push(`    NAT ${nat.instanceId} ${nat.address}, public ${nat.publicIp ?? 'none'}   namespace ${nat.namespace}`);
  }
  const targets = lab.internet.targets.filter((t) => t.role !== 'ec2-api');
  lines.push(
    `  internet: ${targets.map((t) => (t.names.length ? `${t.names.join(' ')} (${t.address})` : t.address)).join(', ')}; HTTP on each answers with the source it saw`,
    `  EC2 API inside the lab: ${lab.api.endpointUrl} (${lab.api.hostname}); metadata service in each NAT: ${lab.imds}`,
    '',
    `Try:  dupsworks lab exec ${lab.zones[0]?.availabilityZone ?? 'ZONE'} -- ping -c 3 ${TEST_TARGETS[0]}`,
    '      dupsworks lab status',
    detached ? `Stop: dupsworks lab down --stack ${lab.stack}` : `Stop: Ctrl-C, or dupsworks lab down --stack ${lab.stack}`,
  );
  return `${lines.join('\n')}\n`;
}

function eventLine(event: LabEvent, debug: boolean): string | undefined {
  switch (event.type) {
    case 'cleaned':
      return `Removed what an earlier lab of this stack left: ${event.leftovers.join(', ')}`;
    case 'built':
      return `Built the lab in ${(event.elapsedMs / 1000).toFixed(1)} s.`;
    case 'booted':
      return debug ? `${event.instanceId} ran its user data` : undefined;
    case 'boot-failed':
      return `${event.instanceId}: ${event.error}`;
    case 'poll-failed':
      return `reading the emulator failed (trying again): ${event.error}`;
    case 'synced':
      return `${new Date(event.programmedAt).toISOString()} followed the emulator in ${event.programmedAt - event.observedAt} ms: ${event.changes.map((c) => `${c.what} ${c.detail}`).join('; ')}`;
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        const file = join(dir, command);
        accessSync(file, constants.X_OK);
        return statSync(file).isFile();
      } catch {
        return false;
      }
    });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
