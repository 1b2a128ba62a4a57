// Shared pieces of the integration tests: specs, an engine pointed at moto, the acceptance check
// (apply, then a fresh plan shows no changes), and direct EC2 access to damage and inspect the world.

import assert from 'node:assert/strict';
import { after, before, beforeEach } from 'node:test';
import { EC2Client, DescribeInstancesCommand, TerminateInstancesCommand, type Instance, type Filter, type Tag } from '@aws-sdk/client-ec2';
import { stringify as toYaml } from 'yaml';
import { Engine, type EngineOptions } from '../../src/engine.js';
import { RecordingHost } from '../../src/io.js';
import type { Plan } from '../../src/planner/plan.js';
import { renderPlan } from '../../src/planner/render.js';
import type { ApplyResult } from '../../src/planner/apply.js';
import { withDefaults, type OpsWorksInput } from '../../src/spec/defaults.js';
import type { Spec, Zone } from '../../src/spec/types.js';
import { startAwsProxy, type AwsProxy } from './aws-proxy.js';
import { startMoto, type Moto } from './moto.js';

process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const REGION = 'ap-northeast-1';

const ZONES: Zone[] = [
  {
    availabilityZone: 'ap-northeast-1c',
    publicSubnet: '10.0.0.0/24',
    privateSubnet: '10.0.128.0/24',
    heartbeat: { viaPeer: '8.8.4.4', viaInternetGateway: 'google.co.jp' },
  },
  {
    availabilityZone: 'ap-northeast-1a',
    publicSubnet: '10.0.1.0/24',
    privateSubnet: '10.0.129.0/24',
    heartbeat: { viaPeer: '8.8.8.8', viaInternetGateway: 'google.co.jp' },
  },
  {
    availabilityZone: 'ap-northeast-1d',
    publicSubnet: '10.0.2.0/24',
    privateSubnet: '10.0.130.0/24',
    heartbeat: { viaPeer: '1.1.1.1', viaInternetGateway: 'google.co.jp' },
  },
];

export interface Emulator {
  moto: Moto;
  /** The counting, fault-injecting proxy in front of moto (no faults unless a test sets some). */
  proxy: AwsProxy;
  /** A plain EC2 client straight to moto, to inspect and damage the world. */
  ec2: EC2Client;
}

/**
 * One moto_server for the enclosing describe block, with a proxy in front of it. Before each test:
 * moto is reset, and so is the proxy (counts zeroed, faults, EC2 rules and lost replies off).
 */
export function useEmulator(): Emulator {
  const emulator = {} as Emulator;
  before(async () => {
    emulator.moto = await startMoto();
    emulator.proxy = await startAwsProxy({ target: emulator.moto.endpoint });
    emulator.ec2 = ec2Client(emulator.moto.endpoint);
  });
  after(async () => {
    await emulator.proxy?.stop();
    await emulator.moto?.stop();
  });
  beforeEach(async () => {
    await emulator.moto.reset();
    emulator.proxy.reset();
  });
  return emulator;
}

/** The opsworks section of the test specs (nat.manager opsworks): the example's settings, one IAM user. */
export const OPSWORKS_INPUT: OpsWorksInput = {
  serviceRoleArn: 'arn:aws:iam::123456789012:role/aws-opsworks-service-role',
  defaultInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role',
  customCookbooks: { url: 'https://github.com/example/dupsworks-cookbooks.git', revision: 'master' },
  permissions: [{ iamUserArn: 'arn:aws:iam::123456789012:user/alice', allowSsh: true, allowSudo: true, level: 'manage' }],
  awscliVersion: '1.5.1',
};

export interface SpecOptions {
  name?: string;
  zones?: number;
  /** Default ec2. opsworks fills the opsworks section from OPSWORKS_INPUT (and `opsworks`) through withDefaults. */
  manager?: 'ec2' | 'opsworks';
  /** Overrides of OPSWORKS_INPUT (manager opsworks only). */
  opsworks?: Partial<OpsWorksInput>;
  /** Other NAT settings (instanceType, elasticIps, …). */
  nat?: Partial<Omit<Spec['nat'], 'manager'>>;
}

export function makeSpec(options: SpecOptions = {}): Spec {
  const spec: Spec = {
    name: options.name ?? 'test-stack',
    region: REGION,
    vpc: { name: 'TestVPC', cidr: '10.0.0.0/16' },
    zones: ZONES.slice(0, options.zones ?? 2),
    nat: { manager: options.manager ?? 'ec2', instanceType: 't3.micro', ...options.nat },
  };
  if (spec.nat.manager !== 'opsworks') return spec;
  return withDefaults({ ...spec, opsworks: { ...OPSWORKS_INPUT, ...options.opsworks } });
}

/** The spec as YAML, for tests that run the CLI. */
export function specYaml(spec: Spec): string {
  const zones = spec.zones
    .map(
      (z) => `  - availabilityZone: ${z.availabilityZone}
    publicSubnet: ${z.publicSubnet}
    privateSubnet: ${z.privateSubnet}
    heartbeat:
      viaPeer: ${z.heartbeat.viaPeer}
      viaInternetGateway: ${z.heartbeat.viaInternetGateway}`,
    )
    .join('\n');
  return `name: ${spec.name}
region: ${spec.region}
vpc:
  name: ${spec.vpc.name}
  cidr: ${spec.vpc.cidr}
zones:
${zones}
nat:
  manager: ${spec.nat.manager}
  instanceType: ${spec.nat.instanceType}
${spec.nat.elasticIps !== undefined ? `  elasticIps: ${JSON.stringify(spec.nat.elasticIps)}\n` : ''}${spec.opsworks ? toYaml({ opsworks: spec.opsworks }) : ''}`;
}

export function makeEngine(spec: Spec, endpoint: string, options: Partial<EngineOptions> = {}): Engine {
  return new Engine({
    spec,
    io: new RecordingHost(),
    endpointUrl: endpoint,
    retryTimeoutSeconds: 30,
    instanceWaitSeconds: 60,
    // A rollout waits for the watchers' word (test/support/watchers.ts stands in for the agents
    // against moto, where no user data runs; the lab runs the real ones): read it often, and give up
    // sooner than 300 s.
    readyPollSeconds: 0.5,
    readyTimeoutSeconds: 30,
    ...options,
  });
}

/** Fails with the rendered plan, so a failing test says what was left to do. */
export function assertNoChanges(plan: Plan, message = 'a fresh plan after apply should show no changes'): void {
  const pending = plan.changes.filter((c) => c.action !== 'no-op');
  assert.equal(pending.length, 0, `${message}:\n${renderPlan(plan)}`);
}

export function assertApplied(result: ApplyResult): void {
  const bad = result.outcomes.filter((o) => o.status !== 'done');
  assert.ok(
    result.ok,
    `apply did not complete:\n${bad.map((o) => `  ${o.id} ${o.operation}: ${o.status} ${o.error?.message ?? o.because ?? ''}`).join('\n')}`,
  );
}

/** The acceptance rule: apply the plan, then a fresh plan shows no changes. Returns the plan applied. */
export async function converge(engine: Engine): Promise<Plan> {
  const plan = await engine.plan();
  assertApplied(await engine.apply(plan));
  assertNoChanges(await engine.plan());
  return plan;
}

export function ec2Client(endpoint: string): EC2Client {
  return new EC2Client({ region: REGION, endpoint });
}

export function tagValue(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

export function byResource(stack: string, logicalId: string): Filter[] {
  return [
    { Name: 'tag:dupsworks:stack', Values: [stack] },
    { Name: 'tag:dupsworks:resource', Values: [logicalId] },
  ];
}

export async function instancesOf(ec2: EC2Client, filters: Filter[]): Promise<Instance[]> {
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: filters }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** The live (not terminated, not shutting down) instance of a NAT; fails unless exactly one. */
export async function liveNat(ec2: EC2Client, stack: string, az: string): Promise<Instance> {
  const live = (await instancesOf(ec2, byResource(stack, `nat/${az}`))).filter(
    (i) => !['terminated', 'shutting-down'].includes(i.State!.Name!),
  );
  assert.equal(
    live.length,
    1,
    `expected one live instance for nat/${az}, found ${live.map((i) => `${i.InstanceId} (${i.State?.Name})`).join(', ') || 'none'}`,
  );
  return live[0]!;
}

/** The NAT of `az` dies behind the engine's back: its instance terminated. Returns it as it was. */
export async function killNat(ec2: EC2Client, stack: string, az: string): Promise<Instance> {
  const nat = await liveNat(ec2, stack, az);
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
  return nat;
}
