// `npm run bench`: API calls and wall time of the engine's plans and applies, against a private
// moto_server behind the counting proxy, for 2 and 3 zones. Scenarios:
//
//   no-op plan   the stack already built, `engine.plan()` with nothing to do
//   floor        the Describe calls a no-op plan makes, sent directly with a plain EC2Client, as
//                concurrently as the engine sends them: what a no-op plan cannot go below
//   build        from empty: `engine.plan()` then `engine.apply(plan)`
//   heal         a NAT instance terminated (untimed), then plan + apply
//
// Each measured thing runs once untimed (moto's first calls are slow), then N timed times; the
// no-op plan and the floor are timed alternately, so a noisy machine slows both alike. Calls are
// counted on the first timed run. The ratios printed are of this one run: compare them, not the
// milliseconds, across machines.
//
// Options:
//   --verbose        per-action call counts of every scenario
//   --json           the figures as JSON on stdout (progress still goes to stderr)
//   --check          exit 1 when a goal is missed (otherwise a miss is reported, exit 0)
//   --reps N         timed runs of the no-op plan and the floor (default 20)
//   --build-reps N   timed runs of builds and heals (default 3)
//   --zones 2,3      the zone counts to measure (default 2,3)
//
// Exit status: 0 measured (goals met or not), 1 a goal missed under --check, 2 the bench failed.

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import {
  DescribeInstancesCommand,
  DescribeInstanceStatusCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  EC2Client,
  TerminateInstancesCommand,
  type Filter,
} from '@aws-sdk/client-ec2';

import type { Engine } from '../src/engine.js';
import { STACK_TAG } from '../src/aws/tags.js';
import { hasChanges, type Plan } from '../src/planner/plan.js';
import { renderPlan } from '../src/planner/render.js';
import { startAwsProxy, type AwsProxy } from '../test/support/aws-proxy.js';
import { startMoto, type Moto } from '../test/support/moto.js';
import { REGION, assertApplied, assertNoChanges, ec2Client, liveNat, makeEngine, makeSpec } from '../test/support/stack.js';

// The SDK reads credentials when it first sends, so setting them here (after the imports) is in time.
process.env.AWS_ACCESS_KEY_ID ??= 'testing';
process.env.AWS_SECRET_ACCESS_KEY ??= 'testing';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** The issue's goals for a no-op plan. */
const GOAL_MAX_CALLS = 10;
const GOAL_MAX_FLOOR_RATIO = 2;

interface Options {
  verbose: boolean;
  json: boolean;
  check: boolean;
  reps: number;
  buildReps: number;
  zones: number[];
}

type Scenario = 'no-op plan' | 'floor' | 'build' | 'heal';

interface Figures {
  scenario: Scenario;
  zones: number;
  /** API calls of the first timed run. */
  calls: number;
  byAction: Record<string, number>;
  /** Fewest and most calls over the timed runs (equal unless something polls or retries). */
  callsRange: [number, number];
  medianMs: number;
  p90Ms: number;
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
        zones: { type: 'string', default: '2,3' },
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
  return {
    verbose: values.verbose!,
    json: values.json!,
    check: values.check!,
    reps: count('reps', values.reps!, 1),
    buildReps: count('build-reps', values['build-reps']!, 1),
    zones: values.zones!.split(',').map((z) => count('zones', z.trim(), 1, 3)),
  };
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

function median(sorted: number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (with 3 runs, p90 is the slowest). */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const total = (calls: Map<string, number>) => [...calls.values()].reduce((a, b) => a + b, 0);

/**
 * One untimed run of each subject, then `reps` timed rounds in which every subject runs once, in
 * turn. Calls are counted on the first timed run of each.
 */
async function measure(proxy: AwsProxy, zones: number, reps: number, subjects: Subject[]): Promise<Figures[]> {
  for (const s of subjects) {
    await s.prepare?.();
    await s.run();
    await s.verify?.();
  }
  const samples = subjects.map(() => [] as number[]);
  const counts = subjects.map(() => [] as Map<string, number>[]);
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, s] of subjects.entries()) {
      await s.prepare?.();
      proxy.resetCounts();
      const started = performance.now();
      await s.run();
      samples[i]!.push(performance.now() - started);
      counts[i]!.push(proxy.calls());
      await s.verify?.();
    }
  }
  return subjects.map((s, i) => {
    const sorted = [...samples[i]!].sort((a, b) => a - b);
    const first = counts[i]![0]!;
    const totals = counts[i]!.map(total);
    return {
      scenario: s.scenario,
      zones,
      calls: total(first),
      byAction: Object.fromEntries([...first.entries()].sort(([a], [b]) => a.localeCompare(b))),
      callsRange: [Math.min(...totals), Math.max(...totals)],
      medianMs: round(median(sorted)),
      p90Ms: round(percentile(sorted, 90)),
      samplesMs: samples[i]!.map(round),
    };
  });
}

const round = (ms: number) => Math.round(ms * 10) / 10;

function expectNoChanges(plan: Plan, what: string): void {
  if (hasChanges(plan)) throw new Error(`${what} should have nothing to do, but plans:\n${renderPlan(plan)}`);
}

/**
 * What a no-op plan cannot go below: its Describe calls, made directly, each once, as concurrently
 * as the engine makes them (the kinds observe at once; the VPC attributes need the VPC ids, the
 * instance statuses the running instances' ids). Mirrors src/aws/snapshot.ts and the kinds'
 * observe(); keep them in step if the engine's reads change.
 */
async function floor(ec2: EC2Client, stack: string): Promise<void> {
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
  const instances = async () => {
    const out = await ec2.send(new DescribeInstancesCommand({ Filters }));
    const running = (out.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .filter((i) => i.State?.Name === 'running')
      .map((i) => i.InstanceId!);
    if (running.length > 0) await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: running }));
  };
  await Promise.all([
    vpcs(),
    ec2.send(new DescribeInternetGatewaysCommand({ Filters })),
    ec2.send(new DescribeSubnetsCommand({ Filters })),
    ec2.send(new DescribeRouteTablesCommand({ Filters })),
    ec2.send(new DescribeSecurityGroupsCommand({ Filters })),
    instances(),
  ]);
}

async function build(engine: Engine): Promise<void> {
  assertApplied(await engine.apply(await engine.plan()));
}

async function benchZones(
  moto: Moto,
  proxy: AwsProxy,
  direct: EC2Client,
  viaProxy: EC2Client,
  zones: number,
  options: Options,
): Promise<Figures[]> {
  const spec = makeSpec({ zones });
  const engine = makeEngine(spec, proxy.endpoint);
  const figures: Figures[] = [];
  const converged = async () => assertNoChanges(await engine.plan(), `after apply (${zones} zones)`);

  // Build from empty: moto wiped before each run.
  await moto.reset();
  progress(`  build from empty, ${zones} zones: 1 + ${options.buildReps} runs`);
  figures.push(
    ...(await measure(proxy, zones, options.buildReps, [
      { scenario: 'build', prepare: () => moto.reset(), run: () => build(engine), verify: converged },
    ])),
  );

  // No-op plan and floor, alternately, on the stack the last build left.
  progress(`  no-op plan and floor, ${zones} zones: 1 + ${options.reps} runs each, alternating`);
  let last: Plan | undefined;
  figures.push(
    ...(await measure(proxy, zones, options.reps, [
      {
        scenario: 'no-op plan',
        run: async () => {
          last = await engine.plan();
        },
        verify: async () => expectNoChanges(last!, `the no-op plan (${zones} zones)`),
      },
      { scenario: 'floor', run: () => floor(viaProxy, spec.name) },
    ])),
  );

  // Heal: each run on a freshly built stack whose first zone's NAT was just terminated.
  const az = spec.zones[0]!.availabilityZone;
  let plan: Plan | undefined;
  progress(`  heal after a NAT dies, ${zones} zones: 1 + ${options.buildReps} runs`);
  figures.push(
    ...(await measure(proxy, zones, options.buildReps, [
      {
        scenario: 'heal',
        prepare: async () => {
          await moto.reset();
          await build(engine);
          const nat = await liveNat(direct, spec.name, az);
          await direct.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
        },
        run: async () => {
          plan = await engine.plan();
          assertApplied(await engine.apply(plan));
        },
        verify: async () => {
          const replaced = plan!.changes.find((c) => c.id === `nat/${az}`);
          if (replaced?.action !== 'replace') throw new Error(`the heal should replace nat/${az}, but plans:\n${renderPlan(plan!)}`);
          await converged();
        },
      },
    ])),
  );
  return figures;
}

interface Goal {
  goal: string;
  zones: number;
  measured: number;
  limit: number;
  pass: boolean;
}

function goals(figures: Figures[], zones: number[]): Goal[] {
  const find = (scenario: Scenario, z: number) => figures.find((f) => f.scenario === scenario && f.zones === z)!;
  return zones.flatMap((z) => {
    const noop = find('no-op plan', z);
    const ratio = Math.round((noop.medianMs / find('floor', z).medianMs) * 100) / 100;
    return [
      { goal: 'no-op plan calls', zones: z, measured: noop.calls, limit: GOAL_MAX_CALLS, pass: noop.callsRange[1] <= GOAL_MAX_CALLS },
      {
        goal: 'no-op plan time / floor time (medians)',
        zones: z,
        measured: ratio,
        limit: GOAL_MAX_FLOOR_RATIO,
        pass: ratio < GOAL_MAX_FLOOR_RATIO,
      },
    ];
  });
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => r.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function report(figures: Figures[], results: Goal[], options: Options, elapsedMs: number): string {
  const order: Scenario[] = ['no-op plan', 'floor', 'build', 'heal'];
  const sorted = [...figures].sort((a, b) => order.indexOf(a.scenario) - order.indexOf(b.scenario) || a.zones - b.zones);
  const rows = [['scenario', 'zones', 'calls', 'median ms', 'p90 ms', 'runs']];
  for (const f of sorted) {
    const calls = f.callsRange[0] === f.callsRange[1] ? String(f.calls) : `${f.calls} (${f.callsRange[0]}-${f.callsRange[1]})`;
    rows.push([f.scenario, String(f.zones), calls, f.medianMs.toFixed(1), f.p90Ms.toFixed(1), String(f.samplesMs.length)]);
  }
  const out = [table(rows)];
  if (options.verbose) {
    out.push('', 'Calls by action (first timed run):');
    for (const f of sorted) {
      out.push(`  ${f.scenario}, ${f.zones} zones: ${f.calls}`);
      for (const [action, n] of Object.entries(f.byAction)) out.push(`    ${String(n).padStart(4)}  ${action}`);
    }
  }
  out.push('', "Goals (a no-op plan makes at most 10 calls whatever the number of zones, and takes under 2x the floor's time):");
  for (const g of results) {
    const limit = g.goal.includes('time') ? `< ${g.limit}` : `<= ${g.limit}`;
    const measured = g.goal.includes('time') ? g.measured.toFixed(2) : String(g.measured);
    out.push(`  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}, ${g.zones} zone${g.zones === 1 ? '' : 's'}: ${measured} (goal ${limit})`);
  }
  const noopCalls = new Set(figures.filter((f) => f.scenario === 'no-op plan').map((f) => f.calls));
  if (noopCalls.size > 1) out.push(`  note: the no-op plan's calls depend on the number of zones (${[...noopCalls].join(' vs ')})`);
  out.push('', `Node ${process.version}, ${elapsedMs < 1000 ? `${elapsedMs} ms` : `${(elapsedMs / 1000).toFixed(1)} s`} in all.`);
  return out.join('\n');
}

async function main(): Promise<number> {
  const options = parseOptions();
  const started = performance.now();
  let moto: Moto | undefined;
  let proxy: AwsProxy | undefined;
  let direct: EC2Client | undefined;
  let viaProxy: EC2Client | undefined;
  try {
    progress('starting moto_server and the counting proxy…');
    moto = await startMoto();
    proxy = await startAwsProxy({ target: moto.endpoint });
    direct = ec2Client(moto.endpoint); // damage and inspection: not counted
    viaProxy = new EC2Client({ region: REGION, endpoint: proxy.endpoint });
    const figures: Figures[] = [];
    for (const zones of options.zones) figures.push(...(await benchZones(moto, proxy, direct, viaProxy, zones, options)));
    const results = goals(figures, options.zones);
    const elapsedMs = Math.round(performance.now() - started);
    const pass = results.every((g) => g.pass);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ node: process.version, elapsedMs, figures, goals: results, pass }, null, 2)}\n`);
    } else {
      process.stdout.write(`${report(figures, results, options, elapsedMs)}\n`);
    }
    return options.check && !pass ? 1 : 0;
  } finally {
    direct?.destroy();
    viaProxy?.destroy();
    await proxy?.stop();
    await moto?.stop();
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
