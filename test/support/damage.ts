// Ways the world drifts or breaks behind the engine's back, each done with the plain SDK the way an
// operator, a console click or an outage would. Shared by the heal tests and the property test.

import {
  CreateRouteCommand,
  CreateTagsCommand,
  DeleteRouteCommand,
  DeleteSubnetCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  DescribeInternetGatewaysCommand,
  DisassociateRouteTableCommand,
  ModifyInstanceAttributeCommand,
  ModifyVpcAttributeCommand,
  ReplaceRouteCommand,
  RevokeSecurityGroupIngressCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type RouteTable,
} from '@aws-sdk/client-ec2';
import type { Spec } from '../../src/spec/types.js';
import { byResource, liveNat } from './stack.js';

export interface World {
  ec2: EC2Client;
  spec: Spec;
}

export interface Damage {
  name: string;
  /** Does the damage; `zone` picks which zone to hurt. */
  apply(world: World, zone: number): Promise<void>;
  /** The logical ids the healing plan must change (checked by the heal tests). */
  heals(world: World, zone: number): string[];
}

const az = (world: World, zone: number) => world.spec.zones[zone % world.spec.zones.length]!.availabilityZone;
const next = (world: World, zone: number) => world.spec.zones[(zone + 1) % world.spec.zones.length]!.availabilityZone;

async function table(world: World, id: string): Promise<RouteTable> {
  const out = await world.ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(world.spec.name, id) }));
  return out.RouteTables![0]!;
}

async function subnetId(world: World, id: string): Promise<string> {
  const out = await world.ec2.send(new DescribeSubnetsCommand({ Filters: byResource(world.spec.name, id) }));
  return out.Subnets![0]!.SubnetId!;
}

export const damages: Damage[] = [
  {
    name: 'private subnet deleted',
    async apply(world, zone) {
      const t = await table(world, `route-table/private/${az(world, zone)}`);
      for (const a of t.Associations ?? [])
        if (!a.Main) await world.ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId! }));
      await world.ec2.send(new DeleteSubnetCommand({ SubnetId: await subnetId(world, `subnet/private/${az(world, zone)}`) }));
    },
    heals: (w, z) => [`subnet/private/${az(w, z)}`, `route-table/private/${az(w, z)}`],
  },
  {
    name: 'private default route deleted',
    async apply(world, zone) {
      const t = await table(world, `route-table/private/${az(world, zone)}`);
      await world.ec2.send(new DeleteRouteCommand({ RouteTableId: t.RouteTableId!, DestinationCidrBlock: '0.0.0.0/0' }));
    },
    heals: (w, z) => [`route/private/${az(w, z)}/0.0.0.0/0`],
  },
  {
    name: 'heartbeat route deleted',
    async apply(world, zone) {
      const t = await table(world, `route-table/public/${az(world, zone)}`);
      const peer = world.spec.zones[zone % world.spec.zones.length]!.heartbeat.viaPeer;
      await world.ec2.send(new DeleteRouteCommand({ RouteTableId: t.RouteTableId!, DestinationCidrBlock: `${peer}/32` }));
    },
    heals: (w, z) => [`route/public/${az(w, z)}/${w.spec.zones[z % w.spec.zones.length]!.heartbeat.viaPeer}/32`],
  },
  {
    name: 'public subnet association removed',
    async apply(world, zone) {
      const t = await table(world, `route-table/public/${az(world, zone)}`);
      for (const a of t.Associations ?? [])
        if (!a.Main) await world.ec2.send(new DisassociateRouteTableCommand({ AssociationId: a.RouteTableAssociationId! }));
    },
    heals: (w, z) => [`route-table/public/${az(w, z)}`],
  },
  {
    name: 'internet gateway detached',
    async apply(world) {
      const out = await world.ec2.send(new DescribeInternetGatewaysCommand({ Filters: byResource(world.spec.name, 'internet-gateway') }));
      const igw = out.InternetGateways![0]!;
      for (const a of igw.Attachments ?? []) {
        await world.ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw.InternetGatewayId!, VpcId: a.VpcId! }));
      }
    },
    heals: () => ['internet-gateway'],
  },
  {
    name: 'NAT terminated',
    async apply(world, zone) {
      const nat = await liveNat(world.ec2, world.spec.name, az(world, zone));
      await world.ec2.send(new TerminateInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    },
    // Launch a new one, re-point its private route and the previous zone's heartbeat route.
    heals: (w, z) => {
      const prev = w.spec.zones[(z + w.spec.zones.length - 1) % w.spec.zones.length]!;
      return [
        `nat/${az(w, z)}`,
        `route/private/${az(w, z)}/0.0.0.0/0`,
        `route/public/${prev.availabilityZone}/${prev.heartbeat.viaPeer}/32`,
      ];
    },
  },
  {
    name: 'NAT stopped',
    async apply(world, zone) {
      const nat = await liveNat(world.ec2, world.spec.name, az(world, zone));
      await world.ec2.send(new StopInstancesCommand({ InstanceIds: [nat.InstanceId!] }));
    },
    heals: (w, z) => [`nat/${az(w, z)}`],
  },
  {
    name: 'source/dest check back on',
    async apply(world, zone) {
      const nat = await liveNat(world.ec2, world.spec.name, az(world, zone));
      await world.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: nat.InstanceId!, SourceDestCheck: { Value: true } }));
    },
    heals: (w, z) => [`nat/${az(w, z)}`],
  },
  {
    name: 'private route pointed at an instance that was then terminated',
    async apply(world, zone) {
      const subnet = await subnetId(world, `subnet/public/${az(world, zone)}`);
      const stray = await world.ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1, SubnetId: subnet }));
      const strayId = stray.Instances![0]!.InstanceId!;
      const t = await table(world, `route-table/private/${az(world, zone)}`);
      await world.ec2.send(
        new ReplaceRouteCommand({ RouteTableId: t.RouteTableId!, DestinationCidrBlock: '0.0.0.0/0', InstanceId: strayId }),
      );
      await world.ec2.send(new TerminateInstancesCommand({ InstanceIds: [strayId] }));
    },
    heals: (w, z) => [`route/private/${az(w, z)}/0.0.0.0/0`],
  },
  {
    name: 'NAT security group ingress rule revoked',
    async apply(world) {
      const out = await world.ec2.send(new DescribeSecurityGroupsCommand({ Filters: byResource(world.spec.name, 'security-group/nat') }));
      const sg = out.SecurityGroups![0]!;
      await world.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId!, IpPermissions: sg.IpPermissions! }));
    },
    heals: () => ['security-group/nat'],
  },
  {
    name: 'VPC DNS hostnames turned off and Name tag changed',
    async apply(world) {
      const out = await world.ec2.send(new DescribeVpcsCommand({ Filters: byResource(world.spec.name, 'vpc') }));
      const vpcId = out.Vpcs![0]!.VpcId!;
      await world.ec2.send(new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: false } }));
      await world.ec2.send(new CreateTagsCommand({ Resources: [vpcId], Tags: [{ Key: 'Name', Value: 'renamed by hand' }] }));
    },
    heals: () => ['vpc'],
  },
  {
    name: 'heartbeat route pointed at the wrong NAT',
    async apply(world, zone) {
      if (world.spec.zones.length < 3) {
        // With two zones the only other NAT is the right one; point it at this zone's own NAT.
        const own = await liveNat(world.ec2, world.spec.name, az(world, zone));
        return repoint(world, zone, own.InstanceId!);
      }
      const wrong = await liveNat(world.ec2, world.spec.name, az(world, zone + 2));
      return repoint(world, zone, wrong.InstanceId!);
    },
    heals: (w, z) => [`route/public/${az(w, z)}/${w.spec.zones[z % w.spec.zones.length]!.heartbeat.viaPeer}/32`],
  },
];

async function repoint(world: World, zone: number, instanceId: string) {
  const t = await table(world, `route-table/public/${az(world, zone)}`);
  const peer = world.spec.zones[zone % world.spec.zones.length]!.heartbeat.viaPeer;
  const route = { RouteTableId: t.RouteTableId!, DestinationCidrBlock: `${peer}/32`, InstanceId: instanceId };
  // Another damage may have deleted the route already.
  if (t.Routes?.some((r) => r.DestinationCidrBlock === route.DestinationCidrBlock)) await world.ec2.send(new ReplaceRouteCommand(route));
  else await world.ec2.send(new CreateRouteCommand(route));
}

/** A failover as the heartbeat agent does it: zone's private default route -> the next zone's NAT. */
export async function failOver(world: World, zone: number): Promise<string> {
  const target = await liveNat(world.ec2, world.spec.name, next(world, zone));
  const t = await table(world, `route-table/private/${az(world, zone)}`);
  await world.ec2.send(
    new ReplaceRouteCommand({ RouteTableId: t.RouteTableId!, DestinationCidrBlock: '0.0.0.0/0', InstanceId: target.InstanceId! }),
  );
  return target.InstanceId!;
}

export async function privateRouteTarget(world: World, zone: number): Promise<string | undefined> {
  const t = await table(world, `route-table/private/${az(world, zone)}`);
  return t.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.InstanceId;
}
