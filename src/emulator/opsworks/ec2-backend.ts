// Everything the emulator asks of EC2 (moto): the network a stack lives in, the OpsWorks security
// groups, and the instances behind OpsWorks instances. Reads use filters, not ids, so an id that
// no longer exists is simply absent instead of failing the whole call.

import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DisassociateAddressCommand,
  EC2Client,
  ReleaseAddressCommand,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type _InstanceType,
  type Instance as Ec2Instance,
} from '@aws-sdk/client-ec2';
import { OPSWORKS_SECURITY_GROUPS } from './catalog.js';

export interface SubnetInfo {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
}

export interface Ec2InstanceInfo {
  instanceId: string;
  /** pending, running, stopping, stopped, shutting-down, terminated */
  state: string;
  privateIp?: string;
  publicIp?: string;
  privateDns?: string;
  publicDns?: string;
}

export interface LaunchRequest {
  region: string;
  imageId: string;
  instanceType: string;
  subnetId: string;
  groupIds: string[];
  /** Ask for a public IP on the primary interface (the layer's AutoAssignPublicIps). */
  publicIp: boolean;
  keyName?: string;
  tags: Record<string, string>;
}

export class Ec2Backend {
  private readonly clients = new Map<string, EC2Client>();
  /** One group creation at a time per VPC, so two stacks created together don't both create them. */
  private readonly groupLocks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly endpoint: string,
    private readonly signal: () => AbortSignal,
  ) {}

  destroy(): void {
    for (const client of this.clients.values()) client.destroy();
    this.clients.clear();
  }

  async vpcExists(region: string, vpcId: string): Promise<boolean> {
    const out = await this.ec2(region).send(new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }), this.options);
    return (out.Vpcs ?? []).length > 0;
  }

  async defaultVpc(region: string): Promise<string | undefined> {
    const out = await this.ec2(region).send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }), this.options);
    return out.Vpcs?.[0]?.VpcId;
  }

  async subnet(region: string, subnetId: string): Promise<SubnetInfo | undefined> {
    return (await this.subnets(region, [{ Name: 'subnet-id', Values: [subnetId] }]))[0];
  }

  /** The default subnet of a default VPC, in the zone asked for or else any. */
  async defaultSubnet(region: string, vpcId: string, availabilityZone?: string): Promise<SubnetInfo | undefined> {
    const filters: Filter[] = [
      { Name: 'vpc-id', Values: [vpcId] },
      { Name: 'default-for-az', Values: ['true'] },
    ];
    if (availabilityZone) filters.push({ Name: 'availability-zone', Values: [availabilityZone] });
    return (await this.subnets(region, filters))[0];
  }

  /** Ids of the groups among `groupIds` that exist in the VPC. */
  async groupsInVpc(region: string, vpcId: string, groupIds: string[]): Promise<Set<string>> {
    if (groupIds.length === 0) return new Set();
    const out = await this.ec2(region).send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-id', Values: groupIds },
        ],
      }),
      this.options,
    );
    return new Set((out.SecurityGroups ?? []).map((g) => g.GroupId!));
  }

  /** The OpsWorks groups present in the VPC, by name. */
  async opsWorksGroups(region: string, vpcId: string): Promise<Map<string, string>> {
    const out = await this.ec2(region).send(
      new DescribeSecurityGroupsCommand({
        Filters: [
          { Name: 'vpc-id', Values: [vpcId] },
          { Name: 'group-name', Values: OPSWORKS_SECURITY_GROUPS.map((g) => g.name) },
        ],
      }),
      this.options,
    );
    return new Map((out.SecurityGroups ?? []).map((g) => [g.GroupName!, g.GroupId!]));
  }

  /**
   * Creates whichever OpsWorks groups the VPC lacks, each admitting SSH from anywhere and all traffic
   * from every OpsWorks group (so the instances of a stack's layers reach each other). Groups that
   * exist already, from another stack or an earlier run, are left exactly as they are.
   */
  ensureOpsWorksGroups(region: string, vpcId: string): Promise<Map<string, string>> {
    const key = `${region}/${vpcId}`;
    const previous = this.groupLocks.get(key) ?? Promise.resolve();
    const work = previous.catch(() => undefined).then(() => this.createMissingGroups(region, vpcId));
    this.groupLocks.set(key, work);
    return work;
  }

  private async createMissingGroups(region: string, vpcId: string): Promise<Map<string, string>> {
    const existing = await this.opsWorksGroups(region, vpcId);
    const created: string[] = [];
    for (const group of OPSWORKS_SECURITY_GROUPS) {
      if (existing.has(group.name)) continue;
      const out = await this.ec2(region).send(
        new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: group.name, Description: group.description }),
        this.options,
      );
      existing.set(group.name, out.GroupId!);
      created.push(out.GroupId!);
    }
    const everyGroup = [...existing.values()].map((GroupId) => ({ GroupId }));
    for (const groupId of created) {
      await this.ec2(region).send(
        new AuthorizeSecurityGroupIngressCommand({
          GroupId: groupId,
          IpPermissions: [
            { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
            { IpProtocol: '-1', UserIdGroupPairs: everyGroup },
          ],
        }),
        this.options,
      );
    }
    return existing;
  }

  async launch(request: LaunchRequest): Promise<Ec2InstanceInfo> {
    const tags = Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value }));
    // A public IP can only be asked for on a network interface, and then the groups go there too.
    const placement = request.publicIp
      ? { NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: request.subnetId, Groups: request.groupIds, AssociatePublicIpAddress: true }] }
      : { SubnetId: request.subnetId, SecurityGroupIds: request.groupIds };
    const out = await this.ec2(request.region).send(
      new RunInstancesCommand({
        ImageId: request.imageId,
        InstanceType: request.instanceType as _InstanceType, // one of OpsWorks's types (catalog.ts)
        MinCount: 1,
        MaxCount: 1,
        ...(request.keyName ? { KeyName: request.keyName } : {}),
        ...placement,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
      this.options,
    );
    return describeInstance(out.Instances![0]!);
  }

  /** The instances among `ids` that EC2 still knows, terminated ones included. */
  async instances(region: string, ids: string[]): Promise<Map<string, Ec2InstanceInfo>> {
    if (ids.length === 0) return new Map();
    const out = await this.ec2(region).send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }),
      this.options,
    );
    const found = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(describeInstance);
    return new Map(found.map((i) => [i.instanceId, i]));
  }

  async start(region: string, instanceId: string): Promise<void> {
    await this.ec2(region).send(new StartInstancesCommand({ InstanceIds: [instanceId] }), this.options);
  }

  async stop(region: string, instanceId: string): Promise<void> {
    await this.ec2(region).send(new StopInstancesCommand({ InstanceIds: [instanceId] }), this.options);
  }

  async terminate(region: string, instanceId: string): Promise<void> {
    try {
      await this.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }), this.options);
    } catch (error) {
      if ((error as Error).name !== 'InvalidInstanceID.NotFound') throw error;
    }
  }

  async allocateAddress(region: string): Promise<{ allocationId: string; publicIp: string }> {
    const out = await this.ec2(region).send(new AllocateAddressCommand({ Domain: 'vpc' }), this.options);
    return { allocationId: out.AllocationId!, publicIp: out.PublicIp! };
  }

  async associateAddress(region: string, allocationId: string, instanceId: string): Promise<void> {
    // The address may still point at the instance it had before a restart replaced it.
    await this.ec2(region).send(
      new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: true }),
      this.options,
    );
  }

  async releaseAddress(region: string, allocationId: string): Promise<void> {
    const out = await this.ec2(region).send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'allocation-id', Values: [allocationId] }] }),
      this.options,
    );
    const associationId = out.Addresses?.[0]?.AssociationId;
    if (associationId) await this.ec2(region).send(new DisassociateAddressCommand({ AssociationId: associationId }), this.options);
    await this.ec2(region).send(new ReleaseAddressCommand({ AllocationId: allocationId }), this.options);
  }

  private async subnets(region: string, filters: Filter[]): Promise<SubnetInfo[]> {
    const out = await this.ec2(region).send(new DescribeSubnetsCommand({ Filters: filters }), this.options);
    return (out.Subnets ?? []).map((s) => ({ subnetId: s.SubnetId!, vpcId: s.VpcId!, availabilityZone: s.AvailabilityZone! }));
  }

  /** Options for every call: aborted with the emulator's epoch (reset, stop). */
  private get options(): { abortSignal: AbortSignal } {
    return { abortSignal: this.signal() };
  }

  private ec2(region: string): EC2Client {
    let client = this.clients.get(region);
    if (!client) {
      // moto takes any credentials; fixed ones spare the SDK a search through the default chain.
      client = new EC2Client({
        region,
        endpoint: this.endpoint,
        credentials: { accessKeyId: 'opsworks-emulator', secretAccessKey: 'opsworks-emulator' },
      });
      this.clients.set(region, client);
    }
    return client;
  }
}

function describeInstance(i: Ec2Instance): Ec2InstanceInfo {
  return {
    instanceId: i.InstanceId!,
    state: i.State?.Name ?? 'pending',
    privateIp: i.PrivateIpAddress,
    publicIp: i.PublicIpAddress,
    privateDns: i.PrivateDnsName || undefined,
    publicDns: i.PublicDnsName || undefined,
  };
}
