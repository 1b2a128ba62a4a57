// Shared pieces of the OpsWorks-mode integration tests: the OpsWorks emulator, in-process, launching
// its instances in the moto_server useEmulator() starts; an engine that talks to both; and direct
// access to the OpsWorks side with the real OpsWorksClient, to inspect and damage it.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { Instance as Ec2Instance } from '@aws-sdk/client-ec2';
import {
  DescribeDeploymentsCommand,
  DescribeInstancesCommand,
  DescribeLayersCommand,
  DescribePermissionsCommand,
  DescribeStacksCommand,
  ListTagsCommand,
  OpsWorksClient,
  type Deployment,
  type Instance,
  type Layer,
  type Permission,
  type Stack,
} from '@aws-sdk/client-opsworks';
import { startOpsWorksEmulator, type OpsWorksEmulator } from '../../src/emulator/opsworks/index.js';
import type { Engine, EngineOptions } from '../../src/engine.js';
import type { Spec } from '../../src/spec/types.js';
import { REGION, instancesOf, makeEngine, useEmulator, type Emulator } from './stack.js';

/** Short enough that a build takes a second or two, long enough that every status is seen on the way. */
export const OPSWORKS_DELAYS = { stepMs: 25, securityGroupsMs: 60, deploymentMs: 30 };
/** How often the engine looks again while it waits on OpsWorks. */
export const POLL_INTERVAL_MS = 25;

export interface OpsWorksBed extends Emulator {
  /** The OpsWorks emulator, launching its instances in moto. */
  opsworks: OpsWorksEmulator;
  /** A plain OpsWorks client straight to the emulator, to inspect and damage the OpsWorks side. */
  client: OpsWorksClient;
}

/**
 * moto and the proxy (useEmulator), plus the OpsWorks emulator started in-process for the enclosing
 * describe block with short delays. It is reset before and after each test (after: so nothing it
 * still had under way reaches moto once moto is reset for the next test), and stopped at the end.
 */
export function useOpsWorks(): OpsWorksBed {
  const bed = useEmulator() as OpsWorksBed;
  before(async () => {
    bed.opsworks = await startOpsWorksEmulator({ ec2Endpoint: bed.moto.endpoint, delays: OPSWORKS_DELAYS });
    bed.client = opsworksClient(bed.opsworks.endpoint);
  });
  after(async () => {
    bed.client?.destroy();
    await bed.opsworks?.stop();
  });
  beforeEach(() => bed.opsworks.reset());
  afterEach(() => bed.opsworks.reset());
  return bed;
}

export function opsworksClient(endpoint: string): OpsWorksClient {
  return new OpsWorksClient({ region: REGION, endpoint });
}

/** An engine pointed at moto and the OpsWorks emulator, looking again every POLL_INTERVAL_MS while it waits. */
export function makeOpsWorksEngine(bed: OpsWorksBed, spec: Spec, options: Partial<EngineOptions> = {}): Engine {
  return makeEngine(spec, bed.moto.endpoint, { opsworksEndpointUrl: bed.opsworks.endpoint, pollIntervalMs: POLL_INTERVAL_MS, ...options });
}

// --- reading the OpsWorks side ----------------------------------------------------------------

export interface NamedStack {
  stack: Stack;
  tags: Record<string, string>;
}

/** Every OpsWorks stack called `name`, ours or not, with its tags. */
export async function stacksNamed(client: OpsWorksClient, name: string): Promise<NamedStack[]> {
  const all = (await client.send(new DescribeStacksCommand({}))).Stacks ?? [];
  return Promise.all(
    all
      .filter((s) => s.Name === name)
      .map(async (stack) => ({ stack, tags: (await client.send(new ListTagsCommand({ ResourceArn: stack.Arn! }))).Tags ?? {} })),
  );
}

/** The OpsWorks stack of dupsworks stack `name` (named so and tagged dupsworks:stack=name); fails unless exactly one. */
export async function ourStack(client: OpsWorksClient, name: string): Promise<Stack> {
  const ours = (await stacksNamed(client, name)).filter((s) => s.tags['dupsworks:stack'] === name);
  assert.equal(ours.length, 1, `expected one OpsWorks stack named and tagged ${name}, found ${ours.length}`);
  return ours[0]!.stack;
}

export async function layersOf(client: OpsWorksClient, stackId: string): Promise<Layer[]> {
  return (await client.send(new DescribeLayersCommand({ StackId: stackId }))).Layers ?? [];
}

export async function layerOf(client: OpsWorksClient, stackId: string, shortname: string): Promise<Layer> {
  const found = (await layersOf(client, stackId)).filter((l) => l.Shortname === shortname);
  assert.equal(found.length, 1, `expected one layer ${shortname}, found ${found.length}`);
  return found[0]!;
}

export async function opsInstancesOf(client: OpsWorksClient, stackId: string): Promise<Instance[]> {
  return (await client.send(new DescribeInstancesCommand({ StackId: stackId }))).Instances ?? [];
}

export async function opsInstance(client: OpsWorksClient, instanceId: string): Promise<Instance> {
  return (await client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Instances![0]!;
}

/** The instance with hostname `base` or a replacement of it (`base-r2`, …); fails unless exactly one. */
export async function instanceByHostname(client: OpsWorksClient, stackId: string, base: string): Promise<Instance> {
  const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(-r\\d+)?$`);
  const found = (await opsInstancesOf(client, stackId)).filter((i) => pattern.test(i.Hostname ?? ''));
  assert.equal(
    found.length,
    1,
    `expected one OpsWorks instance ${base}, found ${found.map((i) => `${i.Hostname} (${i.Status})`).join(', ') || 'none'}`,
  );
  return found[0]!;
}

/** The NAT of zone `az`: hostname nat-<az>, or nat-<az>-rN once replaced. */
export function natOf(client: OpsWorksClient, stackId: string, az: string): Promise<Instance> {
  return instanceByHostname(client, stackId, `nat-${az}`);
}

export function adminOf(client: OpsWorksClient, stackId: string): Promise<Instance> {
  return instanceByHostname(client, stackId, 'admin');
}

/** The EC2 instance behind an OpsWorks instance, as moto has it. */
export async function ec2Of(bed: Emulator, instance: Instance): Promise<Ec2Instance> {
  assert.ok(instance.Ec2InstanceId, `OpsWorks instance ${instance.Hostname} has an EC2 instance`);
  const [found] = await instancesOf(bed.ec2, [{ Name: 'instance-id', Values: [instance.Ec2InstanceId] }]);
  assert.ok(found, `EC2 instance ${instance.Ec2InstanceId} of ${instance.Hostname} exists in moto`);
  return found;
}

/** Newest first. */
export async function deploymentsOf(client: OpsWorksClient, stackId: string): Promise<Deployment[]> {
  return (await client.send(new DescribeDeploymentsCommand({ StackId: stackId }))).Deployments ?? [];
}

export async function permissionsOf(client: OpsWorksClient, stackId: string): Promise<Permission[]> {
  return (await client.send(new DescribePermissionsCommand({ StackId: stackId }))).Permissions ?? [];
}

/** Polls until the OpsWorks instance reaches `status` (the emulator walks one status every few tens of ms). */
export async function waitForStatus(client: OpsWorksClient, instanceId: string, status: string, timeoutMs = 5_000): Promise<Instance> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const instance = await opsInstance(client, instanceId);
    if (instance.Status === status) return instance;
    if (Date.now() > deadline) assert.fail(`instance ${instance.Hostname} is ${instance.Status}, not ${status}, after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
