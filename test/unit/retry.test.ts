import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ignoreNotFound } from '../../src/aws/errors.js';
import { errorCode, isNotFound, isRemoval, retrying, transientReason, withRetries, type RetryPolicy } from '../../src/aws/retry.js';

/** An error shaped like an AWS SDK v3 service exception. */
function awsError(name: string, status = 400, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });
}

type RetryInfo = Parameters<NonNullable<RetryPolicy['onRetry']>>[0];

function policy(extra: Partial<RetryPolicy> = {}): RetryPolicy & { retries: RetryInfo[] } {
  const retries: RetryInfo[] = [];
  return { deadlineMs: 5_000, baseDelayMs: 1, maxDelayMs: 2, onRetry: (info) => retries.push(info), retries, ...extra };
}

describe('transientReason', () => {
  it('retries throttling, whatever the operation', () => {
    for (const code of ['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestThrottled']) {
      assert.equal(transientReason(awsError(code), 'CreateRoute'), code);
      assert.equal(transientReason(awsError(code), 'DeleteSubnet'), code);
    }
  });

  it('retries server errors (5xx or a server fault), named by their code', () => {
    assert.equal(transientReason(awsError('InternalError', 500), 'DescribeInstances'), 'InternalError');
    assert.equal(transientReason(awsError('Unavailable', 503), 'TerminateInstances'), 'Unavailable');
    assert.equal(transientReason({ $metadata: { httpStatusCode: 502 } }, 'RunInstances'), 'ServerError');
    assert.equal(transientReason(awsError('Odd', 400, { $fault: 'server' }), 'RunInstances'), 'Odd');
    assert.equal(transientReason(awsError('Odd', 499), 'RunInstances'), undefined);
  });

  it('retries network failures', () => {
    assert.equal(transientReason(awsError('TimeoutError', 0), 'DescribeVpcs'), 'TimeoutError');
    assert.ok(transientReason(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'DescribeVpcs'));
  });

  it('names a Node network error by its code', () => {
    assert.equal(transientReason(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'DescribeVpcs'), 'ECONNRESET');
  });

  it('retries the eventual-consistency codes of resources just made, except on removals', () => {
    const codes = [
      'InvalidInstanceID.NotFound',
      'InvalidRouteTableID.NotFound',
      'InvalidGroup.NotFound',
      'InvalidSubnetID.NotFound',
      'InvalidVpcID.NotFound',
      'InvalidInternetGatewayID.NotFound',
      'IncorrectInstanceState',
    ];
    for (const code of codes) {
      assert.equal(transientReason(awsError(code), 'CreateRoute'), code);
      assert.equal(transientReason(awsError(code), 'ModifyInstanceAttribute'), code);
    }
    // On a removal, "not found" means it is already gone: not worth another attempt.
    assert.equal(transientReason(awsError('InvalidSubnetID.NotFound'), 'DeleteSubnet'), undefined);
    assert.equal(transientReason(awsError('InvalidInstanceID.NotFound'), 'TerminateInstances'), undefined);
    assert.equal(transientReason(awsError('InvalidInternetGatewayID.NotFound'), 'DetachInternetGateway'), undefined);
  });

  it('retries DependencyViolation only for removals (something is still going away)', () => {
    for (const op of ['DeleteSubnet', 'DeleteVpc', 'DeleteSecurityGroup', 'DetachInternetGateway', 'DisassociateRouteTable']) {
      assert.equal(transientReason(awsError('DependencyViolation'), op), 'DependencyViolation', op);
    }
    assert.equal(transientReason(awsError('DependencyViolation'), 'CreateSubnet'), undefined);
  });

  it('does not retry errors in the request itself', () => {
    for (const code of [
      'InvalidParameterValue',
      'ValidationError',
      'UnauthorizedOperation',
      'InvalidParameterCombination',
      'RouteAlreadyExists',
    ]) {
      assert.equal(transientReason(awsError(code), 'CreateRoute'), undefined, code);
      assert.equal(transientReason(awsError(code), 'DeleteRoute'), undefined, code);
    }
    assert.equal(transientReason(new Error('plain'), 'CreateRoute'), undefined);
    assert.equal(transientReason(undefined, 'CreateRoute'), undefined);
    assert.equal(transientReason('a string', 'CreateRoute'), undefined);
  });

  it('knows removals by the operation name', () => {
    assert.deepEqual(
      ['DeleteVpc', 'TerminateInstances', 'DetachInternetGateway', 'DisassociateRouteTable', 'CreateVpc', 'ReplaceRoute', 'Undelete'].map(
        isRemoval,
      ),
      [true, true, true, true, false, false, false],
    );
  });
});

describe('isNotFound, errorCode and ignoreNotFound', () => {
  it('reads the code from the error name', () => {
    assert.equal(errorCode(awsError('InvalidVpcID.NotFound')), 'InvalidVpcID.NotFound');
    assert.equal(errorCode(undefined), '');
    assert.equal(isNotFound(awsError('InvalidVpcID.NotFound')), true);
    assert.equal(isNotFound(awsError('InvalidVpcID.Malformed')), false);
  });

  it('counts a removal of something already gone as done, and rethrows anything else', async () => {
    assert.equal(await ignoreNotFound(Promise.reject(awsError('InvalidRouteTableID.NotFound'))), undefined);
    assert.equal(await ignoreNotFound(Promise.resolve('ok')), 'ok');
    await assert.rejects(ignoreNotFound(Promise.reject(awsError('DependencyViolation'))), { name: 'DependencyViolation' });
  });
});

describe('retrying', () => {
  it('retries transient errors, then returns the result, reporting each retry', async () => {
    const p = policy();
    let calls = 0;
    const result = await retrying(
      'CreateRoute',
      async () => {
        calls++;
        if (calls === 1) throw awsError('RequestLimitExceeded');
        if (calls === 2) throw awsError('InvalidRouteTableID.NotFound');
        return 'made';
      },
      p,
    );
    assert.equal(result, 'made');
    assert.equal(calls, 3);
    assert.deepEqual(
      p.retries.map(({ operation, code, attempt }) => ({ operation, code, attempt })),
      [
        { operation: 'CreateRoute', code: 'RequestLimitExceeded', attempt: 1 },
        { operation: 'CreateRoute', code: 'InvalidRouteTableID.NotFound', attempt: 2 },
      ],
    );
  });

  it('waits with exponential backoff and full jitter, capped at maxDelayMs', async () => {
    const p = policy({ baseDelayMs: 1, maxDelayMs: 4 });
    let calls = 0;
    await retrying(
      'DescribeVpcs',
      async () => {
        if (++calls <= 6) throw awsError('Throttling');
      },
      p,
    );
    const ceilings = [1, 2, 4, 4, 4, 4];
    assert.equal(p.retries.length, 6);
    p.retries.forEach((r, i) => {
      assert.ok(Number.isInteger(r.delayMs) && r.delayMs >= 0 && r.delayMs <= ceilings[i]!, `retry ${i + 1} waited ${r.delayMs}`);
    });
  });

  it('fails at once on an error that is not transient', async () => {
    const p = policy();
    let calls = 0;
    const fatal = awsError('InvalidParameterValue');
    await assert.rejects(
      retrying(
        'CreateRoute',
        async () => {
          calls++;
          throw fatal;
        },
        p,
      ),
      (e) => e === fatal,
    );
    assert.equal(calls, 1);
    assert.deepEqual(p.retries, []);
  });

  it('gives up at the deadline with the last error', async () => {
    const p = policy({ deadlineMs: 30, baseDelayMs: 1, maxDelayMs: 3 });
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      retrying(
        'DeleteSubnet',
        async () => {
          calls++;
          throw awsError('DependencyViolation', 400, { message: `attempt ${calls}` });
        },
        p,
      ),
      (e: Error) => e.message === `attempt ${calls}`,
    );
    const elapsed = Date.now() - started;
    assert.ok(calls > 1, `retried (${calls} calls)`);
    assert.equal(p.retries.length, calls - 1);
    assert.ok(elapsed < 1_000, `stopped near the deadline (${elapsed} ms)`);
  });
});

describe('withRetries', () => {
  class CreateRouteCommand {
    constructor(readonly input: Record<string, unknown>) {}
  }
  class DeleteSubnetCommand {
    constructor(readonly input: Record<string, unknown>) {}
  }

  /** A client that fails its first `failures` sends with `error`, recording every call. */
  function fakeClient(failures: number, error: Error) {
    const calls: { command: unknown; rest: unknown[] }[] = [];
    const client = {
      marker: 'client',
      async send(this: { marker: string }, command: unknown, ...rest: unknown[]): Promise<string> {
        calls.push({ command, rest });
        if (calls.length <= failures) throw error;
        return `${this.marker} did ${(command as object).constructor.name}`;
      },
    };
    return { client, calls };
  }

  it('retries a send and returns its result, keeping the client and its `this`', async () => {
    const p = policy();
    const { client, calls } = fakeClient(2, awsError('InvalidInstanceID.NotFound'));
    const wrapped = withRetries(client, p);
    assert.equal(wrapped, client);
    const command = new CreateRouteCommand({ RouteTableId: 'rtb-1' });
    assert.equal(await wrapped.send(command, { abortSignal: 'x' }), 'client did CreateRouteCommand');
    assert.equal(calls.length, 3);
    for (const call of calls) {
      assert.equal(call.command, command);
      assert.deepEqual(call.rest, [{ abortSignal: 'x' }]);
    }
    assert.deepEqual(
      p.retries.map((r) => [r.operation, r.code, r.attempt]),
      [
        ['CreateRoute', 'InvalidInstanceID.NotFound', 1],
        ['CreateRoute', 'InvalidInstanceID.NotFound', 2],
      ],
    );
  });

  it('classifies by the command: a removal does not retry NotFound', async () => {
    const p = policy();
    const { client, calls } = fakeClient(5, awsError('InvalidSubnetID.NotFound'));
    await assert.rejects(withRetries(client, p).send(new DeleteSubnetCommand({ SubnetId: 'subnet-1' })), {
      name: 'InvalidSubnetID.NotFound',
    });
    assert.equal(calls.length, 1);
    assert.deepEqual(p.retries, []);
  });

  it('retries DependencyViolation on a removal until it clears', async () => {
    const p = policy();
    const { client, calls } = fakeClient(3, awsError('DependencyViolation'));
    assert.equal(await withRetries(client, p).send(new DeleteSubnetCommand({})), 'client did DeleteSubnetCommand');
    assert.equal(calls.length, 4);
    assert.deepEqual(
      p.retries.map((r) => r.operation),
      ['DeleteSubnet', 'DeleteSubnet', 'DeleteSubnet'],
    );
  });
});
