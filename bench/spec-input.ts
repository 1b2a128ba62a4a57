// Part of `npm run bench`: what `dupsworks validate` costs on hostile input, as the CLI a user runs
// (a fresh Node process each time), next to `node -e 0` and the canonical example in the same run.
//
//   example        examples/ha-nat.yaml: the baseline of a real spec
//   50 MB value    the example plus an unknown key holding 50 MB (refused by size before parsing)
//   5 MB text      one 5 MB line of text (refused by size)
//   1 MB of keys   the example plus ~92,000 unknown keys, just under the size bound: fully parsed,
//                  every problem located (the time must grow in proportion to the size)
//
// Peak memory is the process's own maxRSS, read at its exit.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median, table } from './stats.js';

export interface InputFigure {
  input: string;
  bytes: number;
  exitCode: number;
  medianMs: number;
  maxMs: number;
  /** Peak resident memory of the slowest run, in MiB. */
  maxRssMiB: number;
}

export const CLI = join(process.cwd(), 'bin', 'dupsworks.js');

// Runs `node <args>` and reports its wall time, exit code and its own peak RSS (written at exit to fd 3).
export function timed(args: string[]): Promise<{ ms: number; exitCode: number; maxRssKiB: number }> {
  const reporter = "import { writeSync } from 'node:fs'; process.on('exit', () => writeSync(3, String(process.resourceUsage().maxRSS)));";
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(reporter)}`, ...args], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    });
    let rss = '';
    child.stdio[3]!.on('data', (chunk: Buffer) => (rss += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - started, exitCode: code ?? -1, maxRssKiB: Number(rss) || 0 }));
  });
}

export async function benchSpecInput(reps: number, progress: (line: string) => void): Promise<InputFigure[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dupsworks-bench-spec-'));
  try {
    const example = readFileSync(join(process.cwd(), 'examples', 'ha-nat.yaml'), 'utf8');
    const keys: string[] = [];
    for (let i = 0, size = example.length; size < 1_000_000; i++) {
      keys.push(`zz${i}: v`);
      size += keys[keys.length - 1]!.length + 1;
    }
    const inputs: [string, string | undefined][] = [
      ['node -e 0', undefined],
      ['example', example],
      ['50 MB value', `${example}extra: ${'a'.repeat(50_000_000)}\n`],
      ['5 MB text', `${'x'.repeat(5_000_000)}\n`],
      ['1 MB of keys', `${example}${keys.join('\n')}\n`],
    ];
    const figures: InputFigure[] = [];
    for (const [input, text] of inputs) {
      const file = join(dir, `${figures.length}.yaml`);
      if (text !== undefined) writeFileSync(file, text);
      const args = text === undefined ? ['-e', '0'] : [CLI, 'validate', '-f', file];
      progress(`validate: ${input}…`);
      await timed(args); // untimed: the first start-up reads the modules from disk
      const runs = [];
      for (let i = 0; i < reps; i++) runs.push(await timed(args));
      const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
      const slowest = runs.reduce((a, b) => (b.ms > a.ms ? b : a));
      figures.push({
        input,
        bytes: text === undefined ? 0 : Buffer.byteLength(text),
        exitCode: slowest.exitCode,
        medianMs: median(ms),
        maxMs: ms[ms.length - 1]!,
        maxRssMiB: slowest.maxRssKiB / 1024,
      });
    }
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function specInputReport(figures: InputFigure[]): string {
  const base = figures[0]!;
  const rows = [['validate input', 'bytes', 'exit', 'median ms', 'max ms', 'x node -e 0', 'peak MiB']];
  for (const f of figures) {
    rows.push([
      f.input,
      String(f.bytes),
      String(f.exitCode),
      f.medianMs.toFixed(0),
      f.maxMs.toFixed(0),
      (f.medianMs / base.medianMs).toFixed(1),
      f.maxRssMiB.toFixed(0),
    ]);
  }
  return [
    table(rows, 1),
    '',
    'Hostile specs (goal: a 50 MB file is refused in under 5 s and 500 MiB; time grows with size, not faster).',
  ].join('\n');
}
