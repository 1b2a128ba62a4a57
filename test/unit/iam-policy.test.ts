// `dupsworks iam-policy`: the operator's policy is made of what the code calls, narrowed where AWS
// allows; and every AWS call in the code is declared next to it (a new call without its permission
// fails here). The integration suite's recorded calls are checked against it too
// (test/after/iam-coverage.test.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { agentPolicy, operatorPolicy, type PolicyDocument } from '../../src/iam/policy.js';
import { permissions as leasePermissions } from '../../src/lock/lease.js';
import { iamRole } from '../../src/resources/iam-role.js';
import { loadSpecFile } from '../../src/spec/load.js';
import { natRole } from '../../src/topology/nat-role.js';
import { ROOT, runCli } from '../support/cli.js';
import { recordedCalls } from '../support/aws-calls.js';
import { actionOf } from '../support/record-calls.js';
import { sdkCalls } from '../support/sdk-calls.js';
import { makeSpec, opsworksSpec } from './fixtures.js';

const LOCKS = { lockTable: 'dupsworks-locks' };

const actionsOf = (policy: PolicyDocument) => new Set(policy.Statement.flatMap((s) => s.Action));
const statement = (policy: PolicyDocument, sid: string) => policy.Statement.find((s) => s.Sid === sid);

describe('the operator policy', () => {
  it("for an EC2 spec: EC2 on *, the lock table of the region, the default image parameters, IAM on the NATs' role and profile of this stack only, that role passed to EC2; nothing of OpsWorks", () => {
    const spec = makeSpec(2);
    const policy = operatorPolicy(spec, LOCKS);
    assert.equal(policy.Version, '2012-10-17');
    assert.deepEqual(
      policy.Statement.map((s) => s.Sid),
      ['Ec2', 'StackLock', 'DefaultImage', 'NatRole', 'PassRolesToEc2'],
    );
    assert.equal(statement(policy, 'Ec2')!.Resource, '*');
    assert.ok(statement(policy, 'Ec2')!.Action.every((a) => a.startsWith('ec2:')));
    for (const action of ['ec2:RunInstances', 'ec2:TerminateInstances', 'ec2:ReplaceRoute', 'ec2:CreateTags', 'ec2:DescribeInstances']) {
      assert.ok(actionsOf(policy).has(action), action);
    }
    assert.deepEqual(statement(policy, 'StackLock'), {
      Sid: 'StackLock',
      Effect: 'Allow',
      Action: [...leasePermissions].sort(),
      Resource: 'arn:aws:dynamodb:ap-northeast-1:*:table/dupsworks-locks',
    });
    for (const first of ['dynamodb:CreateTable', 'dynamodb:TagResource'])
      assert.ok(leasePermissions.includes(first), 'the first run makes the table');
    assert.deepEqual(statement(policy, 'DefaultImage')!.Action, ['ssm:GetParameter']);
    assert.equal(
      statement(policy, 'DefaultImage')!.Resource,
      'arn:aws:ssm:ap-northeast-1::parameter/aws/service/ami-amazon-linux-latest/*',
    );
    assert.ok(![...actionsOf(policy)].some((a) => a.startsWith('opsworks:')));
    const role = `arn:aws:iam::*:role/dupsworks/${iamRole.nameOf(spec.name, spec.region, 'nat')}`;
    assert.deepEqual(statement(policy, 'NatRole')!.Resource, [role, role.replace(':role/', ':instance-profile/')]);
    for (const action of [
      'iam:CreateRole',
      'iam:GetRole',
      'iam:PutRolePolicy',
      'iam:CreateInstanceProfile',
      'iam:AddRoleToInstanceProfile',
    ]) {
      assert.ok(statement(policy, 'NatRole')!.Action.includes(action), action);
    }
    assert.ok(!statement(policy, 'NatRole')!.Action.includes('iam:PassRole'));
    assert.deepEqual(statement(policy, 'PassRolesToEc2')!.Resource, [role]);
  });

  it('asks for no parameter when the spec names the image, and names the lock table it is given', () => {
    const policy = operatorPolicy(makeSpec(2, { imageId: 'ami-0123456789abcdef0' }), { lockTable: 'team-locks' });
    assert.equal(statement(policy, 'DefaultImage'), undefined);
    assert.equal(statement(policy, 'StackLock')!.Resource, 'arn:aws:dynamodb:ap-northeast-1:*:table/team-locks');
  });

  it("passes the NATs' instance profile role to EC2 only, in the profile's account", () => {
    const spec = makeSpec(2, { instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/nat' });
    const policy = operatorPolicy(spec, LOCKS);
    assert.deepEqual(statement(policy, 'PassRolesToEc2'), {
      Sid: 'PassRolesToEc2',
      Effect: 'Allow',
      Action: ['iam:PassRole'],
      Resource: ['arn:aws:iam::123456789012:role/*'],
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    });
    assert.equal(statement(policy, 'StackLock')!.Resource, 'arn:aws:dynamodb:ap-northeast-1:123456789012:table/dupsworks-locks');
  });

  it('for an OpsWorks spec: its actions, its service role passed to OpsWorks, its instance profile to EC2', () => {
    const policy = operatorPolicy(opsworksSpec(), LOCKS);
    assert.equal(statement(policy, 'OpsWorks')!.Resource, '*');
    for (const action of ['opsworks:CreateStack', 'opsworks:DescribeStacks', 'opsworks:CreateDeployment', 'opsworks:TagResource']) {
      assert.ok(statement(policy, 'OpsWorks')!.Action.includes(action), action);
    }
    assert.deepEqual(statement(policy, 'PassRolesToOpsworks')!.Resource, ['arn:aws:iam::123456789012:role/aws-opsworks-service-role']);
    assert.deepEqual(statement(policy, 'PassRolesToOpsworks')!.Condition, {
      StringEquals: { 'iam:PassedToService': 'opsworks.amazonaws.com' },
    });
    assert.deepEqual(statement(policy, 'PassRolesToEc2')!.Resource, ['arn:aws:iam::123456789012:role/*']);
    assert.equal(statement(policy, 'DefaultImage'), undefined, 'OpsWorks picks the image from its OS name');
  });

  it('writes ARNs in the partition of the region', () => {
    const policy = operatorPolicy({ ...makeSpec(2), region: 'cn-north-1' }, LOCKS);
    assert.equal(statement(policy, 'StackLock')!.Resource, 'arn:aws-cn:dynamodb:cn-north-1:*:table/dupsworks-locks');
  });

  it("fits in IAM's 6,144 characters of a managed policy", () => {
    const size = JSON.stringify(operatorPolicy(opsworksSpec(), LOCKS)).replace(/\s/g, '').length;
    assert.ok(size < 6144, `${size} characters`);
  });

  it("gives the NATs the failover agent's policy, the one the NATs' role dupsworks makes carries; none in the OpsWorks mode", () => {
    const spec = makeSpec(2);
    const policy = agentPolicy(spec)!;
    const made = natRole(spec).resources.find((r) => r.kind === 'iam-role-policy')!;
    assert.deepEqual(policy, (made.props as { policyDocument: unknown }).policyDocument);
    assert.deepEqual(
      policy.Statement.map((s) => s.Sid),
      ['ReadTheStack', 'MoveTheStacksRoutes', 'SayWhoServesARouteTable', 'SayAPeerIsHealthy'],
    );
    assert.equal(agentPolicy(opsworksSpec()), undefined);
  });
});

/** Every .ts file under dir, as paths relative to the repository. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [relative(ROOT, path)] : [];
  });
}

/** What a compiled module declares: its `permissions` export, and those of the resource kinds it exports. */
async function declared(source: string): Promise<string[]> {
  const module = (await import(pathToFileURL(join(ROOT, 'dist', source.replace(/\.ts$/, '.js'))).href)) as Record<string, unknown>;
  const lists = Object.entries(module).flatMap(([name, value]) => {
    if (name === 'permissions' && Array.isArray(value)) return [value as string[]];
    const kind = value as { kind?: unknown; permissions?: unknown };
    return typeof kind === 'object' && kind !== null && typeof kind.kind === 'string' && Array.isArray(kind.permissions)
      ? [kind.permissions as string[]]
      : [];
  });
  return [...new Set(lists.flat())].sort();
}

describe('every AWS call in the code is declared beside it', () => {
  // The lab and the OpsWorks emulator talk to an emulator only, never to AWS for the operator.
  const files = sources(join(ROOT, 'src')).filter((f) => !f.startsWith('src/lab/') && !f.startsWith('src/emulator/'));
  const calling = files
    .map((file) => ({ file, calls: sdkCalls(readFileSync(join(ROOT, file), 'utf8')) }))
    .filter((f) => f.calls.length > 0);

  it('finds the calls of the kinds, the snapshots and the lock (the scan is not blind)', () => {
    const names = calling.map((f) => f.file);
    for (const file of ['src/resources/vpc.ts', 'src/resources/nat-instance.ts', 'src/aws/snapshot.ts', 'src/lock/lease.ts']) {
      assert.ok(names.includes(file), file);
    }
    assert.ok(calling.length >= 15, `${calling.length} files call AWS`);
    assert.deepEqual(sdkCalls("const { RunInstancesCommand } = await import('@aws-sdk/client-ec2'); new RunInstancesCommand({});"), [
      'ec2:RunInstances',
    ]);
    assert.deepEqual(sdkCalls("import { paginateDescribeInstances } from '@aws-sdk/client-opsworks'; paginateDescribeInstances(c, {});"), [
      'opsworks:DescribeInstances',
    ]);
  });

  it('each file lists exactly the actions it calls', async () => {
    for (const { file, calls } of calling) assert.deepEqual(await declared(file), calls, `${file}: its permissions and its calls`);
  });

  it('and what every file lists is in the operator policy of a spec that uses it', async () => {
    const granted = new Set([...actionsOf(operatorPolicy(makeSpec(2), LOCKS)), ...actionsOf(operatorPolicy(opsworksSpec(), LOCKS))]);
    for (const { file } of calling) {
      for (const action of await declared(file)) assert.ok(granted.has(action), `${file} calls ${action}, which no policy grants`);
    }
  });
});

describe('the record of the calls the tests make', () => {
  const signed = (service: string) => `AWS4-HMAC-SHA256 Credential=testing/20260101/ap-northeast-1/${service}/aws4_request, Signature=x`;
  const dupsworks = 'aws-sdk-js/3.1168.0 ua/2.1 api/ec2#3.1168.0 m/N,E,e app/dupsworks#0.1.0';

  it("names dupsworks's requests by their IAM action, and only those", () => {
    const ec2 = { userAgent: dupsworks, authorization: signed('ec2'), target: '' };
    assert.equal(actionOf(ec2, 'Action=RunInstances&Version=2016-11-15'), 'ec2:RunInstances');
    assert.equal(actionOf({ ...ec2, authorization: signed('dynamodb'), target: 'DynamoDB_20120810.PutItem' }, '{}'), 'dynamodb:PutItem');
    const opsworks = { userAgent: 'aws-sdk-js/3.876.0 api/opsworks#3.876.0 app/dupsworks-0.1.0', authorization: signed('opsworks') };
    assert.equal(actionOf({ ...opsworks, target: 'OpsWorks_20130218.CreateStack' }, '{}'), 'opsworks:CreateStack');
    assert.equal(
      actionOf({ ...ec2, userAgent: 'aws-sdk-js/3.1168.0 api/ec2#3.1168.0' }, 'Action=TerminateInstances'),
      undefined,
      "a test's own client",
    );
    assert.equal(actionOf({ ...ec2, authorization: '' }, 'Action=RunInstances'), undefined, 'not an AWS request');
  });

  it('reads what every process recorded, counting each action', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dupsworks-calls-'));
    try {
      const line = (action: string) => `${JSON.stringify({ action })}\n`;
      writeFileSync(join(dir, 'calls-1.jsonl'), line('ec2:RunInstances') + line('ec2:RunInstances'));
      writeFileSync(join(dir, 'calls-2.jsonl'), line('opsworks:CreateStack'));
      assert.deepEqual(Object.fromEntries(recordedCalls(dir)), { 'ec2:RunInstances': 2, 'opsworks:CreateStack': 1 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dupsworks iam-policy', () => {
  const example = join(ROOT, 'examples/ha-nat.yaml');

  it('prints the operator policy of the spec as JSON (the default), under the lock table asked for', async () => {
    const loaded = await loadSpecFile(example);
    assert.ok(loaded.ok);
    const printed = await runCli(['iam-policy', '-f', example, '--lock-table', 'team-locks']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(JSON.parse(printed.stdout), operatorPolicy(loaded.spec, { lockTable: 'team-locks' }));
    const explicit = await runCli(['iam-policy', '--for', 'operator', '-f', example]);
    assert.deepEqual(JSON.parse(explicit.stdout), operatorPolicy(loaded.spec, LOCKS));
  });

  it("--for agent: the NATs' policy; an unknown --for is refused", async () => {
    const loaded = await loadSpecFile(example);
    assert.ok(loaded.ok);
    const agent = await runCli(['iam-policy', '--for', 'agent', '-f', example]);
    assert.equal(agent.code, 0, agent.stderr);
    assert.deepEqual(JSON.parse(agent.stdout), agentPolicy(loaded.spec));
    const bad = await runCli(['iam-policy', '--for', 'everyone', '-f', example]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Allowed choices are operator, agent/);
  });
});
