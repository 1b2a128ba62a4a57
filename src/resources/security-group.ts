// A security group and its rules. Rules are compared as a set of "<protocol> <ports> <cidr>"
// strings, so drift (a rule removed, one added by hand) shows as exactly the rules that differ.

import type { IpPermission } from '@aws-sdk/client-ec2';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { errorCode } from '../aws/retry.js';
import { tagMap, tagSpecifications, withLogicalIds } from '../aws/tags.js';
import { compareAttributes, compareTags } from '../planner/diff.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { applyTags, madeBefore } from './tagging.js';

/** "all 10.0.0.0/16" (every protocol), or "tcp 22-22 203.0.113.0/24". */
export type Rule = string;

export type SecurityGroupProps = {
  vpcId: Ref;
  groupName: string;
  description: string;
  ingress: Rule[];
  egress: Rule[];
  tags: Record<string, string>;
};

interface SecurityGroupState {
  vpcId: string;
  groupName: string;
  description: string;
  ingress: Rule[];
  egress: Rule[];
  tags: Record<string, string>;
}

/** "security-group/nat": a group is named by the role of the instances it holds. */
const ids = idScheme('security-group', ['role']);

export const securityGroup = {
  kind: 'security-group',
  ids,
  permissions: [
    'ec2:AuthorizeSecurityGroupEgress',
    'ec2:AuthorizeSecurityGroupIngress',
    'ec2:CreateSecurityGroup',
    'ec2:CreateTags',
    'ec2:DeleteSecurityGroup',
    'ec2:DescribeSecurityGroups',
    'ec2:RevokeSecurityGroupEgress',
    'ec2:RevokeSecurityGroupIngress',
  ],
  desire: (key: { role: string }, props: SecurityGroupProps) => desired('security-group', ids.id(key), props),

  async observe(ctx) {
    return withLogicalIds(await ctx.snapshot.securityGroups(), ctx.stack, ids).map(({ id, item: g }) => ({
      id,
      kind: 'security-group' as const,
      physicalId: g.GroupId!,
      outputs: { id: g.GroupId! },
      references: [g.VpcId!],
      owned: true,
      state: {
        vpcId: g.VpcId!,
        groupName: g.GroupName!,
        description: g.Description ?? '',
        ingress: rulesOf(g.IpPermissions),
        egress: rulesOf(g.IpPermissionsEgress),
        tags: tagMap(g.Tags),
      },
    }));
  },

  // Name and description cannot change once the group exists, and both derive from the stack's
  // name, which is the stack's identity: they are set at creation and not compared. (Comparing
  // them would mean a replacement, and AWS refuses a second group of the same name in a VPC.)
  diff(desired, observed) {
    return [
      ...compareAttributes({ ...desired, ingress: sorted(desired.ingress), egress: sorted(desired.egress) }, observed.state, {
        vpcId: { forcesReplacement: true },
        ingress: {},
        egress: {},
      }),
      ...compareTags(desired.tags, observed.state.tags),
    ];
  },

  async create(desired, ctx) {
    const { CreateSecurityGroupCommand, DescribeSecurityGroupsCommand } = await import('@aws-sdk/client-ec2');
    try {
      const created = await ctx.ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: desired.vpcId,
          GroupName: desired.groupName,
          Description: desired.description,
          TagSpecifications: tagSpecifications('security-group', ctx.stack, ctx.resourceId, desired.tags),
        }),
      );
      const id = created.GroupId!;
      // A new group allows all egress to 0.0.0.0/0 and no ingress.
      await syncRules(ctx, id, desired, { ingress: [], egress: ['all 0.0.0.0/0'] });
      return { id };
    } catch (error) {
      // The name is taken: by this very group, if the first send made it, with what rules it has so far.
      const made = await madeBefore(error, 'InvalidGroup.Duplicate', ctx, async () => {
        const found = await ctx.ec2.send(
          new DescribeSecurityGroupsCommand({
            Filters: [
              { Name: 'vpc-id', Values: [desired.vpcId] },
              { Name: 'group-name', Values: [desired.groupName] },
            ],
          }),
        );
        return found.SecurityGroups;
      });
      await syncRules(ctx, made.GroupId!, desired, { ingress: rulesOf(made.IpPermissions), egress: rulesOf(made.IpPermissionsEgress) });
      return { id: made.GroupId! };
    }
  },

  async update(desired, observed, changes, ctx) {
    await syncRules(ctx, observed.physicalId, desired, observed.state);
    await applyTags(ctx, observed.physicalId, changes, desired.tags);
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteSecurityGroupCommand } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(ctx.ec2.send(new DeleteSecurityGroupCommand({ GroupId: observed.physicalId })));
  },
} satisfies ResourceKind<'security-group', SecurityGroupProps, SecurityGroupState, AwsContext>;

async function syncRules(
  ctx: AwsContext,
  groupId: string,
  desired: { ingress: Rule[]; egress: Rule[] },
  current: { ingress: Rule[]; egress: Rule[] },
) {
  const {
    AuthorizeSecurityGroupEgressCommand,
    AuthorizeSecurityGroupIngressCommand,
    RevokeSecurityGroupEgressCommand,
    RevokeSecurityGroupIngressCommand,
  } = await import('@aws-sdk/client-ec2');
  const missing = (want: Rule[], have: Rule[]) => want.filter((r) => !have.includes(r)).map(toPermission);
  const extra = (want: Rule[], have: Rule[]) => have.filter((r) => !want.includes(r)).map(toPermission);
  const input = (IpPermissions: IpPermission[]) => ({ GroupId: groupId, IpPermissions });
  // Sent again after a lost reply, an authorize finds its rules there and a revoke finds them gone:
  // either way the group is as asked.
  const authorized = (sent: Promise<unknown>) =>
    sent.catch((error: unknown) => {
      if (errorCode(error) !== 'InvalidPermission.Duplicate') throw error;
    });
  const calls = [
    [
      missing(desired.ingress, current.ingress),
      (p: IpPermission[]) => authorized(ctx.ec2.send(new AuthorizeSecurityGroupIngressCommand(input(p)))),
    ],
    [
      missing(desired.egress, current.egress),
      (p: IpPermission[]) => authorized(ctx.ec2.send(new AuthorizeSecurityGroupEgressCommand(input(p)))),
    ],
    [
      extra(desired.ingress, current.ingress),
      (p: IpPermission[]) => ignoreNotFound(ctx.ec2.send(new RevokeSecurityGroupIngressCommand(input(p)))),
    ],
    [
      extra(desired.egress, current.egress),
      (p: IpPermission[]) => ignoreNotFound(ctx.ec2.send(new RevokeSecurityGroupEgressCommand(input(p)))),
    ],
  ] as const;
  for (const [permissions, send] of calls) {
    if (permissions.length > 0) await send(permissions);
  }
}

function rulesOf(permissions: IpPermission[] | undefined): Rule[] {
  const rules: Rule[] = [];
  for (const p of permissions ?? []) {
    const protocol = p.IpProtocol === '-1' ? 'all' : p.IpProtocol;
    const ports = protocol === 'all' || p.FromPort === undefined ? '' : ` ${p.FromPort}-${p.ToPort}`;
    for (const range of p.IpRanges ?? []) rules.push(`${protocol}${ports} ${range.CidrIp}`);
    // Rules naming other groups or prefix lists are drift too; keep them visible in the diff.
    for (const pair of p.UserIdGroupPairs ?? []) rules.push(`${protocol}${ports} ${pair.GroupId}`);
    for (const list of p.PrefixListIds ?? []) rules.push(`${protocol}${ports} ${list.PrefixListId}`);
    for (const range of p.Ipv6Ranges ?? []) rules.push(`${protocol}${ports} ${range.CidrIpv6}`);
  }
  return sorted(rules);
}

function toPermission(rule: Rule): IpPermission {
  const parts = rule.split(' ');
  const [protocol, ports, source] = parts.length === 3 ? parts : [parts[0], undefined, parts[1]];
  const [from, to] = ports ? ports.split('-').map(Number) : [undefined, undefined];
  const base: IpPermission = {
    IpProtocol: protocol === 'all' ? '-1' : protocol,
    ...(from !== undefined ? { FromPort: from, ToPort: to } : {}),
  };
  if (source!.startsWith('sg-')) return { ...base, UserIdGroupPairs: [{ GroupId: source }] };
  if (source!.startsWith('pl-')) return { ...base, PrefixListIds: [{ PrefixListId: source }] };
  if (source!.includes(':')) return { ...base, Ipv6Ranges: [{ CidrIpv6: source }] };
  return { ...base, IpRanges: [{ CidrIp: source }] };
}

function sorted(rules: readonly Rule[]): Rule[] {
  return [...rules].sort();
}
