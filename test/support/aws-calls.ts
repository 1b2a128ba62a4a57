// Test support: what test/support/record-calls.ts recorded while `npm test` ran, every AWS
// operation dupsworks made, to check the IAM policy against (test/after/iam-coverage.test.ts).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The directory the calls are recorded in, when this run records them. */
export function callsDir(): string | undefined {
  return process.env.DUPSWORKS_AWS_CALLS || undefined;
}

/** Every action dupsworks called in the recorded runs ("ec2:RunInstances"), with how often. */
export function recordedCalls(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of readdirSync(dir).filter((f) => f.startsWith('calls-'))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean)) {
      const { action } = JSON.parse(line) as { action: string };
      counts.set(action, (counts.get(action) ?? 0) + 1);
    }
  }
  return counts;
}
