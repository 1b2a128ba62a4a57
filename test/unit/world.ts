// The world a complete apply of a spec leaves, as the AWS SDK would describe it, behind a fake
// context whose snapshots serve it: the real kinds' observe runs against it without an emulator.
// Each item is made the way the kind's create makes it (the EC2 ones tagged with the logical id
// they were created under, the OpsWorks ones carrying their natural names), so what observe finds
// in it is what it would find after a real apply.

import { createHash } from 'node:crypto';
import type { Address, Instance, IpPermission, RouteTable, SecurityGroup, Tag } from '@aws-sdk/client-ec2';
import type { Deployment, Instance as OpsWorksInstance, Layer, Permission, Stack } from '@aws-sdk/client-opsworks';
import type { InstanceProfile, Role } from '@aws-sdk/client-iam';
import type { AwsContext } from '../../src/aws/context.js';
import { parsePolicy } from '../../src/resources/iam-role.js';
import { RESOURCE_TAG, STACK_TAG, ofStack } from '../../src/aws/tags.js';
import { dependencyOrder } from '../../src/planner/plan.js';
import type { Desired, Outputs } from '../../src/planner/resource.js';
import { resolve, type Ref } from '../../src/planner/values.js';
import type { AnyDesired } from '../../src/resources/index.js';
import { IAM_PATH, iamRole } from '../../src/resources/iam-role.js';
import { customJsonDigest } from '../../src/resources/opsworks-custom-json.js';
import type { Spec } from '../../src/spec/types.js';
import { desiredResources } from '../../src/topology/index.js';

export interface BuiltWorld {
  /** What the kinds are handed: snapshots serving the items below, no client that can change anything. */
  ctx: AwsContext;
  desired: AnyDesired[];
  vpcs: { VpcId: string; CidrBlock: string; Tags: Tag[] }[];
  internetGateways: { InternetGatewayId: string; Attachments: { VpcId: string; State: string }[]; Tags: Tag[] }[];
  subnets: { SubnetId: string; VpcId: string; CidrBlock: string; AvailabilityZone: string; Tags: Tag[] }[];
  routeTables: RouteTable[];
  securityGroups: SecurityGroup[];
  instances: Instance[];
  addresses: Address[];
  roles: Role[];
  rolePolicies: { roleName: string; policyName: string; document: string }[];
  instanceProfiles: InstanceProfile[];
  stacks: { stack: Stack; tags: Record<string, string> }[];
  layers: Layer[];
  opsworksInstances: OpsWorksInstance[];
  permissions: Permission[];
  deployments: Deployment[];
}

const USER_DATA_TAG = 'dupsworks:user-data-sha256';
const DEPLOYMENT_COMMENT = 'dupsworks: execute_recipes with custom JSON sha256:';

/** The world after `spec` was applied to an empty account. */
export function builtWorld(spec: Spec): BuiltWorld {
  const desired = desiredResources(spec);
  const outputs = new Map<string, Outputs>();
  let counter = 0;
  const next = (prefix: string) => `${prefix}-${String(++counter).padStart(4, '0')}`;
  for (const d of desired) outputs.set(d.id, outputsOf(spec, d, next));
  const lookup = (r: Ref) => outputs.get(r.$ref)![r.output];
  const tags = (d: Desired, extra: Record<string, string> = {}): Tag[] =>
    Object.entries({ ...extra, [STACK_TAG]: spec.name, [RESOURCE_TAG]: d.id }).map(([Key, Value]) => ({ Key, Value }));

  const world: Omit<BuiltWorld, 'ctx'> = {
    desired,
    vpcs: [],
    internetGateways: [],
    subnets: [],
    routeTables: [],
    securityGroups: [],
    instances: [],
    addresses: [],
    roles: [],
    rolePolicies: [],
    instanceProfiles: [],
    stacks: [],
    layers: [],
    opsworksInstances: [],
    permissions: [],
    deployments: [],
  };
  const subnetOf = (subnetId: string) => world.subnets.find((s) => s.SubnetId === subnetId)!;
  for (const d of dependencyOrder(desired) as AnyDesired[]) {
    const id = outputs.get(d.id)!.id;
    const p = resolve(d.props, lookup) as Record<string, any>;
    switch (d.kind) {
      case 'vpc':
        world.vpcs.push({ VpcId: id, CidrBlock: p.cidrBlock, Tags: tags(d, p.tags) });
        break;
      case 'internet-gateway':
        world.internetGateways.push({
          InternetGatewayId: id,
          Attachments: [{ VpcId: p.vpcId, State: 'available' }],
          Tags: tags(d, p.tags),
        });
        break;
      case 'subnet':
        world.subnets.push({
          SubnetId: id,
          VpcId: p.vpcId,
          CidrBlock: p.cidrBlock,
          AvailabilityZone: p.availabilityZone,
          Tags: tags(d, p.tags),
        });
        break;
      case 'route-table':
        world.routeTables.push({
          RouteTableId: id,
          VpcId: p.vpcId,
          Associations: [{ RouteTableAssociationId: `rtbassoc-${id}`, SubnetId: p.subnetId, Main: false }],
          Routes: [{ DestinationCidrBlock: spec.vpc.cidr, GatewayId: 'local', Origin: 'CreateRouteTable', State: 'active' }],
          Tags: tags(d, p.tags),
        });
        break;
      case 'route':
        world.routeTables
          .find((t) => t.RouteTableId === p.routeTableId)!
          .Routes!.push({
            DestinationCidrBlock: p.destinationCidrBlock,
            ...(p.gatewayId ? { GatewayId: p.gatewayId } : { InstanceId: p.instanceId }),
            Origin: 'CreateRoute',
            State: 'active',
          });
        break;
      case 'security-group':
        world.securityGroups.push({
          GroupId: id,
          GroupName: p.groupName,
          Description: p.description,
          VpcId: p.vpcId,
          IpPermissions: p.ingress.map(permission),
          IpPermissionsEgress: p.egress.map(permission),
          Tags: tags(d, p.tags),
        });
        break;
      case 'opsworks-security-group':
        world.securityGroups.push({ GroupId: id, GroupName: p.groupName, VpcId: p.vpcId, Description: 'OpsWorks', Tags: tags(d) });
        break;
      case 'nat-instance':
        world.instances.push({
          ...ec2Instance(id, subnetOf(p.subnetId), p.securityGroupIds, p.sourceDestCheck),
          InstanceType: p.instanceType,
          ImageId: p.imageId ?? 'ami-default',
          KeyName: p.keyName,
          ...(p.instanceProfileArn ? { IamInstanceProfile: { Arn: p.instanceProfileArn } } : {}),
          Tags: tags(d, { ...p.tags, [USER_DATA_TAG]: sha256(p.userData) }),
        } as Instance);
        break;
      case 'elastic-ip':
        world.addresses.push({ AllocationId: id, PublicIp: outputs.get(d.id)!.publicIp, Domain: 'vpc', Tags: tags(d, p.tags) });
        break;
      case 'eip-association': {
        // A reused address exists before the stack, untagged.
        let address = world.addresses.find((a) => a.AllocationId === p.allocationId);
        if (!address) world.addresses.push((address = { AllocationId: p.allocationId, PublicIp: '198.51.100.200', Domain: 'vpc' }));
        Object.assign(address, { AssociationId: id, InstanceId: p.instanceId });
        world.instances.find((i) => i.InstanceId === p.instanceId)!.PublicIpAddress = address.PublicIp;
        break;
      }
      case 'iam-role':
        world.roles.push({
          RoleName: outputs.get(d.id)!.name!,
          Path: IAM_PATH,
          Arn: outputs.get(d.id)!.arn!,
          RoleId: 'AROA',
          CreateDate: new Date('2024-01-01T00:00:00Z'),
          // IAM returns policy documents URL-encoded.
          AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify(p.assumeRolePolicy)),
          Description: p.description,
          Tags: tags(d, p.tags) as Role['Tags'],
        });
        break;
      case 'iam-role-policy':
        world.rolePolicies.push({
          roleName: p.roleName,
          policyName: 'dupsworks-nat',
          document: encodeURIComponent(JSON.stringify(p.policyDocument)),
        });
        break;
      case 'iam-instance-profile':
        world.instanceProfiles.push({
          InstanceProfileName: outputs.get(d.id)!.name!,
          Path: IAM_PATH,
          Arn: outputs.get(d.id)!.arn!,
          InstanceProfileId: 'AIPA',
          CreateDate: new Date('2024-01-01T00:00:00Z'),
          Roles: world.roles.filter((r) => r.RoleName === p.roleName),
          Tags: tags(d, p.tags) as InstanceProfile['Tags'],
        });
        break;
      case 'opsworks-stack':
        world.stacks.push({
          stack: {
            StackId: id,
            Name: p.name,
            Arn: outputs.get(d.id)!.arn,
            Region: p.region,
            VpcId: p.vpcId,
            DefaultSubnetId: p.defaultSubnetId,
            ServiceRoleArn: p.serviceRoleArn,
            DefaultInstanceProfileArn: p.defaultInstanceProfileArn,
            DefaultOs: p.defaultOs,
            DefaultRootDeviceType: p.defaultRootDeviceType,
            DefaultSshKeyName: p.defaultSshKeyName,
            ConfigurationManager: { Name: p.configurationManager.name, Version: p.configurationManager.version },
            ChefConfiguration: {
              ManageBerkshelf: p.chefConfiguration.manageBerkshelf,
              BerkshelfVersion: p.chefConfiguration.berkshelfVersion,
            },
            CustomCookbooksSource: {
              Type: p.customCookbooksSource.type,
              Url: p.customCookbooksSource.url,
              Revision: p.customCookbooksSource.revision,
            },
            CreatedAt: '2024-01-01T00:00:00Z',
          },
          tags: { [STACK_TAG]: spec.name },
        });
        break;
      case 'opsworks-custom-json':
        world.stacks.find((s) => s.stack.StackId === p.stackId)!.stack.CustomJson = JSON.stringify(p.customJson);
        break;
      case 'opsworks-layer':
        world.layers.push({
          LayerId: id,
          StackId: p.stackId,
          Name: p.name,
          Shortname: p.shortname,
          Packages: p.packages,
          CustomRecipes: { Setup: p.setupRecipes },
          AutoAssignElasticIps: p.autoAssignElasticIps,
          AutoAssignPublicIps: p.autoAssignPublicIps,
          CustomSecurityGroupIds: p.customSecurityGroupIds,
          EnableAutoHealing: p.enableAutoHealing,
        });
        break;
      case 'opsworks-instance': {
        const ec2Id = outputs.get(d.id)!.ec2InstanceId;
        world.opsworksInstances.push({
          InstanceId: id,
          StackId: p.stackId,
          LayerIds: p.layerIds,
          Hostname: p.hostname,
          InstanceType: p.instanceType,
          Os: p.os,
          SubnetId: p.subnetId,
          RootDeviceType: p.rootDeviceType,
          SshKeyName: p.sshKeyName,
          Status: p.running ? 'online' : 'stopped',
          ...(ec2Id ? { Ec2InstanceId: ec2Id } : {}),
          CreatedAt: '2024-01-01T00:00:00Z',
        });
        // OpsWorks launches it with the stack's tags and its own, but no logical id.
        if (ec2Id) {
          world.instances.push({
            ...ec2Instance(ec2Id, subnetOf(p.subnetId), p.securityGroupIds, p.sourceDestCheck ?? true),
            InstanceType: p.instanceType,
            Tags: [
              { Key: STACK_TAG, Value: spec.name },
              { Key: 'opsworks:stack', Value: spec.name },
              { Key: 'opsworks:instance', Value: p.hostname },
            ],
          } as Instance);
        }
        break;
      }
      case 'opsworks-deployment':
        world.deployments.push({
          DeploymentId: id,
          StackId: p.stackId,
          InstanceIds: p.instanceIds,
          Command: { Name: 'execute_recipes', Args: { recipes: p.recipes } },
          Comment: `${DEPLOYMENT_COMMENT}${customJsonDigest(p.customJson)}`,
          Status: 'successful',
          CreatedAt: '2024-01-01T00:00:00Z',
        });
        break;
      case 'opsworks-permission':
        world.permissions.push({
          StackId: p.stackId,
          IamUserArn: p.iamUserArn,
          AllowSsh: p.allowSsh,
          AllowSudo: p.allowSudo,
          Level: p.level,
        });
        break;
      default: {
        const unhandled: never = d;
        throw new Error(`world: no item for ${(unhandled as Desired).kind}`);
      }
    }
  }
  return { ...world, ctx: contextOf(spec, world) };
}

/** The outputs each kind's create returns (an OpsWorks NAT online, the admin stopped). */
function outputsOf(spec: Spec, d: AnyDesired, next: (prefix: string) => string): Outputs {
  switch (d.kind) {
    case 'iam-role':
    case 'iam-instance-profile': {
      // Found by name: the name the kinds make from the stack and its region.
      const name = iamRole.nameOf(spec.name, spec.region, 'nat');
      const type = d.kind === 'iam-role' ? 'role' : 'instance-profile';
      const arn = `arn:aws:iam::123456789012:${type}${IAM_PATH}${name}`;
      return { id: arn, arn, name };
    }
    case 'vpc':
      return { id: next('vpc'), cidrBlock: d.props.cidrBlock };
    case 'nat-instance': {
      const id = next('i');
      return { id, runningId: id };
    }
    case 'opsworks-stack': {
      const id = next('stack');
      return { id, arn: `arn:aws:opsworks:ap-northeast-1:123456789012:stack/${id}/` };
    }
    case 'opsworks-instance': {
      const id = next('opsworks-instance');
      if (!d.props.running) return { id };
      const ec2 = next('i');
      return { id, ec2InstanceId: ec2, runningId: ec2 };
    }
    case 'route':
      return { id: next('route') };
    case 'elastic-ip': {
      const id = next('eipalloc');
      return { id, publicIp: `198.51.100.${Number(id.slice(-4))}` };
    }
    default:
      return { id: next(d.kind) };
  }
}

// A NAT as EC2 describes it: in its public subnet, with a public address.
function ec2Instance(
  id: string,
  subnet: { SubnetId: string; VpcId: string },
  groups: string[],
  sourceDestCheck: boolean,
): Partial<Instance> {
  return {
    InstanceId: id,
    State: { Name: 'running' },
    SubnetId: subnet.SubnetId,
    VpcId: subnet.VpcId,
    PublicIpAddress: `203.0.113.${id.slice(-3).replace(/^0+/, '')}`,
    NetworkInterfaces: [{ Attachment: { DeviceIndex: 0 }, Groups: groups.map((GroupId) => ({ GroupId })) }],
    SourceDestCheck: sourceDestCheck,
    LaunchTime: new Date('2024-01-01T00:00:00Z'),
  };
}

function permission(rule: string): IpPermission {
  const parts = rule.split(' ');
  const [protocol, ports, source] = parts.length === 3 ? parts : [parts[0], undefined, parts[1]];
  const [from, to] = ports ? ports.split('-').map(Number) : [];
  return {
    IpProtocol: protocol === 'all' ? '-1' : protocol,
    ...(from === undefined ? {} : { FromPort: from, ToPort: to }),
    IpRanges: [{ CidrIp: source }],
  };
}

function contextOf(spec: Spec, world: Omit<BuiltWorld, 'ctx'>): AwsContext {
  const of =
    <T>(items: T[]) =>
    async () =>
      items;
  const inStack =
    <T extends { StackId?: string }>(items: T[]) =>
    async () =>
      items.filter((i) => world.stacks.some((s) => s.stack.StackId === i.StackId));
  const refuse = () => {
    throw new Error('the built world is read-only');
  };
  return {
    stack: spec.name,
    region: spec.region,
    snapshot: {
      vpcs: of(world.vpcs),
      internetGateways: of(world.internetGateways),
      subnets: of(world.subnets),
      routeTables: of(world.routeTables),
      securityGroups: of(world.securityGroups),
      instances: async () => world.instances.filter((i) => ofStack(i.Tags, spec.name)),
      addresses: of(world.addresses),
      instancesByIds: async (ids: string[]) => world.instances.filter((i) => ids.includes(i.InstanceId!)),
      // Their interfaces, as DescribeNetworkInterfaces tells them: attached to their instance.
      interfacesInGroups: async (ids: string[]) =>
        world.instances.flatMap((i) =>
          (i.NetworkInterfaces ?? [])
            .filter((n) => n.Groups?.some((g) => ids.includes(g.GroupId!)))
            .map((n) => ({ Groups: n.Groups, Attachment: { DeviceIndex: n.Attachment?.DeviceIndex, InstanceId: i.InstanceId } })),
        ),
      impairedInstanceIds: async () => new Set<string>(),
      parameter: async () => 'ami-default',
      instanceTypes: async (names: string[]) =>
        new Map(names.map((n) => [n, { InstanceType: n, ProcessorInfo: { SupportedArchitectures: ['x86_64'] } }])),
    },
    iamSnapshot: {
      role: async (name: string) => world.roles.find((r) => r.RoleName === name),
      rolePolicy: async (roleName: string, policyName: string) => {
        const found = world.rolePolicies.find((x) => x.roleName === roleName && x.policyName === policyName);
        return found && parsePolicy(found.document);
      },
      instanceProfile: async (name: string) => world.instanceProfiles.find((x) => x.InstanceProfileName === name),
    },
    opsworksSnapshot: {
      ourStacks: of(world.stacks),
      stacks: async () => world.stacks.map((s) => s.stack),
      layers: inStack(world.layers),
      instances: inStack(world.opsworksInstances),
      permissions: inStack(world.permissions),
      deployments: inStack(world.deployments),
    },
    // DescribeVpcAttribute is the one call a kind makes itself while observing.
    ec2: {
      send: async (command: { input: { Attribute?: string } }) => {
        if (command.input.Attribute === 'enableDnsSupport') return { EnableDnsSupport: { Value: true } };
        if (command.input.Attribute === 'enableDnsHostnames') return { EnableDnsHostnames: { Value: true } };
        return refuse();
      },
    },
    opsworks: { send: refuse },
    iam: { send: refuse },
    ssm: { send: refuse },
    instanceWaitSeconds: 1,
    pollIntervalMs: 1,
  } as unknown as AwsContext;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
