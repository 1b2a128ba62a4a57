// What the stack's world holds that carries its mark: every EC2 item the snapshot lists by the
// stack tag (VPCs, internet gateways, subnets, route tables, security groups, instances, Elastic
// IPs) and, when the OpsWorks side is read, this stack's OpsWorks stacks with their layers and
// instances. The kinds claim these in observe; what none claims, the plan shows with the advice
// written here.
// It reads the snapshot the kinds read, and one listing more: the network interfaces in the stack's
// security groups, where a NAT whose tags were removed (and which still runs, and costs money) is
// found.
//
// The disks and network interfaces made with a NAT carry the tag too, but are not listed: they go
// with their instance, and listing them would cost two more calls in every plan.
//
// A plan that deletes also needs what else is inside the stack's VPCs (strangers): it is no
// resource of the stack either, and it would make the deletes of what it is in fail.

import type { Instance, NetworkInterface, Tag } from '@aws-sdk/client-ec2';
import type { InventoryItem } from '../planner/inventory.js';
import { VERSION } from '../version.js';
import type { AwsContext } from './context.js';
import { gatewaysHeldBy, instanceGroupIds } from './instance-groups.js';
import { RESOURCE_TAG, ofStack, tagMap } from './tags.js';

/** Set on what OpsWorks launches: the name of its OpsWorks stack, and the instance's hostname. */
const OPSWORKS_STACK_TAG = 'opsworks:stack';
const OPSWORKS_INSTANCE_TAG = 'opsworks:instance';

export async function inventory(ctx: AwsContext, options: { opsworks: boolean }): Promise<InventoryItem[]> {
  const [vpcs, gateways, subnets, tables, groups, instances, addresses] = await Promise.all([
    ctx.snapshot.vpcs(),
    ctx.snapshot.internetGateways(),
    ctx.snapshot.subnets(),
    ctx.snapshot.routeTables(),
    ctx.snapshot.securityGroups(),
    ctx.snapshot.instances(),
    ctx.snapshot.addresses(),
  ]);
  const ec2 = (physicalId: string, type: string, tags: Tag[] | undefined, references: (string | undefined)[]): InventoryItem => {
    const name = tagMap(tags).Name;
    return {
      physicalId,
      description: `${type} ${physicalId}${name ? ` ("${name}")` : ''}`,
      advice: ec2Advice(type, tags, ctx.stack, options.opsworks),
      references: references.filter((r): r is string => !!r),
    };
  };
  const instance = (i: Instance, advice?: string): InventoryItem => {
    const item = ec2(i.InstanceId!, 'EC2 instance', i.Tags, [i.SubnetId, i.VpcId, ...instanceGroupIds(i), ...gatewaysHeldBy(i, gateways)]);
    return {
      ...item,
      description: `${item.description}, ${i.InstanceType ?? 'of unknown type'}, ${i.State?.Name ?? 'pending'}${launchedBy(i)}`,
      advice: `${advice ?? item.advice} ${costOf(i)}`,
    };
  };
  // A NAT whose tags were removed is found by the stack's security group it still holds (its
  // interface is in it); what carries the stack's tag is listed already.
  const inGroups = await ctx.snapshot.interfacesInGroups(groups.map((g) => g.GroupId!));
  const listed = new Set(instances.map((i) => i.InstanceId!));
  const others = inGroups.flatMap((n) => n.Attachment?.InstanceId ?? []).filter((id) => !listed.has(id));
  const untagged = others.length === 0 ? [] : (await ctx.snapshot.instancesByIds(others)).filter((i) => !ofStack(i.Tags, ctx.stack));
  const items: InventoryItem[] = [
    ...vpcs.map((v) => ec2(v.VpcId!, 'VPC', v.Tags, [])),
    ...gateways.map((g) =>
      ec2(
        g.InternetGatewayId!,
        'internet gateway',
        g.Tags,
        (g.Attachments ?? []).map((a) => a.VpcId),
      ),
    ),
    ...subnets.map((s) => ec2(s.SubnetId!, 'subnet', s.Tags, [s.VpcId])),
    ...tables.map((t) => ec2(t.RouteTableId!, 'route table', t.Tags, [t.VpcId, ...(t.Associations ?? []).map((a) => a.SubnetId)])),
    ...groups.map((g) => ec2(g.GroupId!, 'security group', g.Tags, [g.VpcId])),
    ...addresses
      .filter((a) => ofStack(a.Tags, ctx.stack))
      .map((a) => {
        const item = ec2(a.AllocationId!, 'Elastic IP', a.Tags, []);
        return { ...item, description: `${item.description}, ${a.PublicIp}` };
      }),
    // A terminated instance is listed for an hour, but is gone: nothing to claim or to wait for.
    ...instances.filter(alive).map((i) => instance(i)),
    ...untagged.filter(alive).map((i) => {
      const group = groups.find((g) =>
        inGroups.some((n) => n.Attachment?.InstanceId === i.InstanceId && n.Groups?.some((h) => h.GroupId === g.GroupId)),
      );
      const name = tagMap(group?.Tags)[RESOURCE_TAG];
      return instance(
        i,
        `It is in the stack's security group ${group?.GroupId}${name ? ` (${name})` : ''} but has no dupsworks:stack=${ctx.stack} tag, as ` +
          'a NAT of this stack whose tags were removed would be, and dupsworks never touches what lacks the tag. Terminate it if ' +
          'nothing uses it; if it is yours, give it a security group of its own.',
      );
    }),
  ];
  if (options.opsworks) items.push(...(await opsworksItems(ctx)));
  return items;
}

function alive(instance: Instance): boolean {
  return !['shutting-down', 'terminated'].includes(instance.State?.Name ?? '');
}

// An instance left behind is easy to forget, and it is billed by the hour.
function costOf(instance: Instance): string {
  return instance.State?.Name === 'stopped' || instance.State?.Name === 'stopping'
    ? 'Stopped, it still costs money for its disk until it is terminated.'
    : 'It is running, and costs money, until it is terminated.';
}

function ec2Advice(type: string, tags: Tag[] | undefined, stack: string, opsworksRead: boolean): string {
  const map = tagMap(tags);
  const logicalId = map[RESOURCE_TAG];
  const opsworksStack = map[OPSWORKS_STACK_TAG];
  if (logicalId === undefined && opsworksStack !== undefined) {
    return opsworksRead
      ? `OpsWorks launched the instances above for an OpsWorks stack "${opsworksStack}" that the OpsWorks endpoint this command uses ` +
          "does not hold as this stack's: is it the endpoint that made the stack? Destroy that OpsWorks stack with the spec and endpoint that made it."
      : `This stack also has an OpsWorks stack ("${opsworksStack}"), the one that launched the instances above: destroy it with the ` +
          'spec that made it (nat.manager: opsworks), or run this command with --opsworks-endpoint-url (or AWS_ENDPOINT_URL_OPSWORKS) so ' +
          'that the plan includes it (an EC2 spec then removes it).';
  }
  const remove = type === 'EC2 instance' ? 'Terminate' : 'Delete';
  if (logicalId === undefined) {
    return (
      `It carries dupsworks:stack=${stack} but no dupsworks:resource tag, and dupsworks tags what it makes with both: it was tagged ` +
      `by hand or by another tool. ${remove} it, or remove its dupsworks:stack tag.`
    );
  }
  return (
    `Its dupsworks:resource tag "${logicalId}" names no ${type} that dupsworks ${VERSION} makes: another version made it, or it was ` +
    `tagged by hand (a NAT whose tag was edited is one, and another NAT serves its zone). Apply with the version that made it, or ${remove.toLowerCase()} it.`
  );
}

function launchedBy(instance: Instance): string {
  const map = tagMap(instance.Tags);
  const stack = map[OPSWORKS_STACK_TAG];
  if (stack === undefined || map[RESOURCE_TAG] !== undefined) return '';
  const hostname = map[OPSWORKS_INSTANCE_TAG];
  return `, launched by OpsWorks stack "${stack}"${hostname ? ` as ${hostname}` : ''}`;
}

/**
 * What is in the stack's VPCs without being any item of `known` (the inventory): an instance or
 * service someone put in a subnet (found by its network interface), a subnet, security group,
 * route table or internet gateway someone made there. The VPC's default group and main route
 * table go with the VPC and are left out, as are the interfaces of known instances.
 */
export async function strangers(ctx: AwsContext, known: readonly InventoryItem[]): Promise<InventoryItem[]> {
  const [vpcs, instances] = await Promise.all([ctx.snapshot.vpcs(), ctx.snapshot.instances()]);
  const inside = await ctx.snapshot.inVpcs(vpcs.map((v) => v.VpcId!));
  const ours = new Set(known.map((k) => k.physicalId));
  // Terminated ones too: an interface of a NAT just terminated goes away with it.
  const ourInstances = new Set(instances.map((i) => i.InstanceId!));
  // An interface still attached to anyone's instance that is terminating goes with it, or is
  // detached and then seen on its own by the next plan.
  const attachedTo = inside.networkInterfaces.flatMap((n) => n.Attachment?.InstanceId ?? []);
  const ending = new Set(
    (await ctx.snapshot.instancesByIds(attachedTo.filter((id) => !ourInstances.has(id))))
      .filter((i) => ['shutting-down', 'terminated'].includes(i.State?.Name ?? ''))
      .map((i) => i.InstanceId!),
  );
  const goesWithItsInstance = (n: NetworkInterface) =>
    n.Attachment?.InstanceId !== undefined &&
    (ourInstances.has(n.Attachment.InstanceId) || ours.has(n.Attachment.InstanceId) || ending.has(n.Attachment.InstanceId));
  const advice =
    `It is in this stack's VPC but is not this stack's (it has no dupsworks:stack=${ctx.stack} tag), so what it is in cannot be ` +
    'deleted while it is there. Delete it, or what made it, then run this again.';
  const stranger = (physicalId: string, description: string, references: (string | undefined)[]): InventoryItem[] =>
    ours.has(physicalId) ? [] : [{ physicalId, description, advice, references: references.filter((r): r is string => !!r) }];
  const gatewaysOf = (vpcId: string | undefined) =>
    inside.internetGateways.filter((g) => g.Attachments?.some((a) => a.VpcId === vpcId)).map((g) => g.InternetGatewayId);
  return [
    ...inside.networkInterfaces
      .filter((n) => !ofStack(n.TagSet, ctx.stack) && !goesWithItsInstance(n))
      .flatMap((n) =>
        stranger(
          n.NetworkInterfaceId!,
          `network interface ${n.NetworkInterfaceId}${n.Attachment?.InstanceId ? ` of EC2 instance ${n.Attachment.InstanceId}` : n.Description ? ` ("${n.Description}")` : ''}`,
          [n.SubnetId, n.VpcId, ...(n.Groups ?? []).map((g) => g.GroupId), ...(n.Association?.PublicIp ? gatewaysOf(n.VpcId) : [])],
        ),
      ),
    ...inside.subnets.flatMap((s) => stranger(s.SubnetId!, `subnet ${s.SubnetId} (${s.CidrBlock})`, [s.VpcId])),
    ...inside.securityGroups
      .filter((g) => g.GroupName !== 'default')
      .flatMap((g) => stranger(g.GroupId!, `security group ${g.GroupId} ("${g.GroupName}")`, [g.VpcId])),
    ...inside.routeTables
      .filter((t) => !t.Associations?.some((a) => a.Main))
      .flatMap((t) => stranger(t.RouteTableId!, `route table ${t.RouteTableId}`, [t.VpcId])),
    ...inside.internetGateways.flatMap((g) =>
      stranger(
        g.InternetGatewayId!,
        `internet gateway ${g.InternetGatewayId}`,
        (g.Attachments ?? []).map((a) => a.VpcId),
      ),
    ),
  ];
}

async function opsworksItems(ctx: AwsContext): Promise<InventoryItem[]> {
  const [stacks, layers, instances] = await Promise.all([
    ctx.opsworksSnapshot.stacks(),
    ctx.opsworksSnapshot.layers(),
    ctx.opsworksSnapshot.instances(),
  ]);
  const advice = `No resource of dupsworks ${VERSION} claims it: apply with the version that made it, or delete it in OpsWorks.`;
  return [
    ...stacks.map((s) => ({
      physicalId: s.StackId!,
      description: `OpsWorks stack ${s.StackId} ("${s.Name}")`,
      advice,
      references: [s.VpcId, s.DefaultSubnetId].filter((r): r is string => !!r),
    })),
    ...layers.map((l) => ({
      physicalId: l.LayerId!,
      description: `OpsWorks layer ${l.LayerId} ("${l.Shortname}")`,
      advice,
      references: [l.StackId!],
    })),
    ...instances.map((i) => ({
      physicalId: i.InstanceId!,
      description: `OpsWorks instance ${i.InstanceId} ("${i.Hostname}")`,
      advice,
      references: [i.StackId!, ...(i.LayerIds ?? []), ...(i.SubnetId ? [i.SubnetId] : [])],
    })),
  ];
}
