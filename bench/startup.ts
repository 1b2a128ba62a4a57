// Part of `npm run bench`: the start-up of the commands that need no AWS (--version, --help,
// validate of the example), as a user runs them, a fresh Node process each, next to `node -e 0` in
// the same run. The subjects take turns, so a noisy machine slows all of them alike.
//
// Goals: validate under 0.4 s, and within 3x of `node -e 0` (p50 against p50).

import { join } from 'node:path';
import { CLI, timed } from './spec-input.js';
import { median, percentile, table } from './stats.js';

export interface StartupFigure {
  command: string;
  exitCode: number;
  p50Ms: number;
  p95Ms: number;
  samplesMs: number[];
}

export interface StartupGoal {
  goal: string;
  measured: number;
  limit: number;
  pass: boolean;
}

const SUBJECTS: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['dupsworks --version', [CLI, '--version']],
  ['dupsworks --help', [CLI, '--help']],
  ['dupsworks validate -f examples/ha-nat.yaml', [CLI, 'validate', '-f', join(process.cwd(), 'examples', 'ha-nat.yaml')]],
];

const VALIDATE_LIMIT_MS = 400;
const VALIDATE_LIMIT_RATIO = 3;

export async function benchStartup(reps: number, progress: (line: string) => void): Promise<StartupFigure[]> {
  progress(`start-up: ${reps} fresh processes each, alternating`);
  for (const [, args] of SUBJECTS) await timed(args); // untimed: the first start reads the modules from disk
  const runs = SUBJECTS.map(() => [] as { ms: number; exitCode: number }[]);
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, [, args]] of SUBJECTS.entries()) runs[i]!.push(await timed(args));
  }
  return SUBJECTS.map(([command], i) => {
    const sorted = runs[i]!.map((r) => r.ms).sort((a, b) => a - b);
    return {
      command,
      exitCode: Math.max(...runs[i]!.map((r) => r.exitCode)),
      p50Ms: round(median(sorted)),
      p95Ms: round(percentile(sorted, 95)),
      samplesMs: runs[i]!.map((r) => round(r.ms)),
    };
  });
}

export function startupGoals(figures: StartupFigure[]): StartupGoal[] {
  const node = figures[0]!;
  const validate = figures.find((f) => f.command.includes('validate'))!;
  const ratio = round(validate.p50Ms / node.p50Ms);
  return [
    {
      goal: 'validate p50 ms',
      measured: validate.p50Ms,
      limit: VALIDATE_LIMIT_MS,
      pass: validate.p50Ms < VALIDATE_LIMIT_MS && validate.exitCode === 0,
    },
    { goal: 'validate p50 / node -e 0 p50', measured: ratio, limit: VALIDATE_LIMIT_RATIO, pass: ratio <= VALIDATE_LIMIT_RATIO },
  ];
}

export function startupReport(figures: StartupFigure[], goals: StartupGoal[]): string {
  const node = figures[0]!;
  const rows = [['start-up, fresh process', 'exit', 'p50 ms', 'p95 ms', 'x node -e 0', 'runs']];
  for (const f of figures) {
    rows.push([
      f.command,
      String(f.exitCode),
      f.p50Ms.toFixed(0),
      f.p95Ms.toFixed(0),
      (f.p50Ms / node.p50Ms).toFixed(2),
      String(f.samplesMs.length),
    ]);
  }
  const lines = goals.map(
    (g) => `  ${g.pass ? 'PASS' : 'FAIL'}  ${g.goal}: ${g.measured} (goal ${g.goal.includes('/') ? '<=' : '<'} ${g.limit})`,
  );
  return [table(rows, 1), '', 'Commands that need no AWS load no SDK module (test/unit/cli-load.test.ts checks it):', ...lines].join('\n');
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
