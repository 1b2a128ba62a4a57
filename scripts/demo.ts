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

import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeInstancesCommand, DescribeStacksCommand, OpsWorksClient } from '@aws-sdk/client-opsworks';
import { egress, findLab, missingPrerequisites, type Egress } from '../src/lab/control.js';
import { TEST_TARGETS } from '../src/lab/index.js';
import { BIN, ROOT, cliEnv } from '../test/support/cli.js';
import { freePort, startMoto } from '../test/support/moto.js';
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

const USAGE = 'usage: npm run demo [-- [--manager ec2|opsworks] [--reconcile] | --lab]';

/** How long the reconcile loop may take to print a line the demo waits for. */
const RECONCILE_LINE_TIMEOUT_MS = 120_000;

interface DemoOptions {
  manager: Manager;
  /** Heal with the reconcile loop instead of plan and apply. */
  reconcile: boolean;
  /** Watch it with real packets in the lab (root). */
  lab: boolean;
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
  if (values.lab && manager !== 'ec2') throw new UsageError(`--lab shows the ec2 mode; ${USAGE}`);
  if (values.lab && values.reconcile) throw new UsageError(`--lab heals with apply, not the reconcile loop; ${USAGE}`);
  if (values.lab) {
    const missing = missingPrerequisites();
    if (missing.length > 0) throw new UsageError(`--lab: ${missing.join('; ')} (sudo npm run demo -- --lab)`);
  }
  return { manager: manager as Manager, reconcile: values.reconcile!, lab: values.lab! };
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

/** Runs the real CLI with the terminal attached; rejects unless it exits with one of `expected`. */
function dupsworks(args: string[], env: NodeJS.ProcessEnv, expected = [0]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
    children.add(child);
    child.on('close', (code) => {
      children.delete(child);
      if (code !== null && expected.includes(code)) resolve(code);
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
(options.lab ? labDemo() : main(options)).then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    console.error(`demo failed: ${error.message}`);
    process.exitCode = 1;
  },
);
