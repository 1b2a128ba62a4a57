// The inventory against moto and the OpsWorks emulator: what carries the stack's tag but no
// resource of the spec claims is named in the plan with what to do, never touched, and keeps what
// it uses from a delete that could not succeed, so destroy ends at once instead of waiting out
// DependencyViolation. An EC2 spec that can see the OpsWorks side claims it, and removes it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import { RecordingHost } from '../../src/io.js';
import { heldChanges } from '../../src/planner/plan.js';
import { renderPlan } from '../../src/planner/render.js';
import { cliEnv, runCli, tempFile } from '../support/cli.js';
import { makeOpsWorksEngine, natOf, opsInstancesOf, ourStack, stacksNamed, useOpsWorks } from '../support/opsworks.js';
import {
  assertApplied,
  assertNoChanges,
  byResource,
  converge,
  instancesOf,
  liveNat,
  makeEngine,
  makeSpec,
  specYaml,
  tagValue,
} from '../support/stack.js';

/** The environment of a CLI that does not know where OpsWorks is. */
function withoutOpsWorks(): NodeJS.ProcessEnv {
  const { AWS_ENDPOINT_URL_OPSWORKS: _, ...env } = cliEnv();
  return env;
}

describe('the inventory', () => {
  const bed = useOpsWorks();
  const ec2Spec = makeSpec();
  const opsSpec = makeSpec({ manager: 'opsworks' });

  /** An instance launched by hand into one of the stack's subnets. */
  async function launchInto(subnet: string, tags: Tag[] = []): Promise<Instance> {
    const [found] = (await bed.ec2.send(new DescribeSubnetsCommand({ Filters: byResource(ec2Spec.name, subnet) }))).Subnets!;
    const run = new RunInstancesCommand({
      ImageId: 'ami-12c6146b',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: found!.SubnetId!,
      ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
    });
    return (await bed.ec2.send(run)).Instances![0]!;
  }

  async function destroysWhole(): Promise<void> {
    const engine = makeEngine(ec2Spec, bed.moto.endpoint);
    assertApplied(await engine.apply(await engine.destroyPlan()));
    assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');
  }

  it('destroy with the EC2 spec of an OpsWorks-built stack names the OpsWorks stack, keeps what it uses, and ends at once', async () => {
    await converge(makeOpsWorksEngine(bed, opsSpec));
    const stack = await ourStack(bed.client, opsSpec.name);
    const nats = await Promise.all(opsSpec.zones.map((z) => natOf(bed.client, stack.StackId!, z.availabilityZone)));
    const file = await tempFile('ec2.yaml', specYaml(ec2Spec));

    const destroyed = await runCli(
      ['destroy', '-f', file, '--endpoint-url', bed.moto.endpoint, '--auto-approve', '--debug'],
      withoutOpsWorks(),
    );
    assert.equal(destroyed.code, 1, 'the stack is not gone: destroy says so');
    const out = destroyed.stdout;
    for (const nat of nats) {
      assert.match(
        out,
        new RegExp(
          `  - EC2 instance ${nat.Ec2InstanceId} \\("test-stack - ${nat.Hostname}"\\), t3\\.micro, running, launched by OpsWorks stack "test-stack" as ${nat.Hostname}\\n`,
        ),
      );
    }
    assert.match(
      out,
      /This stack also has an OpsWorks stack \("test-stack"\), the one that launched the instances above: destroy it with the spec that made it \(nat\.manager: opsworks\), or run this command with --opsworks-endpoint-url/,
    );
    for (const kept of [
      'vpc',
      'internet-gateway',
      'security-group/nat',
      'subnet/public/ap-northeast-1c',
      'subnet/public/ap-northeast-1a',
    ]) {
      assert.match(out, new RegExp(`\\n  # ${kept} - \\S+; in use by `), `${kept} is kept`);
    }
    assert.match(out, /Destroy incomplete\. Resources: \d+ destroyed; 6 kept, still in use by what this spec does not manage/);
    assert.doesNotMatch(destroyed.stderr, /after DependencyViolation/, 'no delete waited out DependencyViolation');
    assert.doesNotMatch(destroyed.stderr, /failed/);

    // The OpsWorks side is untouched and the kept network stays; its spec then removes it all.
    assert.deepEqual(
      (await stacksNamed(bed.client, opsSpec.name)).map((s) => s.stack.StackId),
      [stack.StackId],
    );
    assert.deepEqual(
      (await opsInstancesOf(bed.client, stack.StackId!)).filter((i) => i.Hostname !== 'admin').map((i) => i.Status),
      ['online', 'online'],
    );
    const vpcs = await bed.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [ec2Spec.name] }] }));
    assert.equal(vpcs.Vpcs!.length, 1, 'the VPC is kept');
    const engine = makeOpsWorksEngine(bed, opsSpec);
    assertApplied(await engine.apply(await engine.destroyPlan()));
    assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');
    assert.deepEqual(await stacksNamed(bed.client, opsSpec.name), []);
    const left = await bed.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [ec2Spec.name] }] }));
    assert.deepEqual(left.Vpcs, []);
  });

  it('destroy with the EC2 spec and the OpsWorks endpoint claims the OpsWorks stack, names it in the plan, and removes it', async () => {
    await converge(makeOpsWorksEngine(bed, opsSpec));
    const stack = await ourStack(bed.client, opsSpec.name);
    const io = new RecordingHost();
    const engine = makeOpsWorksEngine(bed, ec2Spec, { io });
    const plan = await engine.destroyPlan();
    assert.deepEqual(plan.unclaimed, []);
    assert.deepEqual(heldChanges(plan), []);
    const stackChange = plan.changes.find((c) => c.id === 'opsworks/stack');
    assert.equal(stackChange?.action, 'delete');
    assert.equal(stackChange?.observed?.physicalId, stack.StackId);
    assert.match(renderPlan(plan, undefined, 'destroy'), /  - opsworks-stack "opsworks\/stack" \{/);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');
    assert.deepEqual(await stacksNamed(bed.client, opsSpec.name), []);
    assert.ok(!io.events.some((e) => e.type === 'retry' && e.code === 'DependencyViolation' && /Vpc/.test(e.operation)));
  });

  it('apply with the EC2 spec and the OpsWorks endpoint moves an OpsWorks-built stack to EC2 NATs in one apply', async () => {
    await converge(makeOpsWorksEngine(bed, opsSpec));
    const io = new RecordingHost();
    const engine = makeOpsWorksEngine(bed, ec2Spec, { io });
    const plan = await engine.plan();
    const doing = (id: string) => plan.changes.find((c) => c.id === id)?.action;
    assert.equal(doing('opsworks/stack'), 'delete');
    assert.equal(doing('nat/ap-northeast-1c'), 'create');
    assert.equal(doing('route/private/ap-northeast-1c/0.0.0.0/0'), 'update');
    assert.equal(doing('vpc'), 'no-op', 'the network stays');
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());

    // Each zone's private route moved to its new NAT before its OpsWorks NAT went.
    const order = io.events.flatMap((e) => (e.type === 'step-done' ? [`${e.operation}:${e.id}`] : []));
    for (const { availabilityZone: az } of ec2Spec.zones) {
      const routeMoved = order.indexOf(`update:route/private/${az}/0.0.0.0/0`);
      assert.ok(order.indexOf(`create:nat/${az}`) < routeMoved);
      assert.ok(routeMoved < order.indexOf(`delete:opsworks/instance/nat-${az}`), `${az}'s route moved before its OpsWorks NAT went`);
    }
    assert.deepEqual(await stacksNamed(bed.client, opsSpec.name), [], 'the OpsWorks stack is gone');
    for (const { availabilityZone: az } of ec2Spec.zones) await liveNat(bed.ec2, ec2Spec.name, az);
  });

  it('names an instance tagged with the stack but no logical id, never touches it, and keeps its subnet and VPC from destroy', async () => {
    const engine = makeEngine(ec2Spec, bed.moto.endpoint);
    await converge(engine);
    const stray = (
      await launchInto('subnet/private/ap-northeast-1c', [
        { Key: 'dupsworks:stack', Value: ec2Spec.name },
        { Key: 'Name', Value: 'stray' },
      ])
    ).InstanceId!;

    const plan = await engine.plan();
    assertNoChanges(plan, 'a stray changes nothing the spec manages');
    assert.deepEqual(
      plan.unclaimed.map((u) => [u.physicalId, u.description]),
      [[stray, `EC2 instance ${stray} ("stray"), m1.small, running`]],
    );
    assert.match(
      plan.unclaimed[0]!.advice,
      /no dupsworks:resource tag.*Terminate it, or remove its dupsworks:stack tag\. It is running, and costs money, until it is terminated\.$/,
    );
    assert.match(renderPlan(plan), /^Warning: found in this stack \(by its tag, or inside its VPC\)/);

    const io = new RecordingHost();
    const destroy = await makeEngine(ec2Spec, bed.moto.endpoint, { io }).destroyPlan();
    assert.deepEqual(
      heldChanges(destroy).map((c) => c.id),
      ['subnet/private/ap-northeast-1c', 'vpc'],
    );
    assertApplied(await makeEngine(ec2Spec, bed.moto.endpoint, { io }).apply(destroy));
    assert.ok(!io.events.some((e) => e.type === 'retry' && e.code === 'DependencyViolation'), 'nothing waited out DependencyViolation');
    const [kept] = await instancesOf(bed.ec2, [{ Name: 'instance-id', Values: [stray] }]);
    assert.equal(kept?.State?.Name, 'running', 'the stray is untouched');
    assert.equal(tagValue(kept?.Tags, 'dupsworks:stack'), ec2Spec.name);

    // Once it is gone, destroy finishes.
    await bed.ec2.send(new TerminateInstancesCommand({ InstanceIds: [stray] }));
    await destroysWhole();
  });

  it("names what someone put in the stack's VPC without its tag, and keeps what it is in: destroy ends without waiting", async () => {
    const engine = makeEngine(ec2Spec, bed.moto.endpoint);
    await converge(engine);
    const stranger = await launchInto('subnet/private/ap-northeast-1a');
    const { GroupId: group } = await bed.ec2.send(
      new CreateSecurityGroupCommand({ VpcId: stranger.VpcId!, GroupName: 'someone-elses', Description: 'not the stack' }),
    );

    assertNoChanges(await engine.plan(), 'apply has nothing to delete, so it does not look inside the VPC');
    const io = new RecordingHost();
    const destroyer = makeEngine(ec2Spec, bed.moto.endpoint, { io });
    const plan = await destroyer.destroyPlan();
    const eni = stranger.NetworkInterfaces![0]!.NetworkInterfaceId!;
    assert.deepEqual(
      plan.unclaimed.map((u) => u.description).sort(),
      [`network interface ${eni} of EC2 instance ${stranger.InstanceId}`, `security group ${group} ("someone-elses")`].sort(),
    );
    assert.match(plan.unclaimed[0]!.advice, /is in this stack's VPC but is not this stack's \(it has no dupsworks:stack=test-stack tag\)/);
    assert.deepEqual(
      heldChanges(plan).map((c) => c.id),
      ['subnet/private/ap-northeast-1a', 'vpc'],
    );
    assertApplied(await destroyer.apply(plan));
    assert.ok(!io.events.some((e) => e.type === 'retry' && e.code === 'DependencyViolation'), 'nothing waited out DependencyViolation');
    const [untouched] = await instancesOf(bed.ec2, [{ Name: 'instance-id', Values: [stranger.InstanceId!] }]);
    assert.equal(untouched?.State?.Name, 'running');

    await bed.ec2.send(new TerminateInstancesCommand({ InstanceIds: [stranger.InstanceId!] }));
    await bed.ec2.send(new DeleteSecurityGroupCommand({ GroupId: group! }));
    await destroysWhole();
  });
});
