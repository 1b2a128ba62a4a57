// `npm run bench`: API calls and wall time of the engine's plans and applies, against a private
// moto_server behind the counting proxy, for 2 and 3 zones, in both NAT modes:
//
//   ec2        the NATs are plain EC2 instances
//   opsworks   the NATs are instances of an OpsWorks stack, in the OpsWorks emulator (started
//              in-process with short delays, behind a counting proxy of its own, launching its
//              instances in the same moto); the engine polls it every few milliseconds, so the
//              figures measure the engine rather than the emulator's delays
//
// Scenarios:
//
//   no-op plan   the stack already built, `engine.plan()` with nothing to do
//   floor        the reads a no-op plan makes (EC2's Describe calls, IAM's Get calls), sent directly with plain SDK clients, as
//                concurrently as the engine sends them: what a no-op plan cannot go below
//   status       `dupsworks status`: a no-op plan read into the live stack and rendered as text
//   graph svg    `dupsworks graph --format svg`: the same read, drawn by Graphviz (WebAssembly)
//   build        from empty: `engine.plan()` then `engine.apply(plan)`
//   heal         a NAT's EC2 instance terminated (untimed), then plan + apply
//   lock         taking and releasing the stack's lock (DynamoDB PutItem + DeleteItem), once per
//                apply or destroy; measured in the ec2 mode only (it does not depend on the mode)
//   no-op apply  `engine.run` of an apply with nothing to do (what a periodic apply costs when
//                all is well), with the lock and with --lock=false, alternately: the lock's share
//   reconcile round  one round of the reconcile loop with nothing to do: the spec file read and
//                checked again, the lock, the plan, the policy; measured with the no-op applies
//
// And, before moto starts: the cold import of src/topology/index.js (spec -> desired resources,
// which imports every resource kind to name their resources) in fresh Node processes, next to the
// import of the SDK clients the kinds call, which the topology no longer loads. p50/p95 of
// --import-reps runs each, alternating.
//
// And the start-up of --version, --help and validate next to `node -e 0` (bench/startup.ts).
//
// Each measured thing runs once untimed (moto's first calls are slow), then N timed times; the
// no-op plan and the floor are timed alternately, so a noisy machine slows both alike. Calls are
// counted on the first timed run: EC2 calls (with SSM's, on the proxy in front of moto) and
// OpsWorks calls (on the proxy in front of the emulator) apart, and in total. The ratios printed
// are of this one run: compare them, not the milliseconds, across machines.
//
// Goals: a no-op plan makes at most 14 calls (the first bound's 10, the Elastic IPs' read, and
// the NATs' IAM role's three: see GOAL_MAX_CALLS) and takes under 2x the floor's time, in the ec2 mode. The opsworks mode reports
// its figures, and is held only to the < 2x floor.
//
// Options:
//   --verbose             per-action call counts of every scenario
//   --json                the figures as JSON on stdout (progress still goes to stderr)
//   --check               exit 1 when a goal is missed (otherwise a miss is reported, exit 0)
//   --reps N              timed runs of the no-op plan and the floor (default 20)
//   --build-reps N        timed runs of builds and heals (default 3)
//   --import-reps N       fresh processes per cold import measured (default 10)
//   --zones 2,3           the zone counts to measure (default 2,3)
//   --managers ec2,opsworks  the NAT modes to measure (default both)
//   --startup-reps N      fresh processes per start-up measured (default 10; see startup.ts)
//   --spec-reps N         timed runs of `dupsworks validate` on each hostile spec (default 3; see spec-input.ts)
//   --lab                 instead: how fast the VPC lab follows the emulator (root; bench/lab.ts),
//                         --reps route changes each way
//   --failover            instead: how fast the NATs' agents restore a zone's egress, and that
//                         they leave it alone on a split or on loss (root; bench/failover.ts)
//   --trials N            trials per fault of --failover (default 20)
//   --loss-minutes N      minutes of random loss of --failover (default 1; the 5 of the issue are the soak test's)
//
// Exit status: 0 measured (goals met or not), 1 a goal missed under --check, 2 the bench failed.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInternetGatewaysCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  EC2Client,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
} from '@aws-sdk/client-ec2';
import {
  DescribeDeploymentsCommand,
  DescribeInstancesCommand as DescribeOpsWorksInstancesCommand,
  DescribeLayersCommand,
  DescribePermissionsCommand,
  DescribeStacksCommand,
  ListTagsCommand,
  OpsWorksClient,
  type Stack,
} from '@aws-sdk/client-opsworks';

import { GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient } from '@aws-sdk/client-iam';
import type { Engine } from '../src/engine.js';
import { iamRole } from '../src/resources/iam-role.js';
import { failoverBench, failoverReport } from './failover.js';
import { labBench, labReport } from './lab.js';
import type { IoHost } from '../src/io.js';
import { Reconciler } from '../src/reconcile/loop.js';
import { STACK_TAG } from '../src/aws/tags.js';
import { startOpsWorksEmulator, type OpsWorksEmulator } from '../src/emulator/opsworks/index.js';
import { toDot, topologyGraph } from '../src/live/graph.js';
import { liveStack } from '../src/live/stack.js';
import { renderStatus } from '../src/live/status.js';
import { dotToSvg } from '../src/live/svg.js';
import { hasChanges, type Plan } from '../src/planner/plan.js';
import { natInstance } from '../src/resources/nat-instance.js';
import { opsworksInstance } from '../src/resources/opsworks-instance.js';
import { renderPlan } from '../src/planner/render.js';
import { benchSpecInput, specInputReport } from './spec-input.js';
import { benchStartup, startupGoals, startupReport } from './startup.js';
import { median, percentile, table } from './stats.js';
import { loadSpecFile } from '../src/spec/load.js';
import type { Spec } from '../src/spec/types.js';
import { startAwsProxy, type AwsProxy } from '../test/support/aws-proxy.js';
import { ROOT } from '../test/support/cli.js';
import { startMoto, type Moto } from '../test/support/moto.js';
import { REGION, assertApplied, assertNoChanges, ec2Client, liveNat, makeEngine, makeSpec, specYaml } from '../test/support/stack.js';

// The SDK reads credentials when it first sends, so setting them here (after the imports) is in time.
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * The goals for a no-op plan (ec2 mode; the opsworks mode is held to the floor ratio only). The
 * first bound was 10 calls, all EC2. It is 11 EC2 calls since every plan also reads the region's
 * Elastic IPs (DescribeAddresses, sent alongside the other reads): an address of the stack that no
 * NAT holds (its NAT terminated by hand, an apply interrupted while nat.elasticIps is being turned
 * off) is found only there, and a plan that skipped the read when the spec has no elasticIps would
 * leave it allocated, and billed, without a word. And 3 IAM calls more since the NATs' agent has a
 * role the stack makes (GetRole, GetRolePolicy, GetInstanceProfile, in the same round): IAM lists
 * no tags, so the role is found by name, and a plan must see one an earlier apply made even when
 * the spec now brings nat.instanceProfileArn (to delete it).
 */
const GOAL_MAX_CALLS = 11 + 3;
const GOAL_MAX_FLOOR_RATIO = 2;

/** The OpsWorks emulator's delays and the engine's polling in opsworks mode: short, so the engine is measured. */
const OPSWORKS_DELAYS = { stepMs: 20, securityGroupsMs: 50, deploymentMs: 20 };
const OPSWORKS_POLL_INTERVAL_MS = 20;
/** The OpsWorks settings (layers, cookbooks, permissions…) of the opsworks-mode spec; its zones are the bench's. */
const OPSWORKS_EXAMPLE = join(ROOT, 'examples/ha-nat-opsworks.yaml');

type Manager = 'ec2' | 'opsworks';
const MANAGERS: readonly Manager[] = ['ec2', 'opsworks'];

interface Options {
  verbose: boolean;
  json: boolean;
  check: boolean;
  reps: number;
  buildReps: number;
  importReps: number;
  zones: number[];
  managers: Manager[];
  specReps: number;
  startupReps: number;
  lab: boolean;
  failover: boolean;
  trials: number;
  lossMinutes: number;
}

type Scenario =
  'no-op plan' | 'floor' | 'status' | 'graph svg' | 'build' | 'heal' | 'lock' | 'no-op apply' | 'no-op apply, no lock' | 'reconcile round';

type Service = 'ec2' | 'opsworks';

interface Figures {
  manager: Manager;
  scenario: Scenario;
  zones: number;
  /** API calls of the first timed run, all services. */
  calls: number;
  /** The same, by service: EC2 (with SSM: both go to moto) and OpsWorks. */
  ec2Calls: number;
  opsworksCalls: number;
  /** By action; OpsWorks actions are prefixed "OpsWorks.". */
  byAction: Record<string, number>;
  /** Fewest and most calls over the timed runs (equal unless something polls or retries). */
  callsRange: [number, number];
  medianMs: number;
  p90Ms: number;
  p95Ms: number;
  samplesMs: number[];
}

interface Subject {
  scenario: Scenario;
  /** Untimed preparation before each run (reset, build, damage). */
  prepare?: () => Promise<void>;
  /** The timed part. */
  run: () => Promise<void>;
  /** Untimed check after each run that the thing measured did what it should. */
  verify?: () => Promise<void>;
}

/** A counting proxy and the service whose calls it counts. */
interface Counter {
  service: Service;
  proxy: AwsProxy;
}

/** A bad command line: said in one line, without a stack. */
class UsageError extends Error {}

function parseOptions(): Options {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        verbose: { type: 'boolean', short: 'v', default: false },
        json: { type: 'boolean', default: false },
        check: { type: 'boolean', default: false },
        reps: { type: 'string', default: '20' },
        'build-reps': { type: 'string', default: '3' },
        'import-reps': { type: 'string', default: '10' },
        zones: { type: 'string', default: '2,3' },
        managers: { type: 'string', default: MANAGERS.join(',') },
        'spec-reps': { type: 'string', default: '3' },
        'startup-reps': { type: 'string', default: '10' },
        lab: { type: 'boolean', default: false },
        failover: { type: 'boolean', default: false },
        trials: { type: 'string', default: '20' },
        'loss-minutes': { type: 'string', default: '1' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  const count = (name: string, text: string, min: number, max = Infinity): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new UsageError(
        `--${name} wants ${max === Infinity ? `an integer of at least ${min}` : `integers from ${min} to ${max}`}, not "${text}"`,
      );
    }
    return n;
  };
  const managers = [
    ...new Set(
      values.managers!.split(',').map((m) => {
        const manager = m.trim();
        if (!(MANAGERS as readonly string[]).includes(manager)) {
          throw new UsageError(`--managers wants a comma-separated list of ${MANAGERS.join(', ')}, not "${manager}"`);
        }
        return manager as Manager;
      }),
    ),
  ];
  return {
    verbose: values.verbose!,
    json: values.json!,
    check: values.check!,
    reps: count('reps', values.reps!, 1),
    buildReps: count('build-reps', values['build-reps']!, 1),
    importReps: count('import-reps', values['import-reps']!, 1),
    zones: values.zones!.split(',').map((z) => count('zones', z.trim(), 1, 3)),
    managers: MANAGERS.filter((m) => managers.includes(m)),
    specReps: count('spec-reps', values['spec-reps']!, 1),
    startupReps: count('startup-reps', values['startup-reps']!, 1),
    lab: values.lab!,
    failover: values.failover!,
    trials: count('trials', values.trials!, 1),
    lossMinutes: count('loss-minutes', values['loss-minutes']!, 1),
  };
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

const sum = (calls: Map<string, number>) => [...calls.values()].reduce((a, b) => a + b, 0);

/** The calls every counter saw since its last reset, by service. */
function callsOf(counters: Counter[]): Map<Service, Map<string, number>> {
  return new Map(counters.map((c) => [c.service, c.proxy.calls()]));
}

const totalOf = (calls: Map<Service, Map<string, number>>) => [...calls.values()].reduce((a, m) => a + sum(m), 0);

/**
 * One untimed run of each subject, then `reps` timed rounds in which every subject runs once, in
 * turn. Calls are counted on the first timed run of each.
 */
async function measure(manager: Manager, counters: Counter[], zones: number, reps: number, subjects: Subject[]): Promise<Figures[]> {
  for (const s of subjects) {
    await s.prepare?.();
    await s.run();
    await s.verify?.();
  }
  const samples = subjects.map(() => [] as number[]);
  const counts = subjects.map(() => [] as Map<Service, Map<string, number>>[]);
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, s] of subjects.entries()) {
      await s.prepare?.();
      for (const c of counters) c.proxy.resetCounts();
      const started = performance.now();
      await s.run();
      samples[i]!.push(performance.now() - started);
      counts[i]!.push(callsOf(counters));
      await s.verify?.();
    }
  }
  return subjects.map((s, i) => {
    const sorted = [...samples[i]!].sort((a, b) => a - b);
    const first = counts[i]![0]!;
    const totals = counts[i]!.map(totalOf);
    const byAction = [...(first.get('ec2') ?? new Map<string, number>())].concat(
      [...(first.get('opsworks') ?? new Map<string, number>())].map(([action, n]) => [`OpsWorks.${action}`, n]),
    );
    return {
      manager,
      scenario: s.scenario,
      zones,
      calls: totalOf(first),
      ec2Calls: sum(first.get('ec2') ?? new Map()),
      opsworksCalls: sum(first.get('opsworks') ?? new Map()),
      byAction: Object.fromEntries(byAction.sort(([a], [b]) => a.localeCompare(b))),
      callsRange: [Math.min(...totals), Math.max(...totals)],
      medianMs: round(median(sorted)),
      p90Ms: round(percentile(sorted, 90)),
      p95Ms: round(percentile(sorted, 95)),
      samplesMs: samples[i]!.map(round),
    };
  });
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function expectNoChanges(plan: Plan, what: string): void {
  if (hasChanges(plan)) throw new Error(`${what} should have nothing to do, but plans:\n${renderPlan(plan)}`);
}

/**
 * The EC2 part of the floor: the Describe calls of a no-op plan, made directly, each once, as
 * concurrently as the engine makes them (the kinds observe at once; the VPC attributes need the
 * VPC ids, the instance statuses the running instances' ids, the interfaces in the stack's groups
 * the groups' ids). Mirrors src/aws/snapshot.ts and the
 * kinds' observe(); keep them in step if the engine's reads change. `instances` is the stack-tag
 * listing of instances, for the OpsWorks part to use.
 */
function ec2Floor(ec2: EC2Client, stack: string): { done: Promise<unknown>; instances: Promise<Instance[]> } {
  const Filters: Filter[] = [{ Name: `tag:${STACK_TAG}`, Values: [stack] }];
  const vpcs = async () => {
    const out = await ec2.send(new DescribeVpcsCommand({ Filters }));
    await Promise.all(
      (out.Vpcs ?? []).flatMap((v) => [
        ec2.send(new DescribeVpcAttributeCommand({ VpcId: v.VpcId!, Attribute: 'enableDnsSupport' })),
        ec2.send(new DescribeVpcAttributeCommand({ VpcId: v.VpcId!, Attribute: 'enableDnsHostnames' })),
      ]),
    );
  };
  const instances = (async () => {
    const out = await ec2.send(new DescribeInstancesCommand({ Filters }));
    return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
  })();
  const statuses = async () => {
    const running = (await instances).filter((i) => i.State?.Name === 'running').map((i) => i.InstanceId!);
    if (running.length > 0) await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: running }));
  };
  // The inventory looks for instances in the stack's groups that lost the stack's tag.
  const groups = async () => {
    const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters }));
    const ids = (out.SecurityGroups ?? []).map((g) => g.GroupId!);
    if (ids.length > 0) await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: ids }] }));
  };
  const done = Promise.all([
    vpcs(),
    ec2.send(new DescribeInternetGatewaysCommand({ Filters })),
    ec2.send(new DescribeSubnetsCommand({ Filters })),
    ec2.send(new DescribeRouteTablesCommand({ Filters })),
    groups(),
    // Unfiltered, as the snapshot reads it: addresses to reuse carry no tag of the stack.
    ec2.send(new DescribeAddressesCommand({})),
    statuses(),
  ]);
  return { done, instances };
}

/**
 * The floor of the ec2 mode: the EC2 part, and at once the IAM reads of the NATs' role, its inline
 * policy and its instance profile (src/aws/iam-snapshot.ts, one round: they do not wait on each other).
 */
async function floor(ec2: EC2Client, iam: IAMClient, stack: string): Promise<void> {
  const name = iamRole.nameOf(stack, REGION, 'nat');
  const absent = (e: unknown) => {
    if ((e as { name?: string }).name !== 'NoSuchEntityException') throw e;
  };
  await Promise.all([
    ec2Floor(ec2, stack).done,
    iam.send(new GetRoleCommand({ RoleName: name })).catch(absent),
    iam.send(new GetRolePolicyCommand({ RoleName: name, PolicyName: 'dupsworks-nat' })).catch(absent),
    iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })).catch(absent),
  ]);
}

/**
 * The floor of the opsworks mode: the EC2 floor, and at once the OpsWorks reads of
 * src/aws/opsworks-snapshot.ts (DescribeStacks, then ListTags of each stack of that name, then per
 * stack of ours DescribeLayers, DescribeInstances, DescribePermissions and DescribeDeployments),
 * and the EC2 instances of the OpsWorks instances the stack-tag listing lacks (Snapshot's
 * instancesByIds: none when they all carry the stack's tag, as the OpsWorks stack's tags go to
 * its instances).
 */
async function opsworksFloor(ec2: EC2Client, opsworks: OpsWorksClient, stack: string): Promise<void> {
  const reads = ec2Floor(ec2, stack);
  const stacks = (async (): Promise<Stack[]> => {
    const named = ((await opsworks.send(new DescribeStacksCommand({}))).Stacks ?? []).filter((s) => s.Name === stack);
    const tags = await Promise.all(named.map((s) => opsworks.send(new ListTagsCommand({ ResourceArn: s.Arn! }))));
    return named.filter((_, i) => tags[i]!.Tags?.[STACK_TAG] === stack);
  })();
  const perStack = async <T>(read: (StackId: string) => Promise<T>): Promise<T[]> =>
    Promise.all((await stacks).map((s) => read(s.StackId!)));
  const ec2OfInstances = async () => {
    const [described, tagged] = await Promise.all([
      perStack((StackId) => opsworks.send(new DescribeOpsWorksInstancesCommand({ StackId }))),
      reads.instances,
    ]);
    const ids = described.flatMap((d) => d.Instances ?? []).flatMap((i) => i.Ec2InstanceId ?? []);
    const missing = [...new Set(ids)].filter((id) => !tagged.some((i) => i.InstanceId === id));
    if (missing.length > 0) await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: missing }] }));
  };
  await Promise.all([
    reads.done,
    ec2OfInstances(),
    perStack((StackId) => opsworks.send(new DescribeLayersCommand({ StackId }))),
    perStack((StackId) => opsworks.send(new DescribePermissionsCommand({ StackId }))),
    perStack((StackId) => opsworks.send(new DescribeDeploymentsCommand({ StackId }))),
  ]);
}

async function build(engine: Engine): Promise<void> {
  assertApplied(await engine.apply(await engine.plan()));
}

/** What one NAT mode needs: its spec, its engine, its counters, its floor and its disaster. */
interface Rig {
  manager: Manager;
  counters: Counter[];
  spec(zones: number): Spec;
  engine(spec: Spec, io?: IoHost): Engine;
  /** Wipes the world: moto, and the OpsWorks emulator first (so nothing it had under way reaches the new moto). */
  reset(): Promise<void>;
  floor(spec: Spec): Promise<void>;
  /** The NAT of a zone dies: its EC2 instance terminated behind the engine's back (uncounted). */
  kill(spec: Spec, az: string): Promise<void>;
  /** The logical id of the NAT of a zone, which the heal must launch anew. */
  natId(az: string): string;
}

interface World {
  moto: Moto;
  /** The counting proxy in front of moto. */
  proxy: AwsProxy;
  /** Straight to moto, to damage and inspect: not counted. */
  direct: EC2Client;
  /** Through the proxy, for the floor: counted. */
  viaProxy: EC2Client;
  /** IAM through the proxy, for the floor: counted. */
  iamViaProxy: IAMClient;
}

function ec2Rig(world: World): Rig {
  return {
    manager: 'ec2',
    counters: [{ service: 'ec2', proxy: world.proxy }],
    spec: (zones) => makeSpec({ zones }),
    engine: (spec, io) => makeEngine(spec, world.proxy.endpoint, io ? { io } : {}),
    reset: () => world.moto.reset(),
    floor: (spec) => floor(world.viaProxy, world.iamViaProxy, spec.name),
    kill: async (spec, az) => {
      const nat = await liveNat(world.direct, spec.name, az);
      await world.direct.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    },
    natId: (az) => natInstance.ids.id({ availabilityZone: az }),
  };
}

interface OpsWorksWorld {
  emulator: OpsWorksEmulator;
  /** The counting proxy in front of the emulator. */
  proxy: AwsProxy;
  /** Straight to the emulator, to find a NAT's EC2 instance: not counted. */
  direct: OpsWorksClient;
  /** Through the proxy, for the floor: counted. */
  viaProxy: OpsWorksClient;
  /** The OpsWorks settings of examples/ha-nat-opsworks.yaml. */
  example: Spec;
}

function opsworksRig(world: World, ow: OpsWorksWorld): Rig {
  return {
    manager: 'opsworks',
    counters: [
      { service: 'ec2', proxy: world.proxy },
      { service: 'opsworks', proxy: ow.proxy },
    ],
    spec: (zones) => ({ ...makeSpec({ zones }), nat: ow.example.nat, opsworks: ow.example.opsworks }),
    engine: (spec) =>
      makeEngine(spec, world.proxy.endpoint, { opsworksEndpointUrl: ow.proxy.endpoint, pollIntervalMs: OPSWORKS_POLL_INTERVAL_MS }),
    reset: async () => {
      ow.emulator.reset();
      await world.moto.reset();
    },
    floor: (spec) => opsworksFloor(world.viaProxy, ow.viaProxy, spec.name),
    kill: async (spec, az) => {
      const stack = ((await ow.direct.send(new DescribeStacksCommand({}))).Stacks ?? []).find((s) => s.Name === spec.name);
      const instances = stack
        ? ((await ow.direct.send(new DescribeOpsWorksInstancesCommand({ StackId: stack.StackId! }))).Instances ?? [])
        : [];
      const nat = instances.find((i) => i.Hostname === `nat-${az}`);
      if (!nat?.Ec2InstanceId) throw new Error(`no OpsWorks instance nat-${az} with an EC2 instance in stack ${spec.name}`);
      await world.direct.send(new TerminateInstancesCommand({ InstanceIds: [nat.Ec2InstanceId] }));
    },
    natId: (az) => opsworksInstance.ids.id({ hostname: `nat-${az}` }),
  };
}

async function benchZones(rig: Rig, zones: number, options: Options): Promise<Figures[]> {
  const spec = rig.spec(zones);
  const engine = rig.engine(spec);
  const figures: Figures[] = [];
  const converged = async () => assertNoChanges(await engine.plan(), `after apply (${rig.manager}, ${zones} zones)`);
  const measured = (reps: number, subjects: Subject[]) => measure(rig.manager, rig.counters, zones, reps, subjects);
  const what = `${rig.manager}, ${zones} zones`;

  // Build from empty: the world wiped before each run.
  await rig.reset();
  progress(`  build from empty, ${what}: 1 + ${options.buildReps} runs`);
  figures.push(
    ...(await measured(options.buildReps, [
      { scenario: 'build', prepare: () => rig.reset(), run: () => build(engine), verify: converged },
    ])),
  );

  // No-op plan and floor, alternately, on the stack the last build left; with them, status and
  // graph --format svg (a plan read and rendered), to see what the rendering adds to the read.
  progress(`  no-op plan, floor, status and graph svg, ${what}: 1 + ${options.reps} runs each, alternating`);
  let last: Plan | undefined;
  let svg = '';
  figures.push(
    ...(await measured(options.reps, [
      {
        scenario: 'no-op plan',
        run: async () => {
          last = await engine.plan();
        },
        verify: async () => expectNoChanges(last!, `the no-op plan (${what})`),
      },
      { scenario: 'floor', run: () => rig.floor(spec) },
      { scenario: 'status', run: async () => void renderStatus(liveStack(spec, await engine.plan())) },
      {
        scenario: 'graph svg',
        run: async () => {
          svg = await dotToSvg(toDot(topologyGraph(liveStack(spec, await engine.plan()))));
        },
        verify: async () => {
          if (!svg.includes('</svg>')) throw new Error(`graph --format svg drew no SVG (${what})`);
        },
      },
    ])),
  );

  // Heal: each run on a freshly built stack whose first zone's NAT just lost its EC2 instance.
  const az = spec.zones[0]!.availabilityZone;
  let plan: Plan | undefined;
  progress(`  heal after a NAT dies, ${what}: 1 + ${options.buildReps} runs`);
  figures.push(
    ...(await measured(options.buildReps, [
      {
        scenario: 'heal',
        prepare: async () => {
          await rig.reset();
          await build(engine);
          await rig.kill(spec, az);
        },
        run: async () => {
          plan = await engine.plan();
          assertApplied(await engine.apply(plan));
        },
        verify: async () => {
          // An EC2 NAT whose instance is terminated is gone: a new one is created. An OpsWorks NAT
          // (the OpsWorks instance) still exists, connection_lost: it is replaced.
          const expected = rig.manager === 'ec2' ? 'create' : 'replace';
          const healed = plan!.changes.find((c) => c.id === rig.natId(az));
          if (healed?.action !== expected) {
            throw new Error(`the heal should ${expected} ${rig.natId(az)}, but plans:\n${renderPlan(plan!)}`);
          }
          await converged();
        },
      },
    ])),
  );

  if (rig.manager === 'ec2') {
    // On the stack the heal left: the lock alone, then whole no-op applies with and without it.
    progress(`  the stack lock, ${what}: 1 + ${options.reps} runs each, alternating`);
    const run = (lock: boolean) => async () => {
      const report = await engine.run({ operation: 'apply', lock: lock ? { waitSeconds: 0 } : false, autoApprove: true });
      if (report.result) throw new Error(`a no-op apply applied something:\n${renderPlan(report.plan!)}`);
    };
    // A reconcile loop's round, the spec read from its file each time, as the command does.
    const dir = await mkdtemp(join(tmpdir(), 'dupsworks-bench-'));
    const file = join(dir, 'stack.yaml');
    await writeFile(file, specYaml(spec));
    let outcome: string | undefined;
    const reconciler = new Reconciler({
      spec,
      readSpec: async () => {
        const loaded = await loadSpecFile(file);
        return loaded.ok ? loaded : { ok: false, problems: loaded.problems.map((p) => p.message) };
      },
      engine: (s, io) => rig.engine(s, io),
      log: () => {},
      everySeconds: 60,
      allowed: { replace: false, destroy: false },
    });
    figures.push(
      ...(await measured(options.reps, [
        { scenario: 'lock', run: async () => (await engine.lock('apply', { waitSeconds: 0 })).release() },
        { scenario: 'no-op apply', run: run(true) },
        { scenario: 'no-op apply, no lock', run: run(false) },
        {
          scenario: 'reconcile round',
          run: async () => {
            outcome = (await reconciler.round()).outcome;
          },
          verify: async () => {
            if (outcome !== 'converged') throw new Error(`a reconcile round on a converged stack came to ${outcome}`);
          },
        },
      ])),
    );
    await rm(dir, { recursive: true });
  }
  return figures;
}

interface Goal {
  manager: Manager;
  goal: string;
  zones: number;
  measured: number;
  limit: number;
  pass: boolean;
}

function goals(figures: Figures[], managers: Manager[], zones: number[]): Goal[] {
  const find = (manager: Manager, scenario: Scenario, z: number) =>
    figures.find((f) => f.manager === manager && f.scenario === scenario && f.zones === z)!;
  return managers.flatMap((manager) =>
    zones.flatMap((z): Goal[] => {
      const noop = find(manager, 'no-op plan', z);
      const ratio = Math.round((noop.medianMs / find(manager, 'floor', z).medianMs) * 100) / 100;
      const time: Goal = {
        manager,
        goal: 'no-op plan time / floor time (medians)',
        zones: z,
        measured: ratio,
        limit: GOAL_MAX_FLOOR_RATIO,
        pass: ratio < GOAL_MAX_FLOOR_RATIO,
      };
      if (manager !== 'ec2') return [time];
      const calls: Goal = {
        manager,
        goal: 'no-op plan calls',
        zones: z,
        measured: noop.calls,
        limit: GOAL_MAX_CALLS,
        pass: noop.callsRange[1] <= GOAL_MAX_CALLS,
      };
      return [calls, time];
    }),
  );
}

const zonesText = (z: number) => `${z} zone${z === 1 ? '' : 's'}`;

function report(figures: Figures[], results: Goal[], options: Options, elapsedMs: number): string {
  const order: Scenario[] = [
    'no-op plan',
    'floor',
    'status',
    'graph svg',
    'build',
    'heal',
    'lock',
    'no-op apply',
    'no-op apply, no lock',
    'reconcile round',
  ];
  const sorted = [...figures].sort(
    (a, b) =>
      MANAGERS.indexOf(a.manager) - MANAGERS.indexOf(b.manager) ||
      order.indexOf(a.scenario) - order.indexOf(b.scenario) ||
      a.zones - b.zones,
  );
  const rows = [['manager', 'scenario', 'zones', 'ec2', 'opsworks', 'calls', 'median ms', 'p90 ms', 'p95 ms', 'runs']];
  for (const f of sorted) {
    const calls = f.callsRange[0] === f.callsRange[1] ? String(f.calls) : `${f.calls} (${f.callsRange[0]}-${f.callsRange[1]})`;
    rows.push([
      f.manager,
      f.scenario,
      String(f.zones),
      String(f.ec2Calls),
      f.manager === 'ec2' ? '-' : String(f.opsworksCalls),
      calls,
      f.medianMs.toFixed(1),
      f.p90Ms.toFixed(1),
      f.p95Ms.toFixed(1),
      String(f.samplesMs.length),
    ]);
  }
  const out = [table(rows, 2)];
  out.push(
    '',
    'Calls of the first timed run: ec2 (EC2, SSM for the default AMI and DynamoDB for the lock: all sent to moto), opsworks, and in all (range over the timed runs when they differ).',
  );
  if (options.managers.includes('opsworks')) {
    out.push(
      `OpsWorks mode: emulator in-process with delays step ${OPSWORKS_DELAYS.stepMs} ms, security groups ${OPSWORKS_DELAYS.securityGroupsMs} ms, ` +
        `deployment ${OPSWORKS_DELAYS.deploymentMs} ms; the engine polls OpsWorks every ${OPSWORKS_POLL_INTERVAL_MS} ms (build and heal include these waits).`,
    );
  }
  for (const z of options.managers.includes('ec2') ? options.zones : []) {
    const find = (scenario: Scenario) => figures.find((f) => f.manager === 'ec2' && f.scenario === scenario && f.zones === z)!;
    const [lock, locked, unlocked] = [find('lock'), find('no-op apply'), find('no-op apply, no lock')];
    out.push(
      `The lock, ${zonesText(z)}: ${lock.calls} calls (${Object.keys(lock.byAction).join(' + ')}), p50 ${lock.medianMs.toFixed(1)} ms, ` +
        `p95 ${lock.p95Ms.toFixed(1)} ms per apply; a no-op apply makes ${locked.calls} calls with it, ${unlocked.calls} without, ` +
        `and takes ${(locked.medianMs / unlocked.medianMs).toFixed(2)}x the time (p50 ${locked.medianMs.toFixed(1)} vs ${unlocked.medianMs.toFixed(1)} ms).`,
    );
    for (const scenario of ['status', 'graph svg'] as const) {
      const [shown, read] = [find(scenario), find('no-op plan')];
      out.push(
        `${scenario === 'status' ? 'status' : 'graph --format svg'}, ${zonesText(z)}: ${shown.calls} calls (a no-op plan's: ${read.calls}), ` +
          `p50 ${shown.medianMs.toFixed(1)} ms, p95 ${shown.p95Ms.toFixed(1)} ms; ${(shown.medianMs / read.medianMs).toFixed(2)}x a no-op plan's p50.`,
      );
    }
    const [round, plan] = [find('reconcile round'), find('no-op plan')];
    out.push(
      `A reconcile round with nothing to do, ${zonesText(z)}: ${round.calls} calls (a no-op plan's ${plan.calls} + ` +
        `${Object.entries(round.byAction)
          .filter(([action, n]) => (plan.byAction[action] ?? 0) < n)
          .map(([action, n]) => `${n - (plan.byAction[action] ?? 0)} ${action}`)
          .join(' + ')}), p50 ${round.medianMs.toFixed(1)} ms, p95 ${round.p95Ms.toFixed(1)} ms; ` +
        `${(round.medianMs / plan.medianMs).toFixed(2)}x a no-op plan's p50 (${plan.medianMs.toFixed(1)} ms, p95 ${plan.p95Ms.toFixed(1)} ms).`,
    );
  }
  if (options.verbose) {
    out.push('', 'Calls by action (first timed run):');
    for (const f of sorted) {
      out.push(`  ${f.manager}, ${f.scenario}, ${zonesText(f.zones)}: ${f.calls}`);
      for (const [action, n] of Object.entries(f.byAction)) out.push(`    ${String(n).padStart(4)}  ${action}`);
    }
  }
  const line = (g: Goal) => {
    const limit = g.goal.includes('time') ? `< ${g.limit}` : `<= ${g.limit}`;
    const measured = g.goal.includes('time') ? g.measured.toFixed(2) : String(g.measured);
    return `  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}, ${zonesText(g.zones)}: ${measured} (goal ${limit})`;
  };
  const noopCallsNote = (manager: Manager) => {
    const noopCalls = new Set(figures.filter((f) => f.manager === manager && f.scenario === 'no-op plan').map((f) => f.calls));
    if (noopCalls.size > 1) out.push(`  note: the no-op plan's calls depend on the number of zones (${[...noopCalls].join(' vs ')})`);
  };
  if (options.managers.includes('ec2')) {
    out.push(
      '',
      `Goals, ec2 mode (a no-op plan makes at most ${GOAL_MAX_CALLS} calls whatever the number of zones, and takes under 2x the floor's time):`,
    );
    for (const g of results.filter((r) => r.manager === 'ec2')) out.push(line(g));
    noopCallsNote('ec2');
  }
  if (options.managers.includes('opsworks')) {
    out.push('', "OpsWorks mode (no call goal; a no-op plan should take under 2x the floor's time):");
    for (const z of options.zones) {
      const noop = figures.find((f) => f.manager === 'opsworks' && f.scenario === 'no-op plan' && f.zones === z)!;
      const fl = figures.find((f) => f.manager === 'opsworks' && f.scenario === 'floor' && f.zones === z)!;
      out.push(
        `        no-op plan calls, ${zonesText(z)}: ${noop.calls} (ec2 ${noop.ec2Calls} + opsworks ${noop.opsworksCalls}; ` +
          `floor ${fl.calls} = ec2 ${fl.ec2Calls} + opsworks ${fl.opsworksCalls})`,
      );
    }
    for (const g of results.filter((r) => r.manager === 'opsworks')) out.push(line(g));
    noopCallsNote('opsworks');
  }
  out.push('', `Node ${process.version}, ${elapsedMs < 1000 ? `${elapsedMs} ms` : `${(elapsedMs / 1000).toFixed(1)} s`} in all.`);
  return out.join('\n');
}

interface ImportFigures {
  what: string;
  p50Ms: number;
  p95Ms: number;
  samplesMs: number[];
}

const IMPORTS: [what: string, specifiers: string[]][] = [
  ['the topology (dist/src/topology/index.js)', [pathToFileURL(join(ROOT, 'dist/src/topology/index.js')).href]],
  ['the SDK clients the kinds call (EC2, OpsWorks, SSM)', ['@aws-sdk/client-ec2', '@aws-sdk/client-opsworks', '@aws-sdk/client-ssm']],
];

/** How long the import alone takes in a fresh Node process, each subject in turn, `reps` times. */
async function importTimes(reps: number): Promise<ImportFigures[]> {
  const timeImport = async (specifiers: string[]): Promise<number> => {
    const script = `const t = performance.now(); await Promise.all(${JSON.stringify(specifiers)}.map((s) => import(s))); process.stdout.write(String(performance.now() - t));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    return Number(stdout);
  };
  const samples = IMPORTS.map(() => [] as number[]);
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, [, specifiers]] of IMPORTS.entries()) samples[i]!.push(await timeImport(specifiers));
  }
  return IMPORTS.map(([what], i) => {
    const sorted = [...samples[i]!].sort((a, b) => a - b);
    return { what, p50Ms: round(median(sorted)), p95Ms: round(percentile(sorted, 95)), samplesMs: samples[i]!.map(round) };
  });
}

function importReport(imports: ImportFigures[]): string {
  const [topology, sdk] = imports;
  const rows = [
    ['cold import, fresh process', 'p50 ms', 'p95 ms', 'runs'],
    ...imports.map((f) => [f.what, f.p50Ms.toFixed(1), f.p95Ms.toFixed(1), String(f.samplesMs.length)]),
  ];
  return [
    table(rows, 1),
    `The topology loads no SDK module: its p50 is ${(topology!.p50Ms / sdk!.p50Ms).toFixed(2)}x the SDK clients' (this run).`,
  ].join('\n');
}

async function main(): Promise<number> {
  const options = parseOptions();
  const started = performance.now();
  if (options.failover) {
    const figures = await failoverBench({ trials: options.trials, lossMinutes: options.lossMinutes }, progress);
    const elapsedMs = Math.round(performance.now() - started);
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ node: process.version, elapsedMs, failover: figures }, null, 2)}\n`
        : `${failoverReport(figures)}The bench took ${(elapsedMs / 60_000).toFixed(1)} min.\n`,
    );
    return 0;
  }
  if (options.lab) {
    const figures = await labBench(options.reps, progress);
    const elapsedMs = Math.round(performance.now() - started);
    process.stdout.write(
      options.json ? `${JSON.stringify({ node: process.version, elapsedMs, lab: figures }, null, 2)}\n` : labReport(figures),
    );
    return 0;
  }
  const wantsOpsWorks = options.managers.includes('opsworks');
  const world: Partial<World> = {};
  const ow: Partial<OpsWorksWorld> = {};
  try {
    progress(`cold imports: ${options.importReps} fresh processes each, alternating`);
    const imports = await importTimes(options.importReps);
    const startup = await benchStartup(options.startupReps, progress);
    const startupResults = startupGoals(startup);
    progress(`starting moto_server${wantsOpsWorks ? ', the OpsWorks emulator' : ''} and the counting prox${wantsOpsWorks ? 'ies' : 'y'}…`);
    world.moto = await startMoto();
    world.proxy = await startAwsProxy({ target: world.moto.endpoint });
    world.direct = ec2Client(world.moto.endpoint);
    world.viaProxy = new EC2Client({ region: REGION, endpoint: world.proxy.endpoint });
    world.iamViaProxy = new IAMClient({ region: REGION, endpoint: world.proxy.endpoint });
    const rigs: Rig[] = [];
    if (options.managers.includes('ec2')) rigs.push(ec2Rig(world as World));
    if (wantsOpsWorks) {
      const loaded = await loadSpecFile(OPSWORKS_EXAMPLE);
      if (!loaded.ok) throw new Error(`${OPSWORKS_EXAMPLE} is not a valid spec: ${loaded.problems.map((p) => p.message).join('; ')}`);
      ow.example = loaded.spec;
      ow.emulator = await startOpsWorksEmulator({ ec2Endpoint: world.moto.endpoint, delays: OPSWORKS_DELAYS });
      ow.proxy = await startAwsProxy({ target: ow.emulator.endpoint });
      ow.direct = new OpsWorksClient({ region: REGION, endpoint: ow.emulator.endpoint });
      ow.viaProxy = new OpsWorksClient({ region: REGION, endpoint: ow.proxy.endpoint });
      rigs.push(opsworksRig(world as World, ow as OpsWorksWorld));
    }
    const figures: Figures[] = [];
    for (const rig of rigs) for (const zones of options.zones) figures.push(...(await benchZones(rig, zones, options)));
    const results = goals(figures, options.managers, options.zones);
    const specInput = await benchSpecInput(options.specReps, progress);
    const elapsedMs = Math.round(performance.now() - started);
    const pass = [...results, ...startupResults].every((g) => g.pass);
    if (options.json) {
      const opsworks = wantsOpsWorks ? { opsworks: { emulatorDelaysMs: OPSWORKS_DELAYS, pollIntervalMs: OPSWORKS_POLL_INTERVAL_MS } } : {};
      process.stdout.write(
        `${JSON.stringify({ node: process.version, elapsedMs, ...opsworks, imports, startup, figures, goals: [...results, ...startupResults], specInput, pass }, null, 2)}\n`,
      );
    } else {
      process.stdout.write(
        `${importReport(imports)}\n\n${startupReport(startup, startupResults)}\n\n${report(figures, results, options, elapsedMs)}\n\n` +
          `${specInputReport(specInput)}\n`,
      );
    }
    return options.check && !pass ? 1 : 0;
  } finally {
    ow.direct?.destroy();
    ow.viaProxy?.destroy();
    await ow.proxy?.stop();
    await ow.emulator?.stop();
    world.direct?.destroy();
    world.viaProxy?.destroy();
    world.iamViaProxy?.destroy();
    await world.proxy?.stop();
    await world.moto?.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) progress(`bench: ${error.message}`);
    else progress(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 2;
  },
);
