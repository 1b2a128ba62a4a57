// The command line: parse, call the engine, print. Results go to stdout, progress and problems to
// stderr (the reconcile loop's log goes to stdout: it is what that command produces). Exit codes:
// 0 success (plan: no changes), 1 error, 2 plan with changes (--detailed-exitcode), for reconcile
// --once changes it may not make, for status something that needs attention, 130 / 143 stopped by
// SIGINT / SIGTERM.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Engine } from './engine.js';
import { httpUrl, serveOpsWorksEmulator, wholeNumber, type OpsWorksCommandOptions } from './emulator/opsworks/command.js';
import { DEFAULT_TIMEOUTS } from './aws/endpoint.js';
import { DupsworksError, SpecRejected, toErrorInfo, type ErrorInfo } from './errors.js';
import type { IoHost, RunOperation } from './io.js';
import { GRAPH_FORMATS, type GraphFormat } from './live/graph.js';
import type { LiveStack } from './live/stack.js';
import { DEFAULT_LEASE_SECONDS, DEFAULT_LOCK_TABLE, LockHeldError, who } from './lock/lease.js';
import type * as Lab from './lab/control.js';
import { loadPlan, planToApply, savePlan } from './planfile.js';
import { DEFAULT_GRACE_SECONDS, DEFAULT_READY_TIMEOUT_SECONDS } from './planner/apply.js';
import { planToJson } from './planner/json.js';
import { PROVIDER_NAME } from './resources/provider.js';
import { hasChanges, heldChanges, type Plan } from './planner/plan.js';
import { colorStyle, plainStyle, renderPlan, type Style } from './planner/render.js';
import { logWriter, LOG_FORMATS, type LogFormat } from './reconcile/log.js';
import { DEFAULT_EVERY_SECONDS, DEFAULT_MAX_BACKOFF_SECONDS, exitCodeFor as reconcileExitCode, Reconciler } from './reconcile/loop.js';
import type { Spec } from './spec/types.js';
import { lockInfoLines, TerminalHost, write } from './terminal.js';
import { VERSION } from './version.js';

interface GlobalOptions {
  region?: string;
  profile?: string;
  endpointUrl?: string;
  opsworksEndpointUrl?: string;
  color: boolean;
  debug?: boolean;
  retryTimeout?: number;
  waitTimeout?: number;
  connectTimeout: number;
  requestTimeout: number;
  lockTable: string;
  lockLease: number;
}

/** Thrown for a failure already explained to the user: exit 1, no stack trace. */
class Failure extends Error {}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  let debug = argv.includes('--debug');
  let lab: typeof Lab | undefined;
  const program = new Command('dupsworks')
    .description('Builds and heals an AWS VPC whose private subnets reach the internet through a ring of NAT instances.')
    .version(VERSION, '-V, --version', 'print the version of dupsworks (saved plans record it)')
    .option('--region <region>', 'AWS region (overrides the spec)')
    .option('--profile <name>', 'named profile from the AWS shared config and credentials files')
    .option('--endpoint-url <url>', 'send AWS calls to this endpoint (e.g. a local emulator); AWS_ENDPOINT_URL works too')
    .option('--opsworks-endpoint-url <url>', 'send OpsWorks calls here (the OpsWorks emulator); AWS_ENDPOINT_URL_OPSWORKS works too')
    .option('--no-color', 'plain output (NO_COLOR works too)')
    .option('--debug', 'show retries, timings and stack traces')
    .addOption(new Option('--retry-timeout <seconds>', 'how long to keep retrying transient AWS errors').argParser(seconds).default(300))
    .addOption(
      new Option('--wait-timeout <seconds>', 'how long to wait for an instance to run, come online or terminate')
        .argParser(seconds)
        .default(1800),
    )
    .addOption(
      new Option('--connect-timeout <seconds>', 'how long connecting to an AWS endpoint may take')
        .argParser(seconds)
        .default(DEFAULT_TIMEOUTS.connectSeconds),
    )
    .addOption(
      new Option('--request-timeout <seconds>', 'how long one AWS request may take, from sending it to the end of the answer')
        .argParser(seconds)
        .default(DEFAULT_TIMEOUTS.requestSeconds),
    )
    .addOption(
      new Option('--lock-table <name>', "the DynamoDB table holding the stacks' locks (created on first use)").default(DEFAULT_LOCK_TABLE),
    )
    .addOption(
      new Option('--lock-lease <seconds>', 'how long a lock lasts between two renewals: a run that died blocks others at most this long')
        .argParser(seconds)
        .default(DEFAULT_LEASE_SECONDS),
    )
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text) });

  const run =
    (action: (globals: GlobalOptions, ...args: any[]) => Promise<number>) =>
    async (...args: any[]) => {
      const command = args[args.length - 1] as Command;
      const globals = command.optsWithGlobals() as GlobalOptions;
      debug = globals.debug ?? false;
      exitCode = await action(globals, ...args.slice(0, -1));
    };

  program
    .command('validate')
    .description('check a spec without calling AWS')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .action(
      run(async (globals, options: { file: string }) => {
        const spec = await loadSpec(options.file, globals);
        write(process.stdout, `${options.file}: valid (stack ${spec.name}, ${spec.zones.length} zones, region ${spec.region})\n`);
        return 0;
      }),
    );

  program
    .command('plan')
    .description('show what apply would change')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--json', 'print the plan as JSON (Terraform-style resource_changes)')
    .option('--out <file>', 'save the plan for `apply <file>`')
    .option('--detailed-exitcode', 'exit 0 when there are no changes, 2 when there are, 1 on error')
    .option('--destroy', "what destroy would delete, in the order it would (Terraform's -destroy works too)")
    .action(
      run(async (globals, options: { file: string; json?: boolean; out?: string; detailedExitcode?: boolean; destroy?: boolean }) => {
        const spec = await loadSpec(options.file, globals);
        const engine = await engineFor(spec, globals, terminalHost(globals));
        const plan = await (options.destroy ? engine.destroyPlan() : engine.plan());
        const text = renderPlan(plan, styleFor(globals), options.destroy ? 'destroy' : 'apply');
        write(process.stdout, options.json ? `${JSON.stringify(planToJson(plan, PROVIDER_NAME), null, 2)}\n` : text);
        if (options.out) {
          await savePlan(options.out, plan, spec);
          write(
            process.stderr,
            `Saved the plan to ${options.out}; run "dupsworks apply -f ${options.file} ${options.out}" to apply exactly this plan.\n`,
          );
        }
        return options.detailedExitcode && hasChanges(plan) ? 2 : 0;
      }),
    );

  program
    .command('status')
    .description(
      'the live stack: per zone the NAT, which NAT serves the private subnet now (a failover?), the heartbeat routes, ' +
        'and the changes a plan would make; read-only; exit 0 all well, 2 something needs attention, 1 error',
    )
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--json', 'print it as JSON')
    .action(
      run(async (globals, options: { file: string; json?: boolean }) => {
        const spec = await loadSpec(options.file, globals);
        const [live, { renderStatus, statusExitCode, statusJson }] = await Promise.all([liveOf(spec, globals), import('./live/status.js')]);
        write(process.stdout, options.json ? `${JSON.stringify(statusJson(live), null, 2)}\n` : renderStatus(live, styleFor(globals)));
        return statusExitCode(live);
      }),
    );

  program
    .command('graph')
    .description(
      'the live topology as a picture: subnets, route tables, NATs, the ring of heartbeat routes, who serves whom ' +
        '(a failover as a dashed red edge); read-only',
    )
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .addOption(
      new Option('--format <format>', 'Mermaid (for Markdown), Graphviz DOT, or SVG drawn by Graphviz')
        .choices(GRAPH_FORMATS)
        .default('mermaid'),
    )
    .action(
      run(async (globals, options: { file: string; format: GraphFormat }) => {
        const spec = await loadSpec(options.file, globals);
        const [live, { toDot, toMermaid, topologyGraph }] = await Promise.all([liveOf(spec, globals), import('./live/graph.js')]);
        const graph = topologyGraph(live);
        const drawn = options.format === 'mermaid' ? toMermaid(graph) : toDot(graph);
        write(process.stdout, options.format === 'svg' ? await (await import('./live/svg.js')).dotToSvg(drawn) : drawn);
        return 0;
      }),
    );

  program
    .command('output')
    .description("the stack's outputs (its ids and the NATs' public IPs), as apply ends with them; read-only")
    .argument('[name]', 'print only this output')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--json', 'print them as JSON, as terraform output -json does')
    .option('--raw', "print a string output's value as it is, without quotes (for scripts)")
    .action(
      run(async (globals, name: string | undefined, options: { file: string; json?: boolean; raw?: boolean }) => {
        const spec = await loadSpec(options.file, globals);
        const [live, { printedOutputs, stackOutputs }] = await Promise.all([liveOf(spec, globals), import('./live/outputs.js')]);
        const outputs = stackOutputs(live);
        if (outputs.length === 0 && name === undefined && !options.json) {
          write(process.stderr, `Warning: no outputs found: stack ${spec.name} has nothing built yet; run apply\n`);
        }
        write(process.stdout, printedOutputs(outputs, spec.name, { name, ...options }));
        return 0;
      }),
    );

  program
    .command('apply')
    .description('make AWS match the spec (build, repair drift, replace dead NATs)')
    .argument('[planfile]', 'a plan saved with `plan --out` (a destroy plan destroys); refused if the stack changed since')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(concurrencyOption())
    .addOption(lockOption())
    .addOption(lockTimeoutOption())
    .addOption(stopTimeoutOption())
    .addOption(readyTimeoutOption())
    .action(
      run(async (globals, planfile: string | undefined, options: RunFlags) => {
        const spec = await loadSpec(options.file, globals);
        // A plan file of another version or spec is refused before any AWS call.
        const saved = planfile ? await loadPlan(planfile, spec) : undefined;
        const adopt = (fresh: Plan): Plan => (saved ? planToApply(saved, fresh, planfile!) : fresh);
        // A saved plan was approved when it was made: apply exactly it, without asking.
        const operation = saved?.destroy ? 'destroy' : 'apply';
        return runLocked(operation, spec, globals, { ...options, autoApprove: options.autoApprove || saved !== undefined }, adopt);
      }),
    );

  program
    .command('destroy')
    .description("delete every resource carrying this stack's tag (and nothing else)")
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(concurrencyOption())
    .addOption(lockOption())
    .addOption(lockTimeoutOption())
    .addOption(stopTimeoutOption())
    .action(run(async (globals, options: RunFlags) => runLocked('destroy', await loadSpec(options.file, globals), globals, options)));

  program
    .command('reconcile')
    .description(
      'keep the stack converged, unattended: plan, apply what a loop may (heal), report, sleep, again; ' +
        'exit codes with --once: 0 converged or healed, 1 error, 2 changes it may not make',
    )
    .requiredOption('-f, --file <spec>', 'the spec (YAML); read again every round')
    .addOption(
      new Option('--every <seconds>', 'time between two rounds (each wait is up to 10% longer or shorter, at random)')
        .argParser(seconds)
        .default(DEFAULT_EVERY_SECONDS),
    )
    .option('--once', 'one round, then exit (for a systemd timer or cron)')
    .option('--allow-replace', 'also replace healthy resources when the spec changed what forces it (NATs roll out one zone at a time)')
    .option('--allow-destroy', 'also delete resources of the stack that the spec no longer names')
    .addOption(
      new Option('--max-backoff <seconds>', 'after failed rounds the wait doubles, up to this')
        .argParser(seconds)
        .default(DEFAULT_MAX_BACKOFF_SECONDS),
    )
    .addOption(new Option('--log-format <format>', 'one line per event, as text or JSON').choices(LOG_FORMATS).default('text'))
    .addOption(concurrencyOption())
    .addOption(
      new Option('--lock-timeout <seconds>', "how long a round waits for another run's lock before it skips (0: skip at once)")
        .argParser(zeroOrSeconds)
        .default(0),
    )
    .addOption(stopTimeoutOption())
    .addOption(readyTimeoutOption())
    .action(run(async (globals, options: ReconcileFlags) => reconcile(await loadSpec(options.file, globals), globals, options)));

  program
    .command('force-unlock')
    .description("break the stack's lock, left by a run that is gone (the ID is in a blocked run's Lock Info)")
    .argument('<lock-id>', 'the ID from "Lock Info"')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .action(
      run(async (globals, id: string, options: { file: string; autoApprove?: boolean }) => {
        const spec = await loadSpec(options.file, globals);
        const host = terminalHost(globals, options.autoApprove);
        const engine = await engineFor(spec, globals, host);
        const holder = await engine.lockHolder();
        if (holder?.id === id) {
          write(process.stderr, `${lockInfoLines(holder).join('\n')}\n`);
          const question = `Do you really want to break the lock of stack ${spec.name}? The run holding it must be gone.`;
          if (!(await host.confirm(question))) throw new Failure('cancelled; the lock is still held');
        }
        const broken = await engine.forceUnlock(id);
        write(process.stdout, `The lock of stack ${spec.name} (ID ${id}, held by ${who(broken)} since ${broken.since}) is broken.\n`);
        return 0;
      }),
    );

  program
    .command('iam-policy')
    .description(
      "print the least-privilege IAM policy (JSON) for this spec: --for operator, what runs dupsworks; --for agent, the NATs' own",
    )
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .addOption(new Option('--for <who>', 'whose policy').choices(['operator', 'agent']).default('operator'))
    .action(
      run(async (globals, options: { file: string; for: 'operator' | 'agent' }) => {
        const spec = await loadSpec(options.file, globals);
        const iam = await import('./iam/policy.js');
        const policy = options.for === 'agent' ? iam.agentPolicy(spec) : iam.operatorPolicy(spec, { lockTable: globals.lockTable });
        if (!policy) {
          write(process.stderr, 'The NATs of the OpsWorks mode run no failover agent and call no AWS API: they need no policy.\n');
          return 0;
        }
        write(process.stdout, `${JSON.stringify(policy, null, 2)}\n`);
        return 0;
      }),
    );

  program
    .command('emulator')
    .description('run a local emulator of an AWS service that AWS no longer offers (for tests and demos)')
    .command('opsworks')
    .description('AWS OpsWorks Stacks, launching its instances in an EC2 emulator such as moto_server; runs until SIGINT/SIGTERM')
    .requiredOption('--port <port>', 'port to listen on (0: any free port)', wholeNumber)
    .requiredOption('--ec2-endpoint <url>', 'the EC2 emulator to launch instances in', httpUrl)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--step-delay-ms <n>', 'time between two instance statuses (default 1000)', wholeNumber)
    .option('--security-group-delay-ms <n>', "time until a new stack's security groups exist (default 2000)", wholeNumber)
    .option('--deployment-delay-ms <n>', 'time a deployment runs (default 1000)', wholeNumber)
    .action(run(async (globals, options: OpsWorksCommandOptions) => serveOpsWorksEmulator(options, globals.debug ?? false)));

  // Output is best effort: a reader that went away (`| head`) must not abort the work.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

  const labCommand = program
    .command('lab')
    .description('real packets through the stack in the EC2 emulator: Linux network namespaces programmed live from it (root)');
  // The lab loads the SDK (it reads the emulator): its module is loaded when a lab command runs.
  const loadLab = async () => (lab ??= await import('./lab/control.js'));
  const terminal: Lab.Output = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

  labCommand
    .command('up')
    .description('build the stack that apply made in the emulator out of namespaces, and keep it in step until `lab down`')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--json', 'print the description of what was built as JSON')
    .option('--detach', 'run in the background once built (see --pid-file)')
    .option('--pid-file <file>', "also write the lab's pid here")
    .addOption(new Option('--interval <ms>', 'how often to read the emulator').argParser(positiveInteger).default(200))
    .addOption(
      new Option('--propagation-delay <ms>', 'how long a route change seen in the emulator waits before it applies')
        .argParser(wholeNumber)
        .default(0),
    )
    .action(
      run(
        async (
          globals,
          options: { file: string; json?: boolean; detach?: boolean; pidFile?: string; interval: number; propagationDelay: number },
        ) => {
          const lab = await loadLab();
          const spec = await loadSpec(options.file, globals);
          if (spec.nat.manager !== 'ec2') {
            throw new Failure(
              `${options.file}: the lab models stacks whose NATs are EC2 instances (nat.manager: ec2), not ${spec.nat.manager}`,
            );
          }
          const missing = lab.missingPrerequisites();
          if (missing.length > 0) {
            for (const problem of missing) process.stderr.write(`lab: ${problem}\n`);
            throw new Failure(
              `the lab cannot run here: ${missing.length} thing${missing.length === 1 ? '' : 's'} missing; nothing was changed`,
            );
          }
          const endpointUrl = globals.endpointUrl ?? process.env.AWS_ENDPOINT_URL_EC2 ?? process.env.AWS_ENDPOINT_URL;
          if (!endpointUrl) {
            throw new Failure('the lab follows an EC2 emulator: give its endpoint with --endpoint-url (e.g. http://127.0.0.1:5000)');
          }
          const upOptions: Lab.UpOptions = {
            specFile: options.file,
            stack: spec.name,
            region: spec.region,
            zones: spec.zones,
            endpointUrl,
            profile: globals.profile,
            intervalMs: options.interval,
            propagationDelayMs: options.propagationDelay,
            json: options.json ?? false,
            pidFile: options.pidFile,
            debug: globals.debug ?? false,
          };
          return options.detach ? lab.upDetached(process.argv.slice(1), upOptions, terminal) : lab.up(upOptions, terminal);
        },
      ),
    );

  labCommand
    .command('exec')
    .description("run a command inside the lab: in a zone's private host, nat/<zone>, an instance, router, internet-gateway or internet")
    .argument('<where>', 'a zone (its private host), nat/<zone>, an instance id, router, internet-gateway or internet')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('--stack <name>', 'the lab of this stack (needed only when several run)')
    .action(
      run(async (_globals, where: string, command: string[], options: { stack?: string }) => {
        const lab = await loadLab();
        return lab.exec(lab.namespaceOf(await lab.findLab(options.stack), where), command);
      }),
    );

  labCommand
    .command('status')
    .description("which NAT each private host's traffic leaves through, now (a probe from each host)")
    .option('--stack <name>', 'the lab of this stack (needed only when several run)')
    .option('--json', 'the lab description with the egress of each zone, as JSON')
    .action(
      run(async (_globals, options: { stack?: string; json?: boolean }) =>
        (await loadLab()).status(options.stack, options.json ?? false, terminal),
      ),
    );

  labCommand
    .command('down')
    .description('stop the lab and remove everything it made (namespaces, links, processes)')
    .option('--stack <name>', 'the lab of this stack (needed only when several run)')
    .option('-f, --file <spec>', 'the lab of the stack this spec names')
    .action(
      run(async (globals, options: { stack?: string; file?: string }) => {
        const stack = options.stack ?? (options.file ? (await loadSpec(options.file, globals)).name : undefined);
        return (await loadLab()).down(stack, terminal);
      }),
    );

  try {
    const oneDash = oneDashLongFlag(argv, program);
    if (oneDash) {
      write(process.stderr, `${oneDash}\n`);
      return 1;
    }
    await program.parseAsync(terraformSpellings(argv));
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1;
    const info = toErrorInfo(error);
    if (debug && !(error instanceof Failure) && !(lab && error instanceof lab.LabFailure))
      write(process.stderr, `${(error as Error)?.stack ?? error}\n`);
    if (error instanceof SpecRejected && loadedSpec) {
      for (const problem of error.problems) write(process.stderr, `${loadedSpec.problemLine(problem.path, problem.message)}\n`);
      const n = error.problems.length;
      write(process.stderr, `Error: ${loadedSpec.file}: ${n} problem${n === 1 ? '' : 's'} found by asking AWS; nothing was changed\n`);
      return 1;
    }
    if (error instanceof LockHeldError) {
      write(process.stderr, `${lockHeldMessage(error, argv)}\n`);
      return 1;
    }
    if (info.code === 'Interrupted') {
      write(process.stderr, `Stopped before any change (${info.message}).\n`);
      return exitCodeFor(info);
    }
    write(process.stderr, `Error: ${info.message}\n`);
    return 1;
  }
}

/** The spec this run loaded, to show problems AWS finds with it at their place in the file. */
let loadedSpec: { file: string; problemLine(path: readonly (string | number)[], message: string): string } | undefined;

/**
 * Terraform spells its long flags with one dash (-auto-approve, -lock=false). Commander would read
 * "-auto-approve" as the short flags -a -u -t … and say only "unknown option": a one-dash spelling
 * of a long option of dupsworks is named, with the spelling to use instead. (Nothing before `--`
 * is a command of its own: after it, arguments are the lab's to run.)
 */
function oneDashLongFlag(argv: string[], program: Command): string | undefined {
  const longs = new Set(['--help']);
  const collect = (command: Command): void => {
    for (const option of command.options) if (option.long) longs.add(option.long);
    command.commands.forEach(collect);
  };
  collect(program);
  const end = argv.indexOf('--');
  for (const arg of argv.slice(2, end < 0 ? undefined : end)) {
    const match = /^-([A-Za-z][\w-]+)(=.*)?$/.exec(arg);
    if (!match || !longs.has(`--${match[1]}`) || TERRAFORM_SPELLINGS[arg]) continue;
    return `error: unknown option '${arg}': dupsworks's long options take two dashes; did you mean --${match[1]}${match[2] ?? ''}?`;
  }
  return undefined;
}

/** Terraform's one-dash spellings that dupsworks takes as they are, as a Terraform user types them. */
const TERRAFORM_SPELLINGS: Record<string, string> = { '-destroy': '--destroy' };

function terraformSpellings(argv: string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((arg, i) => (i >= 2 && (end < 0 || i < end) ? (TERRAFORM_SPELLINGS[arg] ?? arg) : arg));
}

async function loadSpec(file: string, globals: GlobalOptions): Promise<Spec> {
  // Loaded here: --help and --version need neither the YAML parser nor the schema.
  const { formatProblem, formatProblems, loadSpecFile } = await import('./spec/load.js');
  const loaded = await loadSpecFile(file, globals.region ? { region: globals.region } : {});
  if (loaded.ok) {
    loadedSpec = { file, problemLine: (path, message) => formatProblem(loaded.problemAt(path, message)) };
    return loaded.spec;
  }
  for (const line of formatProblems(loaded.problems)) process.stderr.write(`${line}\n`);
  const n = loaded.problems.length;
  throw new Failure(`${file}: ${n} problem${n === 1 ? '' : 's'}; nothing was sent to AWS`);
}

interface RunFlags {
  file: string;
  autoApprove?: boolean;
  concurrency: number;
  lock: boolean;
  lockTimeout: number;
  stopTimeout: number;
  /** apply only. */
  readyTimeout?: number;
}

/**
 * One apply or destroy under the stack's lock. The first SIGINT or SIGTERM stops it gracefully
 * (no new changes, the running ones finish, the summary, the lock released; exit 130 or 143); a
 * second one exits at once, leaving the lock to expire.
 */
async function runLocked(
  operation: RunOperation,
  spec: Spec,
  globals: GlobalOptions,
  flags: RunFlags,
  adopt?: (fresh: Plan) => Plan,
): Promise<number> {
  const engine = await engineFor(spec, globals, terminalHost(globals, flags.autoApprove), flags);
  const interrupts = onInterrupts({
    first: () =>
      write(
        process.stderr,
        '\nInterrupt received. Stopping gracefully: no new changes start, running ones finish. Interrupt again to exit now.\n',
      ),
    second: () => write(process.stderr, '\nTwo interrupts received. Exiting immediately; the lock expires on its own.\n'),
  });
  try {
    const report = await engine.run({
      operation,
      signal: interrupts.signal,
      lock: flags.lock ? { waitSeconds: flags.lockTimeout, command: commandLine() } : false,
      autoApprove: flags.autoApprove ?? false,
      adopt,
    });
    if (report.stopped?.code === 'Interrupted') {
      if (!report.result) write(process.stderr, `Stopped before any change (${report.stopped.message}).\n`);
      return exitCodeFor(report.stopped);
    }
    if (report.stopped) throw new Failure(report.stopped.message);
    // As Terraform's: an apply that went through ends with the stack's outputs, read afresh when it changed anything.
    if (operation === 'apply' && report.plan && (!report.result || report.result.ok)) {
      const [{ liveStack }, { renderOutputs, stackOutputs }] = await Promise.all([import('./live/stack.js'), import('./live/outputs.js')]);
      const outputs = stackOutputs(liveStack(spec, report.result ? await engine.plan() : report.plan));
      if (outputs.length > 0)
        write(process.stdout, `\n${styleFor(globals).green(styleFor(globals).bold('Outputs:'))}\n\n${renderOutputs(outputs)}`);
    }
    // Deletes kept because something the spec does not manage still uses them: not done, so not 0.
    const held = report.plan ? heldChanges(report.plan).length : 0;
    return (report.result && !report.result.ok) || held > 0 ? 1 : 0;
  } finally {
    interrupts.dispose();
  }
}

interface ReconcileFlags {
  file: string;
  every: number;
  once?: boolean;
  allowReplace?: boolean;
  allowDestroy?: boolean;
  maxBackoff: number;
  logFormat: LogFormat;
  concurrency: number;
  lockTimeout: number;
  stopTimeout: number;
  readyTimeout: number;
}

/**
 * The reconcile loop, its log on stdout. SIGINT or SIGTERM stops it as it stops an apply (a round
 * under way finishes its running changes and releases the lock; a sleep ends at once); SIGHUP
 * (systemctl reload) starts the next round now.
 */
async function reconcile(spec: Spec, globals: GlobalOptions, flags: ReconcileFlags): Promise<number> {
  const log = logWriter({ format: flags.logFormat, debug: globals.debug ?? false, write: (line) => write(process.stdout, line) });
  const interrupts = onInterrupts({
    second: () => write(process.stderr, 'Two interrupts received. Exiting immediately; a lock held expires on its own.\n'),
  });
  const reconciler = new Reconciler({
    spec,
    readSpec: async () => {
      const { formatProblems, loadSpecFile } = await import('./spec/load.js');
      const loaded = await loadSpecFile(flags.file, globals.region ? { region: globals.region } : {});
      return loaded.ok ? loaded : { ok: false, problems: formatProblems(loaded.problems) };
    },
    engine: (current, io) => engineFor(current, globals, io, flags),
    log,
    everySeconds: flags.every,
    once: flags.once ?? false,
    maxBackoffSeconds: flags.maxBackoff,
    allowed: { replace: flags.allowReplace ?? false, destroy: flags.allowDestroy ?? false },
    lockWaitSeconds: flags.lockTimeout,
    command: commandLine(),
    signal: interrupts.signal,
  });
  const onHangup = () => reconciler.wake('SIGHUP');
  if (!flags.once) process.on('SIGHUP', onHangup);
  try {
    const last = await reconciler.run();
    if (last.outcome === 'stopped') return exitCodeFor(last.error!);
    return reconcileExitCode(last.outcome);
  } finally {
    process.off('SIGHUP', onHangup);
    interrupts.dispose();
  }
}

/**
 * The first SIGINT or SIGTERM aborts the returned signal (its reason: Interrupted, naming the
 * signal); a second one exits at once.
 */
function onInterrupts(say: { first?(signal: NodeJS.Signals): void; second(signal: NodeJS.Signals): void }): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      say.second(signal);
      process.exit(signalExitCode(signal));
    }
    say.first?.(signal);
    controller.abort(new DupsworksError('Interrupted', 'user', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function terminalHost(globals: GlobalOptions, autoApprove?: boolean): TerminalHost {
  return new TerminalHost({
    style: styleFor(globals, process.stderr),
    resultStyle: styleFor(globals),
    debug: globals.debug ?? false,
    autoApprove,
  });
}

/** The engine loads the AWS SDK: only the commands that call AWS load it, so --help and validate start fast. */
/** The live stack, read off a fresh plan: read-only (no lock, nothing written). */
async function liveOf(spec: Spec, globals: GlobalOptions): Promise<LiveStack> {
  const [{ liveStack }, engine] = await Promise.all([import('./live/stack.js'), engineFor(spec, globals, terminalHost(globals))]);
  return liveStack(spec, await engine.plan());
}

async function engineFor(spec: Spec, globals: GlobalOptions, io: IoHost, flags?: Partial<RunFlags>): Promise<Engine> {
  const { Engine } = await import('./engine.js');
  return new Engine({
    spec,
    io,
    profile: globals.profile,
    endpointUrl: globals.endpointUrl,
    opsworksEndpointUrl: globals.opsworksEndpointUrl,
    concurrency: flags?.concurrency,
    retryTimeoutSeconds: globals.retryTimeout,
    instanceWaitSeconds: globals.waitTimeout,
    timeouts: { connectSeconds: globals.connectTimeout, requestSeconds: globals.requestTimeout },
    lock: { table: globals.lockTable, leaseSeconds: globals.lockLease },
    graceSeconds: flags?.stopTimeout,
    readyTimeoutSeconds: flags?.readyTimeout,
  });
}

function lockHeldMessage(error: LockHeldError, argv: string[]): string {
  const at = Math.max(argv.indexOf('-f'), argv.indexOf('--file'));
  const file = at >= 0 ? argv[at + 1] : 'SPEC';
  return [
    'Error: Error acquiring the stack lock',
    '',
    `${error.message}. Another apply, destroy or reconcile of this stack is running, or one died holding the lock.`,
    ...lockInfoLines(error.holder),
    '',
    'Wait for it with --lock-timeout SECONDS. A lock whose run is gone expires by itself at the time above;',
    `to break it sooner: dupsworks force-unlock -f ${file} ${error.holder.id}`,
  ].join('\n');
}

/** 128 + the signal's number, as shells report a process ended by that signal. */
function exitCodeFor(interrupted: ErrorInfo): number {
  return signalExitCode(/SIGTERM/.test(interrupted.message) ? 'SIGTERM' : 'SIGINT');
}

function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (signal === 'SIGTERM' ? 15 : 2);
}

/** What the lock shows as its holder's command. */
function commandLine(): string {
  return ['dupsworks', ...process.argv.slice(2)].join(' ');
}

function styleFor(globals: GlobalOptions, stream: NodeJS.WriteStream = process.stdout): Style {
  const color = globals.color && !process.env.NO_COLOR && stream.isTTY === true;
  return color ? colorStyle : plainStyle;
}

function concurrencyOption(): Option {
  return new Option('--concurrency <n>', 'how many changes to make at once').argParser(positiveInteger).default(10);
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of 1 or more');
  return n;
}

function lockOption(): Option {
  return new Option('--lock <true|false>', "take the stack's lock (false: like Terraform's -lock=false; only when nothing else can run)")
    .argParser(boolean)
    .default(true);
}

function lockTimeoutOption(): Option {
  return new Option('--lock-timeout <seconds>', "how long to wait for another run's lock (0: fail at once)")
    .argParser(zeroOrSeconds)
    .default(0);
}

function stopTimeoutOption(): Option {
  return new Option('--stop-timeout <seconds>', 'after an interrupt, how long running changes may take to finish')
    .argParser(seconds)
    .default(DEFAULT_GRACE_SECONDS);
}

function readyTimeoutOption(): Option {
  return new Option(
    '--ready-timeout <seconds>',
    "in a rollout, how long a new NAT may take to be ready (its watcher's health tag) before the rollout stops",
  )
    .argParser(seconds)
    .default(DEFAULT_READY_TIMEOUT_SECONDS);
}

function boolean(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('expected true or false');
}

/** A duration: seconds ("90"), or with a unit ("90s", "5m", "1h"). */
function zeroOrSeconds(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError('expected a duration such as 30, 30s, 5m or 1h');
  return Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? 's') as 's' | 'm' | 'h'];
}

function seconds(value: string): number {
  const n = zeroOrSeconds(value);
  if (n <= 0) throw new InvalidArgumentError('expected a duration above 0, such as 30, 30s, 5m or 1h');
  return n;
}
