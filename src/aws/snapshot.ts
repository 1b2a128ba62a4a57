// One read of the stack's world per plan: each Describe runs at most once, filtered by the stack
// tag, whatever the number of zones. Resource kinds read through it, so two kinds that need the
// same listing (route tables and routes) share one call.

import {
  DescribeAddressesCommand,
  paginateDescribeInstances,
  paginateDescribeInstanceStatus,
  paginateDescribeInstanceTypes,
  paginateDescribeInternetGateways,
  paginateDescribeNetworkInterfaces,
  paginateDescribeRouteTables,
  paginateDescribeSecurityGroups,
  paginateDescribeSubnets,
  paginateDescribeVpcs,
  type Address,
  type EC2Client,
  type Filter,
  type Instance,
  type InstanceTypeInfo,
  type InternetGateway,
  type NetworkInterface,
  type RouteTable,
  type SecurityGroup,
  type Subnet,
  type Vpc,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { STACK_TAG } from './tags.js';
import { Memo } from './memo.js';

/** What the snapshot's listings call (every plan makes them), as IAM actions. */
export const permissions = [
  'ec2:DescribeAddresses',
  'ec2:DescribeInstanceStatus',
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeInstances',
  'ec2:DescribeInternetGateways',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeRouteTables',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeSubnets',
  'ec2:DescribeVpcs',
  'ssm:GetParameter',
];

export class Snapshot {
  private readonly memo = new Memo();

  constructor(
    private readonly ec2: EC2Client,
    private readonly ssm: SSMClient,
    private readonly stack: string,
  ) {}

  vpcs(): Promise<Vpc[]> {
    return this.memo.once('vpcs', () =>
      collect(paginateDescribeVpcs({ client: this.ec2 }, { Filters: this.stackFilter() }), (p) => p.Vpcs),
    );
  }

  internetGateways(): Promise<InternetGateway[]> {
    return this.memo.once('igws', () =>
      collect(paginateDescribeInternetGateways({ client: this.ec2 }, { Filters: this.stackFilter() }), (p) => p.InternetGateways),
    );
  }

  subnets(): Promise<Subnet[]> {
    return this.memo.once('subnets', () =>
      collect(paginateDescribeSubnets({ client: this.ec2 }, { Filters: this.stackFilter() }), (p) => p.Subnets),
    );
  }

  routeTables(): Promise<RouteTable[]> {
    return this.memo.once('route-tables', () =>
      collect(paginateDescribeRouteTables({ client: this.ec2 }, { Filters: this.stackFilter() }), (p) => p.RouteTables),
    );
  }

  securityGroups(): Promise<SecurityGroup[]> {
    return this.memo.once('security-groups', () =>
      collect(paginateDescribeSecurityGroups({ client: this.ec2 }, { Filters: this.stackFilter() }), (p) => p.SecurityGroups),
    );
  }

  /** Every instance of the stack, in any state (terminated ones linger for about an hour). */
  instances(): Promise<Instance[]> {
    return this.memo.once('instances', () =>
      collect(paginateDescribeInstances({ client: this.ec2 }, { Filters: this.stackFilter() }), (p) =>
        (p.Reservations ?? []).flatMap((r) => r.Instances ?? []),
      ),
    );
  }

  /**
   * Instances by id, whatever their tags (OpsWorks launches the stack's instances itself): those
   * the stack-tag listing has, plus one filtered call for the rest. A filter, not InstanceIds, so
   * an id AWS has forgotten is simply absent rather than an error.
   */
  instancesByIds(ids: readonly string[]): Promise<Instance[]> {
    const wanted = [...new Set(ids)].sort();
    return this.memo.once(`instances:${wanted.join(',')}`, async () => {
      const tagged = (await this.instances()).filter((i) => wanted.includes(i.InstanceId!));
      const missing = wanted.filter((id) => !tagged.some((i) => i.InstanceId === id));
      if (missing.length === 0) return tagged;
      const rest = await collect(
        paginateDescribeInstances({ client: this.ec2 }, { Filters: [{ Name: 'instance-id', Values: missing }] }),
        (p) => (p.Reservations ?? []).flatMap((r) => r.Instances ?? []),
      );
      return [...tagged, ...rest];
    });
  }

  /**
   * The network interfaces in the given security groups, whatever their tags (one call, by group):
   * a NAT of the stack whose tags were removed still holds the stack's group, and still costs money.
   */
  interfacesInGroups(groupIds: readonly string[]): Promise<NetworkInterface[]> {
    const wanted = [...new Set(groupIds)].sort();
    return this.memo.once(`interfaces-in:${wanted.join(',')}`, async () =>
      wanted.length === 0
        ? []
        : collect(
            paginateDescribeNetworkInterfaces({ client: this.ec2 }, { Filters: [{ Name: 'group-id', Values: wanted }] }),
            (p) => p.NetworkInterfaces,
          ),
    );
  }

  /** The stack's running instances whose instance or system status check says "impaired" (one call, by id). */
  impairedInstanceIds(): Promise<Set<string>> {
    return this.memo.once('impaired', async () => {
      const running = (await this.instances()).filter((i) => i.State?.Name === 'running').map((i) => i.InstanceId!);
      if (running.length === 0) return new Set<string>();
      const statuses = await collect(
        paginateDescribeInstanceStatus({ client: this.ec2 }, { InstanceIds: running }),
        (p) => p.InstanceStatuses,
      );
      return new Set(
        statuses.filter((s) => s.InstanceStatus?.Status === 'impaired' || s.SystemStatus?.Status === 'impaired').map((s) => s.InstanceId!),
      );
    });
  }

  /**
   * Every Elastic IP of the region, whatever its tags: the stack's own carry its tag, but an address
   * the spec names for reuse does not, and an association is found by the NAT that holds it. One
   * call: DescribeAddresses has no pages, and accounts hold few addresses (5 by default).
   */
  addresses(): Promise<Address[]> {
    return this.memo.once('addresses', async () => (await this.ec2.send(new DescribeAddressesCommand({}))).Addresses ?? []);
  }

  /**
   * Everything in the given VPCs, whatever its tags: what else than the stack's own resources is in
   * them (an instance someone launched into a subnet, a group someone made), so a plan that deletes
   * knows what would make the deletes fail. Read only for such plans: five calls, by VPC.
   */
  inVpcs(vpcIds: readonly string[]): Promise<InVpcs> {
    const ids = [...new Set(vpcIds)].sort();
    return this.memo.once(`in-vpcs:${ids.join(',')}`, async () => {
      if (ids.length === 0) return { networkInterfaces: [], subnets: [], securityGroups: [], routeTables: [], internetGateways: [] };
      const byVpc = [{ Name: 'vpc-id', Values: ids }];
      const [networkInterfaces, subnets, securityGroups, routeTables, internetGateways] = await Promise.all([
        collect(paginateDescribeNetworkInterfaces({ client: this.ec2 }, { Filters: byVpc }), (p) => p.NetworkInterfaces),
        collect(paginateDescribeSubnets({ client: this.ec2 }, { Filters: byVpc }), (p) => p.Subnets),
        collect(paginateDescribeSecurityGroups({ client: this.ec2 }, { Filters: byVpc }), (p) => p.SecurityGroups),
        collect(paginateDescribeRouteTables({ client: this.ec2 }, { Filters: byVpc }), (p) => p.RouteTables),
        collect(
          paginateDescribeInternetGateways({ client: this.ec2 }, { Filters: [{ Name: 'attachment.vpc-id', Values: ids }] }),
          (p) => p.InternetGateways,
        ),
      ]);
      return { networkInterfaces, subnets, securityGroups, routeTables, internetGateways };
    });
  }

  /**
   * EC2's data on instance types (their architectures), by name: one call for the names not asked
   * for yet in this plan. A type the region does not offer is absent (a filter, where InstanceTypes
   * would fail the whole call).
   */
  async instanceTypes(names: readonly string[]): Promise<Map<string, InstanceTypeInfo>> {
    const wanted = [...new Set(names)].sort();
    const fresh = wanted.filter((name) => !this.memo.has(`instance-type:${name}`));
    if (fresh.length > 0) {
      const batch = collect(
        paginateDescribeInstanceTypes({ client: this.ec2 }, { Filters: [{ Name: 'instance-type', Values: fresh }] }),
        (p) => p.InstanceTypes,
      );
      for (const name of fresh) this.memo.once(`instance-type:${name}`, async () => (await batch).find((t) => t.InstanceType === name));
    }
    const found = await Promise.all(
      wanted.map((name) => this.memo.once(`instance-type:${name}`, async (): Promise<InstanceTypeInfo | undefined> => undefined)),
    );
    return new Map(found.flatMap((info) => (info ? [[info.InstanceType!, info] as const] : [])));
  }

  /** A public SSM parameter, such as the latest Amazon Linux AMI id. */
  parameter(name: string): Promise<string> {
    return this.memo.once(`ssm:${name}`, async () => {
      const out = await this.ssm.send(new GetParameterCommand({ Name: name }));
      const value = out.Parameter?.Value;
      if (!value) throw new Error(`SSM parameter ${name} has no value`);
      return value;
    });
  }

  private stackFilter(): Filter[] {
    return [{ Name: `tag:${STACK_TAG}`, Values: [this.stack] }];
  }
}

export interface InVpcs {
  networkInterfaces: NetworkInterface[];
  subnets: Subnet[];
  securityGroups: SecurityGroup[];
  routeTables: RouteTable[];
  internetGateways: InternetGateway[];
}

export async function collect<P, T>(pages: AsyncIterable<P>, items: (page: P) => T[] | undefined): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...(items(page) ?? []));
  return all;
}
