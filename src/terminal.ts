// The IoHost for a human at a terminal: progress to stderr in Terraform's words, questions on the
// TTY. Results (plans, summaries) are printed by the CLI to stdout, not here.

import { createInterface } from 'node:readline/promises';
import type { EngineEvent, IoHost, Sequenced } from './io.js';
import type { Operation } from './planner/graph.js';
import type { Style } from './planner/render.js';

const WORDS: Record<Operation, { doing: string; done: string; progress: string }> = {
  create: { doing: 'Creating...', done: 'Creation complete', progress: 'still creating...' },
  update: { doing: 'Modifying...', done: 'Modifications complete', progress: 'still modifying...' },
  delete: { doing: 'Destroying...', done: 'Destruction complete', progress: 'still destroying...' },
};

export interface TerminalOptions {
  style: Style;
  debug: boolean;
  stderr?: NodeJS.WritableStream;
  stdin?: NodeJS.ReadStream;
}

export class TerminalHost implements IoHost {
  private readonly stderr: NodeJS.WritableStream;
  private readonly stdin: NodeJS.ReadStream;

  constructor(private readonly options: TerminalOptions) {
    this.stderr = options.stderr ?? process.stderr;
    this.stdin = options.stdin ?? process.stdin;
  }

  notify(event: Sequenced<EngineEvent>): void {
    const line = this.format(event);
    if (line !== undefined) this.stderr.write(`${line}\n`);
  }

  async confirm(question: string): Promise<boolean> {
    if (!this.stdin.isTTY) return false;
    const rl = createInterface({ input: this.stdin, output: this.stderr });
    try {
      const answer = await rl.question(`${question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: `);
      return answer.trim() === 'yes';
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
        return `${style.bold(e.id)}: ${style.red(`${e.operation} failed`)}: ${e.error}`;
      case 'step-skipped':
        return `${style.bold(e.id)}: ${style.yellow('not started')} (waits on ${e.because}, which failed)`;
      case 'retry':
        return debug ? style.dim(`retrying ${e.operation} after ${e.code} (attempt ${e.attempt}, in ${e.delayMs} ms)`) : undefined;
      case 'debug':
        return debug ? style.dim(e.message) : undefined;
    }
  }
}
