// The command line as a user runs it: exit codes, what goes to stdout and stderr, approval, saved
// plans, and that bad input never reaches AWS.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { join } from 'node:path';
import { ROOT, cliEnv, runCli, tempFile } from '../support/cli.js';
import { liveNat, makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

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

  it('plan --json gives Terraform-style resource_changes with actions arrays', async () => {
    await runCli(['apply', '-f', specFile, ...aws(), '--auto-approve']);
    const nat = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    const result = await runCli(['plan', '-f', specFile, ...aws(), '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    const byAddress = new Map(json.resource_changes.map((c: { address: string }) => [c.address, c]));
    const natChange = byAddress.get('nat/ap-northeast-1c') as { change: { actions: string[]; replace_paths: string[][] } };
    assert.deepEqual(natChange.change.actions, ['create', 'delete']);
    assert.deepEqual(natChange.change.replace_paths, [['state']]);
    const route = byAddress.get('route/private/ap-northeast-1c/0.0.0.0/0') as { change: { actions: string[]; after_unknown: object } };
    assert.deepEqual(route.change.actions, ['update']);
    assert.deepEqual((byAddress.get('vpc') as { change: { actions: string[] } }).change.actions, ['no-op']);
    assert.deepEqual(json.summary, { add: 1, change: 2, destroy: 1 });
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

  it('destroy removes the stack; a second destroy has nothing to do', async () => {
    await runCli(['apply', '-f', specFile, ...aws(), '--auto-approve']);
    const refused = await runCli(['destroy', '-f', specFile, ...aws()]);
    assert.equal(refused.code, 1, 'destroy needs approval too');
    const destroyed = await runCli(['destroy', '-f', specFile, ...aws(), '--auto-approve']);
    assert.equal(destroyed.code, 0, destroyed.stderr);
    assert.match(destroyed.stdout, /Plan: 0 to add, 0 to change, 22 to destroy\./);
    assert.match(destroyed.stdout, /Destroy complete! Resources: 0 added, 0 changed, 22 destroyed\./);
    const again = await runCli(['destroy', '-f', specFile, ...aws(), '--auto-approve']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /No changes\./);
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
