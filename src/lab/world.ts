// What the lab reads from the EC2 emulator on every poll: the stack's VPC as EC2 sees it, the way
// AWS's fabric would. Route tables, subnets and groups are read by VPC, not by the stack's tag,
// because AWS routes by association whoever made the table; instances are the stack's NATs.

import {
  DescribeInstanceAttributeCommand,
  paginateDescribeInstances,
  paginateDescribeInternetGateways,
  paginateDescribeRouteTables,
  paginateDescribeSecurityGroups,
  paginateDescribeSubnets,
  paginateDescribeVpcs,
  type EC2Client,
  type Filter,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { collect } from '../aws/snapshot.js';
import { RESOURCE_TAG, STACK_TAG, logicalIdOf } from '../aws/tags.js';
import { decodeUserData } from '../nat/user-data.js';
import { natInstance } from '../resources/nat-instance.js';
import { vpc as vpcKind } from '../resources/vpc.js';

export interface LabWorld {
  vpc: { id: string; cidr: string };
  subnets: LabSubnet[];
  routeTables: LabRouteTable[];
  /** The internet gateway attached to the VPC, if one is. */
  internetGatewayId: string | undefined;
  /** The stack's NAT instances that are not gone (terminated or shutting down). */
  instances: LabInstance[];
  securityGroups: Record<string, { ingress: LabRule[]; egress: LabRule[] }>;
}

export interface LabSubnet {
  id: string;
  cidr: string;
  availabilityZone: string;
  /** The stack's logical id, e.g. subnet/private/ap-northeast-1c. */
  logicalId: string | undefined;
}

export interface LabRouteTable {
  id: string;
  main: boolean;
  subnetIds: string[];
  routes: LabRoute[];
}

export interface LabRoute {
  destination: string;
  /** local, igw-…, i-…, eni-…, or another kind of target. */
  target: string | undefined;
  /** active or blackhole, as EC2 says (moto always says active). */
  state: string;
}

export interface LabInstance {
  id: string;
  /** nat/<az> */
  logicalId: string;
  availabilityZone: string;
  subnetId: string;
  privateIp: string;
  publicIp: string | undefined;
  mac: string;
  networkInterfaceId: string;
  /** pending | running | stopping | stopped */
  state: string;
  sourceDestCheck: boolean;
  groupIds: string[];
  launchTime: number;
  instanceProfileArn: string | undefined;
}

/** A security group rule: protocol (all, tcp, udp, icmp or a number), ports, and where from/to. */
export interface LabRule {
  protocol: string;
  fromPort: number | undefined;
  toPort: number | undefined;
  cidrs: string[];
  groupIds: string[];
}

export class NoStackError extends Error {}

const GONE = new Set(['shutting-down', 'terminated']);

export async function readWorld(ec2: EC2Client, stack: string): Promise<LabWorld> {
  const vpcs = await collect(
    paginateDescribeVpcs(
      { client: ec2 },
      {
        Filters: [
          { Name: `tag:${STACK_TAG}`, Values: [stack] },
          { Name: `tag:${RESOURCE_TAG}`, Values: [vpcKind.ids.id({})] },
        ],
      },
    ),
    (p) => p.Vpcs,
  );
  const vpc = vpcs[0];
  if (!vpc) throw new NoStackError(`no VPC tagged ${STACK_TAG}=${stack}`);
  const inVpc: Filter[] = [{ Name: 'vpc-id', Values: [vpc.VpcId!] }];
  const [subnets, tables, gateways, reservations, groups] = await Promise.all([
    collect(paginateDescribeSubnets({ client: ec2 }, { Filters: inVpc }), (p) => p.Subnets),
    collect(paginateDescribeRouteTables({ client: ec2 }, { Filters: inVpc }), (p) => p.RouteTables),
    collect(
      paginateDescribeInternetGateways({ client: ec2 }, { Filters: [{ Name: 'attachment.vpc-id', Values: [vpc.VpcId!] }] }),
      (p) => p.InternetGateways,
    ),
    collect(paginateDescribeInstances({ client: ec2 }, { Filters: inVpc }), (p) => p.Reservations),
    collect(paginateDescribeSecurityGroups({ client: ec2 }, { Filters: inVpc }), (p) => p.SecurityGroups),
  ]);
  const attached = gateways.find((g) => g.Attachments?.some((a) => a.VpcId === vpc.VpcId && a.State !== 'detached'));
  const instances: LabInstance[] = [];
  for (const i of reservations.flatMap((r) => r.Instances ?? [])) {
    const logicalId = logicalIdOf(i.Tags, stack);
    const state = i.State?.Name ?? 'pending';
    const nat = logicalId === undefined ? undefined : natInstance.ids.parse(logicalId);
    if (!logicalId || !nat || GONE.has(state)) continue;
    const eni = i.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0) ?? i.NetworkInterfaces?.[0];
    if (!i.PrivateIpAddress || !i.SubnetId || !eni?.NetworkInterfaceId) continue;
    instances.push({
      id: i.InstanceId!,
      logicalId,
      availabilityZone: i.Placement?.AvailabilityZone ?? nat.availabilityZone,
      subnetId: i.SubnetId,
      privateIp: i.PrivateIpAddress,
      publicIp: i.PublicIpAddress ?? eni.Association?.PublicIp,
      mac: eni.MacAddress ?? '',
      networkInterfaceId: eni.NetworkInterfaceId,
      state,
      sourceDestCheck: i.SourceDestCheck ?? true,
      groupIds: (eni.Groups ?? i.SecurityGroups ?? []).map((g) => g.GroupId!),
      launchTime: i.LaunchTime?.getTime() ?? 0,
      instanceProfileArn: i.IamInstanceProfile?.Arn,
    });
  }
  return {
    vpc: { id: vpc.VpcId!, cidr: vpc.CidrBlock! },
    subnets: subnets.map((s) => ({
      id: s.SubnetId!,
      cidr: s.CidrBlock!,
      availabilityZone: s.AvailabilityZone!,
      logicalId: logicalIdOf(s.Tags, stack),
    })),
    routeTables: tables.map((t) => ({
      id: t.RouteTableId!,
      main: (t.Associations ?? []).some((a) => a.Main),
      subnetIds: (t.Associations ?? []).flatMap((a) => (a.SubnetId && a.AssociationState?.State !== 'disassociated' ? [a.SubnetId] : [])),
      routes: (t.Routes ?? []).flatMap((r) =>
        r.DestinationCidrBlock
          ? [
              {
                destination: r.DestinationCidrBlock,
                target:
                  r.GatewayId ?? r.InstanceId ?? r.NetworkInterfaceId ?? r.NatGatewayId ?? r.VpcPeeringConnectionId ?? r.TransitGatewayId,
                state: r.State ?? 'active',
              },
            ]
          : [],
      ),
    })),
    internetGatewayId: attached?.InternetGatewayId,
    instances,
    securityGroups: Object.fromEntries(
      groups.map((g) => [g.GroupId!, { ingress: rulesOf(g.IpPermissions), egress: rulesOf(g.IpPermissionsEgress) }]),
    ),
  };
}

/** The user data EC2 holds for an instance, as the instance would run it (decompressed, as cloud-init does). */
export async function readUserData(ec2: EC2Client, instanceId: string): Promise<string | undefined> {
  const out = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }));
  const encoded = out.UserData?.Value;
  return encoded ? decodeUserData(encoded) : undefined;
}

function rulesOf(permissions: IpPermission[] | undefined): LabRule[] {
  return (permissions ?? []).map((p) => ({
    protocol: p.IpProtocol === '-1' || p.IpProtocol === undefined ? 'all' : p.IpProtocol,
    fromPort: p.FromPort,
    toPort: p.ToPort,
    cidrs: (p.IpRanges ?? []).map((r) => r.CidrIp!).filter(Boolean),
    groupIds: (p.UserIdGroupPairs ?? []).map((g) => g.GroupId!).filter(Boolean),
  }));
}
