// Transient AWS errors are retried here, in one place, with exponential backoff and full jitter.
// The SDK's own retries are turned off (maxAttempts 1) so this is the only retry loop and every
// attempt is visible (`--debug` shows them).

export interface RetryPolicy {
  /** Give up once retrying would run past this long after the first attempt. */
  deadlineMs: number;
  baseDelayMs: number;
  maxDelayMs: number;
  onRetry?(info: { operation: string; code: string; attempt: number; delayMs: number }): void;
}

export const defaultRetryPolicy: RetryPolicy = { deadlineMs: 300_000, baseDelayMs: 250, maxDelayMs: 5_000 };

const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestThrottled']);

// Real accounts answer these for a while after a create, until the new resource is visible
// everywhere. IncorrectInstanceState lasts while an instance is pending (the original saw minutes).
const EVENTUALLY_CONSISTENT = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidRouteTableID.NotFound',
  'InvalidGroup.NotFound',
  'InvalidSubnetID.NotFound',
  'InvalidVpcID.NotFound',
  'InvalidInternetGatewayID.NotFound',
  'InvalidAllocationID.NotFound',
  'IncorrectInstanceState',
]);

const NETWORK = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/** Operations that remove something: "not found" means done, and "still in use" means wait. */
export function isRemoval(operation: string): boolean {
  return /^(Delete|Terminate|Detach|Disassociate|Release)/.test(operation);
}

/** Why an error is worth another attempt, or undefined when it is not. */
export function transientReason(error: unknown, operation: string): string | undefined {
  const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $fault?: string };
  // Node's socket errors are all named "Error"; their code says what happened.
  const code = e?.name && e.name !== 'Error' ? e.name : (e?.code ?? e?.name ?? '');
  if (THROTTLING.has(code)) return code;
  if ((e?.$metadata?.httpStatusCode ?? 0) >= 500 || e?.$fault === 'server') return code || 'ServerError';
  if (NETWORK.has(code)) return code;
  if (isRemoval(operation)) {
    // Removals wait out things still going away (an instance terminating in the subnet, an
    // Elastic IP's association with it).
    return code === 'DependencyViolation' || code === 'InvalidIPAddress.InUse' ? code : undefined;
  }
  if (EVENTUALLY_CONSISTENT.has(code)) return code;
  return undefined;
}

export function errorCode(error: unknown): string {
  return (error as { name?: string })?.name ?? '';
}

export function isNotFound(error: unknown): boolean {
  return /NotFound(Exception)?$/.test(errorCode(error));
}

export async function retrying<T>(operation: string, attempt: () => Promise<T>, policy: RetryPolicy): Promise<T> {
  const started = Date.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const reason = transientReason(error, operation);
      if (!reason) throw error;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      const delayMs = Math.round(Math.random() * ceiling);
      if (Date.now() - started + delayMs > policy.deadlineMs) throw error;
      policy.onRetry?.({ operation, code: reason, attempt: n, delayMs });
      await new Promise((r) => setTimeout(r, delayMs));
    }
  }
}

/**
 * Makes every `send` of an AWS SDK v3 client go through `retrying`. The client keeps its type, so
 * call sites read as plain SDK code.
 */
export function withRetries<T extends { send: (...args: any[]) => Promise<any> }>(client: T, policy: RetryPolicy): T {
  const send = client.send.bind(client);
  client.send = ((command: { constructor: { name: string } }, ...rest: unknown[]) =>
    retrying(command.constructor.name.replace(/Command$/, ''), () => send(command, ...rest), policy)) as T['send'];
  return client;
}
