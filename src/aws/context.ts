// What every resource kind is handed: the stack's identity, the (retrying, bounded) clients, and
// the snapshots of the current plan's reads.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { OpsWorksClient } from '@aws-sdk/client-opsworks';
import { SSMClient } from '@aws-sdk/client-ssm';
import { credentialsFor } from './credentials.js';
import { boundedRequests, DEFAULT_TIMEOUTS, guardEndpoint, type Timeouts } from './endpoint.js';
import { IamSnapshot } from './iam-snapshot.js';
import { OpsWorksSnapshot } from './opsworks-snapshot.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { Snapshot } from './snapshot.js';
import { VERSION } from '../version.js';

export interface AwsContext {
  stack: string;
  region: string;
  ec2: EC2Client;
  ssm: SSMClient;
  iam: IAMClient;
  opsworks: OpsWorksClient;
  snapshot: Snapshot;
  opsworksSnapshot: OpsWorksSnapshot;
  iamSnapshot: IamSnapshot;
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
  timeouts?: Timeouts;
  instanceWaitSeconds?: number;
  pollIntervalMs?: number;
}

/** Makes the clients of one run: one credential search for all of them. */
export class Clients {
  private readonly credentials;
  private readonly timeouts: Timeouts;

  constructor(private readonly options: ConnectOptions) {
    this.credentials = credentialsFor(options.profile);
    this.timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  }

  ec2(): EC2Client {
    return this.make(EC2Client, 'EC2', this.options.endpointUrl, '--endpoint-url (or AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL)');
  }

  ssm(): SSMClient {
    return this.make(SSMClient, 'SSM', this.options.endpointUrl, '--endpoint-url (or AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL)');
  }

  iam(): IAMClient {
    return this.make(IAMClient, 'IAM', this.options.endpointUrl, '--endpoint-url (or AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL)');
  }

  opsworks(): OpsWorksClient {
    // The service-specific variable must win over a general --endpoint-url (moto has no OpsWorks),
    // and an explicit endpoint would hide it from the SDK: resolve it here.
    const endpoint = this.options.opsworksEndpointUrl ?? process.env.AWS_ENDPOINT_URL_OPSWORKS ?? this.options.endpointUrl;
    return this.make(OpsWorksClient, 'OpsWorks', endpoint, '--opsworks-endpoint-url (or AWS_ENDPOINT_URL_OPSWORKS)');
  }

  dynamodb(retry: RetryPolicy = this.options.retry): DynamoDBClient {
    const setBy = '--endpoint-url (or AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL)';
    return this.make(DynamoDBClient, 'DynamoDB', this.options.endpointUrl, setBy, retry);
  }

  private make<T extends EC2Client | SSMClient | IAMClient | OpsWorksClient | DynamoDBClient>(
    Client: new (config: object) => T,
    service: string,
    endpoint: string | undefined,
    setBy: string,
    retry: RetryPolicy = this.options.retry,
  ): T {
    const client = new Client({
      region: this.options.region,
      maxAttempts: 1, // retries are ours (retry.ts)
      credentials: this.credentials,
      // In every request's User-Agent ("app/dupsworks#0.1.0"), so CloudTrail tells dupsworks's calls from others'.
      userAgentAppId: `dupsworks#${VERSION}`,
      ...boundedRequests(this.timeouts),
      ...(endpoint ? { endpoint } : {}),
    });
    guardEndpoint(client, { service, endpoint, setBy, requestTimeoutSeconds: this.timeouts.requestSeconds });
    return withRetries(client, retry);
  }
}

export function connect(options: ConnectOptions, clients = new Clients(options)): AwsContext {
  const ec2 = clients.ec2();
  const ssm = clients.ssm();
  const iam = clients.iam();
  const opsworks = clients.opsworks();
  return {
    stack: options.stack,
    region: options.region,
    ec2,
    ssm,
    iam,
    opsworks,
    snapshot: new Snapshot(ec2, ssm, options.stack),
    opsworksSnapshot: new OpsWorksSnapshot(opsworks, options.stack),
    iamSnapshot: new IamSnapshot(iam),
    // An OpsWorks instance runs its Chef setup before it is online: that took the original minutes.
    instanceWaitSeconds: options.instanceWaitSeconds ?? 1800,
    pollIntervalMs: options.pollIntervalMs ?? 2000,
  };
}

/** The same connection with empty snapshots, for a new plan that must see the world afresh. */
export function refreshed(ctx: AwsContext): AwsContext {
  return {
    ...ctx,
    snapshot: new Snapshot(ctx.ec2, ctx.ssm, ctx.stack),
    opsworksSnapshot: new OpsWorksSnapshot(ctx.opsworks, ctx.stack),
    iamSnapshot: new IamSnapshot(ctx.iam),
  };
}
