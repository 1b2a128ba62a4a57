// What every resource kind is handed: the stack's identity, the (retrying) clients, and the
// snapshots of the current plan's reads.

import { EC2Client } from '@aws-sdk/client-ec2';
import { OpsWorksClient } from '@aws-sdk/client-opsworks';
import { SSMClient } from '@aws-sdk/client-ssm';
import { OpsWorksSnapshot } from './opsworks-snapshot.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { Snapshot } from './snapshot.js';

export interface AwsContext {
  stack: string;
  region: string;
  ec2: EC2Client;
  ssm: SSMClient;
  opsworks: OpsWorksClient;
  snapshot: Snapshot;
  opsworksSnapshot: OpsWorksSnapshot;
  /** How long to wait for an instance to reach a state (running, online, terminated) before failing. */
  instanceWaitSeconds: number;
  /** How often to look again while waiting on something AWS does in the background. */
  pollIntervalMs: number;
}

export interface ConnectOptions {
  stack: string;
  region: string;
  /** Named profile from the shared config/credentials files. */
  profile?: string;
  /** Overrides every service endpoint (else the SDK honors AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>). */
  endpointUrl?: string;
  /** The OpsWorks endpoint (an emulator: the service is shut down); beats endpointUrl and AWS_ENDPOINT_URL_OPSWORKS. */
  opsworksEndpointUrl?: string;
  retry: RetryPolicy;
  instanceWaitSeconds?: number;
  pollIntervalMs?: number;
}

export function connect(options: ConnectOptions): AwsContext {
  const config = (endpoint: string | undefined) => ({
    region: options.region,
    maxAttempts: 1, // retries are ours (retry.ts)
    ...(options.profile ? { profile: options.profile } : {}),
    ...(endpoint ? { endpoint } : {}),
  });
  const ec2 = withRetries(new EC2Client(config(options.endpointUrl)), options.retry);
  const ssm = withRetries(new SSMClient(config(options.endpointUrl)), options.retry);
  // The service-specific variable must win over a general --endpoint-url (moto has no OpsWorks),
  // and an explicit endpoint would hide it from the SDK: resolve it here.
  const opsworksEndpoint = options.opsworksEndpointUrl ?? process.env.AWS_ENDPOINT_URL_OPSWORKS ?? options.endpointUrl;
  const opsworks = withRetries(new OpsWorksClient(config(opsworksEndpoint)), options.retry);
  return {
    stack: options.stack,
    region: options.region,
    ec2,
    ssm,
    opsworks,
    snapshot: new Snapshot(ec2, ssm, options.stack),
    opsworksSnapshot: new OpsWorksSnapshot(opsworks, options.stack),
    // An OpsWorks instance runs its Chef setup before it is online: that took the original minutes.
    instanceWaitSeconds: options.instanceWaitSeconds ?? 1800,
    pollIntervalMs: options.pollIntervalMs ?? 2000,
  };
}

/** The same connection with empty snapshots, for a new plan that must see the world afresh. */
export function refreshed(ctx: AwsContext): AwsContext {
  return { ...ctx, snapshot: new Snapshot(ctx.ec2, ctx.ssm, ctx.stack), opsworksSnapshot: new OpsWorksSnapshot(ctx.opsworks, ctx.stack) };
}
