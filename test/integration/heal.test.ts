// Every kind of damage is healed by one apply, and then a fresh plan shows no changes. A failover
// made by the agents is not damage: the plan leaves it alone.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateTagsCommand,
  DescribeRouteTablesCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { renderPlan } from '../../src/planner/render.js';
import { RecordingHost } from '../../src/io.js';
import { damages, failOver, privateRouteTarget, type World } from '../support/damage.js';
import {
  assertApplied,
  assertNoChanges,
  byResource,
  converge,
  instancesOf,
  liveNat,
  makeEngine,
  makeSpec,
  useEmulator,
} from '../support/stack.js';

describe('healing', () => {
  const emu = useEmulator();

  for (const damage of damages) {
    it(`heals: ${damage.name}`, async () => {
      const spec = makeSpec();
      const world: World = { ec2: emu.ec2, spec };
      const engine = makeEngine(spec, emu.moto.endpoint);
      await converge(engine);
      await damage.apply(world, 0);

      const plan = await engine.plan();
      const changed = plan.changes.filter((c) => c.action !== 'no-op').map((c) => c.id);
      assert.deepEqual([...changed].sort(), [...damage.heals(world, 0)].sort(), 'the plan changes exactly what was damaged');
      assertApplied(await engine.apply(plan));
      assertNoChanges(await engine.plan());
      for (const zone of spec.zones) await liveNat(emu.ec2, spec.name, zone.availabilityZone); // exactly one live NAT each
    });
  }

  it('launches a new NAT for a terminated one (gone: created, not replaced), and the routes follow it', async () => {
    const spec = makeSpec();
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const old = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [old.InstanceId!] }));
    const plan = await engine.plan();
    const nat = plan.changes.find((c) => c.id === 'nat/ap-northeast-1c')!;
    assert.equal(nat.action, 'create');
    assert.equal(nat.reason, `${old.InstanceId} is terminated`);

    const io = new RecordingHost();
    assertApplied(await makeEngine(spec, emu.moto.endpoint, { io }).apply(plan));
    const order = io.events.flatMap((e) => (e.type === 'step-done' ? [`${e.operation}:${e.id}`] : []));
    const at = (key: string) => order.indexOf(key);
    assert.ok(at('create:nat/ap-northeast-1c') >= 0);
    assert.ok(at('create:nat/ap-northeast-1c') < at('update:route/private/ap-northeast-1c/0.0.0.0/0'));
    assert.ok(at('create:nat/ap-northeast-1c') < at('update:route/public/ap-northeast-1a/8.8.8.8/32'));
    assert.equal(at('delete:nat/ap-northeast-1c'), -1, 'nothing to delete: the old one is gone');

    const fresh = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    assert.notEqual(fresh.InstanceId, old.InstanceId);
    assert.equal(await privateRouteTarget({ ec2: emu.ec2, spec }, 0), fresh.InstanceId);
    assertNoChanges(await engine.plan());
  });

  it('leaves a failed-over private route alone while it targets a running NAT of the stack', async () => {
    const spec = makeSpec();
    const world = { ec2: emu.ec2, spec };
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const peer = await failOver(world, 0);
    assertNoChanges(await engine.plan(), 'a failover is not drift');
    assert.equal(await privateRouteTarget(world, 0), peer);
    // The agent's notice on the table is not drift either, and the plan says who serves the zone.
    const [table] = (
      await emu.ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(spec.name, 'route-table/private/ap-northeast-1c') }))
    ).RouteTables!;
    await emu.ec2.send(
      new CreateTagsCommand({
        Resources: [table!.RouteTableId!],
        Tags: [
          { Key: 'dupsworks:served-by', Value: peer },
          { Key: 'dupsworks:served-by-nat', Value: 'nat/ap-northeast-1a' },
          { Key: 'dupsworks:served-since', Value: '2026-03-01T12:03:10Z' },
          { Key: 'dupsworks:switch', Value: 'failover: 10 probes through it lost in a row' },
          { Key: 'dupsworks:switched-by', Value: peer },
        ],
      }),
    );
    const plan0 = await engine.plan();
    assertNoChanges(plan0, "the agent's tags are not drift");
    assert.match(
      renderPlan(plan0),
      new RegExp(
        `private subnet of ap-northeast-1c is served by nat/ap-northeast-1a \\(${peer}\\) since 2026-03-01 12:03:10 UTC \\(failover\\)`,
      ),
    );

    // Once the NAT it failed over to stops, the route is repaired back to its own NAT.
    await emu.ec2.send(new StopInstancesCommand({ InstanceIds: [peer] }));
    const plan = await engine.plan();
    const repaired = plan.changes.find((c) => c.id === 'route/private/ap-northeast-1c/0.0.0.0/0');
    assert.equal(repaired?.action, 'update');
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());
    assert.equal(await privateRouteTarget(world, 0), (await liveNat(emu.ec2, spec.name, 'ap-northeast-1c')).InstanceId);
  });

  it('terminates a duplicate NAT that carries the stack tags, and keeps the healthy one', async () => {
    const spec = makeSpec();
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const nat = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    await emu.ec2.send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        MinCount: 1,
        MaxCount: 1,
        SubnetId: nat.SubnetId!,
        TagSpecifications: [{ ResourceType: 'instance', Tags: nat.Tags }],
      }),
    );
    const plan = await engine.plan();
    const extra = plan.changes.filter((c) => c.action !== 'no-op');
    assert.equal(extra.length, 1);
    assert.equal(extra[0]!.action, 'delete');
    assert.match(extra[0]!.reason!, /duplicate of nat\/ap-northeast-1c/);
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.plan());
    const live = await instancesOf(emu.ec2, [
      { Name: 'tag:dupsworks:stack', Values: [spec.name] },
      { Name: 'instance-state-name', Values: ['running'] },
    ]);
    assert.equal(live.length, 2);
  });

  it('heals several kinds of damage at once, in one apply', async () => {
    const spec = makeSpec({ zones: 3 });
    const world = { ec2: emu.ec2, spec };
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    for (const [i, damage] of damages.entries()) await damage.apply(world, i);
    await converge(engine);
  });
});
