// Shared pieces of the lab tests: one moto per file, a stack applied in it and one lab following
// it per describe block (building a lab takes about two seconds; every test leaves it converged),
// and short questions to ask it: "which public IP does the internet see from this host now",
// "wait until it is that one".

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Lab, whoami, type LabDescription, type LabEvent, type Seen } from '../../src/lab/index.js';
import type { Spec } from '../../src/spec/types.js';
import { startMoto, type Moto } from './moto.js';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { converge, ec2Client, makeEngine, makeSpec } from './stack.js';

export interface LabEmulator {
  moto: Moto;
  /** A plain EC2 client straight to moto, to change the world behind the engine's back. */
  ec2: EC2Client;
}

/** Stack names unique to this process, so labs of parallel runs never share a namespace. */
export function labStackName(what: string): string {
  return `labt-${process.pid}-${what}`;
}

/** One moto_server for the whole file (no reset between tests: each describe has its own stack). */
export function useMoto(): LabEmulator {
  const emulator = {} as LabEmulator;
  before(async () => {
    emulator.moto = await startMoto();
    emulator.ec2 = ec2Client(emulator.moto.endpoint);
  });
  after(async () => {
    await emulator.moto?.stop();
  });
  return emulator;
}

export interface LabFixture {
  spec: Spec;
  lab: Lab;
  events: LabEvent[];
  /** The lab's description now. */
  now(): LabDescription;
  zone(az: string): LabDescription['zones'][number];
}

export interface LabOptions {
  name: string;
  zones?: number;
  propagationDelayMs?: number;
  /** The spec's failover section (small timings keep agent tests short). */
  failover?: Spec['failover'];
  /**
   * false: every NAT's failover agent is stopped as soon as it boots, for tests of the lab's data
   * plane, in which nothing but the test may move a route.
   */
  agents?: boolean;
  /** Where the lab (and so the NATs' agents) reaches the emulator, when not straight at moto (a fault-injecting proxy). */
  labEndpoint?: () => string;
}

/** The name of the failover agent's unit, as the NAT's user data installs it. */
export const AGENT_UNIT = 'dupsworks-agent.service';

/** A stack of `zones` zones applied in `emulator` and a lab following it, for the enclosing describe. */
export function useLab(emulator: LabEmulator, options: LabOptions): LabFixture {
  const fixture = { events: [] as LabEvent[] } as LabFixture;
  before(async () => {
    fixture.spec = {
      ...makeSpec({ name: labStackName(options.name), zones: options.zones ?? 2 }),
      ...(options.failover ? { failover: options.failover } : {}),
    };
    await converge(makeEngine(fixture.spec, emulator.moto.endpoint));
    let lab: Lab | undefined;
    const booted: string[] = [];
    const stopAgent = (instanceId: string) => {
      for (const service of lab!.servicesOf(instanceId)) if (service.name === AGENT_UNIT) service.stop();
    };
    fixture.lab = lab = await Lab.start({
      stack: fixture.spec.name,
      region: fixture.spec.region,
      zones: fixture.spec.zones,
      endpointUrl: options.labEndpoint?.() ?? emulator.moto.endpoint,
      intervalMs: 100,
      propagationDelayMs: options.propagationDelayMs ?? 0,
      onEvent: (event) => {
        fixture.events.push(event);
        if (event.type !== 'booted' || options.agents !== false) return;
        if (lab) stopAgent(event.instanceId);
        else booted.push(event.instanceId);
      },
    });
    booted.forEach(stopAgent);
    fixture.now = () => fixture.lab.describe();
    fixture.zone = (az) => fixture.lab.describe().zones.find((z) => z.availabilityZone === az)!;
  });
  after(async () => {
    await fixture.lab?.stop();
  });
  return fixture;
}

/** The public IP `target` sees a request from the zone's private host come from (or why none came). */
export function egressOf(fixture: LabFixture, az: string, target = '198.51.100.80'): Promise<Seen> {
  return whoami(fixture.zone(az).host!.namespace, target);
}

/** Polls `check` until it returns true; fails with the last value seen after `timeoutMs`. */
export async function eventually<T>(what: string, probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the zone's private host leaves as `publicIp` (or, with null, has no egress at all). */
export function egressBecomes(fixture: LabFixture, az: string, publicIp: string | null, timeoutMs?: number): Promise<Seen> {
  return eventually(
    `egress of ${az}'s private host`,
    () => egressOf(fixture, az),
    (seen) => (publicIp === null ? !seen.ok : seen.ok && seen.source === publicIp),
    timeoutMs,
  );
}
