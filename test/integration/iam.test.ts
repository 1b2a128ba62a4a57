// The NATs' IAM role, its inline policy and instance profile, as dupsworks owns them (the spec
// names no nat.instanceProfileArn): made with the stack, found by name, tagged, drift repaired,
// destroyed with the stack; a role of that name that is not the stack's is never touched; and
// EC2's lag behind a profile IAM has just made is waited out.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
  UntagRoleCommand,
} from '@aws-sdk/client-iam';
import { renderPlan } from '../../src/planner/render.js';
import { natPolicy } from '../../src/topology/nat-role.js';
import { assertApplied, assertNoChanges, converge, liveNat, makeEngine, makeSpec, REGION, useEmulator } from '../support/stack.js';

describe("the NATs' IAM role", () => {
  const emu = useEmulator();
  const iam = () => new IAMClient({ region: REGION, endpoint: emu.moto.endpoint });
  const nameOf = (stack: string) => `${stack}-${REGION}-nat`;

  it('is made with the stack, tagged, found by its name, and gives the NATs their instance profile', async () => {
    const spec = makeSpec({ name: 'iam-build' });
    await converge(makeEngine(spec, emu.moto.endpoint));
    const name = nameOf(spec.name);
    const role = (await iam().send(new GetRoleCommand({ RoleName: name }))).Role!;
    assert.equal(role.Path, '/dupsworks/');
    assert.deepEqual(Object.fromEntries((role.Tags ?? []).map((t) => [t.Key, t.Value])), {
      Name: 'TestVPC-nat-role',
      'dupsworks:stack': spec.name,
      'dupsworks:resource': 'iam-role/nat',
    });
    const policy = await iam().send(new GetRolePolicyCommand({ RoleName: name, PolicyName: 'dupsworks-nat' }));
    assert.deepEqual(JSON.parse(decodeURIComponent(policy.PolicyDocument!)), natPolicy(spec));
    const profile = (await iam().send(new GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile!;
    assert.deepEqual(
      profile.Roles!.map((r) => r.RoleName),
      [name],
    );
    for (const zone of spec.zones) {
      const nat = await liveNat(emu.ec2, spec.name, zone.availabilityZone);
      assert.equal(nat.IamInstanceProfile?.Arn, profile.Arn);
    }
  });

  it('is repaired when changed behind its back: a widened policy, a lost tag, a profile without its role, a deleted policy', async () => {
    const spec = makeSpec({ name: 'iam-drift' });
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const name = nameOf(spec.name);
    const wide = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] };
    await iam().send(new PutRolePolicyCommand({ RoleName: name, PolicyName: 'dupsworks-nat', PolicyDocument: JSON.stringify(wide) }));
    await iam().send(new UntagRoleCommand({ RoleName: name, TagKeys: ['Name'] }));
    await iam().send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
    const plan = await engine.plan();
    const changed = Object.fromEntries(
      plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id, c.attributes.map((a) => a.path)]),
    );
    assert.deepEqual(
      changed,
      { 'iam-role/nat': ['tags.Name'], 'iam-role-policy/nat': ['policyDocument'], 'iam-instance-profile/nat': ['roleName'] },
      renderPlan(plan),
    );
    await converge(engine);
    const policy = await iam().send(new GetRolePolicyCommand({ RoleName: name, PolicyName: 'dupsworks-nat' }));
    assert.deepEqual(JSON.parse(decodeURIComponent(policy.PolicyDocument!)), natPolicy(spec));

    await iam().send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: 'dupsworks-nat' }));
    const again = await engine.plan();
    assert.deepEqual(
      again.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id, c.action]),
      [['iam-role-policy/nat', 'create']],
    );
    await converge(engine);
  });

  it('goes with the stack, after the NATs that use it', async () => {
    const spec = makeSpec({ name: 'iam-destroy' });
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const plan = await engine.destroyPlan();
    const deletes = plan.changes.filter((c) => c.action === 'delete').map((c) => c.id);
    for (const id of ['iam-role/nat', 'iam-role-policy/nat', 'iam-instance-profile/nat']) assert.ok(deletes.includes(id), id);
    assertApplied(await engine.apply(plan));
    const name = nameOf(spec.name);
    await assert.rejects(iam().send(new GetRoleCommand({ RoleName: name })), { name: 'NoSuchEntityException' });
    await assert.rejects(iam().send(new GetInstanceProfileCommand({ InstanceProfileName: name })), { name: 'NoSuchEntityException' });
    assertNoChanges(await engine.destroyPlan(), 'nothing is left to destroy');
  });

  it("leaves a role of its name that is not the stack's alone, and says what to do", async () => {
    const spec = makeSpec({ name: 'iam-foreign' });
    const trust = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    };
    await iam().send(
      new CreateRoleCommand({ RoleName: nameOf(spec.name), AssumeRolePolicyDocument: JSON.stringify(trust), Description: 'theirs' }),
    );
    const engine = makeEngine(spec, emu.moto.endpoint);
    const plan = await engine.plan();
    assert.equal(plan.changes.find((c) => c.id === 'iam-role/nat')?.action, 'create', 'not the stack’s: not found');
    const result = await engine.apply(plan);
    assert.equal(result.ok, false);
    const failed = result.outcomes.find((o) => o.id === 'iam-role/nat');
    assert.equal(failed?.status, 'failed');
    assert.match(
      failed!.error!.message,
      /IAM role iam-foreign-ap-northeast-1-nat already exists without the tag dupsworks:stack=iam-foreign/,
    );
    const role = (await iam().send(new GetRoleCommand({ RoleName: nameOf(spec.name) }))).Role!;
    assert.equal(role.Description, 'theirs');
    assert.deepEqual(role.Tags ?? [], [], 'untouched');
    assert.deepEqual([failed!.error!.code, failed!.error!.fault], ['ForeignResource', 'user']);
  });

  it('is not made when the spec names an instance profile; one made before goes, and the NATs are replaced onto the given one', async () => {
    const spec = makeSpec({ name: 'iam-given' });
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const given = { ...spec, nat: { ...spec.nat, instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/theirs' } };
    const plan = await makeEngine(given, emu.moto.endpoint).plan();
    const actions = Object.fromEntries(plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id, c.action]));
    assert.equal(actions['iam-role/nat'], 'delete');
    assert.equal(actions['iam-instance-profile/nat'], 'delete');
    assert.equal(actions['iam-role-policy/nat'], 'delete');
    for (const zone of spec.zones) assert.equal(actions[`nat/${zone.availabilityZone}`], 'replace');
  });

  it('waits while EC2 does not see the instance profile IAM has just made yet', async () => {
    emu.proxy.setOptions({ profilePropagationMs: 3000 });
    const spec = makeSpec({ name: 'iam-lag' });
    const engine = makeEngine(spec, emu.proxy.endpoint);
    const started = Date.now();
    await converge(engine);
    assert.ok((emu.proxy.faults().get('InvalidParameterValue') ?? 0) > 0, 'EC2 refused the new profile at first');
    assert.ok(Date.now() - started >= 3000);
  });
});
