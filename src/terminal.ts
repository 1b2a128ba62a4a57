// The IoHost for a human at a terminal: progress to stderr in Terraform's words, the plan and the
// summary to stdout, questions on the TTY. Output is best effort: a closed pipe (`| head`) loses
// output, never work.

import { createInterface } from 'node:readline/promises';
import { DupsworksError } from './errors.js';
import type { EngineEvent, IoHost, RunOperation, Stamped } from './io.js';
import { who, type LockInfo } from './lock/lease.js';
import type { ApplyResult } from './planner/apply.js';
import type { Operation } from './planner/graph.js';
import { renderPlan, type Style } from './planner/render.js';
import { heldChanges } from './planner/plan.js';

const WORDS: Record<Operation, { doing: string; done: string; progress: string }> = {
  create: { doing: 'Creating...', done: 'Creation complete', progress: 'still creating...' },
  update: { doing: 'Modifying...', done: 'Modifications complete', progress: 'still modifying...' },
  delete: { doing: 'Destroying...', done: 'Destruction complete', progress: 'still destroying...' },
  ready: { doing: 'Waiting until ready...', done: 'Ready', progress: 'still waiting until ready...' },
};

export interface TerminalOptions {
  /** For stderr (progress, questions). */
  style: Style;
  /** For stdout (plan, summary); default `style`. */
  resultStyle?: Style;
  debug: boolean;
  /** Apply without asking. */
  autoApprove?: boolean;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  stdin?: NodeJS.ReadStream;
}

export class TerminalHost implements IoHost {
  private readonly stdout: NodeJS.WritableStream;
  private readonly stderr: NodeJS.WritableStream;
  private readonly stdin: NodeJS.ReadStream;
  /** The deletes the plan of this run keeps (still in use by what the spec does not manage). */
  private held: string[] = [];

  constructor(private readonly options: TerminalOptions) {
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.stdin = options.stdin ?? process.stdin;
  }

  notify(event: Stamped<EngineEvent>): void {
    if (event.type === 'plan-ready') {
      this.held = heldChanges(event.plan).map((c) => c.id);
      write(this.stdout, renderPlan(event.plan, this.options.resultStyle ?? this.options.style, event.operation));
      return;
    }
    if (event.type === 'run-done') {
      write(this.stdout, summary(event.operation, event.result, this.options.resultStyle ?? this.options.style, this.held));
      return;
    }
    const line = this.format(event);
    if (line !== undefined) write(this.stderr, `${line}\n`);
  }

  async confirm(question: string): Promise<boolean> {
    if (this.options.autoApprove) return true;
    if (!this.stdin.isTTY) {
      throw new DupsworksError(
        'NeedsApproval',
        'user',
        'this needs approval: run it on a terminal and answer "yes", or pass --auto-approve',
      );
    }
    const rl = createInterface({ input: this.stdin, output: this.stderr });
    // Ctrl-C at the prompt reaches readline, not the process: it answers no, as Terraform's prompt does.
    rl.on('SIGINT', () => rl.close());
    try {
      const answer = await rl.question(
        `${this.options.style.bold(question)}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `,
      );
      return answer.trim() === 'yes';
    } catch {
      return false;
    } finally {
      rl.close();
    }
  }

  private format(e: EngineEvent): string | undefined {
    const { style, debug } = this.options;
    switch (e.type) {
      case 'observe-start':
        return style.dim(`Reading stack ${e.stack} in ${e.region}...`);
      case 'observe-done':
        return debug ? style.dim(`Read ${e.resources} resources in ${e.elapsedMs} ms`) : undefined;
      case 'step-start':
        return `${style.bold(e.id)}: ${WORDS[e.operation].doing}${e.physicalId ? ` [id=${e.physicalId}]` : ''}`;
      case 'step-progress':
        return `${style.bold(e.id)}: ${WORDS[e.operation].progress} [${e.elapsedSeconds}s elapsed]`;
      case 'step-done':
        return `${style.bold(e.id)}: ${WORDS[e.operation].done} after ${e.elapsedSeconds}s${e.physicalId ? ` [id=${e.physicalId}]` : ''}`;
      case 'step-failed':
        return `${style.bold(e.id)}: ${style.red(`${e.operation} failed`)}: ${e.error.message}`;
      case 'step-skipped':
        return `${style.bold(e.id)}: ${style.yellow('not started')} (waits on ${e.because}, which failed)`;
      case 'ready-check':
        return `${style.bold(e.id)}: ${e.ready ? 'ready' : 'not ready yet'} [id=${e.physicalId}, ${e.elapsedSeconds}s]: ${e.reason}`;
      case 'retry':
        return debug ? style.dim(`retrying ${e.operation} after ${e.code} (attempt ${e.attempt}, in ${e.delayMs} ms)`) : undefined;
      case 'lock-waiting':
        return style.yellow(
          `Acquiring the lock of stack ${e.holder.stack}: held by ${who(e.holder)} since ${e.holder.since}; waiting up to ${e.waitSeconds}s...`,
        );
      case 'lock-acquired':
        if (e.tookOverFrom) {
          return style.yellow(
            `Took over the expired lock of stack ${e.lock.stack}, held by ${who(e.tookOverFrom)} since ${e.tookOverFrom.since}`,
          );
        }
        return debug ? style.dim(`Acquired the lock of stack ${e.lock.stack} [ID ${e.lock.id}]`) : undefined;
      case 'lock-released':
        return debug ? style.dim(`Released the lock of stack ${e.lock.stack}`) : undefined;
      case 'stopping':
        return style.yellow(
          `Stopping (${e.reason.message}): no new changes start` +
            (e.running.length > 0 ? `; waiting up to ${e.graceSeconds}s for ${e.running.join(', ')} to finish` : ''),
        );
      case 'debug':
        return debug ? style.dim(e.message) : undefined;
      case 'plan-ready':
      case 'run-done':
        return undefined;
    }
  }
}

/**
 * Terraform's closing lines: what was done, and, if not everything, what was not and why. `held`:
 * the deletes the plan kept because something the spec does not manage still uses them.
 */
export function summary(operation: RunOperation, result: ApplyResult, style: Style, held: readonly string[] = []): string {
  const verb = operation === 'destroy' ? 'Destroy' : 'Apply';
  const done = result.outcomes.filter((o) => o.status === 'done');
  const count = (op: string) => done.filter((o) => o.operation === op).length;
  // A destroy only deletes: Terraform's "Resources: N destroyed."
  const totals =
    operation === 'destroy'
      ? `${count('delete')} destroyed`
      : `${count('create')} added, ${count('update')} changed, ${count('delete')} destroyed`;
  if (result.ok && held.length > 0) {
    return (
      `\n${style.yellow(style.bold(`${verb} incomplete.`))} Resources: ${totals}; ${held.length} kept, still in use by what this spec ` +
      `does not manage (see the plan above): ${held.join(', ')}.\n`
    );
  }
  if (result.ok) return `\n${style.green(style.bold(`${verb} complete!`))} Resources: ${totals}.\n`;
  const gate = result.outcomes.find((o) => o.operation === 'ready' && o.status === 'failed');
  const headline = result.stopped
    ? `${verb} stopped (${result.stopped.message}).`
    : gate
      ? `${verb} failed: ${gate.error?.message}.`
      : `${verb} failed.`;
  const lines = [`\n${style.red(style.bold(headline))} Done: ${totals}.`];
  if (done.length > 0) lines.push(`  ${style.green('done')}         ${done.map((o) => `${o.id} (${o.operation})`).join(', ')}`);
  for (const o of result.outcomes) {
    const what = `${o.id} (${o.operation})`;
    if (o.status === 'failed') lines.push(`  ${style.red('failed')}       ${what}: ${o.error?.message}`);
    if (o.status === 'skipped') lines.push(`  ${style.yellow('not started')}  ${what}: waits on ${o.because}`);
    if (o.status === 'cancelled') lines.push(`  ${style.yellow('not started')}  ${what}: stopped first`);
    if (o.status === 'abandoned') lines.push(`  ${style.red('unfinished')}   ${what}: still running when the grace after the stop ran out`);
  }
  if (gate) {
    lines.push(
      `${gate.id} keeps what it replaces serving, and the steps after it were not started. The new one is left for you to look at ` +
        '(its console output, its watcher); the next apply deletes it. Fix the cause, then run the same command again: the ' +
        'rollout resumes from this step.',
    );
  } else lines.push('Run the same command again to finish: it converges from wherever this stopped.');
  return `${lines.join('\n')}\n`;
}

/** The lock's holder, in Terraform's "Lock Info" form. */
export function lockInfoLines(holder: LockInfo): string[] {
  return [
    'Lock Info:',
    `  ID:        ${holder.id}`,
    `  Stack:     ${holder.stack} (DynamoDB table ${holder.table})`,
    `  Who:       ${holder.user}@${holder.host}, pid ${holder.pid}`,
    `  Operation: ${holder.operation}`,
    ...(holder.command ? [`  Command:   ${holder.command}`] : []),
    `  Since:     ${holder.since}`,
    `  Expires:   ${holder.expires} (unless its holder renews it)`,
  ];
}

/** Writes what it can; a closed pipe or terminal is not the run's failure. */
export function write(stream: NodeJS.WritableStream, text: string): void {
  try {
    stream.write(text);
  } catch {
    // Destroyed stream: the reader is gone.
  }
}
