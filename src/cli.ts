// The command line: parse, call the engine, print. Results go to stdout, progress and problems to
// stderr. Exit codes: 0 success (plan: no changes), 1 error, 2 plan with changes (--detailed-exitcode).

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Engine } from './engine.js';
import { httpUrl, serveOpsWorksEmulator, wholeNumber, type OpsWorksCommandOptions } from './emulator/opsworks/command.js';
import { loadPlan, planToApply, savePlan } from './planfile.js';
import { describeError, type ApplyResult } from './planner/apply.js';
import { planToJson } from './planner/json.js';
import { hasChanges, heldChanges, type Plan } from './planner/plan.js';
import { colorStyle, plainStyle, renderPlan, type Style } from './planner/render.js';
import { formatProblem, loadSpecFile } from './spec/load.js';
import type { Spec } from './spec/types.js';
import { TerminalHost } from './terminal.js';
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
}

/** Thrown for a failure already explained to the user: exit 1, no stack trace. */
class Failure extends Error {}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  let debug = argv.includes('--debug');
  const program = new Command('dupsworks')
    .description('Builds and heals an AWS VPC whose private subnets reach the internet through a ring of NAT instances.')
    .version(VERSION, '-V, --version', 'print the version of dupsworks (saved plans record it)')
    .option('--region <region>', 'AWS region (overrides the spec)')
    .option('--profile <name>', 'named profile from the AWS shared config and credentials files')
    .option('--endpoint-url <url>', 'send AWS calls to this endpoint (e.g. a local emulator); AWS_ENDPOINT_URL works too')
    .option('--opsworks-endpoint-url <url>', 'send OpsWorks calls here (the OpsWorks emulator); AWS_ENDPOINT_URL_OPSWORKS works too')
    .option('--no-color', 'plain output (NO_COLOR works too)')
    .option('--debug', 'show retries, timings and stack traces')
    .addOption(
      new Option('--retry-timeout <seconds>', 'how long to keep retrying transient AWS errors').argParser(positiveNumber).default(300),
    )
    .addOption(
      new Option('--wait-timeout <seconds>', 'how long to wait for an instance to run, come online or terminate')
        .argParser(positiveNumber)
        .default(1800),
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
        process.stdout.write(`${options.file}: valid (stack ${spec.name}, ${spec.zones.length} zones, region ${spec.region})\n`);
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
    .action(
      run(async (globals, options: { file: string; json?: boolean; out?: string; detailedExitcode?: boolean }) => {
        const spec = await loadSpec(options.file, globals);
        const plan = await engineFor(spec, globals).plan();
        process.stdout.write(options.json ? `${JSON.stringify(planToJson(plan), null, 2)}\n` : renderPlan(plan, styleFor(globals)));
        if (options.out) {
          await savePlan(options.out, plan, spec);
          process.stderr.write(
            `Saved the plan to ${options.out}; run "dupsworks apply -f ${options.file} ${options.out}" to apply exactly this plan.\n`,
          );
        }
        return options.detailedExitcode && hasChanges(plan) ? 2 : 0;
      }),
    );

  program
    .command('apply')
    .description('make AWS match the spec (build, repair drift, replace dead NATs)')
    .argument('[planfile]', 'a plan saved with `plan --out`; refused if the stack changed since')
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(concurrencyOption())
    .action(
      run(async (globals, planfile: string | undefined, options: { file: string; autoApprove?: boolean; concurrency: number }) => {
        const spec = await loadSpec(options.file, globals);
        // A plan file of another version or spec is refused before any AWS call.
        const saved = planfile ? await loadPlan(planfile, spec) : undefined;
        const engine = engineFor(spec, globals, options.concurrency);
        const style = styleFor(globals);
        let plan = await engine.plan();
        if (saved) {
          plan = planToApply(saved, plan, planfile!);
        } else {
          process.stdout.write(renderPlan(plan, style));
          if (!hasChanges(plan)) return heldChanges(plan).length > 0 ? 1 : 0;
          await approve(options.autoApprove, 'Do you want to perform these actions?', style, globals);
        }
        if (!hasChanges(plan)) return heldChanges(plan).length > 0 ? 1 : 0;
        return report(await engine.apply(plan), 'Apply', style, plan);
      }),
    );

  program
    .command('destroy')
    .description("delete every resource carrying this stack's tag (and nothing else)")
    .requiredOption('-f, --file <spec>', 'the spec (YAML)')
    .option('--auto-approve', 'do not ask for confirmation')
    .addOption(concurrencyOption())
    .action(
      run(async (globals, options: { file: string; autoApprove?: boolean; concurrency: number }) => {
        const spec = await loadSpec(options.file, globals);
        const engine = engineFor(spec, globals, options.concurrency);
        const style = styleFor(globals);
        const plan = await engine.destroyPlan();
        process.stdout.write(renderPlan(plan, style, 'destroy'));
        if (!hasChanges(plan)) return heldChanges(plan).length > 0 ? 1 : 0;
        await approve(options.autoApprove, `Do you really want to destroy every resource of stack ${spec.name}?`, style, globals);
        return report(await engine.apply(plan), 'Destroy', style, plan);
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

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1;
    if (!(error instanceof Failure) && debug) process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
    process.stderr.write(`Error: ${describeError(error)}\n`);
    return 1;
  }
}

async function loadSpec(file: string, globals: GlobalOptions): Promise<Spec> {
  const loaded = await loadSpecFile(file, globals.region ? { region: globals.region } : {});
  if (loaded.ok) return loaded.spec;
  for (const problem of loaded.problems) process.stderr.write(`${formatProblem(problem)}\n`);
  const n = loaded.problems.length;
  throw new Failure(`${file}: ${n} problem${n === 1 ? '' : 's'}; nothing was sent to AWS`);
}

function engineFor(spec: Spec, globals: GlobalOptions, concurrency?: number): Engine {
  return new Engine({
    spec,
    io: new TerminalHost({ style: styleFor(globals, process.stderr), debug: globals.debug ?? false }),
    profile: globals.profile,
    endpointUrl: globals.endpointUrl,
    opsworksEndpointUrl: globals.opsworksEndpointUrl,
    concurrency,
    retryTimeoutSeconds: globals.retryTimeout,
    instanceWaitSeconds: globals.waitTimeout,
  });
}

async function approve(autoApprove: boolean | undefined, question: string, style: Style, globals: GlobalOptions): Promise<void> {
  if (autoApprove) return;
  if (!process.stdin.isTTY) {
    throw new Failure('this needs approval: run it on a terminal and answer "yes", or pass --auto-approve');
  }
  const host = new TerminalHost({ style, debug: globals.debug ?? false });
  if (!(await host.confirm(style.bold(question)))) throw new Failure('cancelled; nothing was changed');
}

function report(result: ApplyResult, verb: 'Apply' | 'Destroy', style: Style, plan: Plan): number {
  const done = result.outcomes.filter((o) => o.status === 'done');
  const count = (operation: string) => done.filter((o) => o.operation === operation).length;
  const totals = `${count('create')} added, ${count('update')} changed, ${count('delete')} destroyed`;
  const held = heldChanges(plan);
  if (result.ok && held.length > 0) {
    process.stdout.write(
      `\n${style.yellow(style.bold(`${verb} incomplete.`))} Resources: ${totals}; ${held.length} kept, still in use by what this spec ` +
        `does not manage (see the plan above): ${held.map((c) => c.id).join(', ')}.\n`,
    );
    return 1;
  }
  if (result.ok) {
    process.stdout.write(`\n${style.green(style.bold(`${verb} complete!`))} Resources: ${totals}.\n`);
    return 0;
  }
  const lines = [`\n${style.red(style.bold(`${verb} failed.`))} Done: ${totals}.`];
  if (done.length > 0) lines.push(`  ${style.green('done')}         ${done.map((o) => `${o.id} (${o.operation})`).join(', ')}`);
  for (const o of result.outcomes) {
    if (o.status === 'failed') lines.push(`  ${style.red('failed')}       ${o.id} (${o.operation}): ${o.error}`);
    if (o.status === 'skipped') lines.push(`  ${style.yellow('not started')}  ${o.id} (${o.operation}): waits on ${o.because}`);
  }
  lines.push('Run the same command again to finish: it converges from wherever this stopped.');
  process.stdout.write(`${lines.join('\n')}\n`);
  return 1;
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

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number of seconds above 0');
  return n;
}
