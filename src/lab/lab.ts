// A running lab: it reads the stack from the EC2 emulator, builds it out of network namespaces,
// serves what listens inside them (each NAT's metadata service, the internet's targets, the EC2
// API), boots each new NAT with its own user data, and then polls the emulator and re-programs
// only what changed, until stopped.

import { EC2Client } from '@aws-sdk/client-ec2';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { natInstance } from '../resources/nat-instance.js';
import { bootInstance, type Booted } from './boot.js';
import { DataPlane, type Programmed } from './dataplane.js';
import { API_ADDRESS, IMDS_ADDRESS, fabricFor, tableOf, type Endpoint, type Fabric, type LabZone, type Numbering } from './fabric.js';
import { metadataServer, type InstanceIdentity } from './imds.js';
import { removeLab } from './cleanup.js';
import { labNames, type LabNames } from './names.js';
import { passThroughServer, whoamiServer } from './responders.js';
import { listenIn } from './sockets.js';
import { NoStackError, readUserData, readWorld, type LabRouteTable, type LabWorld } from './world.js';

export interface LabOptions {
  stack: string;
  region: string;
  zones: readonly LabZone[];
  /** The EC2 emulator (an http URL). */
  endpointUrl: string;
  profile?: string;
  /** How often to read the emulator (default 200 ms). */
  intervalMs?: number;
  /** How long a route change seen in the emulator waits before the router applies it (default 0). */
  propagationDelayMs?: number;
  onEvent?: (event: LabEvent) => void;
}

export type LabEvent =
  | { type: 'cleaned'; leftovers: string[] }
  | { type: 'built'; elapsedMs: number }
  | { type: 'synced'; observedAt: number; programmedAt: number; changes: Programmed[] }
  | { type: 'booted'; instanceId: string; notModeled: string[] }
  | { type: 'boot-failed'; instanceId: string; error: string }
  | { type: 'poll-failed'; error: string };

export class LabRunningError extends Error {}

/** What the lab built, for people (`lab up`, `lab status`) and for other harnesses (`--json`). */
export interface LabDescription {
  stack: string;
  region: string;
  vpcId: string;
  pid: number;
  stateDir: string;
  namespaces: { router: string; internetGateway: string; internet: string };
  zones: ZoneDescription[];
  internet: { namespace: string; targets: { address: string; names: string[]; role: string; whoami?: string }[] };
  /** The EC2 API as reached from inside the lab (through a NAT's own internet path). */
  api: { endpointUrl: string; hostname: string };
  /** The metadata service, inside each NAT. */
  imds: string;
}

export interface ZoneDescription {
  availabilityZone: string;
  host: { namespace: string; address: string; gateway: string } | null;
  /** The zone's NAT: its running instance, the newest if there are several. */
  nat: NatDescription | null;
  /** Every instance of the zone's NAT the lab models (more than one while a replacement runs). */
  nats: NatDescription[];
  /** Where the zone's private route table sends 0.0.0.0/0 now, as the emulator says. */
  privateDefaultRoute: string | null;
}

export interface NatDescription {
  namespace: string;
  instanceId: string;
  address: string;
  /** Its subnet's router address. */
  gateway: string;
  publicIp: string | null;
  state: string;
  sourceDestCheck: boolean;
}

const WHOAMI_PORT = 80;
const API_PORT = 80;
const IMDS_PORT = 80;

export class Lab {
  readonly names: LabNames;
  private readonly ec2: EC2Client;
  private readonly dataPlane: DataPlane;
  private readonly numbering = numbering();
  private readonly servers: Server[] = [];
  private readonly metadata = new Map<string, Server>();
  private readonly boots = new Map<string, Promise<Booted | undefined>>();
  private readonly booted = new Map<string, Booted>();
  private readonly userData = new Map<string, string>();
  private readonly history: { at: number; routeTables: LabRouteTable[] }[] = [];
  private waiters: { after: number; resolve: () => void }[] = [];
  private world!: LabWorld;
  private fabric!: Fabric;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopping = false;
  private lastDescription = '';
  private lastPollError: string | undefined;

  private constructor(private readonly options: LabOptions) {
    this.names = labNames(options.stack);
    this.dataPlane = new DataPlane(this.names);
    const endpoint = new URL(options.endpointUrl);
    // The lab only ever talks to an emulator, which takes any credentials: under a bare `sudo`
    // (which drops AWS_* variables) it should not need the caller's.
    const ownCredentials = options.profile || process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE;
    this.ec2 = new EC2Client({
      region: options.region,
      endpoint: endpoint.toString(),
      ...(options.profile ? { profile: options.profile } : {}),
      ...(ownCredentials ? {} : { credentials: { accessKeyId: 'dupsworks-lab', secretAccessKey: 'dupsworks-lab' } }),
    });
  }

  /**
   * Builds the lab and starts following the emulator. Refuses while another lab of the stack runs;
   * removes what a lab of the stack that died left behind. Throws NoStackError before touching
   * anything when the emulator has no such stack.
   */
  static async start(options: LabOptions): Promise<Lab> {
    const lab = new Lab(options);
    await lab.begin();
    return lab;
  }

  private async begin(): Promise<void> {
    const started = Date.now();
    const running = await runningPid(this.names.pidFile);
    if (running !== undefined) {
      throw new LabRunningError(
        `a lab of stack ${this.options.stack} is already running (pid ${running}); stop it with: dupsworks lab down --stack ${this.options.stack}`,
      );
    }
    const world = await readWorld(this.ec2, this.options.stack).catch((error: Error) => {
      if (error instanceof NoStackError) throw error;
      throw new Error(`cannot read stack ${this.options.stack} from the EC2 emulator at ${this.options.endpointUrl}: ${error.message}`);
    });
    const leftovers = await removeLab(this.options.stack);
    if (leftovers.length > 0) this.emit({ type: 'cleaned', leftovers });
    await mkdir(this.names.stateDir, { recursive: true });
    // Created only if absent: of two `lab up` racing, one is refused.
    await writeFile(this.names.pidFile, `${process.pid}\n`, { flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new LabRunningError(`a lab of stack ${this.options.stack} is starting in another process`);
      throw error;
    });
    try {
      this.world = world;
      this.history.push({ at: Date.now(), routeTables: world.routeTables });
      this.fabric = this.fabricOf(world, world.routeTables);
      await this.dataPlane.build(this.fabric);
      await this.serveInternet();
      await this.followInstances();
      await Promise.all(this.boots.values());
      await this.writeDescription();
      this.emit({ type: 'built', elapsedMs: Date.now() - started });
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.schedule();
  }

  describe(): LabDescription {
    const { world, fabric, names } = this;
    const endpoints = fabric.endpoints;
    const natOf = (e: Endpoint): NatDescription => ({
      namespace: e.namespace,
      instanceId: e.instance!.id,
      address: e.address,
      gateway: e.gateway,
      publicIp: e.instance!.publicIp ?? null,
      state: e.instance!.state,
      sourceDestCheck: e.instance!.sourceDestCheck,
    });
    return {
      stack: this.options.stack,
      region: this.options.region,
      vpcId: world.vpc.id,
      pid: process.pid,
      stateDir: names.stateDir,
      namespaces: { router: names.router, internetGateway: names.internetGateway, internet: names.internet },
      zones: this.options.zones.map((zone) => {
        const az = zone.availabilityZone;
        const host = endpoints.find((e) => e.key === `host/${az}`);
        const nats = endpoints
          .filter((e) => e.kind === 'nat' && e.instance!.logicalId === natInstance.ids.id({ availabilityZone: az }))
          .sort((a, b) => b.instance!.launchTime - a.instance!.launchTime);
        const current = nats.find((e) => e.instance!.state === 'running') ?? nats[0];
        const privateTable = host ? tableOf(world, host.subnetId) : undefined;
        const route = privateTable?.routes.find((r) => r.destination === '0.0.0.0/0');
        return {
          availabilityZone: az,
          host: host ? { namespace: host.namespace, address: host.address, gateway: host.gateway } : null,
          nat: current ? natOf(current) : null,
          nats: nats.map(natOf),
          privateDefaultRoute: route?.target ?? null,
        };
      }),
      internet: {
        namespace: names.internet,
        targets: fabric.targets.map((t) => ({
          ...t,
          ...(t.role === 'ec2-api' ? {} : { whoami: `http://${t.address}:${WHOAMI_PORT}/` }),
        })),
      },
      api: { endpointUrl: `http://${API_ADDRESS}:${API_PORT}`, hostname: `ec2.${this.options.region}.amazonaws.com` },
      imds: `http://${IMDS_ADDRESS}`,
    };
  }

  /** Resolves once a poll that began after this call has been programmed and its NATs booted. */
  synced(): Promise<void> {
    const after = Date.now();
    return new Promise((resolve) => this.waiters.push({ after, resolve }));
  }

  /** The services a NAT's boot started (to check them, or fault them). */
  servicesOf(instanceId: string) {
    return this.booted.get(instanceId)?.services ?? [];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.ticking;
    await Promise.allSettled(this.boots.values());
    for (const booted of this.booted.values()) for (const service of booted.services) service.stop();
    await Promise.all([...this.servers, ...this.metadata.values()].map(closeServer));
    this.ec2.destroy();
    await removeLab(this.options.stack);
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters = [];
  }

  private schedule(): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        this.schedule();
      });
    }, this.options.intervalMs ?? 200);
  }

  private async tick(): Promise<void> {
    const observedAt = Date.now();
    try {
      const world = await readWorld(this.ec2, this.options.stack);
      if (this.stopping) return;
      this.history.push({ at: observedAt, routeTables: world.routeTables });
      this.world = world;
      this.fabric = this.fabricOf(world, this.delayedRouteTables(observedAt));
      const changes = await this.dataPlane.program(this.fabric);
      await this.followInstances();
      await Promise.all(this.boots.values());
      await this.writeDescription();
      if (changes.length > 0) this.emit({ type: 'synced', observedAt, programmedAt: Date.now(), changes });
      this.lastPollError = undefined;
    } catch (error) {
      // Said once per kind of failure, not every interval while the emulator is away.
      const message = (error as Error).message;
      if (!this.stopping && message !== this.lastPollError) this.emit({ type: 'poll-failed', error: message });
      this.lastPollError = message;
    }
    const ready = this.waiters.filter((w) => w.after <= observedAt);
    this.waiters = this.waiters.filter((w) => w.after > observedAt);
    for (const waiter of ready) waiter.resolve();
  }

  // Route tables as they were `propagationDelayMs` ago: how long AWS takes to apply a route change.
  private delayedRouteTables(now: number): LabRouteTable[] {
    const delay = this.options.propagationDelayMs ?? 0;
    let chosen = 0;
    for (let i = 0; i < this.history.length; i++) if (this.history[i]!.at <= now - delay) chosen = i;
    this.history.splice(0, chosen);
    return this.history[0]!.routeTables;
  }

  private fabricOf(world: LabWorld, routeTables: LabRouteTable[]): Fabric {
    return fabricFor({
      world: { ...world, routeTables },
      zones: this.options.zones,
      region: this.options.region,
      names: this.names,
      numbering: this.numbering,
    });
  }

  private async serveInternet(): Promise<void> {
    const ns = this.names.internet;
    for (const target of this.fabric.targets) {
      if (target.role === 'ec2-api') {
        const endpoint = new URL(this.options.endpointUrl);
        const server = passThroughServer({ host: endpoint.hostname, port: Number(endpoint.port || 80) });
        this.servers.push(server.listen(await listenIn(ns, target.address, API_PORT)));
      } else {
        this.servers.push(whoamiServer().listen(await listenIn(ns, target.address, WHOAMI_PORT)));
      }
    }
  }

  // Each NAT gets its metadata service when its namespace appears and boots the first time it runs.
  private async followInstances(): Promise<void> {
    const nats = this.fabric.endpoints.filter((e) => e.kind === 'nat');
    for (const e of nats) {
      const id = e.instance!.id;
      if (!this.metadata.has(id)) {
        const server = metadataServer(() => this.identityOf(id)).listen(await listenIn(e.namespace, IMDS_ADDRESS, IMDS_PORT));
        this.metadata.set(id, server);
      }
      if (e.up && !this.boots.has(id)) this.boots.set(id, this.boot(e));
    }
    for (const [id, server] of this.metadata) {
      if (nats.some((e) => e.instance!.id === id)) continue;
      await closeServer(server);
      this.metadata.delete(id);
      for (const service of this.booted.get(id)?.services ?? []) service.stop();
      this.booted.delete(id);
      this.userData.delete(id);
      await rm(this.names.instanceRoot(id), { recursive: true, force: true });
    }
  }

  private async boot(e: Endpoint): Promise<Booted | undefined> {
    const id = e.instance!.id;
    try {
      const userData = await readUserData(this.ec2, id);
      if (!userData) throw new Error('the emulator holds no user data for it');
      this.userData.set(id, userData);
      const booted = await bootInstance(e.namespace, this.names.instanceRoot(id), userData, this.describe().api.endpointUrl);
      this.booted.set(id, booted);
      this.emit({ type: 'booted', instanceId: id, notModeled: booted.notModeled });
      return booted;
    } catch (error) {
      this.emit({ type: 'boot-failed', instanceId: id, error: (error as Error).message });
      return undefined;
    }
  }

  private identityOf(instanceId: string): InstanceIdentity | undefined {
    const instance = this.world.instances.find((i) => i.id === instanceId);
    const subnet = instance && this.world.subnets.find((s) => s.id === instance.subnetId);
    if (!instance || !subnet) return undefined;
    return {
      instanceId,
      region: this.options.region,
      availabilityZone: instance.availabilityZone,
      mac: instance.mac,
      networkInterfaceId: instance.networkInterfaceId,
      subnetId: subnet.id,
      vpcId: this.world.vpc.id,
      vpcCidr: this.world.vpc.cidr,
      privateIp: instance.privateIp,
      publicIp: instance.publicIp,
      role: instance.instanceProfileArn?.split('/').pop() ?? 'dupsworks-lab-nat',
      userData: this.userData.get(instanceId),
    };
  }

  private async writeDescription(): Promise<void> {
    const text = `${JSON.stringify(this.describe(), null, 2)}\n`;
    if (text === this.lastDescription) return;
    await writeFile(this.names.descriptionFile, text);
    this.lastDescription = text;
  }

  private emit(event: LabEvent): void {
    this.options.onEvent?.(event);
  }
}

/** The pid in a lab's pid file, if that process is still alive. */
export async function runningPid(pidFile: string): Promise<number | undefined> {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A lab killed outright stays a zombie until its parent reaps it; detached, its parent is the
  // machine's init, and some (a container's or a micro-VM's) are slow to, or never do: dead all the same.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return /^\d+ \(.*\) Z /s.test(stat) ? undefined : pid;
}

function numbering(): Numbering {
  const tables = new Map<string, number>();
  const priorities = new Map<string, number>();
  return {
    table: (id) => tables.get(id) ?? (tables.set(id, 100 + tables.size), tables.get(id)!),
    priority: (port) => priorities.get(port) ?? (priorities.set(port, 1000 + priorities.size), priorities.get(port)!),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
