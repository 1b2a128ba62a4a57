// What every resource kind is handed: the stack's identity, the (retrying) clients, and the
// snapshot of the current plan's reads.

import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { withRetries, type RetryPolicy } from './retry.js';
import { Snapshot } from './snapshot.js';

export interface AwsContext {
  stack: string;
  region: string;
  ec2: EC2Client;
  ssm: SSMClient;
  snapshot: Snapshot;
  /** How long to wait for an instance to reach a state (running, terminated) before failing. */
  instanceWaitSeconds: number;
}

export interface ConnectOptions {
  stack: string;
  region: string;
  /** Named profile from the shared config/credentials files. */
  profile?: string;
  /** Overrides every service endpoint (else the SDK honors AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>). */
  endpointUrl?: string;
  retry: RetryPolicy;
  instanceWaitSeconds?: number;
}

export function connect(options: ConnectOptions): AwsContext {
  const config = {
    region: options.region,
    maxAttempts: 1, // retries are ours (retry.ts)
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.endpointUrl ? { endpoint: options.endpointUrl } : {}),
  };
  const ec2 = withRetries(new EC2Client(config), options.retry);
  const ssm = withRetries(new SSMClient(config), options.retry);
  return {
    stack: options.stack,
    region: options.region,
    ec2,
    ssm,
    snapshot: new Snapshot(ec2, ssm, options.stack),
    instanceWaitSeconds: options.instanceWaitSeconds ?? 600,
  };
}

/** The same connection with an empty snapshot, for a new plan that must see the world afresh. */
export function refreshed(ctx: AwsContext): AwsContext {
  return { ...ctx, snapshot: new Snapshot(ctx.ec2, ctx.ssm, ctx.stack) };
}
