// The stack lock: a lease held in a DynamoDB table, one item per stack, so that two runs that
// change one stack (apply, destroy) never overlap, on one machine or on several.
//
// DynamoDB, because "nobody holds it, or the holder's lease has run out" is one condition
// expression on one PutItem, evaluated atomically by the service; renewing and releasing are
// conditional on the lease id, so a run can only ever extend or end its own lease. The table is
// pay-per-request (nothing to pay while idle) and is created on first use.
//
// A holder renews its lease while it runs; one that dies (even by SIGKILL) stops renewing, and its
// lease may be taken over once it has expired. Expiry is judged by the taker's clock, so clocks
// must agree to well within the lease (NTP does).

import { randomUUID } from 'node:crypto';
// The SDK's commands are loaded by the calls that send them: what only names a lock (its holder in
// a message, the defaults of the command line) loads no SDK.
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { pollUntil } from '../aws/wait.js';
import { errorCode } from '../aws/retry.js';
import { DupsworksError, describeError } from '../errors.js';

export const DEFAULT_LOCK_TABLE = 'dupsworks-locks';
export const DEFAULT_LEASE_SECONDS = 60;

/**
 * What taking, renewing and releasing the lock (and making its table) call, as IAM actions. The
 * table is created with a tag, which DynamoDB authorizes as dynamodb:TagResource.
 */
export const permissions = [
  'dynamodb:CreateTable',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:TagResource',
  'dynamodb:UpdateItem',
];

/** Who holds a lock: enough for a person to find the run and judge whether it is still alive. */
export interface LockOwner {
  user: string;
  host: string;
  pid: number;
  /** What the holder is doing: apply, destroy. */
  operation: string;
  /** The command line that took it, when a command line did. */
  command?: string;
}

export interface LockInfo extends LockOwner {
  /** The lease id: the only handle by which the lock may be broken (force-unlock). */
  id: string;
  stack: string;
  table: string;
  /** When it was taken (ISO 8601). */
  since: string;
  /** When it runs out unless renewed (ISO 8601). */
  expires: string;
}

export interface AcquireOptions {
  owner: LockOwner;
  /** How long a lease lasts between two renewals; a dead holder blocks others at most this long. */
  leaseSeconds: number;
  /** How long to wait for a lock held by someone else (0: fail at once). */
  waitSeconds: number;
  signal?: AbortSignal;
  /** Called once, when the lock is found held and this run starts waiting. */
  onWait?(holder: LockInfo): void;
}

export class LockHeldError extends DupsworksError {
  constructor(
    readonly holder: LockInfo,
    waitedSeconds: number,
  ) {
    super(
      'LockHeld',
      'user',
      `the lock of stack ${holder.stack} is held by ${who(holder)} since ${holder.since}` +
        (waitedSeconds > 0 ? ` (waited ${waitedSeconds}s)` : ''),
    );
  }
}

export function who(holder: LockOwner): string {
  return `${holder.user}@${holder.host} (pid ${holder.pid}, ${holder.operation})`;
}

/** One stack's lock in one table. */
export class StackLock {
  constructor(
    private readonly dynamodb: DynamoDBClient,
    readonly table: string,
    readonly stack: string,
  ) {}

  /** Takes the lock, waiting up to `waitSeconds` for its holder; throws LockHeldError when it stays held. */
  async acquire(options: AcquireOptions): Promise<Lease> {
    const started = Date.now();
    let announced = false;
    for (;;) {
      throwIfAborted(options.signal);
      const now = Date.now();
      const info: LockInfo = {
        ...options.owner,
        id: randomUUID(),
        stack: this.stack,
        table: this.table,
        since: new Date(now).toISOString(),
        expires: new Date(now + options.leaseSeconds * 1000).toISOString(),
      };
      try {
        const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
        const out = await this.dynamodb.send(
          new PutItemCommand({
            TableName: this.table,
            Item: toItem(info),
            ConditionExpression: 'attribute_not_exists(LockID) OR ExpiresAt < :now',
            ExpressionAttributeValues: { ':now': { N: String(now) } },
            ReturnValues: 'ALL_OLD',
          }),
        );
        const previous = out.Attributes ? fromItem(out.Attributes, this.table) : undefined;
        return new Lease(this.dynamodb, info, options.leaseSeconds, previous);
      } catch (error) {
        const code = errorCode(error);
        if (code === 'ResourceNotFoundException') {
          await this.createTable();
          continue;
        }
        if (code !== 'ConditionalCheckFailedException') throw error;
      }
      const holder = await this.holder();
      if (!holder) continue; // released between the two calls
      const waited = Math.round((Date.now() - started) / 1000);
      const left = started + options.waitSeconds * 1000 - Date.now();
      if (left <= 0) throw new LockHeldError(holder, waited);
      if (!announced) options.onWait?.(holder);
      announced = true;
      // Look again soon, or just after the holder's lease runs out if that comes first.
      const untilExpiry = Date.parse(holder.expires) - Date.now() + 50;
      await sleep(Math.max(50, Math.min(left, 1000 + Math.random() * 1000, untilExpiry)), options.signal);
    }
  }

  /** The current holder, or undefined when the lock is free (an expired lease still shows its holder). */
  async holder(): Promise<LockInfo | undefined> {
    const { GetItemCommand } = await import('@aws-sdk/client-dynamodb');
    try {
      const out = await this.dynamodb.send(
        new GetItemCommand({ TableName: this.table, Key: { LockID: { S: this.stack } }, ConsistentRead: true }),
      );
      return out.Item ? fromItem(out.Item, this.table) : undefined;
    } catch (error) {
      if (errorCode(error) === 'ResourceNotFoundException') return undefined;
      throw error;
    }
  }

  /**
   * Breaks the lock whose lease id is `id` (force-unlock). Refuses when the lock is free or held
   * under another id, so a lock that changed hands since its id was read is never broken.
   */
  async forceRelease(id: string): Promise<LockInfo> {
    const holder = await this.holder();
    if (!holder) throw new DupsworksError('LockNotHeld', 'user', `the lock of stack ${this.stack} is not held; nothing to unlock`);
    if (holder.id !== id) {
      throw new DupsworksError(
        'LockIdMismatch',
        'user',
        `the lock of stack ${this.stack} is held under ID ${holder.id} (by ${who(holder)} since ${holder.since}), not ${id}; nothing was unlocked`,
      );
    }
    if (!(await deleteIfHeldBy(this.dynamodb, holder))) {
      throw new DupsworksError(
        'LockIdMismatch',
        'user',
        `the lock of stack ${this.stack} changed hands while unlocking; nothing was unlocked`,
      );
    }
    return holder;
  }

  // Concurrent first runs may all try: whoever loses the race waits for the winner's table.
  private async createTable(): Promise<void> {
    const { CreateTableCommand, DescribeTableCommand } = await import('@aws-sdk/client-dynamodb');
    try {
      await this.dynamodb.send(
        new CreateTableCommand({
          TableName: this.table,
          AttributeDefinitions: [{ AttributeName: 'LockID', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'LockID', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
          Tags: [{ Key: 'dupsworks:purpose', Value: 'stack locks' }],
        }),
      );
    } catch (error) {
      if (errorCode(error) !== 'ResourceInUseException') throw error;
    }
    await pollUntil(
      { what: `DynamoDB table ${this.table} to be active`, intervalMs: 1000, timeoutSeconds: 120 },
      async () => (await this.dynamodb.send(new DescribeTableCommand({ TableName: this.table }))).Table?.TableStatus,
      (status) => (status === 'ACTIVE' ? 'done' : 'waiting'),
    );
  }
}

/** A lock held: renewed in the background until released or lost. */
export class Lease {
  private readonly lost = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private released = false;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly dynamodb: DynamoDBClient,
    private current: LockInfo,
    private readonly leaseSeconds: number,
    /** The expired lease this one took over, if any. */
    readonly tookOverFrom?: LockInfo,
  ) {
    // Three renewals per lease: one that fails (a slow or dropped call) still leaves time for two more.
    this.timer = setInterval(
      () => void (this.renewing ??= this.renew().finally(() => (this.renewing = undefined))),
      (leaseSeconds * 1000) / 3,
    );
    this.timer.unref();
  }

  get info(): LockInfo {
    return this.current;
  }

  /** Aborted (with a LockLost error as its reason) once the lease is no longer ours. */
  get signal(): AbortSignal {
    return this.lost.signal;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.renewing;
    if (this.lost.signal.aborted) return;
    // Not deleted: someone took it over (ours had expired) or broke it; theirs now, not ours to delete.
    await deleteIfHeldBy(this.dynamodb, this.current);
  }

  private async renew(): Promise<void> {
    if (this.released || this.lost.signal.aborted) return;
    const expires = new Date(Date.now() + this.leaseSeconds * 1000).toISOString();
    const { UpdateItemCommand } = await import('@aws-sdk/client-dynamodb');
    try {
      await this.dynamodb.send(
        new UpdateItemCommand({
          TableName: this.current.table,
          Key: { LockID: { S: this.current.stack } },
          UpdateExpression: 'SET ExpiresAt = :at, Expires = :iso',
          ConditionExpression: 'LeaseId = :id',
          ExpressionAttributeValues: { ':id': { S: this.current.id }, ':at': { N: String(Date.parse(expires)) }, ':iso': { S: expires } },
        }),
      );
      this.current = { ...this.current, expires };
    } catch (error) {
      if (errorCode(error) === 'ConditionalCheckFailedException') {
        this.lose(`the lock of stack ${this.current.stack} was taken over or broken while this run held it`);
      } else if (Date.now() >= Date.parse(this.current.expires)) {
        this.lose(`the lease on the lock of stack ${this.current.stack} ran out: it could not be renewed (${describeError(error)})`);
      }
      // Otherwise the next renewal tries again while the lease still runs.
    }
  }

  private lose(message: string): void {
    clearInterval(this.timer);
    this.lost.abort(new DupsworksError('LockLost', 'aws', message));
  }
}

/** Deletes the lock item if it still holds `lease`; false when it holds another lease or none. */
async function deleteIfHeldBy(dynamodb: DynamoDBClient, lease: LockInfo): Promise<boolean> {
  const { DeleteItemCommand } = await import('@aws-sdk/client-dynamodb');
  try {
    await dynamodb.send(
      new DeleteItemCommand({
        TableName: lease.table,
        Key: { LockID: { S: lease.stack } },
        ConditionExpression: 'LeaseId = :id',
        ExpressionAttributeValues: { ':id': { S: lease.id } },
      }),
    );
    return true;
  } catch (error) {
    if (errorCode(error) !== 'ConditionalCheckFailedException') throw error;
    return false;
  }
}

function toItem(info: LockInfo): Record<string, AttributeValue> {
  return {
    LockID: { S: info.stack },
    LeaseId: { S: info.id },
    User: { S: info.user },
    Host: { S: info.host },
    Pid: { N: String(info.pid) },
    Operation: { S: info.operation },
    ...(info.command ? { Command: { S: info.command } } : {}),
    Since: { S: info.since },
    Expires: { S: info.expires },
    ExpiresAt: { N: String(Date.parse(info.expires)) },
  };
}

function fromItem(item: Record<string, AttributeValue>, table: string): LockInfo {
  return {
    id: item.LeaseId?.S ?? '',
    stack: item.LockID?.S ?? '',
    table,
    user: item.User?.S ?? '?',
    host: item.Host?.S ?? '?',
    pid: Number(item.Pid?.N ?? 0),
    operation: item.Operation?.S ?? '?',
    ...(item.Command?.S ? { command: item.Command.S } : {}),
    since: item.Since?.S ?? '?',
    expires: item.Expires?.S ?? new Date(Number(item.ExpiresAt?.N ?? 0)).toISOString(),
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}
