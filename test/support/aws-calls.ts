// Test support: a record of every AWS operation dupsworks makes while the tests run, to check the
// IAM policy against (test/after/iam-coverage.test.ts). `npm test` sets DUPSWORKS_AWS_CALLS to a
// directory; then every moto_server the tests start records each request it gets (moto's own
// recorder, one file per server), and every OpsWorks emulator useOpsWorks() starts appends the
// operations it is asked for. dupsworks's requests are told from the tests' own (a test damaging
// the world, the lab reading it) by their User-Agent, which carries "app/dupsworks".

import { appendFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { OpsWorksCall } from '../../src/emulator/opsworks/index.js';
import { ROOT } from './cli.js';

// "app/dupsworks#0.1.0" (the OpsWorks client, of an older SDK, writes "app/dupsworks-0.1.0").
const ENGINE = /\bapp\/dupsworks\b/;

/** The directory the calls are recorded in, when this run records them. */
export function callsDir(): string | undefined {
  const dir = process.env.DUPSWORKS_AWS_CALLS;
  return dir ? resolve(ROOT, dir) : undefined;
}

/** moto_server's environment for it to record every request (nothing when this run does not record). */
export function motoRecording(port: number): NodeJS.ProcessEnv {
  const dir = callsDir();
  if (!dir) return {};
  mkdirSync(dir, { recursive: true });
  return { MOTO_ENABLE_RECORDING: 'True', MOTO_RECORDER_FILEPATH: join(dir, `moto-${process.pid}-${port}.jsonl`) };
}

/** For the OpsWorks emulator's onCall: keeps dupsworks's operations (nothing when this run does not record). */
export function recordOpsWorksCall(call: OpsWorksCall): void {
  const dir = callsDir();
  if (!dir || !ENGINE.test(call.userAgent)) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, `opsworks-${process.pid}.jsonl`), `${JSON.stringify({ action: `opsworks:${call.operation}` })}\n`);
}

interface MotoEntry {
  headers: Record<string, string>;
  body?: string;
  body_encoded?: boolean;
}

/** Every action dupsworks called in the recorded runs ("ec2:RunInstances"), with how often. */
export function recordedCalls(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  const count = (action: string) => counts.set(action, (counts.get(action) ?? 0) + 1);
  for (const file of readdirSync(dir)) {
    const lines = readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean);
    if (file.startsWith('opsworks-')) {
      for (const line of lines) count((JSON.parse(line) as { action: string }).action);
      continue;
    }
    for (const line of lines) {
      const entry = JSON.parse(line) as MotoEntry;
      const header = (name: string) => Object.entries(entry.headers).find(([k]) => k.toLowerCase() === name)?.[1] ?? '';
      if (!ENGINE.test(header('user-agent'))) continue;
      const action = actionOf(entry, header);
      if (action) count(action);
    }
  }
  return counts;
}

// The service is the one the request was signed for (Credential=<key>/<date>/<region>/<service>/…);
// the action is X-Amz-Target's (JSON protocols) or the form's Action (EC2's query protocol).
function actionOf(entry: MotoEntry, header: (name: string) => string): string | undefined {
  const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(header('authorization'))?.[1];
  if (!service) return undefined;
  const target = header('x-amz-target');
  if (target) return `${service}:${target.slice(target.lastIndexOf('.') + 1)}`;
  const body = entry.body_encoded ? Buffer.from(entry.body ?? '', 'base64').toString('utf8') : (entry.body ?? '');
  const action = new URLSearchParams(body).get('Action');
  return action ? `${service}:${action}` : undefined;
}
