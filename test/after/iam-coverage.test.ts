// Runs after the rest of `npm test`: every AWS operation dupsworks made in the unit, integration
// and lab tests (recorded in every process as it sent them, test/support/record-calls.ts) is granted
// by the operator policy `dupsworks iam-policy` prints. A call the policy lacks would fail with
// AccessDenied on a real account that uses the policy.

import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { operatorPolicy, type PolicyDocument } from '../../src/iam/policy.js';
import { callsDir, recordedCalls } from '../support/aws-calls.js';
import { makeSpec } from '../support/stack.js';

const granted = (policy: PolicyDocument) => policy.Statement.flatMap((s) => s.Action);

describe('the IAM policy against the calls the tests made', () => {
  it('grants every AWS operation dupsworks made in the test suite', (t) => {
    const dir = callsDir();
    assert.ok(
      dir && existsSync(dir) && readdirSync(dir).length > 0,
      `no recorded calls in ${dir ?? '(DUPSWORKS_AWS_CALLS is not set)'}: run the whole suite with "npm test", which records them`,
    );
    const calls = recordedCalls(dir);
    // The record holds each service the engine uses: the recording itself works.
    for (const action of [
      'ec2:RunInstances',
      'ec2:DescribeInstances',
      'ssm:GetParameter',
      'dynamodb:PutItem',
      'opsworks:CreateStack',
      'iam:CreateRole',
    ]) {
      assert.ok(calls.has(action), `the tests made ${action} (recorded: ${[...calls.keys()].sort().join(', ')})`);
    }
    const lockTable = { lockTable: 'dupsworks-locks' };
    const ec2 = makeSpec();
    const profile = { ...ec2, nat: { ...ec2.nat, instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/nat' } };
    const policy = new Set([
      ...granted(operatorPolicy(ec2, lockTable)),
      ...granted(operatorPolicy(profile, lockTable)),
      ...granted(operatorPolicy(makeSpec({ manager: 'opsworks' }), lockTable)),
    ]);
    const missing = [...calls.keys()].filter((action) => !policy.has(action)).sort();
    assert.deepEqual(missing, [], 'operations dupsworks made that no policy grants');
    const total = [...calls.values()].reduce((a, b) => a + b, 0);
    const unused = [...policy].filter((action) => !calls.has(action) && action !== 'iam:PassRole').sort();
    t.diagnostic(`${total} calls of ${calls.size} actions recorded; granted but never made by a test: ${unused.join(', ') || 'none'}`);
  });
});
