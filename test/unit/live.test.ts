// The live stack read off a plan, and the outputs made of it, against the world a full apply
// leaves (test/unit/world.ts): no emulator. Outputs are Terraform's in name, order, text and JSON.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { printedOutputs, renderOutputs, stackOutputs } from '../../src/live/outputs.js';
import { liveStack } from '../../src/live/stack.js';
import { makePlan } from '../../src/planner/plan.js';
import { kindsFor } from '../../src/resources/index.js';
import type { Spec } from '../../src/spec/types.js';
import { desiredResources } from '../../src/topology/index.js';
import { makeSpec, opsworksSpec } from './fixtures.js';
import { builtWorld, type BuiltWorld } from './world.js';

const kinds = kindsFor({ opsworks: false });

async function liveOf(world: BuiltWorld, spec: Spec) {
  const observed = (await Promise.all([...kinds.values()].map((k) => k.observe(world.ctx)))).flat();
  return liveStack(spec, await makePlan({ desired: desiredResources(spec), observed, kinds, ctx: world.ctx }));
}

function byTag<T extends { Tags?: { Key?: string; Value?: string }[] }>(logicalId: string, items: readonly T[]): T | undefined {
  return items.find((i) => i.Tags?.some((t) => t.Key === 'dupsworks:resource' && t.Value === logicalId));
}

describe('the outputs', () => {
  it('name the ids of the stack and each NAT’s public IP, by zone, sorted as Terraform sorts them', async () => {
    const spec = makeSpec(2);
    const world = builtWorld(spec);
    const outputs = stackOutputs(await liveOf(world, spec));
    assert.deepEqual(
      outputs.map((o) => o.name),
      [
        'internet_gateway_id',
        'nat_instance_ids',
        'nat_public_ips',
        'nat_security_group_id',
        'private_route_table_ids',
        'private_subnet_ids',
        'public_route_table_ids',
        'public_subnet_ids',
        'vpc_id',
      ],
    );
    const value = (name: string) => outputs.find((o) => o.name === name)!.value;
    assert.equal(value('vpc_id'), world.vpcs[0]!.VpcId);
    assert.equal(value('internet_gateway_id'), world.internetGateways[0]!.InternetGatewayId);
    for (const zone of spec.zones) {
      const az = zone.availabilityZone;
      const nat = byTag(`nat/${az}`, world.instances)!;
      assert.equal((value('nat_instance_ids') as Record<string, string>)[az], nat.InstanceId);
      assert.equal((value('nat_public_ips') as Record<string, string>)[az], nat.PublicIpAddress);
      assert.equal((value('private_subnet_ids') as Record<string, string>)[az], byTag(`subnet/private/${az}`, world.subnets)!.SubnetId);
    }
    assert.deepEqual(Object.keys(value('nat_public_ips')), ['ap-northeast-1a', 'ap-northeast-1c'], 'map keys sorted');
  });

  it('give the Elastic IPs as the NATs’ public IPs, and their allocation ids, the stack’s own or reused', async () => {
    for (const elasticIps of [true, ['eipalloc-0123456789abcdef0', 'eipalloc-0fedcba9876543210']] as const) {
      const spec = makeSpec(2, { elasticIps: elasticIps === true ? true : [...elasticIps] });
      const world = builtWorld(spec);
      const outputs = stackOutputs(await liveOf(world, spec));
      const value = (name: string) => outputs.find((o) => o.name === name)!.value as Record<string, string>;
      for (const [i, zone] of spec.zones.entries()) {
        const az = zone.availabilityZone;
        const nat = world.instances.find((n) => n.InstanceId === value('nat_instance_ids')[az])!;
        const address = world.addresses.find((a) => a.InstanceId === nat.InstanceId)!;
        assert.equal(value('nat_public_ips')[az], address.PublicIp);
        assert.equal(value('elastic_ip_allocation_ids')[az], elasticIps === true ? address.AllocationId : elasticIps[i]);
      }
    }
  });

  it('are none before anything is built', async () => {
    const spec = makeSpec(2);
    const world = builtWorld(spec);
    const empty = { ...world, ctx: emptied(world) };
    assert.deepEqual(stackOutputs(await liveOf(empty, spec)), []);
  });

  it('print as Terraform prints them: name = value, a map one key a line; one of them; raw; and as terraform output -json', () => {
    const outputs = [
      { name: 'nat_public_ips', value: { 'ap-northeast-1a': '203.0.113.7', 'ap-northeast-1c': '203.0.113.8' } },
      { name: 'vpc_id', value: 'vpc-1' },
    ];
    const text = 'nat_public_ips = {\n  "ap-northeast-1a" = "203.0.113.7"\n  "ap-northeast-1c" = "203.0.113.8"\n}\nvpc_id = "vpc-1"\n';
    assert.equal(renderOutputs(outputs), text);
    assert.equal(printedOutputs(outputs, 's', {}), text);
    assert.equal(printedOutputs(outputs, 's', { name: 'vpc_id' }), '"vpc-1"\n');
    assert.equal(printedOutputs(outputs, 's', { name: 'vpc_id', raw: true }), 'vpc-1', 'raw: for $(...)');
    assert.deepEqual(JSON.parse(printedOutputs(outputs, 's', { json: true })), {
      nat_public_ips: { sensitive: false, type: ['map', 'string'], value: outputs[0]!.value },
      vpc_id: { sensitive: false, type: 'string', value: 'vpc-1' },
    });
    assert.deepEqual(JSON.parse(printedOutputs(outputs, 's', { name: 'nat_public_ips', json: true })), outputs[0]!.value);
    assert.throws(
      () => printedOutputs(outputs, 's', { name: 'nat_public_ips', raw: true }),
      /is a map, which --raw cannot print; use --json/,
    );
    assert.throws(() => printedOutputs(outputs, 's', { raw: true }), /--raw prints one output: name it/);
    assert.throws(() => printedOutputs(outputs, 's', { name: 'vpc' }), {
      message: 'output "vpc" not found; stack s has: nat_public_ips, vpc_id',
    });
  });
});

describe('the live stack', () => {
  it('sees a failover in a private route pointing at another zone’s NAT, and trusts the agent’s tags only about that switch', async () => {
    const spec = makeSpec(3);
    const world = builtWorld(spec);
    const [a, b, c] = spec.zones.map((z) => z.availabilityZone) as [string, string, string];
    const natOf = (az: string) => byTag(`nat/${az}`, world.instances)!;
    const table = byTag(`route-table/private/${a}`, world.routeTables)!;
    table.Routes!.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')!.InstanceId = natOf(b).InstanceId;
    // Tags left by an earlier switch, to the NAT of c: not about this one.
    table.Tags!.push({ Key: 'dupsworks:served-by', Value: natOf(c).InstanceId }, { Key: 'dupsworks:served-since', Value: 'long ago' });

    let live = await liveOf(world, spec);
    assert.deepEqual(live.zones[0]!.failover, { servedBy: b, source: 'route target' });
    assert.equal(live.zones[0]!.privateRoute.meantFor, a);
    assert.equal(live.zones[0]!.privateRoute.servedBy, b);
    assert.deepEqual(
      live.zones.slice(1).map((z) => z.failover),
      [undefined, undefined],
    );
    assert.equal(live.pending.changes, 0, 'a failover is no drift');

    table.Tags!.find((t) => t.Key === 'dupsworks:served-by')!.Value = natOf(b).InstanceId;
    live = await liveOf(world, spec);
    assert.deepEqual(live.zones[0]!.failover, { servedBy: b, since: 'long ago', source: 'agent tags' });
  });

  it('reads a NAT’s health from EC2 and from its watcher’s tags', async () => {
    const spec = makeSpec(2);
    const world = builtWorld(spec);
    const nat = byTag(`nat/${spec.zones[1]!.availabilityZone}`, world.instances)!;
    nat.Tags!.push({ Key: 'dupsworks:health', Value: 'failing' }, { Key: 'dupsworks:health-by', Value: 'i-watcher' });
    let live = await liveOf(world, spec);
    assert.equal(live.zones[0]!.nat.health, 'healthy');
    assert.equal(live.zones[1]!.nat.health, 'failing');
    assert.equal(live.zones[1]!.nat.healthDetail, "its watcher's probes fail (by i-watcher)");
    nat.State = { Name: 'stopped' };
    live = await liveOf(world, spec);
    assert.equal(live.zones[1]!.nat.health, 'stopped');
    assert.ok(live.pending.changes > 0, 'a stopped NAT is started by the next apply');
    nat.State = { Name: 'terminated' };
    live = await liveOf(world, spec);
    assert.equal(live.zones[1]!.nat.health, 'down', 'a terminated NAT EC2 still lists is down, not missing');
    assert.equal(live.zones[1]!.nat.healthDetail, `${nat.InstanceId} is terminated`);
    assert.ok(live.pending.add > 0, 'its successor is created by the next apply');
  });
});

/** The world's context with nothing in it (an account before apply). */
function emptied(world: BuiltWorld): BuiltWorld['ctx'] {
  const none = async () => [];
  return {
    ...world.ctx,
    snapshot: {
      ...world.ctx.snapshot,
      vpcs: none,
      internetGateways: none,
      subnets: none,
      routeTables: none,
      securityGroups: none,
      instances: none,
      addresses: none,
    },
  } as unknown as BuiltWorld['ctx'];
}

describe('the live stack of OpsWorks NATs', () => {
  it('finds each zone served by its own NAT, known by its EC2 instance', async () => {
    const spec = opsworksSpec();
    const world = builtWorld(spec);
    const kinds = kindsFor({ opsworks: true });
    const observed = (await Promise.all([...kinds.values()].map((k) => k.observe(world.ctx)))).flat();
    const live = liveStack(spec, await makePlan({ desired: desiredResources(spec), observed, kinds, ctx: world.ctx }));
    for (const zone of live.zones) {
      assert.equal(zone.nat.health, 'healthy');
      assert.equal(zone.nat.state, 'online');
      assert.match(zone.nat.instanceId!, /^i-/);
      assert.equal(zone.privateRoute.target, zone.nat.instanceId);
      assert.equal(zone.privateRoute.servedBy, zone.availabilityZone);
      assert.equal(zone.failover, undefined);
    }
    assert.equal(live.pending.changes, 0);
  });
});
