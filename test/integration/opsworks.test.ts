// The OpsWorks mode end to end: the engine with the real SDK clients against moto_server and the
// OpsWorks emulator (in-process, short delays). Building the original's stack from nothing, applying
// twice, healing what breaks on the OpsWorks side, an apply killed midway, destroy, and a foreign
// stack of the same name. Each scenario ends with the acceptance rule: apply, then a fresh plan
// shows no changes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  ReplaceRouteCommand,
  TerminateInstancesCommand,
  type RouteTable,
} from '@aws-sdk/client-ec2';
import {
  CreateInstanceCommand,
  CreateLayerCommand,
  CreateStackCommand,
  DescribeStacksCommand,
  ListTagsCommand,
  SetPermissionCommand,
  StartInstanceCommand,
  StopInstanceCommand,
  UpdateLayerCommand,
  UntagResourceCommand,
  UpdateStackCommand,
  type Instance,
} from '@aws-sdk/client-opsworks';
import { forceInstanceStatus, startOpsWorksEmulator } from '../../src/emulator/opsworks/index.js';
import { RecordingHost } from '../../src/io.js';
import type { Plan } from '../../src/planner/plan.js';
import type { Spec } from '../../src/spec/types.js';
import { cliEnv, runCli, startCli, tempFile } from '../support/cli.js';
import {
  adminOf,
  deploymentsOf,
  ec2Of,
  layerOf,
  layersOf,
  makeOpsWorksEngine,
  natOf,
  OPSWORKS_DELAYS,
  opsworksClient,
  opsInstance,
  opsInstancesOf,
  ourStack,
  permissionsOf,
  sha256,
  stacksNamed,
  waitForStatus,
  useOpsWorks,
  type OpsWorksBed,
} from '../support/opsworks.js';
import { REGION, assertApplied, assertNoChanges, converge, instancesOf, makeSpec, specYaml, tagValue } from '../support/stack.js';

const ALICE = 'arn:aws:iam::123456789012:user/alice';

describe('OpsWorks mode', () => {
  const bed = useOpsWorks();

  // --- 1. build from empty ---------------------------------------------------------------------

  it('builds the original OpsWorks stack from empty: stack, layers, instances, permission, custom JSON, routes, deployment', async () => {
    const spec = opsSpec();
    const plan = await converge(makeOpsWorksEngine(bed, spec));
    assert.ok(
      plan.changes.every((c) => c.action === 'create'),
      `a build from empty only creates: ${summary(plan).join(', ')}`,
    );
    await checkWorld(bed, spec);
    const admin = await adminOf(bed.client, (await ourStack(bed.client, spec.name)).StackId!);
    assert.equal(admin.Ec2InstanceId, undefined, 'the admin instance was never started');
  });

  it('builds a 3-zone ring: zone i watches zone (i+1) mod 3 in the routes and the custom JSON', async () => {
    const spec = opsSpec({ zones: 3 });
    await converge(makeOpsWorksEngine(bed, spec));
    await checkWorld(bed, spec);
  });

  // --- 2. apply twice --------------------------------------------------------------------------

  it('apply twice makes nothing twice: one stack, two layers, one admin, one NAT per zone', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stack = await ourStack(bed.client, spec.name);
    const deployments = (await deploymentsOf(bed.client, stack.StackId!)).length;
    const again = await engine.plan();
    assertNoChanges(again);
    assertApplied(await engine.apply(again));
    assertNoChanges(await engine.plan());

    assert.equal((await stacksNamed(bed.client, spec.name)).length, 1, 'one stack of that name');
    assert.deepEqual((await layersOf(bed.client, stack.StackId!)).map((l) => l.Shortname).sort(), ['admin', 'nat']);
    assert.deepEqual(
      (await opsInstancesOf(bed.client, stack.StackId!)).map((i) => i.Hostname).sort(),
      ['admin', ...spec.zones.map((z) => `nat-${z.availabilityZone}`)].sort(),
    );
    assert.equal((await deploymentsOf(bed.client, stack.StackId!)).length, deployments, 'no second deployment');
    const vpcs = await bed.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }));
    assert.equal(vpcs.Vpcs!.length, 1, 'one VPC');
  });

  // --- 3. damage, each healed by one apply -----------------------------------------------------

  it('heals a NAT stopped in OpsWorks: started again, same EC2 instance, nothing replaced', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    const az = spec.zones[0]!.availabilityZone;
    const nat = await natOf(bed.client, stackId, az);
    await bed.client.send(new StopInstanceCommand({ InstanceId: nat.InstanceId! }));
    await waitForStatus(bed.client, nat.InstanceId!, 'stopped');
    assert.equal((await ec2Of(bed, nat)).State?.Name, 'stopped', 'an EBS-backed instance keeps its EC2 instance, stopped');

    const plan = await engine.plan();
    assert.deepEqual(summary(plan), [`opsworks/instance/nat-${az}:update`]);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());

    const after = await natOf(bed.client, stackId, az);
    assert.equal(after.InstanceId, nat.InstanceId, 'the same OpsWorks instance');
    assert.equal(after.Hostname, `nat-${az}`);
    assert.equal(after.Status, 'online');
    assert.equal(after.Ec2InstanceId, nat.Ec2InstanceId, 'the same EC2 instance (EBS), started again');
    const ec2 = await ec2Of(bed, after);
    assert.equal(ec2.State?.Name, 'running');
    assert.equal(ec2.SourceDestCheck, false);
    await checkWorld(bed, spec);
  });

  it('replaces a NAT whose EC2 instance was terminated behind OpsWorks: launch first, re-point, then stop and delete the old one', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    const [dead, watcher] = [spec.zones[0]!, spec.zones[1]!]; // zone 1 watches zone 0 (ring of two)
    const az = dead.availabilityZone;
    const old = await natOf(bed.client, stackId, az);
    await bed.ec2.send(new TerminateInstancesCommand({ InstanceIds: [old.Ec2InstanceId!] }));
    assert.equal((await opsInstance(bed.client, old.InstanceId!)).Status, 'connection_lost', 'OpsWorks noticed');

    const heartbeat = `route/public/${watcher.availabilityZone}/${watcher.heartbeat.viaPeer}/32`;
    const ownRoute = `route/private/${az}/0.0.0.0/0`;
    const plan = await engine.plan();
    assert.deepEqual(summary(plan), replacementOf(spec, 0));
    const reason = plan.changes.find((c) => c.id === `opsworks/instance/nat-${az}`)!.attributes.find((a) => a.path === 'status')?.reason;
    assert.match(reason ?? '', /connection_lost|EC2 instance is gone/);
    const customJson = plan.changes.find((c) => c.id === 'opsworks/custom-json')!;
    assert.deepEqual(
      customJson.attributes.map((a) => a.path),
      [`customJson.vpcnat.az.${watcher.availabilityZone}.opposite_primary_nat_id`],
      'only the watching zone names the replaced NAT',
    );

    const io = new RecordingHost();
    assertApplied(await makeOpsWorksEngine(bed, spec, { io }).apply(plan));
    const order = io.events.flatMap((e) => (e.type === 'step-done' ? [`${e.operation}:${e.id}`] : []));
    const at = (key: string) => {
      const i = order.indexOf(key);
      assert.ok(i >= 0, `${key} was done (done: ${order.join(', ')})`);
      return i;
    };
    const created = at(`create:opsworks/instance/nat-${az}`);
    const deleted = at(`delete:opsworks/instance/nat-${az}`);
    for (const key of [`update:${ownRoute}`, `update:${heartbeat}`, 'update:opsworks/custom-json']) {
      assert.ok(created < at(key), `${key} after the new NAT is online`);
      assert.ok(at(key) < deleted, `${key} before the old NAT goes`);
    }
    // The deployment runs on the new NAT with the new custom JSON; the old NAT, which it does not
    // target, may go while it runs (so no order between those two).
    assert.ok(at('update:opsworks/custom-json') < at('update:opsworks/deployment'), 'the deployment runs with the new custom JSON');
    assertNoChanges(await engine.plan());

    const fresh = await natOf(bed.client, stackId, az);
    assert.notEqual(fresh.InstanceId, old.InstanceId);
    assert.equal(fresh.Hostname, `nat-${az}-r2`, 'the replacement takes the next hostname');
    assert.equal(fresh.Status, 'online');
    await assert.rejects(opsInstance(bed.client, old.InstanceId!), { name: 'ResourceNotFoundException' }, 'the old instance is deleted');
    await checkWorld(bed, spec);
  });

  it('replaces a NAT whose setup failed', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    const az = spec.zones[1]!.availabilityZone;
    const old = await natOf(bed.client, stackId, az);
    await forceInstanceStatus(bed.opsworks.endpoint, old.InstanceId!, 'setup_failed');

    const plan = await engine.plan();
    assert.deepEqual(summary(plan), replacementOf(spec, 1));
    const nat = plan.changes.find((c) => c.id === `opsworks/instance/nat-${az}`)!;
    assert.match(nat.attributes.find((a) => a.path === 'status')?.reason ?? '', /setup_failed/);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());

    const fresh = await natOf(bed.client, stackId, az);
    assert.equal(fresh.Hostname, `nat-${az}-r2`);
    assert.notEqual(fresh.Ec2InstanceId, old.Ec2InstanceId);
    const [oldEc2] = await instancesOf(bed.ec2, [{ Name: 'instance-id', Values: [old.Ec2InstanceId!] }]);
    assert.equal(oldEc2?.State?.Name, 'terminated', "the old NAT's EC2 instance went with it");
    await checkWorld(bed, spec);
  });

  it('rewrites and redeploys a custom JSON edited by hand (a wrong peer)', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stack = await ourStack(bed.client, spec.name);
    const edited = JSON.parse(stack.CustomJson!);
    const az = spec.zones[0]!.availabilityZone;
    edited.vpcnat.az[az].opposite_primary_nat_id = 'i-0123456789abcdef0';
    await bed.client.send(new UpdateStackCommand({ StackId: stack.StackId!, CustomJson: JSON.stringify(edited) }));

    const plan = await engine.plan();
    assert.deepEqual(
      plan.changes.find((c) => c.id === 'opsworks/custom-json')?.attributes.map((a) => a.path),
      [`customJson.vpcnat.az.${az}.opposite_primary_nat_id`],
    );
    assert.deepEqual(summary(plan), ['opsworks/custom-json:update', 'opsworks/deployment:update']);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());
    await checkWorld(bed, spec);
  });

  it('rewrites and redeploys a custom JSON replaced by something else (OpsWorks refuses text that is not JSON)', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    // OpsWorks (and the emulator) refuse custom JSON that does not parse: the worst an operator can
    // leave there is JSON of another shape, or nothing.
    await assert.rejects(bed.client.send(new UpdateStackCommand({ StackId: stackId, CustomJson: '{"vpcnat": garbage' })), {
      name: 'ValidationException',
    });
    for (const garbage of ['{"garbage": [1, 2, 3]}', '']) {
      await bed.client.send(new UpdateStackCommand({ StackId: stackId, CustomJson: garbage }));
      const plan = await engine.plan();
      assert.deepEqual(summary(plan), ['opsworks/custom-json:update', 'opsworks/deployment:update'], `after ${JSON.stringify(garbage)}`);
      assertApplied(await engine.apply(plan));
      assertNoChanges(await engine.plan());
      await checkWorld(bed, spec);
    }
  });

  it("sets a layer's recipes back after they were changed by hand", async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    const layer = await layerOf(bed.client, stackId, 'nat');
    await bed.client.send(new UpdateLayerCommand({ LayerId: layer.LayerId!, CustomRecipes: { Setup: ['timezone'] } }));

    const plan = await engine.plan();
    assert.deepEqual(summary(plan), ['opsworks/layer/nat:update']);
    assert.deepEqual(
      plan.changes.find((c) => c.id === 'opsworks/layer/nat')!.attributes.map((a) => [a.path, a.after]),
      [['setupRecipes', ['timezone', 'vpcnat']]],
    );
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());
    assert.equal((await layerOf(bed.client, stackId, 'nat')).LayerId, layer.LayerId, 'updated in place');
    await checkWorld(bed, spec);
  });

  it('sets a removed permission again', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    await bed.client.send(
      new SetPermissionCommand({ StackId: stackId, IamUserArn: ALICE, AllowSsh: false, AllowSudo: false, Level: 'deny' }),
    );

    const plan = await engine.plan();
    assert.deepEqual(summary(plan), ['opsworks/permission/alice:create']);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());
    await checkWorld(bed, spec);
  });

  it('adopts, by its mark, a stack an interrupted apply made but did not tag, instead of making a second one', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stack = await ourStack(bed.client, spec.name);
    // As if the apply died between CreateStack and TagResource.
    await bed.client.send(new UntagResourceCommand({ ResourceArn: stack.Arn!, TagKeys: ['dupsworks:stack'] }));

    const plan = await engine.plan();
    assert.deepEqual(summary(plan), ['opsworks/stack:update']);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());
    assert.equal((await stacksNamed(bed.client, spec.name)).length, 1, 'still one stack');
    await checkWorld(bed, spec);
  });

  it('stops the admin instance again after it was started by hand', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    const admin = await adminOf(bed.client, stackId);
    await bed.client.send(new StartInstanceCommand({ InstanceId: admin.InstanceId! }));
    const started = await waitForStatus(bed.client, admin.InstanceId!, 'online');
    assert.equal((await ec2Of(bed, started)).State?.Name, 'running');

    const plan = await engine.plan();
    assert.deepEqual(summary(plan), ['opsworks/instance/admin:update']);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());

    const stopped = await adminOf(bed.client, stackId);
    assert.equal(stopped.InstanceId, admin.InstanceId, 'the same instance, not a new one');
    assert.equal(stopped.Status, 'stopped');
    assert.equal((await ec2Of(bed, stopped)).State?.Name, 'stopped');
    await checkWorld(bed, spec);
  });

  it("leaves a failed-over private route alone: it targets the other zone's running NAT", async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    const [zone, peer] = spec.zones.map((z) => z.availabilityZone) as [string, string];
    const peerNat = await natOf(bed.client, stackId, peer);
    const table = await routeTable(bed, spec, `route-table/private/${zone}`);
    await bed.ec2.send(
      new ReplaceRouteCommand({ RouteTableId: table.RouteTableId!, DestinationCidrBlock: '0.0.0.0/0', InstanceId: peerNat.Ec2InstanceId! }),
    );

    assertNoChanges(await engine.plan(), 'a failover is not drift');
    assertApplied(await engine.apply(await engine.plan()));
    assertNoChanges(await engine.plan());
    assert.equal(
      routeTo(await routeTable(bed, spec, `route-table/private/${zone}`), '0.0.0.0/0'),
      peerNat.Ec2InstanceId,
      'still failed over',
    );
  });

  // --- 4. kill -9 mid-apply --------------------------------------------------------------------

  it('CLI apply killed with SIGKILL once the stack is made, re-run and killed once a NAT is online, re-run: converges without duplicates', async () => {
    const spec = opsSpec({ name: 'killed' });
    const file = await tempFile('spec.yaml', specYaml(spec));
    const args = ['-f', file, '--endpoint-url', bed.moto.endpoint, '--opsworks-endpoint-url', bed.opsworks.endpoint];
    // A killed run leaves its lock behind: a short lease, and every next apply waits for it to expire.
    const locking = ['--lock-lease', '2', '--lock-timeout', '30'];
    // Each killed run must die midway: a run that ends by itself fails the test.
    for (const killOn of [/^opsworks\/stack: Creation complete/m, /^opsworks\/instance\/nat-[a-z0-9-]+: Creation complete/m]) {
      const child = startCli(['apply', ...args, '--auto-approve', ...locking], cliEnv());
      let stderr = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk;
          if (killOn.test(stderr) && child.exitCode === null) child.kill('SIGKILL');
        });
        child.on('close', (code, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error(`apply ended (${code}) before it was killed on ${killOn}:\n${stderr}`)),
        );
      });
      assert.equal((await stacksNamed(bed.client, spec.name)).length, 1, `one OpsWorks stack of that name after the kill on ${killOn}`);
    }

    const rerun = await runCli(['apply', ...args, '--auto-approve', ...locking]);
    assert.equal(rerun.code, 0, rerun.stdout + rerun.stderr);
    const plan = await runCli(['plan', ...args, '--detailed-exitcode']);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);

    assert.equal((await stacksNamed(bed.client, spec.name)).length, 1, 'one OpsWorks stack of that name');
    const stackId = (await ourStack(bed.client, spec.name)).StackId!;
    assert.deepEqual((await layersOf(bed.client, stackId)).map((l) => l.Shortname).sort(), ['admin', 'nat'], 'two layers');
    assert.deepEqual(
      (await opsInstancesOf(bed.client, stackId)).map((i) => i.Hostname).sort(),
      ['admin', ...spec.zones.map((z) => `nat-${z.availabilityZone}`)].sort(),
      'one instance per hostname',
    );
    const vpcs = await bed.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }));
    assert.equal(vpcs.Vpcs!.length, 1, 'one VPC');
    await checkWorld(bed, spec);
  });

  it('apply killed with SIGKILL while a NAT is still "requested", re-run at once, converges', async () => {
    // A second emulator on the same moto whose instances walk slowly, so the re-run finds the NAT on
    // its way up, as a re-run right after a crash finds it on a real account (booting takes minutes).
    const spec = opsSpec({ name: 'killed-requested' });
    const file = await tempFile('spec.yaml', specYaml(spec));
    let child: ReturnType<typeof startCli> | undefined;
    const slow = await startOpsWorksEmulator({
      ec2Endpoint: bed.moto.endpoint,
      delays: { ...OPSWORKS_DELAYS, stepMs: 800 },
      log: (line) => {
        if (/\(nat-[a-z0-9-]+\): stopped -> requested/.test(line) && child?.exitCode === null) child.kill('SIGKILL');
      },
    });
    const client = opsworksClient(slow.endpoint);
    try {
      child = startCli(
        ['apply', '-f', file, '--endpoint-url', bed.moto.endpoint, '--opsworks-endpoint-url', slow.endpoint, '--auto-approve'],
        cliEnv(),
      );
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
      await new Promise<void>((resolve, reject) =>
        child!.on('close', (code, signal) =>
          signal === 'SIGKILL' ? resolve() : reject(new Error(`apply ended (${code}) before it was killed:\n${stderr}`)),
        ),
      );

      await converge(makeOpsWorksEngine(bed, spec, { opsworksEndpointUrl: slow.endpoint }));
      const view = { ...bed, client } as OpsWorksBed;
      assert.equal((await stacksNamed(client, spec.name)).length, 1, 'one OpsWorks stack of that name');
      await checkWorld(view, spec);
    } finally {
      client.destroy();
      await slow.stop();
    }
  });

  // --- 5. destroy ------------------------------------------------------------------------------

  it('destroy removes the OpsWorks side and the network, and leaves an untagged stack of the same name alone', async () => {
    const spec = opsSpec();
    const engine = makeOpsWorksEngine(bed, spec);
    await converge(engine);
    const stack = await ourStack(bed.client, spec.name);
    const instances = await opsInstancesOf(bed.client, stack.StackId!);
    const nats = instances.filter((i) => i.Hostname !== 'admin');
    const vpcId = stack.VpcId!;
    const foreign = await foreignStack(bed, spec.name);
    const foreignBefore = await foreignSnapshot(bed, foreign);

    const plan = await engine.destroyPlan();
    assert.ok(plan.changes.length > 0 && plan.changes.every((c) => c.action === 'delete'), summary(plan).join(', '));
    const doomed = summary(plan);
    for (const id of [
      'opsworks/stack',
      'opsworks/layer/admin',
      'opsworks/layer/nat',
      'opsworks/instance/admin',
      ...spec.zones.map((z) => `opsworks/instance/nat-${z.availabilityZone}`),
      'opsworks/permission/alice',
      'opsworks/security-group/AWS-OpsWorks-Custom-Server',
      'opsworks/security-group/AWS-OpsWorks-Default-Server',
      'vpc',
    ]) {
      assert.ok(doomed.includes(`${id}:delete`), `destroy deletes ${id}: ${doomed.join(', ')}`);
    }
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');

    const left = await stacksNamed(bed.client, spec.name);
    assert.deepEqual(
      left.map((s) => s.stack.StackId),
      [foreign],
      'our stack is gone, the foreign one is left',
    );
    for (const i of instances) {
      await assert.rejects(opsInstance(bed.client, i.InstanceId!), { name: 'ResourceNotFoundException' }, `${i.Hostname} deleted`);
    }
    const ec2 = await instancesOf(bed.ec2, [{ Name: 'instance-id', Values: nats.map((n) => n.Ec2InstanceId!) }]);
    assert.deepEqual(
      ec2.map((e) => e.State?.Name),
      nats.map(() => 'terminated'),
      "the NATs' EC2 instances are terminated",
    );
    const vpcs = (await bed.ec2.send(new DescribeVpcsCommand({}))).Vpcs!;
    assert.ok(!vpcs.some((v) => v.VpcId === vpcId), 'our VPC is gone');
    assert.ok(!vpcs.some((v) => tagValue(v.Tags, 'dupsworks:stack') === spec.name), 'no VPC of the stack is left');
    assert.deepEqual(await foreignSnapshot(bed, foreign), foreignBefore, 'the foreign stack is untouched');
  });

  it('destroy with --concurrency 1 detaches the gateway only once no NAT holds a public address (EC2 refuses it before)', async () => {
    const spec = opsSpec();
    await converge(makeOpsWorksEngine(bed, spec));
    bed.proxy.setOptions({ ec2Rules: true });
    const io = new RecordingHost();
    const engine = makeOpsWorksEngine(bed, spec, { endpointUrl: bed.proxy.endpoint, io, concurrency: 1, retryTimeoutSeconds: 20 });
    assertApplied(await engine.apply(await engine.destroyPlan()));
    assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');
    assert.deepEqual(
      io.events.filter((e) => e.type === 'retry' && e.code === 'DependencyViolation'),
      [],
      'no delete waited on what EC2 refuses',
    );
  });

  // --- 6. a foreign stack of the same name -----------------------------------------------------

  it('never touches a stack of the same name without our tag, through build and destroy', async () => {
    const spec = opsSpec();
    const foreign = await foreignStack(bed, spec.name);
    const before = await foreignSnapshot(bed, foreign);
    const engine = makeOpsWorksEngine(bed, spec);
    const plan = await converge(engine);
    assert.ok(
      plan.changes.every((c) => c.action === 'create'),
      `the foreign stack is not adopted, changed or deleted: ${summary(plan).join(', ')}`,
    );
    await checkWorld(bed, spec);
    assert.deepEqual(await foreignSnapshot(bed, foreign), before, 'untouched by apply');

    assertApplied(await engine.apply(await engine.destroyPlan()));
    assertNoChanges(await engine.destroyPlan());
    assert.deepEqual(
      (await stacksNamed(bed.client, spec.name)).map((s) => s.stack.StackId),
      [foreign],
    );
    assert.deepEqual(await foreignSnapshot(bed, foreign), before, 'untouched by destroy');
  });
});

// --- helpers -----------------------------------------------------------------------------------

function opsSpec(options: { name?: string; zones?: number } = {}): Spec {
  return makeSpec({ ...options, manager: 'opsworks' });
}

/**
 * What replacing zone i's NAT changes: the NAT, the routes naming its EC2 id (its own private
 * default route, the heartbeat /32 of the zone watching it), the custom JSON and the deployment.
 */
function replacementOf(spec: Spec, i: number): string[] {
  const az = spec.zones[i]!.availabilityZone;
  const watcher = spec.zones[(i + spec.zones.length - 1) % spec.zones.length]!;
  return [
    `opsworks/instance/nat-${az}:replace`,
    `route/private/${az}/0.0.0.0/0:update`,
    `route/public/${watcher.availabilityZone}/${watcher.heartbeat.viaPeer}/32:update`,
    'opsworks/custom-json:update',
    'opsworks/deployment:update',
  ].sort();
}

/** The plan's changes as sorted "id:action" strings. */
function summary(plan: Plan): string[] {
  return plan.changes
    .filter((c) => c.action !== 'no-op')
    .map((c) => `${c.id}:${c.action}`)
    .sort();
}

async function routeTable(bed: OpsWorksBed, spec: Spec, logicalId: string): Promise<RouteTable> {
  const out = await bed.ec2.send(
    new DescribeRouteTablesCommand({
      Filters: [
        { Name: 'tag:dupsworks:stack', Values: [spec.name] },
        { Name: 'tag:dupsworks:resource', Values: [logicalId] },
      ],
    }),
  );
  assert.equal(out.RouteTables!.length, 1, `one route table ${logicalId}`);
  return out.RouteTables![0]!;
}

function routeTo(table: RouteTable, destination: string): string | undefined {
  const r = table.Routes?.find((x) => x.DestinationCidrBlock === destination);
  return r?.GatewayId ?? r?.InstanceId;
}

/**
 * Everything the spec says about the world, checked against OpsWorks and EC2 as they are: the
 * stack and its settings, the layers, the admin instance (stopped), one online NAT per zone in its
 * public subnet with source/dest check off, the permission, the custom JSON in the vpcnat shape
 * (ring-wired), the routes, and a successful vpcnat deployment with that custom JSON.
 */
async function checkWorld(bed: OpsWorksBed, spec: Spec): Promise<void> {
  const ops = spec.opsworks!;
  const zones = spec.zones.map((z) => z.availabilityZone);
  const tagged = [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }];
  const [vpc] = (await bed.ec2.send(new DescribeVpcsCommand({ Filters: tagged }))).Vpcs!;
  assert.ok(vpc, 'the VPC exists');
  const subnets = (await bed.ec2.send(new DescribeSubnetsCommand({ Filters: tagged }))).Subnets!;
  const subnet = (id: string) => subnets.find((s) => tagValue(s.Tags, 'dupsworks:resource') === id)!.SubnetId!;
  const groups = (await bed.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] })))
    .SecurityGroups!;
  const groupId = (name: string) => groups.find((g) => g.GroupName === name)?.GroupId;
  const natGroup = groupId(`${spec.name}-nat`)!;
  const opsworksGroup = groupId('AWS-OpsWorks-Custom-Server')!;
  assert.ok(natGroup && opsworksGroup, 'the NAT group and the OpsWorks group exist in the VPC');
  for (const name of ['AWS-OpsWorks-Custom-Server', 'AWS-OpsWorks-Default-Server']) {
    const group = groups.find((g) => g.GroupName === name)!;
    assert.equal(tagValue(group.Tags, 'dupsworks:stack'), spec.name, `${name} is adopted by the stack (tagged)`);
  }

  // The stack.
  const stack = await ourStack(bed.client, spec.name);
  const stackId = stack.StackId!;
  assert.deepEqual(
    {
      Region: stack.Region,
      VpcId: stack.VpcId,
      DefaultSubnetId: stack.DefaultSubnetId,
      ServiceRoleArn: stack.ServiceRoleArn,
      DefaultInstanceProfileArn: stack.DefaultInstanceProfileArn,
      DefaultOs: stack.DefaultOs,
      DefaultRootDeviceType: stack.DefaultRootDeviceType,
      ConfigurationManager: stack.ConfigurationManager,
      ChefConfiguration: stack.ChefConfiguration,
      UseCustomCookbooks: stack.UseCustomCookbooks,
      CustomCookbooksSource: stack.CustomCookbooksSource,
    },
    {
      Region: REGION,
      VpcId: vpc.VpcId,
      DefaultSubnetId: subnet(`subnet/private/${zones[0]}`),
      ServiceRoleArn: ops.serviceRoleArn,
      DefaultInstanceProfileArn: ops.defaultInstanceProfileArn,
      DefaultOs: 'Amazon Linux 2018.03',
      DefaultRootDeviceType: 'ebs',
      ConfigurationManager: { Name: 'Chef', Version: '11.10' },
      ChefConfiguration: { ManageBerkshelf: true, BerkshelfVersion: '2.0.18' },
      UseCustomCookbooks: true,
      CustomCookbooksSource: { Type: 'git', Url: 'https://github.com/example/dupsworks-cookbooks.git', Revision: 'master' },
    },
  );

  // The layers.
  const layers = await layersOf(bed.client, stackId);
  assert.equal(layers.length, 2);
  const admin = await layerOf(bed.client, stackId, 'admin');
  const nat = await layerOf(bed.client, stackId, 'nat');
  const layerView = (l: typeof admin) => ({
    Type: l.Type,
    Name: l.Name,
    Setup: l.CustomRecipes?.Setup,
    AutoAssignElasticIps: l.AutoAssignElasticIps,
    AutoAssignPublicIps: l.AutoAssignPublicIps,
    Packages: [...(l.Packages ?? [])].sort(),
    CustomSecurityGroupIds: l.CustomSecurityGroupIds,
    EnableAutoHealing: l.EnableAutoHealing,
  });
  assert.deepEqual(layerView(admin), {
    Type: 'custom',
    Name: 'Admin Server',
    Setup: ['timezone'],
    AutoAssignElasticIps: true,
    AutoAssignPublicIps: false,
    Packages: ['traceroute'],
    CustomSecurityGroupIds: [],
    EnableAutoHealing: false,
  });
  assert.deepEqual(layerView(nat), {
    Type: 'custom',
    Name: 'NAT Server',
    Setup: ['timezone', 'vpcnat'],
    AutoAssignElasticIps: false,
    AutoAssignPublicIps: true,
    Packages: ['jq', 'traceroute'],
    CustomSecurityGroupIds: [natGroup],
    EnableAutoHealing: false,
  });

  // The instances: the admin created but stopped, one online NAT per zone.
  const instances = await opsInstancesOf(bed.client, stackId);
  assert.equal(instances.length, 1 + zones.length, `admin and one NAT per zone: ${instances.map((i) => i.Hostname).join(', ')}`);
  const adminInstance = await adminOf(bed.client, stackId);
  assert.equal(adminInstance.Status, 'stopped', 'the admin instance is not started, as the original');
  assert.deepEqual(adminInstance.LayerIds, [admin.LayerId]);
  assert.equal(adminInstance.SubnetId, subnet(`subnet/public/${zones[0]}`));
  assert.equal(adminInstance.Os, 'Ubuntu 12.04 LTS');
  const nats = new Map<string, Instance>();
  for (const az of zones) {
    const instance = await natOf(bed.client, stackId, az);
    nats.set(az, instance);
    assert.equal(instance.Status, 'online', `nat-${az} is online`);
    assert.deepEqual(instance.LayerIds, [nat.LayerId]);
    assert.equal(instance.SubnetId, subnet(`subnet/public/${az}`), `nat-${az} is in its zone's public subnet`);
    assert.equal(instance.Os, 'Amazon Linux 2018.03');
    assert.equal(instance.InstanceType, spec.nat.instanceType);
    const ec2 = await ec2Of(bed, instance);
    assert.equal(ec2.State?.Name, 'running', `the EC2 instance of nat-${az} runs`);
    assert.equal(ec2.SourceDestCheck, false, `nat-${az}: source/dest check off`);
    assert.equal(ec2.SubnetId, subnet(`subnet/public/${az}`));
    assert.ok(ec2.PublicIpAddress, `nat-${az} has a public IP`);
    assert.deepEqual(ec2.NetworkInterfaces?.[0]?.Groups?.map((g) => g.GroupId).sort(), [natGroup, opsworksGroup].sort());
  }

  // The permission.
  const permissions = (await permissionsOf(bed.client, stackId)).map((p) => ({
    IamUserArn: p.IamUserArn,
    AllowSsh: p.AllowSsh,
    AllowSudo: p.AllowSudo,
    Level: p.Level,
  }));
  assert.deepEqual(permissions, [{ IamUserArn: ALICE, AllowSsh: true, AllowSudo: true, Level: 'manage' }]);

  // The custom JSON: exactly the vpcnat shape, ring-wired, with awscli beside it.
  const privateTables = new Map<string, RouteTable>();
  const publicTables = new Map<string, RouteTable>();
  for (const az of zones) {
    privateTables.set(az, await routeTable(bed, spec, `route-table/private/${az}`));
    publicTables.set(az, await routeTable(bed, spec, `route-table/public/${az}`));
  }
  const peerOf = (i: number) => zones[(i + 1) % zones.length]!;
  const expected = {
    vpcnat: {
      ipmasq_src: spec.vpc.cidr,
      az: Object.fromEntries(
        spec.zones.map((zone, i) => [
          zone.availabilityZone,
          {
            enabled: 1,
            target_via_checking_nat: zone.heartbeat.viaPeer,
            target_via_inetgw: zone.heartbeat.viaInternetGateway,
            opposite_primary_nat_id: nats.get(peerOf(i))!.Ec2InstanceId,
            opposite_rtb: privateTables.get(peerOf(i))!.RouteTableId,
          },
        ]),
      ),
    },
    awscli: { region: REGION, version: ops.awscliVersion },
  };
  const { vpcnat, awscli, ...rest } = JSON.parse(stack.CustomJson!);
  assert.deepEqual({ vpcnat, awscli }, expected, 'the custom JSON the vpcnat cookbook reads');
  // Beside it, nothing but (optionally) the engine's own mark of the stack.
  assert.deepEqual(rest, 'dupsworks' in rest ? { dupsworks: { stack: spec.name } } : {}, 'nothing else in the custom JSON');

  // The routes: each private subnet out through its own NAT; each heartbeat through the next zone's.
  spec.zones.forEach((zone, i) => {
    const az = zone.availabilityZone;
    assert.equal(routeTo(privateTables.get(az)!, '0.0.0.0/0'), nats.get(az)!.Ec2InstanceId, `private ${az} -> its own NAT`);
    assert.equal(
      routeTo(publicTables.get(az)!, `${zone.heartbeat.viaPeer}/32`),
      nats.get(peerOf(i))!.Ec2InstanceId,
      `heartbeat of ${az} -> the NAT of ${peerOf(i)}`,
    );
    assert.match(routeTo(publicTables.get(az)!, '0.0.0.0/0') ?? '', /^igw-/);
  });

  // The last deployment: vpcnat on every NAT, with the custom JSON the stack holds.
  const [deployment] = await deploymentsOf(bed.client, stackId);
  assert.ok(deployment, 'a deployment was made');
  assert.deepEqual(
    {
      Command: deployment.Command,
      Status: deployment.Status,
      InstanceIds: [...(deployment.InstanceIds ?? [])].sort(),
      digest: /sha256:([0-9a-f]{64})$/.exec(deployment.Comment ?? '')?.[1],
    },
    {
      Command: { Name: 'execute_recipes', Args: { recipes: ['vpcnat'] } },
      Status: 'successful',
      InstanceIds: [...nats.values()].map((i) => i.InstanceId!).sort(),
      digest: sha256(stack.CustomJson!),
    },
    'a successful vpcnat deployment on the NATs, naming the digest of the custom JSON',
  );
}

/**
 * An OpsWorks stack called `name` without our tag, in a VPC of its own, with custom JSON, a layer
 * "nat", an instance of the hostname our first NAT has (never started), a permission for our IAM
 * user, and OpsWorks's security groups in its VPC. Returns its id once those groups exist.
 */
async function foreignStack(bed: OpsWorksBed, name: string): Promise<string> {
  const { Vpc } = await bed.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const { Subnet } = await bed.ec2.send(
    new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.0.0.0/24', AvailabilityZone: 'ap-northeast-1c' }),
  );
  const { StackId } = await bed.client.send(
    new CreateStackCommand({
      Name: name,
      Region: REGION,
      VpcId: Vpc!.VpcId!,
      DefaultSubnetId: Subnet!.SubnetId!,
      ServiceRoleArn: 'arn:aws:iam::123456789012:role/someone-else',
      DefaultInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/someone-else',
      DefaultOs: 'Amazon Linux 2018.03',
      CustomJson: JSON.stringify({ vpcnat: { ipmasq_src: '10.0.0.0/16' } }),
    }),
  );
  const { LayerId } = await bed.client.send(
    new CreateLayerCommand({ StackId: StackId!, Type: 'custom', Name: 'NAT Server', Shortname: 'nat', Packages: ['jq'] }),
  );
  await bed.client.send(
    new CreateInstanceCommand({ StackId: StackId!, LayerIds: [LayerId!], InstanceType: 't3.micro', Hostname: 'nat-ap-northeast-1c' }),
  );
  await bed.client.send(new SetPermissionCommand({ StackId: StackId!, IamUserArn: ALICE, AllowSsh: true, Level: 'show' }));
  const deadline = Date.now() + 5_000;
  while ((await foreignGroups(bed, Vpc!.VpcId!)).length < 2) {
    if (Date.now() > deadline) assert.fail('OpsWorks did not make its security groups in the foreign VPC');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return StackId!;
}

async function foreignGroups(bed: OpsWorksBed, vpcId: string) {
  const out = await bed.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));
  return out
    .SecurityGroups!.filter((g) => g.GroupName!.startsWith('AWS-OpsWorks-'))
    .map((g) => ({ GroupId: g.GroupId, GroupName: g.GroupName, Tags: g.Tags ?? [] }))
    .sort((a, b) => a.GroupName!.localeCompare(b.GroupName!));
}

/** What a foreign stack looks like from outside: the stack, its tags, layers, instances, permissions, its VPC and groups. */
async function foreignSnapshot(bed: OpsWorksBed, stackId: string) {
  const [stack] = (await bed.client.send(new DescribeStacksCommand({ StackIds: [stackId] }))).Stacks!;
  const vpcs = await bed.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [stack!.VpcId!] }] }));
  return {
    stack,
    tags: (await bed.client.send(new ListTagsCommand({ ResourceArn: stack!.Arn! }))).Tags,
    layers: await layersOf(bed.client, stackId),
    instances: await opsInstancesOf(bed.client, stackId),
    permissions: await permissionsOf(bed.client, stackId),
    vpc: vpcs.Vpcs!.map((v) => ({ VpcId: v.VpcId, Tags: v.Tags ?? [] })),
    groups: await foreignGroups(bed, stack!.VpcId!),
  };
}
