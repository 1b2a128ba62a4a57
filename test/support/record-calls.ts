// Loaded into every Node process of `npm test` (NODE_OPTIONS=--import, with DUPSWORKS_AWS_CALLS
// naming a directory): the test files, the CLI runs they start, the installed package's. Each
// HTTP request dupsworks sends (its User-Agent carries "app/dupsworks") is appended to a file of
// the directory as its IAM action, "ec2:RunInstances": the service it was signed for (the
// credential scope of its Authorization) and the operation (X-Amz-Target, or the form's Action
// for EC2's query protocol). The tests' own clients, the lab's and the emulators' are not
// dupsworks's and are left out. test/after/iam-coverage.test.ts reads the files.
//
// It never breaks the process it is loaded into: a request it cannot read, or a file it cannot
// write, is skipped.

import { appendFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

const dir = process.env.DUPSWORKS_AWS_CALLS;

// "app/dupsworks#0.1.0" (the OpsWorks client, of an older SDK, writes "app/dupsworks-0.1.0").
const ENGINE = /\bapp\/dupsworks\b/;

/** The IAM action of a request dupsworks sends, or undefined for one it does not. */
export function actionOf(headers: { userAgent: string; authorization: string; target: string }, body: string): string | undefined {
  if (!ENGINE.test(headers.userAgent)) return undefined;
  const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(headers.authorization)?.[1];
  if (!service) return undefined;
  if (headers.target) return `${service}:${headers.target.slice(headers.target.lastIndexOf('.') + 1)}`;
  const action = new URLSearchParams(body).get('Action');
  return action ? `${service}:${action}` : undefined;
}

if (dir) {
  const file = join(dir, `calls-${process.pid}.jsonl`);
  const end = http.ClientRequest.prototype.end;
  // The SDK sends a request's whole body with end(), where EC2's Action is.
  http.ClientRequest.prototype.end = function (this: http.ClientRequest, ...args: unknown[]) {
    try {
      const header = (name: string) => String(this.getHeader(name) ?? '');
      const chunk = args[0];
      const body =
        typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString() : '';
      const action = actionOf(
        { userAgent: header('user-agent'), authorization: header('authorization'), target: header('x-amz-target') },
        body,
      );
      if (action) {
        mkdirSync(dir, { recursive: true });
        appendFileSync(file, `${JSON.stringify({ action })}\n`);
      }
    } catch {
      // Not ours to break: the request goes on unrecorded.
    }
    return (end as (...a: unknown[]) => http.ClientRequest).apply(this, args);
  } as typeof end;
}
