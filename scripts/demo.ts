// `npm run demo`: the product working end to end against a local AWS emulator (moto_server).
// Builds examples/ha-nat.yaml from nothing, kills a NAT behind dupsworks's back, shows the plan
// that heals it, applies it, and shows that a fresh plan is empty. Every step is the real CLI.
//
// `npm run demo -- --lab` (as root): the same disaster with real packets. The lab builds the stack
// out of network namespaces and follows the emulator; a private host's pings leave through its own
// NAT, stop when that NAT dies, and leave through the new NAT after one apply.
//
// `npm run demo -- --manager opsworks`: the same with the NATs managed by OpsWorks
// (examples/ha-nat-opsworks.yaml), against the OpsWorks emulator started as the real CLI's
// `dupsworks emulator opsworks` in a child process; the disaster is the EC2 instance of a NAT
// terminated behind OpsWorks's back.
//
// `npm run demo -- --reconcile` (with either manager): the same disaster, healed by the unattended
// loop instead of a command: `dupsworks reconcile --every 5s` builds the stack in its first round,
// a NAT is killed while it runs, its next round heals it and the one after finds nothing to do;
// then it is stopped with SIGTERM, as systemctl stop does.
//
// `npm run demo -- --status [--svg FILE]`: the cheapest NATs (examples/ha-nat-graviton.yaml:
// t4g.nano on the arm64 image, an Elastic IP each): the plan, the apply and its outputs, status;
// then a failover made by hand (the private route of one zone pointed at the other zone's NAT, as
// a NAT's agent does), which status and graph show; --svg also writes the graph as SVG (the
// README's picture is drawn so).
//
// `npm run demo -- --failover` (as root): the NATs' failover agents at work in the lab, as a
// timeline. Source/destination check is turned on for NAT 2 through the EC2 API (it stops
// forwarding); NAT 1, its watcher, takes over private subnet 2, whose host keeps reaching the
// internet as NAT 1's public IP; the plan says so in words and changes nothing; the check is turned
// off, and NAT 1 gives the route back to NAT 2 after the hold-down (10 s in the demo's copy of the
// example spec, instead of the default 60 s).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createWriteStream } from 'node:fs';
import {
  DescribeRouteTablesCommand,
  ModifyInstanceAttributeCommand,
  ReplaceRouteCommand,
  TerminateInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { DescribeInstancesCommand, DescribeStacksCommand, OpsWorksClient } from '@aws-sdk/client-opsworks';
import { egress, findLab, missingPrerequisites, type Egress } from '../src/lab/control.js';
import { TEST_TARGETS } from '../src/lab/index.js';
import { BIN, ROOT, cliEnv } from '../test/support/cli.js';
import { AGENT_UNIT } from '../test/support/lab.js';
import { freePort, startMoto } from '../test/support/moto.js';
import { labNames } from '../src/lab/names.js';
import { AGENT_TAGS } from '../src/nat/tags.js';
import { FAILOVER_DEFAULTS } from '../src/spec/defaults.js';
import { privateTableOf } from '../test/support/agent.js';
import { REGION, ec2Client, liveNat } from '../test/support/stack.js';

type Manager = 'ec2' | 'opsworks';

const MANAGERS: readonly Manager[] = ['ec2', 'opsworks'];
const ZONE = 'ap-northeast-1c';

/** The spec and its stack name, per NAT manager. */
const DEMOS: Record<Manager, { spec: string; stack: string }> = {
  ec2: { spec: 'examples/ha-nat.yaml', stack: 'my-stack' },
  opsworks: { spec: 'examples/ha-nat-opsworks.yaml', stack: 'my-opsworks-stack' },
};

/**
 * The OpsWorks emulator's delays: long enough that the apply shows an instance walking to online
 * and a deployment running, short enough that the whole demo takes well under a minute.
 */
const OPSWORKS_DELAYS = ['--step-delay-ms', '300', '--security-group-delay-ms', '800', '--deployment-delay-ms', '300'];
const EMULATOR_READY_TIMEOUT_MS = 20_000;
const EMULATOR_STOP_GRACE_MS = 5_000;

/** The children running now (the OpsWorks emulator, the CLI), for a signal to take down with the demo. */
const children = new Set<ChildProcess>();

/**
 * Killed by a signal, the demo takes its children down with it: the emulator and the CLI run
 * (moto's own hook, on exit, kills moto). A terminal's Ctrl-C reaches them all anyway; a signal
 * sent to the demo alone would otherwise leave them running.
 */
function exitOnSignal(): void {
  const codes: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
  for (const [signal, code] of Object.entries(codes) as [NodeJS.Signals, number][]) {
    process.once(signal, () => {
      console.error(`demo: ${signal}: stopping the emulators`);
      for (const child of children) child.kill('SIGTERM');
      process.exit(code);
    });
  }
}

/** A bad command line: said in one line, exit 1. */
class UsageError extends Error {}

const USAGE = 'usage: npm run demo [-- [--manager ec2|opsworks] [--reconcile] | --lab | --status [--svg FILE] | --failover]';

/** How long the reconcile loop may take to print a line the demo waits for. */
const RECONCILE_LINE_TIMEOUT_MS = 120_000;

interface DemoOptions {
  manager: Manager;
  /** Heal with the reconcile loop instead of plan and apply. */
  reconcile: boolean;
  /** Watch it with real packets in the lab (root). */
  lab: boolean;
  /** Show a failover made by hand with status and graph; `svg`: also draw the graph there. */
  status: boolean;
  svg?: string;
  /** Watch the NATs' agents fail over and back in the lab (root). */
  failover: boolean;
}

function parseOptions(argv: string[]): DemoOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        manager: { type: 'string', default: 'ec2' },
        reconcile: { type: 'boolean', default: false },
        lab: { type: 'boolean', default: false },
        status: { type: 'boolean', default: false },
        svg: { type: 'string' },
        failover: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; ${USAGE}`);
  }
  const manager = values.manager!;
  if (!(MANAGERS as readonly string[]).includes(manager)) {
    throw new UsageError(`--manager must be ec2 or opsworks, not "${manager}"; ${USAGE}`);
  }
  if (values.lab && values.failover) throw new UsageError(`--lab and --failover are two demos: one at a time; ${USAGE}`);
  for (const flag of ['lab', 'failover'] as const) {
    if (!values[flag]) continue;
    if (manager !== 'ec2') throw new UsageError(`--${flag} shows the ec2 mode; ${USAGE}`);
    if (values.reconcile) throw new UsageError(`--${flag} does not use the reconcile loop; ${USAGE}`);
    const missing = missingPrerequisites();
    if (missing.length > 0) throw new UsageError(`--${flag}: ${missing.join('; ')} (sudo npm run demo -- --${flag})`);
  }
  const alone = [values.status && '--status', values.failover && '--failover', values.lab && '--lab'].filter(Boolean);
  if (alone.length > 1) throw new UsageError(`${alone.join(' and ')} are demos of their own; ${USAGE}`);
  if ((values.status || values.failover) && (values.reconcile || manager !== 'ec2')) {
    throw new UsageError(`${alone[0]} is a demo of its own, of the ec2 mode; ${USAGE}`);
  }
  if (values.svg !== undefined && !values.status) throw new UsageError(`--svg goes with --status; ${USAGE}`);
  return {
    manager: manager as Manager,
    reconcile: values.reconcile!,
    lab: values.lab!,
    status: values.status!,
    failover: values.failover!,
    ...(values.svg !== undefined ? { svg: values.svg } : {}),
  };
}

/** The same disaster as the ec2 demo, watched with real packets in the lab. */
async function labDemo(): Promise<number> {
  const { spec: SPEC, stack: STACK } = DEMOS.ec2;
  banner('Starting a local AWS emulator (moto_server)');
  const moto = await startMoto();
  console.log(`moto_server is listening on ${moto.endpoint}`);
  const env = cliEnv({ AWS_ENDPOINT_URL: moto.endpoint });
  const host = TEST_TARGETS[0]!;
  let labUp = false;
  try {
    banner(`1. Build the stack in the emulator: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);

    banner(`2. Build it out of network namespaces, following the emulator: dupsworks lab up -f ${SPEC} --detach`);
    await dupsworks(['lab', 'up', '-f', SPEC, '--detach'], env);
    labUp = true;

    banner(`3. A private host's pings leave through its own NAT: dupsworks lab exec ${ZONE} -- ping -c 3 ${host}; dupsworks lab status`);
    await dupsworks(['lab', 'exec', ZONE, '--', 'ping', '-c', '3', '-i', '0.2', host], env);
    await dupsworks(['lab', 'status'], env);

    const nat = await liveNat(ec2Client(moto.endpoint), STACK, ZONE);
    banner(`4. Disaster: the NAT of ${ZONE} (${nat.InstanceId}) is terminated behind dupsworks's back`);
    await ec2Client(moto.endpoint).send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    console.log(`aws ec2 terminate-instances --instance-ids ${nat.InstanceId}  # done`);
    await untilEgress(STACK, (e) => e.leavesAs === null);
    console.log(`\nThe lab followed the emulator: ${ZONE}'s private host has lost its way out.`);
    await dupsworks(['lab', 'exec', ZONE, '--', 'ping', '-c', '3', '-i', '0.2', '-W', '1', host], env, [1]);
    await dupsworks(['lab', 'status'], env);

    banner(`5. One command heals it: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);
    const fresh = await liveNat(ec2Client(moto.endpoint), STACK, ZONE);
    await untilEgress(STACK, (e) => e.throughNat?.instanceId === fresh.InstanceId);

    banner(`6. The pings leave through the new NAT (${fresh.InstanceId}), which booted from its own user data`);
    await dupsworks(['lab', 'exec', ZONE, '--', 'ping', '-c', '3', '-i', '0.2', host], env);
    await dupsworks(['lab', 'status'], env);

    return await showConverged(7, SPEC, env);
  } finally {
    if (labUp) {
      banner('Taking the lab down: dupsworks lab down');
      await dupsworks(['lab', 'down', '--stack', STACK], env);
    }
    banner('Stopping the emulator');
    await moto.stop();
  }
}

/** The cheapest NATs with Elastic IPs, and a failover made by hand, seen by status and graph. */
async function statusDemo(svg: string | undefined): Promise<number> {
  const SPEC = 'examples/ha-nat-graviton.yaml';
  const STACK = 'graviton-stack';
  banner('Starting a local AWS emulator (moto_server)');
  const moto = await startMoto();
  console.log(`moto_server is listening on ${moto.endpoint}`);
  try {
    const env = cliEnv({ AWS_ENDPOINT_URL: moto.endpoint });
    banner(`1. The plan: t4g.nano NATs on the arm64 Amazon Linux image, an Elastic IP each: dupsworks plan -f ${SPEC}`);
    await dupsworks(['plan', '-f', SPEC], env);
    banner(`2. Build it; apply ends with the outputs: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);
    banner(`3. Each zone is served by its own NAT: dupsworks status -f ${SPEC}`);
    await dupsworks(['status', '-f', SPEC], env);

    const ec2 = ec2Client(moto.endpoint);
    const [served, rescuer] = [ZONE, 'ap-northeast-1a'];
    const byTag = [
      { Name: 'tag:dupsworks:stack', Values: [STACK] },
      { Name: 'tag:dupsworks:resource', Values: [`route-table/private/${served}`] },
    ];
    const table = (await ec2.send(new DescribeRouteTablesCommand({ Filters: byTag }))).RouteTables![0]!.RouteTableId!;
    const nat = (await liveNat(ec2, STACK, rescuer)).InstanceId!;
    banner(
      `4. A failover by hand, as a NAT's agent makes one: ${served}'s private route to the NAT of ${rescuer} ` +
        `(aws ec2 replace-route --route-table-id ${table} --destination-cidr-block 0.0.0.0/0 --instance-id ${nat})`,
    );
    await ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0', InstanceId: nat }));
    banner(`5. status shows the failover, and exits 2 (something needs attention): dupsworks status -f ${SPEC}`);
    await dupsworks(['status', '-f', SPEC], env, [2]);
    banner(`6. graph draws it as a dashed red edge: dupsworks graph -f ${SPEC}`);
    await dupsworks(['graph', '-f', SPEC], env);
    if (svg) {
      await dupsworks(['graph', '-f', SPEC, '--format', 'svg'], env, [0], svg);
      console.log(`wrote the graph as SVG to ${svg} (dupsworks graph -f ${SPEC} --format svg > ${svg})`);
    }
    return await showConverged(7, SPEC, env);
  } finally {
    banner('Stopping the emulator');
    await moto.stop();
  }
}

/** The demo's hold-down: long enough to see, short enough to wait for (the default is 60 s). */
const DEMO_HOLD_DOWN_SECONDS = 10;

/** The seed's experiment: a NAT that stops forwarding is taken over by its watcher, and given its zone back. */
async function failoverDemo(): Promise<number> {
  const { stack: STACK } = DEMOS.ec2;
  const dir = await mkdtemp(join(tmpdir(), 'dupsworks-demo-'));
  const SPEC = join(dir, 'ha-nat.yaml');
  const example = await readFile(join(ROOT, DEMOS.ec2.spec), 'utf8');
  await writeFile(SPEC, `${example.trimEnd()}\nfailover:\n  holdDownSeconds: ${DEMO_HOLD_DOWN_SECONDS}\n`);
  banner('Starting a local AWS emulator (moto_server)');
  const moto = await startMoto();
  console.log(`moto_server is listening on ${moto.endpoint}`);
  console.log(
    `The spec is ${DEMOS.ec2.spec} with "failover: holdDownSeconds: ${DEMO_HOLD_DOWN_SECONDS}" added (the default hold-down is 60 s), in ${SPEC}`,
  );
  const env = cliEnv({ AWS_ENDPOINT_URL: moto.endpoint });
  const ec2 = ec2Client(moto.endpoint);
  let labUp = false;
  try {
    banner(`1. Build the stack in the emulator: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);

    banner(
      `2. Build it out of network namespaces; each NAT boots its user data and starts its agent: dupsworks lab up -f ${SPEC} --detach`,
    );
    await dupsworks(['lab', 'up', '-f', SPEC, '--detach'], env);
    labUp = true;

    const lab = await findLab(STACK);
    const [zone1, zone2] = lab.zones.map((z) => z.availabilityZone) as [string, string];
    const nat1 = (await liveNat(ec2, STACK, zone1)).InstanceId!;
    const nat2 = (await liveNat(ec2, STACK, zone2)).InstanceId!;
    const timeline = new Timeline(ec2, STACK, zone2, { [nat1]: `NAT 1 (${zone1})`, [nat2]: `NAT 2 (${zone2})` });
    await timeline.until((s) => s.route === nat2 && s.through === nat2, 60_000, 'zone 2 leaves through NAT 2');
    // The agents judge their peers healthy after recoverAfter answers in a row: wait for their word.
    await timeline.until(() => timeline.said('peer-ok', nat1), 30_000, "NAT 1's agent finds NAT 2 healthy");
    banner(`3. Each private host leaves through its own zone's NAT: dupsworks lab status`);
    await dupsworks(['lab', 'status', '--stack', STACK], env);

    banner(`4. Source/destination check turned on for NAT 2 (${nat2}) through the EC2 API: it stops forwarding`);
    console.log(`aws ec2 modify-instance-attribute --instance-id ${nat2} --source-dest-check  # the timeline, from the call on (t+0):\n`);
    await timeline.start();
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: nat2, SourceDestCheck: { Value: true } }));
    await timeline.until((s) => s.route === nat1 && s.through === nat1, 30_000, 'NAT 1 takes over zone 2');
    const tookOverAt = timeline.elapsed();

    banner(`5. The plan says so in words, and changes nothing for it: dupsworks plan -f ${SPEC}`);
    console.log(`(the plan wants the source/destination check off again: the next step does that by hand, to watch the revert)\n`);
    await dupsworks(['plan', '-f', SPEC], env);
    console.log(`\nThe route table's tags, written by NAT 1's agent: ${JSON.stringify(await agentTags(ec2, STACK, zone2))}`);

    banner(`6. Source/destination check turned off again: NAT 2 forwards; NAT 1 gives zone 2 back after the hold-down`);
    console.log(`aws ec2 modify-instance-attribute --instance-id ${nat2} --no-source-dest-check  # done\n`);
    await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: nat2, SourceDestCheck: { Value: false } }));
    const fixedAt = timeline.elapsed();
    await timeline.until(
      (s) => s.route === nat2 && s.through === nat2,
      60_000 + DEMO_HOLD_DOWN_SECONDS * 1000,
      'NAT 2 serves zone 2 again',
    );
    const backAt = timeline.elapsed();
    timeline.stop();
    console.log(
      `\nTaken over ${(tookOverAt / 1000).toFixed(1)} s after the fault; given back ${((backAt - fixedAt) / 1000).toFixed(1)} s after the repair, ` +
        `${((backAt - tookOverAt) / 1000).toFixed(1)} s after the takeover (the hold-down is ${DEMO_HOLD_DOWN_SECONDS} s since the takeover, ` +
        `and NAT 2 must answer ${FAILOVER_DEFAULTS.recoverAfter} probes in a row first). Nobody ran a command.`,
    );
    await dupsworks(['lab', 'status', '--stack', STACK], env);

    return await showConverged(7, SPEC, env);
  } finally {
    ec2.destroy();
    if (labUp) {
      banner('Taking the lab down: dupsworks lab down');
      await dupsworks(['lab', 'down', '--stack', STACK], env);
    }
    banner('Stopping the emulator');
    await moto.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

interface Seen {
  /** Where zone 2's private route points, in the emulator. */
  route: string | undefined;
  /** The NAT zone 2's private host leaves through, as the internet target sees it. */
  through: string | undefined;
}

/**
 * What a user would watch during a failover, printed as it changes, with the time since the fault:
 * where the zone's route points (the EC2 API), which NAT its host's traffic leaves through (the
 * lab's internet target), and every line the NATs' agents log (their journal).
 */
class Timeline {
  private t0 = 0;
  private last: Seen = { route: undefined, through: undefined };
  private readonly logged = new Map<string, number>();
  private readonly events: { nat: string; event: string }[] = [];
  private printing = false;

  constructor(
    private readonly ec2: EC2Client,
    private readonly stack: string,
    private readonly zone: string,
    private readonly names: Record<string, string>,
  ) {}

  /** Prints what is seen now, and from now on what changes, with the time since now. */
  async start(): Promise<void> {
    this.printing = true;
    this.last = { route: undefined, through: undefined };
    this.t0 = 0;
    await this.look();
    this.t0 = Date.now();
  }

  stop(): void {
    this.printing = false;
  }

  elapsed(): number {
    return Date.now() - this.t0;
  }

  said(event: string, nat: string): boolean {
    return this.events.some((e) => e.event === event && e.nat === nat);
  }

  /** Looks every 100 ms, printing what changed, until `ok` holds. */
  async until(ok: (seen: Seen) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = await this.look();
      if (ok(seen)) return;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s (${JSON.stringify(seen)})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async look(): Promise<Seen> {
    const lab = await findLab(this.stack);
    const [{ target: route }, egressNow] = await Promise.all([privateTableOf(this.ec2, this.stack, this.zone), egress(lab)]);
    const through = egressNow.find((e) => e.availabilityZone === this.zone)?.throughNat?.instanceId;
    const seen = { route, through };
    if (seen.route !== this.last.route) this.say(`zone 2's private route -> ${this.name(seen.route)}`);
    if (seen.through !== this.last.through) {
      const e = egressNow.find((x) => x.availabilityZone === this.zone)!;
      this.say(
        seen.through
          ? `zone 2's host reaches the internet through ${this.name(seen.through)}, as ${e.leavesAs}`
          : `zone 2's host does not reach the internet (${e.error ?? 'no answer'})`,
      );
    }
    this.last = seen;
    for (const nat of Object.keys(this.names)) {
      const file = join(labNames(this.stack).instanceRoot(nat), 'var/log', `${AGENT_UNIT}.log`);
      const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.trim() !== '');
      for (const line of lines.slice(this.logged.get(nat) ?? 0)) {
        const event = /event=(\S+)/.exec(line)?.[1];
        if (event) this.events.push({ nat, event });
        if (event && event !== 'probe-target') this.say(`${this.name(nat)}'s agent: ${line.replace(/^\S+ /, '')}`);
      }
      this.logged.set(nat, lines.length);
    }
    return seen;
  }

  private name(instance: string | undefined): string {
    return instance === undefined ? '(none)' : (this.names[instance] ?? instance);
  }

  private say(text: string): void {
    const when = this.t0 === 0 ? ' before  ' : `t+${(this.elapsed() / 1000).toFixed(1).padStart(5)} s`;
    if (this.printing) console.log(`  ${when}  ${text}`);
  }
}

/** The tags the agents write on a zone's private route table. */
async function agentTags(ec2: EC2Client, stack: string, az: string): Promise<Record<string, string>> {
  const { tags } = await privateTableOf(ec2, stack, az);
  return Object.fromEntries(Object.entries(tags).filter(([k]) => (AGENT_TAGS.routeTable as readonly string[]).includes(k)));
}

/** The last step of every demo: the acceptance rule, seen by the user. */
async function showConverged(step: number, spec: string, env: NodeJS.ProcessEnv): Promise<number> {
  banner(`${step}. Converged: a fresh plan shows no changes (dupsworks plan -f ${spec} --detailed-exitcode)`);
  const code = await dupsworks(['plan', '-f', spec, '--detailed-exitcode'], env, [0]);
  console.log(`exit code ${code}: no changes`);
  return 0;
}

/** Waits (up to 20 s) until the demo zone's private host egress is as `ok` wants it. */
async function untilEgress(stack: string, ok: (e: Egress) => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const seen = (await egress(await findLab(stack))).find((e) => e.availabilityZone === ZONE)!;
    if (ok(seen)) return;
    if (Date.now() > deadline) throw new Error(`the lab did not follow: ${ZONE} still ${JSON.stringify(seen)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main({ manager, reconcile }: DemoOptions): Promise<number> {
  const { spec: SPEC, stack: STACK } = DEMOS[manager];
  banner('Starting a local AWS emulator (moto_server)');
  const moto = await startMoto();
  console.log(`moto_server is listening on ${moto.endpoint}`);
  let opsworks: OpsWorksEmulatorProcess | undefined;
  try {
    let env = cliEnv({ AWS_ENDPOINT_URL: moto.endpoint });
    if (manager === 'opsworks') {
      const port = await freePort();
      const args = ['emulator', 'opsworks', '--port', String(port), '--ec2-endpoint', moto.endpoint, ...OPSWORKS_DELAYS];
      banner(`Starting the OpsWorks emulator: dupsworks ${args.join(' ')}`);
      opsworks = await startOpsWorksEmulatorProcess(args);
      console.log(opsworks.line);
      env = cliEnv({ AWS_ENDPOINT_URL: moto.endpoint, AWS_ENDPOINT_URL_OPSWORKS: opsworks.endpoint });
      console.log(`dupsworks runs with AWS_ENDPOINT_URL=${moto.endpoint} AWS_ENDPOINT_URL_OPSWORKS=${opsworks.endpoint}`);
    }

    const kill = () => killNat(manager, moto.endpoint, opsworks?.endpoint, STACK);
    if (reconcile) return await reconcileDemo(SPEC, env, kill);

    banner(`1. Build the stack from nothing: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);

    await kill();

    banner(
      manager === 'ec2'
        ? `3. The plan that heals it: dupsworks plan -f ${SPEC}`
        : `3. The plan that heals it (a new OpsWorks instance; the routes, the custom JSON and a deployment follow it): dupsworks plan -f ${SPEC}`,
    );
    await dupsworks(['plan', '-f', SPEC], env);

    banner(`4. One command heals it: dupsworks apply -f ${SPEC} --auto-approve`);
    await dupsworks(['apply', '-f', SPEC, '--auto-approve'], env);

    return await showConverged(5, SPEC, env);
  } finally {
    if (opsworks) {
      banner('Stopping the emulators (the OpsWorks emulator, then moto_server)');
      try {
        await opsworks.stop();
      } finally {
        await moto.stop();
      }
    } else {
      banner('Stopping the emulator');
      await moto.stop();
    }
  }
}

/** Step 2: the NAT of ZONE dies behind dupsworks's back (for OpsWorks, its EC2 instance). */
async function killNat(manager: Manager, ec2Endpoint: string, opsworksEndpoint: string | undefined, stack: string): Promise<void> {
  const ec2 = ec2Client(ec2Endpoint);
  if (manager === 'ec2') {
    const nat = await liveNat(ec2, stack, ZONE);
    banner(`2. Disaster: the NAT of ${ZONE} (${nat.InstanceId}) is terminated behind dupsworks's back`);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    console.log(`aws ec2 terminate-instances --instance-ids ${nat.InstanceId}  # done`);
  } else {
    const nat = await opsWorksNat(opsworksEndpoint!, stack, `nat-${ZONE}`);
    banner(
      `2. Disaster: the EC2 instance of the NAT of ${ZONE} (OpsWorks instance ${nat.hostname}, EC2 ${nat.ec2InstanceId}) ` +
        `is terminated behind OpsWorks's back`,
    );
    console.log(`aws opsworks describe-instances --stack-id ${nat.stackId}  # ${nat.hostname}: Ec2InstanceId ${nat.ec2InstanceId}`);
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.ec2InstanceId] }));
    console.log(`aws ec2 terminate-instances --instance-ids ${nat.ec2InstanceId}  # done`);
  }
  ec2.destroy();
}

/** The reconcile loop heals what `kill` breaks while it runs; stopped with SIGTERM, it exits 143. */
async function reconcileDemo(spec: string, env: NodeJS.ProcessEnv, kill: () => Promise<void>): Promise<number> {
  const args = ['reconcile', '-f', spec, '--every', '5s'];
  banner(`1. Start the unattended loop: dupsworks ${args.join(' ')} (its first round builds the stack from nothing)`);
  const loop = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(loop);
  const exited = new Promise<number | null>((resolve) =>
    loop.on('close', (code) => {
      children.delete(loop);
      resolve(code);
    }),
  );
  let log = '';
  loop.stdout!.on('data', (d: Buffer) => {
    process.stdout.write(d);
    log += d.toString('utf8');
  });
  /** The first match of `pattern` in the log after `from` characters, once it is there. */
  const line = (pattern: RegExp, from = 0) =>
    new Promise<{ match: RegExpExecArray; end: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the loop printed no line matching ${pattern}`)), RECONCILE_LINE_TIMEOUT_MS);
      const check = () => {
        const rest = log.slice(from);
        const match = pattern.exec(rest);
        if (!match) return;
        loop.stdout!.off('data', check);
        clearTimeout(timer);
        resolve({ match, end: from + match.index + match[0].length });
      };
      loop.stdout!.on('data', check);
      void exited.then((code) => reject(new Error(`the loop exited (${code}) before printing ${pattern}`)));
      check();
    });
  try {
    const built = await line(/round \d+: converged: /);
    await kill();
    banner('3. The loop heals it in its next round (some 5 s later), and the round after finds nothing to do');
    const healed = await line(/round (\d+): healed: /, built.end);
    await line(new RegExp(`round ${Number(healed.match[1]) + 1}: converged: `), healed.end);
    banner('4. Stop it as systemctl stop does: SIGTERM (a round under way would first finish its running changes); exit 143');
    loop.kill('SIGTERM');
    const code = await exited;
    console.log(`exit code ${code}`);
    if (code !== 143) throw new Error(`the loop exited with ${code}, not 143`);
  } finally {
    if (loop.exitCode === null && loop.signalCode === null) loop.kill('SIGKILL');
  }
  banner(`5. Converged: a fresh plan shows no changes (dupsworks plan -f ${spec} --detailed-exitcode)`);
  const code = await dupsworks(['plan', '-f', spec, '--detailed-exitcode'], env, [0]);
  console.log(`exit code ${code}: no changes`);
  return 0;
}

/** The NAT of a zone as OpsWorks knows it: found by the stack's name and the instance's hostname. */
async function opsWorksNat(
  endpoint: string,
  stackName: string,
  hostname: string,
): Promise<{ stackId: string; hostname: string; ec2InstanceId: string }> {
  const client = new OpsWorksClient({ region: REGION, endpoint });
  try {
    const stack = ((await client.send(new DescribeStacksCommand({}))).Stacks ?? []).find((s) => s.Name === stackName);
    if (!stack) throw new Error(`OpsWorks has no stack named ${stackName}`);
    const instance = ((await client.send(new DescribeInstancesCommand({ StackId: stack.StackId! }))).Instances ?? []).find(
      (i) => i.Hostname === hostname,
    );
    if (!instance?.Ec2InstanceId) {
      throw new Error(`OpsWorks stack ${stackName} has no instance ${hostname} with an EC2 instance (${instance?.Status ?? 'absent'})`);
    }
    return { stackId: stack.StackId!, hostname, ec2InstanceId: instance.Ec2InstanceId };
  } finally {
    client.destroy();
  }
}

interface OpsWorksEmulatorProcess {
  endpoint: string;
  /** What it printed once listening. */
  line: string;
  /** SIGTERM, and wait for it to exit (SIGKILL if it takes too long). Idempotent. */
  stop(): Promise<void>;
}

/** `dupsworks emulator opsworks …` as a child process; resolves once it says it is listening. */
async function startOpsWorksEmulatorProcess(args: string[]): Promise<OpsWorksEmulatorProcess> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  // Should the demo die without reaching its finally, the emulator must not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-4000)));
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('close', (code, signal) => {
      children.delete(child);
      process.off('exit', killOnExit);
      resolve(signal ? `signal ${signal}` : `exit code ${code}`);
    });
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), EMULATOR_STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    })());
  try {
    const line = await firstLine(child, /listening on (\S+)/, exited);
    const endpoint = /listening on (\S+)/.exec(line)![1]!;
    return { endpoint, line, stop };
  } catch (error) {
    await stop();
    throw new Error(`the OpsWorks emulator did not start: ${(error as Error).message}${stderr.trim() ? `\n${stderr.trim()}` : ''}`);
  }
}

function firstLine(child: ChildProcess, pattern: RegExp, exited: Promise<string>): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`no "listening" line within ${EMULATOR_READY_TIMEOUT_MS / 1000}s`)),
      EMULATOR_READY_TIMEOUT_MS,
    );
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      const line = stdout.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`it exited (${how})`));
    });
  });
}

function banner(text: string): void {
  const bold = process.stdout.isTTY && !process.env.NO_COLOR;
  console.log(bold ? `\n\x1b[1m== ${text}\x1b[0m\n` : `\n== ${text}\n`);
}

/**
 * Runs the real CLI with the terminal attached (its output to `stdoutFile` instead, when given);
 * rejects unless it exits with one of `expected`.
 */
function dupsworks(args: string[], env: NodeJS.ProcessEnv, expected = [0], stdoutFile?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', stdoutFile ? 'pipe' : 'inherit', 'inherit'],
    });
    // The file is whole once its stream has finished, which may be after the child has exited.
    const written = stdoutFile
      ? new Promise<void>((done, fail) =>
          child
            .stdout!.pipe(createWriteStream(stdoutFile))
            .on('finish', () => done())
            .on('error', fail),
        )
      : Promise.resolve();
    children.add(child);
    child.on('close', (code) => {
      children.delete(child);
      if (code !== null && expected.includes(code)) written.then(() => resolve(code), reject);
      else reject(new Error(`dupsworks ${args.join(' ')} exited with ${code}`));
    });
  });
}

let options: DemoOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`demo: ${(error as Error).message}`);
  process.exit(1);
}

exitOnSignal();
(options.failover ? failoverDemo() : options.lab ? labDemo() : options.status ? statusDemo(options.svg) : main(options)).then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    console.error(`demo failed: ${error.message}`);
    process.exitCode = 1;
  },
);
