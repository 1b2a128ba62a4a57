// `dupsworks emulator opsworks`: the emulator in the foreground until SIGINT or SIGTERM. One line on
// stdout once it listens (scripts wait for it and read the endpoint from it); with --debug, each
// request and status change on stderr.

import { InvalidArgumentError } from 'commander';

export interface OpsWorksCommandOptions {
  port: number;
  ec2Endpoint: string;
  host: string;
  stepDelayMs?: number;
  securityGroupDelayMs?: number;
  deploymentDelayMs?: number;
}

export async function serveOpsWorksEmulator(options: OpsWorksCommandOptions, debug: boolean): Promise<number> {
  // Listening for the signals before the line is printed: whoever waits for the line may signal at once.
  const signalled = new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  // Loaded here, not at the top: the CLI that defines this command must not load the SDK for --help.
  const { startOpsWorksEmulator } = await import('./index.js');
  const emulator = await startOpsWorksEmulator({
    port: options.port,
    host: options.host,
    ec2Endpoint: options.ec2Endpoint,
    delays: { stepMs: options.stepDelayMs, securityGroupsMs: options.securityGroupDelayMs, deploymentMs: options.deploymentDelayMs },
    log: debug ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  process.stdout.write(`OpsWorks emulator listening on ${emulator.endpoint} (EC2: ${options.ec2Endpoint})\n`);
  await signalled;
  await emulator.stop();
  return 0;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of 0 or more');
  return n;
}

export function httpUrl(value: string): string {
  if (!/^https?:\/\/[^/\s]+/.test(value)) throw new InvalidArgumentError('expected a URL such as http://127.0.0.1:5000');
  return value;
}
