// Building from nothing, applying twice, the N-zone ring, and destroy: against moto, with the real
// SDK. Each scenario ends with the acceptance rule: apply, then a fresh plan shows no changes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { watched } from '../support/watchers.js';
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  RunInstancesCommand,
  type RouteTable,
} from '@aws-sdk/client-ec2';
import {
  assertApplied,
  assertNoChanges,
  converge,
  instancesOf,
  liveNat,
  makeEngine,
  makeSpec,
  tagValue,
  useEmulator,
} from '../support/stack.js';

describe('building the stack', () => {
  const emu = useEmulator();

  it('builds the whole 2-zone topology from empty, wired as the original', async () => {
    const spec = makeSpec();
    const plan = await converge(makeEngine(spec, emu.moto.endpoint));
    assert.ok(plan.changes.every((c) => c.action === 'create'));

    const vpcs = (await emu.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }))).Vpcs!;
    assert.equal(vpcs.length, 1);
    const vpc = vpcs[0]!;
    assert.equal(vpc.CidrBlock, '10.0.0.0/16');
    assert.equal(tagValue(vpc.Tags, 'Name'), 'TestVPC');
    for (const Attribute of ['enableDnsSupport', 'enableDnsHostnames'] as const) {
      const attr = await emu.ec2.send(new DescribeVpcAttributeCommand({ VpcId: vpc.VpcId!, Attribute }));
      assert.equal((attr.EnableDnsSupport ?? attr.EnableDnsHostnames)?.Value, true, Attribute);
    }

    const igw = (
      await emu.ec2.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc.VpcId!] }] }))
    ).InternetGateways!;
    assert.equal(igw.length, 1);
    assert.equal(tagValue(igw[0]!.Tags, 'dupsworks:stack'), spec.name);

    const subnets = (await emu.ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).Subnets!;
    const subnetByName = new Map(subnets.map((s) => [tagValue(s.Tags, 'dupsworks:resource'), s]));
    const tables = (await emu.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] })))
      .RouteTables!;
    const tableByName = new Map(tables.map((t) => [tagValue(t.Tags, 'dupsworks:resource'), t]));
    const [sg] = (
      await emu.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }))
    ).SecurityGroups!;
    // Everything from the VPC, and echo requests from anywhere (a NAT's watcher pings its public address).
    assert.deepEqual(
      sg!.IpPermissions!.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.map((r) => r.CidrIp)]),
      [
        ['-1', undefined, undefined, ['10.0.0.0/16']],
        ['icmp', 8, 0, ['0.0.0.0/0']],
      ],
    );

    const nats = await Promise.all(spec.zones.map((z) => liveNat(emu.ec2, spec.name, z.availabilityZone)));
    spec.zones.forEach((zone, i) => {
      const az = zone.availabilityZone;
      const nat = nats[i]!;
      const nextNat = nats[(i + 1) % nats.length]!;
      const publicSubnet = subnetByName.get(`subnet/public/${az}`)!;
      const privateSubnet = subnetByName.get(`subnet/private/${az}`)!;
      assert.equal(publicSubnet.CidrBlock, zone.publicSubnet);
      assert.equal(publicSubnet.AvailabilityZone, az);
      assert.equal(privateSubnet.CidrBlock, zone.privateSubnet);

      assert.equal(nat.SubnetId, publicSubnet.SubnetId);
      assert.equal(nat.SourceDestCheck, false);
      assert.ok(nat.PublicIpAddress, 'a NAT has a public IP');
      assert.equal(nat.State?.Name, 'running');
      assert.deepEqual(
        nat.NetworkInterfaces?.[0]?.Groups?.map((g) => g.GroupId),
        [sg!.GroupId],
      );

      const publicTable = tableByName.get(`route-table/public/${az}`)!;
      assert.deepEqual(associatedSubnets(publicTable), [publicSubnet.SubnetId]);
      assert.equal(routeTo(publicTable, '0.0.0.0/0'), igw[0]!.InternetGatewayId);
      assert.equal(routeTo(publicTable, `${zone.heartbeat.viaPeer}/32`), nextNat.InstanceId, 'heartbeat goes through the next zone');

      const privateTable = tableByName.get(`route-table/private/${az}`)!;
      assert.deepEqual(associatedSubnets(privateTable), [privateSubnet.SubnetId]);
      assert.equal(routeTo(privateTable, '0.0.0.0/0'), nat.InstanceId, 'private subnet goes out through its own NAT');
    });
  });

  it('apply twice makes nothing twice', async () => {
    const spec = makeSpec();
    const engine = makeEngine(spec, emu.moto.endpoint);
    await converge(engine);
    const again = await engine.plan();
    assertNoChanges(again);
    assertApplied(await engine.apply(again));
    const vpcs = await emu.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }));
    assert.equal(vpcs.Vpcs!.length, 1);
    const instances = await instancesOf(emu.ec2, [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }]);
    assert.equal(instances.length, 2);
  });

  it('wires 3 zones as a ring: zone i watches zone (i+1) mod 3', async () => {
    const spec = makeSpec({ zones: 3 });
    await converge(makeEngine(spec, emu.moto.endpoint));
    const nats = await Promise.all(spec.zones.map((z) => liveNat(emu.ec2, spec.name, z.availabilityZone)));
    const tables = (await emu.ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] })))
      .RouteTables!;
    spec.zones.forEach((zone, i) => {
      const table = tables.find((t) => tagValue(t.Tags, 'dupsworks:resource') === `route-table/public/${zone.availabilityZone}`)!;
      assert.equal(routeTo(table, `${zone.heartbeat.viaPeer}/32`), nats[(i + 1) % 3]!.InstanceId);
    });
  });

  it('growing from 2 to 3 zones adds the zone and re-wires the ring', async () => {
    const [two, three] = [makeSpec({ zones: 2 }), makeSpec({ zones: 3 })];
    await converge(makeEngine(two, emu.moto.endpoint));
    // The ring is in every NAT's agent configuration: the NATs that stay are rolled, each waiting for its watcher's word.
    const plan = await watched(emu.ec2, three, () => converge(makeEngine(three, emu.moto.endpoint)));
    const heartbeatOfZone2 = plan.changes.find((c) => c.id === 'route/public/ap-northeast-1a/8.8.8.8/32');
    assert.equal(heartbeatOfZone2?.action, 'update', 'zone 2 now watches zone 3 instead of zone 1');
    const plan2 = await watched(emu.ec2, two, () => converge(makeEngine(two, emu.moto.endpoint)));
    assert.ok(
      plan2.changes.some((c) => c.id === 'nat/ap-northeast-1d' && c.action === 'delete'),
      'shrinking deletes the third zone',
    );
  });

  it('a new VPC CIDR replaces the whole network, each new resource before its old one goes', async () => {
    await converge(makeEngine(makeSpec(), emu.moto.endpoint));
    const moved = JSON.parse(JSON.stringify(makeSpec()).replaceAll('10.0.', '10.1.'));
    const plan = await converge(makeEngine(moved, emu.moto.endpoint));
    assert.equal(plan.changes.find((c) => c.id === 'vpc')?.action, 'replace');
    assert.equal(
      plan.changes.find((c) => c.id === 'internet-gateway')?.action,
      'replace',
      'a new gateway for the new VPC; the old one goes with the old NATs',
    );
    const vpcs = await emu.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: ['test-stack'] }] }));
    assert.deepEqual(
      vpcs.Vpcs!.map((v) => v.CidrBlock),
      ['10.1.0.0/16'],
    );
  });

  it('destroy removes the stack and leaves untagged and other stacks alone', async () => {
    const mine = makeSpec({ name: 'mine' });
    const theirs = makeSpec({ name: 'theirs' });
    await converge(makeEngine(mine, emu.moto.endpoint));
    await converge(makeEngine(theirs, emu.moto.endpoint));
    // An untagged VPC with the same CIDR and an untagged instance: not ours, whatever they look like.
    const foreignVpc = (await emu.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }))).Vpc!.VpcId!;
    const foreignSubnet = (
      await emu.ec2.send(new CreateSubnetCommand({ VpcId: foreignVpc, CidrBlock: '10.0.0.0/24', AvailabilityZone: 'ap-northeast-1c' }))
    ).Subnet!.SubnetId!;
    const foreignInstance = (
      await emu.ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, SubnetId: foreignSubnet }))
    ).Instances![0]!.InstanceId!;

    const engine = makeEngine(mine, emu.moto.endpoint);
    const plan = await engine.destroyPlan();
    assert.ok(plan.changes.length > 0 && plan.changes.every((c) => c.action === 'delete'));
    assertApplied(await engine.apply(plan));
    assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');

    const left = await emu.ec2.send(new DescribeVpcsCommand({}));
    const ids = left.Vpcs!.map((v) => v.VpcId);
    assert.ok(ids.includes(foreignVpc), 'the untagged VPC is still there');
    assert.equal(left.Vpcs!.filter((v) => tagValue(v.Tags, 'dupsworks:stack') === 'mine').length, 0);
    assert.equal(left.Vpcs!.filter((v) => tagValue(v.Tags, 'dupsworks:stack') === 'theirs').length, 1);
    const [instance] = await instancesOf(emu.ec2, [{ Name: 'instance-id', Values: [foreignInstance] }]);
    assert.equal(instance?.State?.Name, 'running', 'the untagged instance is untouched');
    const mineLeft = await instancesOf(emu.ec2, [{ Name: 'tag:dupsworks:stack', Values: ['mine'] }]);
    assert.ok(mineLeft.every((i) => i.State?.Name === 'terminated'));
    // The other stack is still whole.
    assertNoChanges(await makeEngine(theirs, emu.moto.endpoint).plan(), 'the other stack is untouched');
  });
});

function routeTo(table: RouteTable, destination: string): string | undefined {
  const r = table.Routes?.find((x) => x.DestinationCidrBlock === destination);
  return r?.GatewayId ?? r?.InstanceId;
}

function associatedSubnets(table: RouteTable): (string | undefined)[] {
  return (table.Associations ?? []).filter((a) => !a.Main).map((a) => a.SubnetId);
}
