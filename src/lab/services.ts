// The services a NAT's boot script enables, started as systemd would start them on the instance:
// inside the NAT's namespace, with the unit's ExecStart and Environment, and started again when
// they exit (Restart=always or on-failure, after RestartSec). In the lab, the boot script lists
// what it would enable (boot.sh: enable_service) and writes its unit files under the NAT's root
// directory; a unit with no file there came from a package (iptables, say) and has nothing to
// run in a namespace, whose firewall the boot script already set.

import { type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { spawnInNamespace } from './kernel.js';

export const ENABLED_SERVICES_FILE = '/var/lib/dupsworks-lab/enabled-services';

export interface Unit {
  name: string;
  execStart: string[];
  environment: Record<string, string>;
  environmentFiles: { path: string; optional: boolean }[];
  restart: 'no' | 'always' | 'on-failure';
  restartSec: number;
}

/** Reads the [Service] section of a unit file: what the lab needs to run it as systemd would. */
export function parseUnit(name: string, text: string): Unit {
  const unit: Unit = { name, execStart: [], environment: {}, environmentFiles: [], restart: 'no', restartSec: 0.1 };
  let section = '';
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    if (section !== 'Service') continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (key === 'ExecStart') unit.execStart = words(value.replace(/^[-@:+!]+/, ''));
    if (key === 'Environment') for (const pair of words(value)) Object.assign(unit.environment, assignment(pair));
    if (key === 'EnvironmentFile') unit.environmentFiles.push({ path: value.replace(/^-/, ''), optional: value.startsWith('-') });
    if (key === 'Restart') unit.restart = value === 'always' ? 'always' : value === 'no' ? 'no' : 'on-failure';
    if (key === 'RestartSec') unit.restartSec = seconds(value);
  }
  return unit;
}

/** The units the boot script enabled that have a unit file under `root`, read. */
export async function enabledUnits(root: string): Promise<{ units: Unit[]; withoutFile: string[] }> {
  const listed = await readFile(join(root, ENABLED_SERVICES_FILE), 'utf8').catch(() => '');
  const units: Unit[] = [];
  const withoutFile: string[] = [];
  for (const entry of listed
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const name = entry.endsWith('.service') ? entry : `${entry}.service`;
    const file = [join(root, 'etc/systemd/system', name), join(root, 'usr/lib/systemd/system', name)].find((f) => existsSync(f));
    if (!file) withoutFile.push(name);
    else units.push(parseUnit(name, await readFile(file, 'utf8')));
  }
  return { units, withoutFile };
}

/** Runs a unit in a namespace until stopped, restarting it as its Restart= says. */
export class Supervised {
  private child: ChildProcess | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  starts = 0;

  /** The unit's name, such as dupsworks-agent.service. */
  get name(): string {
    return this.unit.name;
  }

  constructor(
    private readonly unit: Unit,
    private readonly namespace: string,
    private readonly root: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.stopped || this.unit.execStart.length === 0) return;
    const environment = { ...this.unit.environment };
    for (const file of this.unit.environmentFiles) {
      const text = await readFile(join(this.root, file.path), 'utf8').catch((error) => {
        if (file.optional) return '';
        throw error;
      });
      for (const line of text.split('\n'))
        if (/^\s*[A-Za-z_][A-Za-z0-9_]*=/.test(line)) Object.assign(environment, assignment(line.trim()));
    }
    const [program, ...args] = this.unit.execStart;
    // The program was installed under the NAT's root, not at its path on the host.
    const local = existsSync(join(this.root, program!)) ? join(this.root, program!) : program!;
    const log = join(this.root, 'var/log', `${this.unit.name}.log`);
    await mkdir(dirname(log), { recursive: true });
    const out = createWriteStream(log, { flags: 'a' });
    const child = spawnInNamespace(this.namespace, local, args, {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      ...environment,
      DUPSWORKS_LAB_ROOT: this.root,
    });
    this.child = child;
    this.starts++;
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    child.once('exit', (code) => {
      out.end();
      if (this.stopped) return;
      const again = this.unit.restart === 'always' || (this.unit.restart === 'on-failure' && code !== 0);
      if (again) this.timer = setTimeout(() => void this.start(), this.unit.restartSec * 1000);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.child?.kill('SIGTERM');
  }
}

function words(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  return out;
}

function assignment(pair: string): Record<string, string> {
  const eq = pair.indexOf('=');
  if (eq <= 0) return {};
  const value = pair
    .slice(eq + 1)
    .replace(/^"(.*)"$/, '$1')
    .replace(/^'(.*)'$/, '$1');
  return { [pair.slice(0, eq)]: value };
}

function seconds(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|min)?$/.exec(value);
  if (!m) return 0.1;
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'min' ? n * 60 : n;
}
