// The command line as a user runs it: exit codes, what goes to stdout and stderr, approval, saved
// plans, and that bad input never reaches AWS.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { join } from 'node:path';
import { ROOT, cliEnv, runCli, tempFile } from '../support/cli.js';
import { countActions } from '../../src/planner/plan.js';
import { assertNoChanges, converge, liveNat, makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

describe('the dupsworks command', () => {
  const emu = useEmulator();
  let specFile: string;
  const spec = makeSpec({ name: 'cli-stack' });
  const aws = () => ['--endpoint-url', emu.proxy.endpoint];
  before(async () => {
    specFile = await tempFile('spec.yaml', specYaml(spec));
  });

  const totalCalls = () => [...emu.proxy.calls().values()].reduce((a, b) => a + b, 0);

  it('reports every problem of a bad spec as file:line:column, exits 1, and calls no AWS API', async () => {
    const bad = await tempFile(
      'bad.yaml',
      specYaml(spec)
        .replace('cidr: 10.0.0.0/16', 'cidr: 10.0.0.0/33')
        .replace('instanceType: t3.micro', 'instanceType: t3.micro\n  colour: blue'),
    );
    for (const command of ['validate', 'plan', 'apply', 'destroy']) {
      const approve = command === 'apply' || command === 'destroy' ? ['--auto-approve'] : [];
      const result = await runCli([command, '-f', bad, ...aws(), ...approve]);
      assert.equal(result.code, 1, `${command} exits 1`);
      const lines = result.stderr.trim().split('\n');
      assert.match(lines[0]!, new RegExp(`^${bad}:5:9: vpc\\.cidr: .*prefix length 33`));
      assert.match(lines[1]!, new RegExp(`^${bad}:\\d+:3: nat\\.colour: "colour" is not a known key`));
      assert.match(lines[2]!, /2 problems; nothing was sent to AWS/);
      assert.doesNotMatch(result.stderr, /\s+at .*\.js:\d+/, 'no stack trace');
      assert.equal(result.stdout, '');
    }
    assert.equal(totalCalls(), 0, 'no AWS call for bad input');
  });

  it('plan --detailed-exitcode: 2 with changes, 0 without; apply prints the plan, progress on stderr, summary on stdout', async () => {
    const before = await runCli(['plan', '-f', specFile, ...aws(), '--detailed-exitcode']);
    assert.equal(before.code, 2, before.stderr);
    assert.match(before.stdout, /\+ vpc "vpc" \{/);
    assert.match(before.stdout, /Plan: 22 to add, 0 to change, 0 to destroy\./);

    const applied = await runCli(['apply', '-f', specFile, ...aws(), '--auto-approve']);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Apply complete! Resources: 22 added, 0 changed, 0 destroyed\./);
    assert.match(applied.stderr, /nat\/ap-northeast-1c: Creating\.\.\./);
    assert.match(applied.stderr, /nat\/ap-northeast-1c: Creation complete after \d+s \[id=i-/);
    assert.doesNotMatch(applied.stdout, /Creating\.\.\./, 'progress is not on stdout');
    assert.doesNotMatch(applied.stderr, /Warning/i, 'no stray warnings');

    const afterwards = await runCli(['plan', '-f', specFile, ...aws(), '--detailed-exitcode']);
    assert.equal(afterwards.code, 0);
    assert.match(afterwards.stdout, /No changes\./);
  });

  it("plan --json gives Terraform's resource_changes: actions arrays, mode, name, provider_name, replace_paths, action_reason", async () => {
    type Json = {
      resource_changes: {
        address: string;
        mode: string;
        name: string;
        provider_name: string;
        change: { actions: string[]; replace_paths?: string[][] };
        action_reason?: string;
        reason?: string;
      }[];
      summary: unknown;
    };
    const planJson = async (file: string): Promise<Json> => {
      const result = await runCli(['plan', '-f', file, ...aws(), '--json']);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout) as Json;
    };
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const nat = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    const healing = await planJson(specFile);
    const byAddress = new Map(healing.resource_changes.map((c) => [c.address, c]));
    for (const c of healing.resource_changes) assert.deepEqual([c.mode, c.name, c.provider_name], ['managed', c.address, 'dupsworks/aws']);
    // The terminated NAT is gone: a new one is created, and the words say why.
    const natChange = byAddress.get('nat/ap-northeast-1c')!;
    assert.deepEqual(natChange.change.actions, ['create']);
    assert.equal(natChange.reason, `${nat.InstanceId} is terminated`);
    assert.equal(natChange.action_reason, undefined);
    assert.deepEqual(byAddress.get('route/private/ap-northeast-1c/0.0.0.0/0')!.change.actions, ['update']);
    assert.deepEqual(byAddress.get('vpc')!.change.actions, ['no-op']);
    assert.deepEqual(healing.summary, { add: 1, change: 2, destroy: 0 });

    // An attribute that cannot change in place: a replacement, new first.
    const bigger = await tempFile('bigger.yaml', specYaml(spec).replace('instanceType: t3.micro', 'instanceType: t3.small'));
    const replacing = await planJson(bigger);
    const other = replacing.resource_changes.find((c) => c.address === 'nat/ap-northeast-1a')!;
    assert.deepEqual(other.change.actions, ['create', 'delete']);
    assert.deepEqual(other.change.replace_paths, [['instanceType']]);
    assert.equal(other.action_reason, 'replace_because_cannot_update');
  });

  it('apply refuses without approval when there is no terminal, and changes nothing', async () => {
    const result = await runCli(['apply', '-f', specFile, ...aws()]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /needs approval.*--auto-approve/);
    // The stack's lock is taken and released (DynamoDB); nothing else is written.
    const mutating = [...emu.proxy.calls().keys()].filter((action) => !/^(Describe|Get)/.test(action));
    assert.deepEqual(
      mutating.filter((action) => !['CreateTable', 'PutItem', 'DeleteItem'].includes(action)),
      [],
      'only reads were made',
    );
    assert.equal(await makeEngine(spec, emu.proxy.endpoint).lockHolder(), undefined, 'the lock was released');
  });

  it('applies a saved plan, and refuses a saved plan once the stack changed', async () => {
    const planFile = await tempFile('plan.json', '');
    const saved = await runCli(['plan', '-f', specFile, ...aws(), '--out', planFile]);
    assert.equal(saved.code, 0, saved.stderr);
    const file = JSON.parse(await readFile(planFile, 'utf8'));
    assert.equal(file.format, 'dupsworks-plan/2');
    assert.equal(file.dupsworks_version, JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')).version);
    const applied = await runCli(['apply', '-f', specFile, ...aws(), planFile]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Apply complete! Resources: 22 added/);

    // The same saved plan again: the world has changed since (it was applied).
    const again = await runCli(['apply', '-f', specFile, ...aws(), planFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /stale: the stack has changed in AWS since the plan was made/);

    // A plan saved, then the world drifts: refused, nothing done.
    await runCli(['plan', '-f', specFile, ...aws(), '--out', planFile]);
    const nat = await liveNat(emu.ec2, spec.name, 'ap-northeast-1a');
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    const stale = await runCli(['apply', '-f', specFile, ...aws(), planFile]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /stale/);
  });

  it("refuses a saved plan edited to change one resource's action, and changes nothing", async () => {
    const planFile = await tempFile('plan.json', '');
    const saved = await runCli(['plan', '-f', specFile, ...aws(), '--out', planFile]);
    assert.equal(saved.code, 0, saved.stderr);
    const file = JSON.parse(await readFile(planFile, 'utf8'));
    const nat = file.resource_changes.find((c: { address: string }) => c.address === 'nat/ap-northeast-1c');
    nat.change.actions = ['no-op'];
    await writeFile(planFile, JSON.stringify(file, null, 2));

    emu.proxy.resetCounts();
    const refused = await runCli(['apply', '-f', specFile, ...aws(), planFile]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim().split('\n').at(-1),
      `Error: Saved plan ${planFile} does not match what dupsworks would do now: the file has nat/ap-northeast-1c as ["no-op"], ` +
        'a plan made now as ["create"]. Was the file edited? Run "dupsworks plan --out" again.',
    );
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    // The stack's lock is taken and released around the plan (DynamoDB); the stack itself is only read.
    const lockCalls = new Set(['CreateTable', 'PutItem', 'DeleteItem']);
    const mutating = [...emu.proxy.calls().keys()].filter((action) => !/^(Describe|Get)/.test(action) && !lockCalls.has(action));
    assert.deepEqual(mutating, [], 'only reads were made');
  });

  it('refuses a saved plan written by another version of dupsworks, before any AWS call', async () => {
    const planFile = await tempFile('plan.json', '');
    assert.equal((await runCli(['plan', '-f', specFile, ...aws(), '--out', planFile])).code, 0);
    const file = JSON.parse(await readFile(planFile, 'utf8'));
    await writeFile(planFile, JSON.stringify({ ...file, dupsworks_version: '0.0.1' }));

    emu.proxy.resetCounts();
    const refused = await runCli(['apply', '-f', specFile, ...aws(), planFile]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^Error: \S+plan\.json was made by dupsworks "0\.0\.1"; this is dupsworks \d+\.\d+\.\d+, which may plan the same stack differently\. Run "dupsworks plan --out" again with this version\.\n$/,
    );
    assert.equal(totalCalls(), 0, 'refused before any AWS call');
    const version = await runCli(['--version']);
    assert.deepEqual(
      [version.code, version.stdout],
      [0, `${file.dupsworks_version}\n`],
      'the version it names is the one --version prints',
    );
  });

  it("destroy as Terraform's: plan -destroy shows it in reverse dependency order, destroy asks, says Destroy complete!, and a rebuild only creates", async () => {
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const planned = await runCli(['plan', '-f', specFile, ...aws(), '-destroy', '--detailed-exitcode']);
    assert.equal(planned.code, 2, planned.stderr);
    assert.match(planned.stdout, /^dupsworks will perform the following actions \(destroy\):/);
    assert.match(planned.stdout, /Plan: 0 to add, 0 to change, 22 to destroy\./);
    assert.doesNotMatch(planned.stdout, /not in the spec/, 'a destroy needs no reason per resource');
    const order = [...planned.stdout.matchAll(/^  # (\S+) will be destroyed$/gm)].map((m) => m[1]!);
    assert.equal(order.length, 22);
    const at = (id: string) => order.indexOf(id);
    assert.ok(at('route/private/ap-northeast-1c/0.0.0.0/0') < at('nat/ap-northeast-1c'), 'a route before the NAT it points at');
    assert.ok(at('nat/ap-northeast-1c') < at('subnet/public/ap-northeast-1c'), 'a NAT before its subnet');
    assert.ok(at('nat/ap-northeast-1c') < at('security-group/nat'), 'a NAT before its security group');
    assert.ok(at('nat/ap-northeast-1c') < at('iam-instance-profile/nat'), 'a NAT before its instance profile');
    assert.ok(at('iam-instance-profile/nat') < at('iam-role/nat'), 'a profile before its role');
    assert.equal(order.filter((id) => !id.startsWith('iam-')).at(-1), 'vpc', 'the VPC last of the network');

    const unapproved = await runCli(['destroy', '-f', specFile, ...aws()]);
    assert.equal(unapproved.code, 1, 'destroy needs approval too');
    assert.match(unapproved.stderr, /this needs approval: run it on a terminal and answer "yes", or pass --auto-approve/);
    assert.deepEqual(
      [...unapproved.stdout.matchAll(/^  # (\S+) will be destroyed$/gm)].map((m) => m[1]!),
      order,
      'it shows the same plan',
    );

    const typo = await runCli(['destroy', '-f', specFile, ...aws(), '-auto-approve']);
    assert.equal(typo.code, 1);
    assert.equal(
      typo.stderr,
      "error: unknown option '-auto-approve': dupsworks's long options take two dashes; did you mean --auto-approve?\n",
    );

    const destroyed = await runCli(['destroy', '-f', specFile, ...aws(), '--auto-approve']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.match(destroyed.stdout, /Plan: 0 to add, 0 to change, 22 to destroy\./);
    assert.match(destroyed.stdout, /\nDestroy complete! Resources: 22 destroyed\.\n$/);

    // The NATs are terminated, and EC2 lists them for a while: they are gone, not "replaced".
    const rebuild = await makeEngine(spec, emu.proxy.endpoint).plan();
    assert.deepEqual(countActions(rebuild), { add: 22, change: 0, destroy: 0 });
    assert.ok(rebuild.changes.every((c) => c.action === 'create'));
    assert.match(rebuild.changes.find((c) => c.id === 'nat/ap-northeast-1c')!.reason!, /^i-\S+ is terminated$/);

    const again = await runCli(['destroy', '-f', specFile, ...aws(), '--auto-approve']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /No changes\./);
  });

  it('a destroy plan saved with plan --destroy --out is applied by apply FILE: it destroys', async () => {
    await converge(makeEngine(spec, emu.proxy.endpoint));
    const planFile = await tempFile('destroy.json', '');
    const saved = await runCli(['plan', '-f', specFile, ...aws(), '--destroy', '--out', planFile]);
    assert.equal(saved.code, 0, saved.stderr);
    const file = JSON.parse(await readFile(planFile, 'utf8')) as { destroy?: boolean; summary: unknown };
    assert.equal(file.destroy, true);
    assert.deepEqual(file.summary, { add: 0, change: 0, destroy: 22 });
    const applied = await runCli(['apply', '-f', specFile, ...aws(), planFile]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Destroy complete! Resources: 22 destroyed\./);
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).destroyPlan(), 'nothing left');
  });

  it('takes the endpoint from AWS_ENDPOINT_URL, and --region overrides the spec (validated first)', async () => {
    const viaEnv = await runCli(['plan', '-f', specFile, '--detailed-exitcode'], cliEnv({ AWS_ENDPOINT_URL: emu.proxy.endpoint }));
    assert.equal(viaEnv.code, 2, viaEnv.stderr);
    assert.ok(totalCalls() > 0, 'the calls went to the emulator');

    const otherRegion = await runCli(['plan', '-f', specFile, '--region', 'us-east-1', ...aws()]);
    assert.equal(otherRegion.code, 1);
    assert.match(otherRegion.stderr, /ap-northeast-1c is not in region us-east-1/);
  });

  it('explains AWS errors in one line, with the stack trace only under --debug', async () => {
    const down = ['--endpoint-url', 'http://127.0.0.1:9', '--retry-timeout', '1'];
    const plain = await runCli(['plan', '-f', specFile, ...down]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^Error: .+/m);
    assert.doesNotMatch(plain.stderr, /\n\s+at /);
    const debug = await runCli(['plan', '-f', specFile, ...down, '--debug']);
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /\n\s+at /);
  });
});
