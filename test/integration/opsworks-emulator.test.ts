// The OpsWorks emulator through the real SDK clients: OpsWorksClient against the emulator,
// EC2Client against moto to see what it did there. Short delays, polls with deadlines.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeSecurityGroupsCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Instance as Ec2Instance,
  type SecurityGroup,
} from '@aws-sdk/client-ec2';
import {
  CreateDeploymentCommand,
  CreateInstanceCommand,
  CreateLayerCommand,
  CreateStackCommand,
  DeleteInstanceCommand,
  DeleteLayerCommand,
  DeleteStackCommand,
  DescribeDeploymentsCommand,
  DescribeInstancesCommand,
  DescribeLayersCommand,
  DescribePermissionsCommand,
  DescribeStacksCommand,
  ListTagsCommand,
  OpsWorksClient,
  SetPermissionCommand,
  StartInstanceCommand,
  StopInstanceCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateLayerCommand,
  UpdateStackCommand,
  type CreateInstanceCommandInput,
  type CreateLayerCommandInput,
  type CreateStackCommandInput,
  type Deployment,
  type Instance,
} from '@aws-sdk/client-opsworks';
import {
  forceInstanceStatus,
  resetOpsWorksEmulator,
  startOpsWorksEmulator,
  type OpsWorksEmulator,
} from '../../src/emulator/opsworks/index.js';
import { startCli } from '../support/cli.js';
import { freePort } from '../support/moto.js';
import { REGION, instancesOf, useEmulator } from '../support/stack.js';

const CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const DELAYS = { stepMs: 25, securityGroupsMs: 40, deploymentMs: 30 };
const SERVICE_ROLE = 'arn:aws:iam::123456789012:role/aws-opsworks-service-role';
const INSTANCE_PROFILE = 'arn:aws:iam::123456789012:instance-profile/aws-opsworks-ec2-role';
const WALK = ['requested', 'pending', 'booting', 'running_setup', 'online'];

interface Network {
  vpcId: string;
  public1: string;
  public2: string;
  private1: string;
  /** A security group of the VPC, for layers' CustomSecurityGroupIds. */
  extraGroupId: string;
}

describe('the OpsWorks emulator', () => {
  const emu = useEmulator();
  let emulator: OpsWorksEmulator;
  let opsworks: OpsWorksClient;
  const log: string[] = [];

  before(async () => {
    emulator = await startOpsWorksEmulator({ ec2Endpoint: emu.moto.endpoint, delays: DELAYS, log: (line) => log.push(line) });
    opsworks = client(emulator.endpoint);
  });
  after(async () => {
    opsworks?.destroy();
    await emulator?.stop();
  });
  beforeEach(() => {
    emulator.reset();
    log.length = 0;
  });

  // --- helpers -------------------------------------------------------------------------------

  async function makeNetwork(cidr = '10.0.0.0/16'): Promise<Network> {
    const prefix = cidr.split('.').slice(0, 2).join('.');
    const { Vpc } = await emu.ec2.send(new CreateVpcCommand({ CidrBlock: cidr }));
    const subnet = async (block: string, az: string) =>
      (await emu.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: `${prefix}.${block}`, AvailabilityZone: az }))).Subnet!
        .SubnetId!;
    const extra = await emu.ec2.send(new CreateSecurityGroupCommand({ VpcId: Vpc!.VpcId!, GroupName: 'nat', Description: 'NAT traffic' }));
    return {
      vpcId: Vpc!.VpcId!,
      public1: await subnet('0.0/24', 'ap-northeast-1c'),
      public2: await subnet('1.0/24', 'ap-northeast-1a'),
      private1: await subnet('128.0/24', 'ap-northeast-1c'),
      extraGroupId: extra.GroupId!,
    };
  }

  function stackInput(net: Network, overrides: Partial<CreateStackCommandInput> = {}): CreateStackCommandInput {
    return {
      Name: 'MyStack',
      Region: REGION,
      VpcId: net.vpcId,
      DefaultSubnetId: net.private1,
      DefaultOs: 'Amazon Linux 2018.03',
      ServiceRoleArn: SERVICE_ROLE,
      DefaultInstanceProfileArn: INSTANCE_PROFILE,
      UseCustomCookbooks: true,
      CustomCookbooksSource: { Type: 'git', Url: 'https://github.com/example/vpcnat-cookbooks.git', Revision: 'master' },
      ConfigurationManager: { Name: 'Chef', Version: '11.10' },
      ChefConfiguration: { ManageBerkshelf: true, BerkshelfVersion: '2.0.18' },
      DefaultRootDeviceType: 'ebs',
      ...overrides,
    };
  }

  async function createStack(net: Network, overrides: Partial<CreateStackCommandInput> = {}): Promise<string> {
    return (await opsworks.send(new CreateStackCommand(stackInput(net, overrides)))).StackId!;
  }

  async function createLayer(stackId: string, overrides: Partial<CreateLayerCommandInput> = {}): Promise<string> {
    const input: CreateLayerCommandInput = {
      StackId: stackId,
      Type: 'custom',
      Name: 'NAT Server',
      Shortname: 'nat',
      AutoAssignPublicIps: true,
      Packages: ['traceroute', 'jq'],
      CustomRecipes: { Setup: ['timezone', 'vpcnat'] },
      ...overrides,
    };
    return (await opsworks.send(new CreateLayerCommand(input))).LayerId!;
  }

  async function createInstance(stackId: string, layerId: string, overrides: Partial<CreateInstanceCommandInput> = {}): Promise<string> {
    const input = { StackId: stackId, LayerIds: [layerId], InstanceType: 't1.micro', ...overrides };
    return (await opsworks.send(new CreateInstanceCommand(input))).InstanceId!;
  }

  /** A stack with a NAT layer, its security groups ready, and one started NAT instance online. */
  async function onlineNat(net: Network, overrides: Partial<CreateInstanceCommandInput> = {}) {
    const stackId = await createStack(net);
    const layerId = await createLayer(stackId);
    const instanceId = await createInstance(stackId, layerId, { SubnetId: net.public1, ...overrides });
    await waitForOpsWorksGroups(net.vpcId);
    await opsworks.send(new StartInstanceCommand({ InstanceId: instanceId }));
    const instance = await waitForStatus(instanceId, 'online');
    return { stackId, layerId, instanceId, instance };
  }

  async function describeInstance(instanceId: string): Promise<Instance> {
    return (await opsworks.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Instances![0]!;
  }

  function waitForStatus(instanceId: string, status: string): Promise<Instance> {
    return pollStatus(opsworks, instanceId, (s) => s === status);
  }

  async function waitForDeployment(deploymentId: string, timeoutMs = 5_000): Promise<Deployment> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const [deployment] = (await opsworks.send(new DescribeDeploymentsCommand({ DeploymentIds: [deploymentId] }))).Deployments!;
      if (deployment!.Status !== 'running') return deployment!;
      await sleep(5);
    }
    assert.fail(`deployment ${deploymentId} still running after ${timeoutMs} ms`);
  }

  /** The two OpsWorks groups of the VPC, once both exist with their rules (or whatever exists at the deadline). */
  async function waitForOpsWorksGroups(vpcId: string, timeoutMs = 5_000): Promise<SecurityGroup[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const groups = (await groupsNamed(emu.ec2, vpcId)).filter((g) => (g.IpPermissions ?? []).length > 0);
      if (groups.length === 2 || Date.now() > deadline) return groups;
      await sleep(5);
    }
  }

  async function ec2Instance(ec2InstanceId: string): Promise<Ec2Instance> {
    const [found] = await instancesOf(emu.ec2, [{ Name: 'instance-id', Values: [ec2InstanceId] }]);
    assert.ok(found, `EC2 instance ${ec2InstanceId} exists in moto`);
    return found;
  }

  // --- protocol --------------------------------------------------------------------------------

  it('speaks AWS JSON 1.1: request ids, content type, and error bodies the SDK turns into named errors', async () => {
    const ok = await rawCall(emulator.endpoint, 'DescribeStacks', {});
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('content-type'), 'application/x-amz-json-1.1');
    assert.match(ok.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual(ok.body, { Stacks: [] });

    const unknown = await rawCall(emulator.endpoint, 'Frobnicate', {});
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.__type, 'UnknownOperationException');

    const badType = await rawCall(emulator.endpoint, 'DescribeStacks', { StackIds: 'not-a-list' });
    assert.equal(badType.status, 400);
    assert.equal(badType.body.__type, 'SerializationException');

    const missing = '11111111-2222-3333-4444-555555555555';
    const notFound = await rejection(opsworks.send(new DescribeStacksCommand({ StackIds: [missing] })));
    assert.equal(notFound.name, 'ResourceNotFoundException');
    assert.equal(notFound.message, `Unable to find stack with ID ${missing}`);
    assert.equal(notFound.$metadata?.httpStatusCode, 400);
    assert.match(notFound.$metadata?.requestId ?? '', /^[0-9a-f-]{36}$/);

    const invalid = await rejection(opsworks.send(new CreateStackCommand({} as CreateStackCommandInput)));
    assert.equal(invalid.name, 'ValidationException');
    assert.equal(invalid.$metadata?.httpStatusCode, 400);
    for (const field of ['Name', 'Region', 'ServiceRoleArn', 'DefaultInstanceProfileArn']) {
      assert.match(invalid.message, new RegExp(`'${field}'`), `names ${field}`);
    }
    assert.match(invalid.message, /^4 validation errors detected/);
  });

  // --- stacks (quirk 1) -----------------------------------------------------------------------

  it('CreateStack requires the service role and instance profile, and a default subnet inside the VPC', async () => {
    const net = await makeNetwork();
    const other = await makeNetwork('10.9.0.0/16');
    const { ServiceRoleArn: _, ...noRole } = stackInput(net);
    const noRoleError = await rejection(opsworks.send(new CreateStackCommand(noRole as CreateStackCommandInput)));
    assert.equal(noRoleError.name, 'ValidationException');
    assert.equal(
      noRoleError.message,
      "1 validation error detected: Value null at 'ServiceRoleArn' failed to satisfy constraint: Member must not be null",
    );
    const { DefaultInstanceProfileArn: __, ...noProfile } = stackInput(net);
    const noProfileError = await rejection(opsworks.send(new CreateStackCommand(noProfile as CreateStackCommandInput)));
    assert.match(noProfileError.message, /'DefaultInstanceProfileArn'/);

    const cases: [Partial<CreateStackCommandInput>, RegExp][] = [
      [{ DefaultSubnetId: undefined }, /^DefaultSubnetId: required when the stack is in a VPC/],
      [{ DefaultSubnetId: other.private1 }, new RegExp(`^DefaultSubnetId: ${other.private1} is not in VPC ${net.vpcId}$`)],
      [{ DefaultSubnetId: 'subnet-0123456789abcdef0' }, /does not exist/],
      [{ VpcId: 'vpc-0123456789abcdef0' }, /^VpcId: vpc-0123456789abcdef0 does not exist in ap-northeast-1$/],
      [{ Region: 'mars-north-1' }, /^Region: mars-north-1 is not a region/],
      [{ ServiceRoleArn: 'aws-opsworks-service-role' }, /^ServiceRoleArn: .* is not a valid IAM role ARN$/],
      [{ DefaultOs: 'Windows 95' }, /^DefaultOs: Windows 95 is not a supported operating system; use one of: .*Ubuntu 12\.04 LTS/],
      [{ CustomJson: '{"vpcnat": ' }, /^CustomJson: the value must be valid JSON$/],
    ];
    for (const [overrides, message] of cases) {
      const error = await rejection(opsworks.send(new CreateStackCommand(stackInput(net, overrides))));
      assert.equal(error.name, 'ValidationException', JSON.stringify(overrides));
      assert.match(error.message, message);
    }
    assert.deepEqual((await opsworks.send(new DescribeStacksCommand({}))).Stacks, [], 'no stack was created by a failed call');
  });

  it('DescribeStacks returns every field set; UpdateStack changes only the fields given', async () => {
    const net = await makeNetwork();
    const customJson = JSON.stringify({ vpcnat: { ipmasq_src: '10.0.0.0/16' } });
    const stackId = await createStack(net, {
      CustomJson: customJson,
      HostnameTheme: 'Layer_Dependent',
      Attributes: { Color: 'rgb(45, 114, 184)' },
      CustomCookbooksSource: { Type: 'git', Url: 'https://github.com/example/c.git', Revision: 'v1', Password: 'secret' },
    });
    const [stack] = (await opsworks.send(new DescribeStacksCommand({ StackIds: [stackId] }))).Stacks!;
    assert.equal(stack!.StackId, stackId);
    assert.equal(stack!.Arn, `arn:aws:opsworks:${REGION}:123456789012:stack/${stackId}/`);
    assert.match(stackId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.match(stack!.CreatedAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);
    assert.deepEqual(
      {
        Name: stack!.Name,
        Region: stack!.Region,
        VpcId: stack!.VpcId,
        DefaultSubnetId: stack!.DefaultSubnetId,
        DefaultAvailabilityZone: stack!.DefaultAvailabilityZone,
        DefaultOs: stack!.DefaultOs,
        ServiceRoleArn: stack!.ServiceRoleArn,
        DefaultInstanceProfileArn: stack!.DefaultInstanceProfileArn,
        HostnameTheme: stack!.HostnameTheme,
        Attributes: stack!.Attributes,
        CustomJson: stack!.CustomJson,
        ConfigurationManager: stack!.ConfigurationManager,
        ChefConfiguration: stack!.ChefConfiguration,
        UseCustomCookbooks: stack!.UseCustomCookbooks,
        CustomCookbooksSource: stack!.CustomCookbooksSource,
        DefaultRootDeviceType: stack!.DefaultRootDeviceType,
        UseOpsworksSecurityGroups: stack!.UseOpsworksSecurityGroups,
      },
      {
        Name: 'MyStack',
        Region: REGION,
        VpcId: net.vpcId,
        DefaultSubnetId: net.private1,
        DefaultAvailabilityZone: 'ap-northeast-1c',
        DefaultOs: 'Amazon Linux 2018.03',
        ServiceRoleArn: SERVICE_ROLE,
        DefaultInstanceProfileArn: INSTANCE_PROFILE,
        HostnameTheme: 'Layer_Dependent',
        Attributes: { Color: 'rgb(45, 114, 184)' },
        CustomJson: customJson,
        ConfigurationManager: { Name: 'Chef', Version: '11.10' },
        ChefConfiguration: { ManageBerkshelf: true, BerkshelfVersion: '2.0.18' },
        UseCustomCookbooks: true,
        CustomCookbooksSource: { Type: 'git', Url: 'https://github.com/example/c.git', Revision: 'v1', Password: '*****FILTERED*****' },
        DefaultRootDeviceType: 'ebs',
        UseOpsworksSecurityGroups: true,
      },
    );

    const newJson = JSON.stringify({ vpcnat: { az: { 'ap-northeast-1c': { opposite_primary_nat_id: 'i-0abc' } } } });
    await opsworks.send(new UpdateStackCommand({ StackId: stackId, CustomJson: newJson }));
    const [updated] = (await opsworks.send(new DescribeStacksCommand({ StackIds: [stackId] }))).Stacks!;
    assert.deepEqual(updated, { ...stack, CustomJson: newJson }, 'only CustomJson changed');
    await opsworks.send(new UpdateStackCommand({ StackId: stackId, CustomJson: '' }));
    assert.equal(
      (await opsworks.send(new DescribeStacksCommand({ StackIds: [stackId] }))).Stacks![0]!.CustomJson,
      '',
      'an empty string clears it',
    );

    const other = await makeNetwork('10.9.0.0/16');
    const moved = await rejection(opsworks.send(new UpdateStackCommand({ StackId: stackId, DefaultSubnetId: other.public1 })));
    assert.equal(moved.name, 'ValidationException');
    assert.match(moved.message, /is not in VPC/);
    const gone = await rejection(opsworks.send(new UpdateStackCommand({ StackId: 'no-such-stack', Name: 'x' })));
    assert.equal(gone.name, 'ResourceNotFoundException');
    assert.equal(gone.message, 'Unable to find stack with ID no-such-stack');
  });

  // --- security groups (quirk 2) --------------------------------------------------------------

  it('creates the OpsWorks security groups in the VPC only some time after CreateStack, reuses them, and leaves them on DeleteStack', async () => {
    const net = await makeNetwork();
    // An emulator of its own with a delay long enough to look before the groups exist.
    const timed = await startOpsWorksEmulator({ ec2Endpoint: emu.moto.endpoint, delays: { ...DELAYS, securityGroupsMs: 300 } });
    const timedClient = client(timed.endpoint);
    try {
      const sent = Date.now();
      const first = (await timedClient.send(new CreateStackCommand(stackInput(net)))).StackId!;
      assert.deepEqual(await groupsNamed(emu.ec2, net.vpcId), [], 'no groups right after CreateStack');
      const groups = await waitForOpsWorksGroups(net.vpcId);
      assert.ok(Date.now() - sent >= 300, 'the groups came no sooner than securityGroupsMs');
      assert.deepEqual(groups.map((g) => g.GroupName).sort(), ['AWS-OpsWorks-Custom-Server', 'AWS-OpsWorks-Default-Server']);
      const custom = groups.find((g) => g.GroupName === 'AWS-OpsWorks-Custom-Server')!;
      assert.equal(custom.Description, 'AWS OpsWorks Custom server - do not change or delete');
      assert.equal(custom.VpcId, net.vpcId);
      assert.ok(
        custom.IpPermissions!.some((p) => p.IpProtocol === 'tcp' && p.FromPort === 22 && p.IpRanges?.some((r) => r.CidrIp === '0.0.0.0/0')),
        'SSH from anywhere',
      );

      // Another stack in the VPC, from another emulator process as it were: it finds them and adds none.
      const second = await createStack(net, { Name: 'SecondStack' });
      await sleep(DELAYS.securityGroupsMs * 3);
      const again = await groupsNamed(emu.ec2, net.vpcId);
      assert.deepEqual(again.map((g) => g.GroupId).sort(), groups.map((g) => g.GroupId).sort(), 'the second stack reused them');

      await timedClient.send(new DeleteStackCommand({ StackId: first }));
      await opsworks.send(new DeleteStackCommand({ StackId: second }));
      assert.equal((await groupsNamed(emu.ec2, net.vpcId)).length, 2, 'DeleteStack leaves the groups behind');
    } finally {
      timedClient.destroy();
      await timed.stop();
    }
  });

  it('an instance started before its security groups exist goes to start_failed; started again once they do, it comes online', async () => {
    const net = await makeNetwork();
    // A second emulator whose stacks take a minute to get their groups: the start cannot wait that long.
    const slow = await startOpsWorksEmulator({ ec2Endpoint: emu.moto.endpoint, delays: { ...DELAYS, securityGroupsMs: 60_000 } });
    const slowClient = client(slow.endpoint);
    try {
      const stackId = (await slowClient.send(new CreateStackCommand(stackInput(net)))).StackId!;
      const layerId = (
        await slowClient.send(new CreateLayerCommand({ StackId: stackId, Type: 'custom', Name: 'NAT Server', Shortname: 'nat' }))
      ).LayerId!;
      const instanceId = (
        await slowClient.send(new CreateInstanceCommand({ StackId: stackId, LayerIds: [layerId], InstanceType: 't1.micro' }))
      ).InstanceId!;
      await slowClient.send(new StartInstanceCommand({ InstanceId: instanceId }));
      const failed = await pollStatus(slowClient, instanceId, (s) => s !== 'requested');
      assert.equal(failed.Status, 'start_failed');
      assert.equal(failed.Ec2InstanceId, undefined);
      assert.deepEqual(await instancesOf(emu.ec2, [{ Name: 'vpc-id', Values: [net.vpcId] }]), [], 'nothing launched');

      // Another stack in the same VPC gets the groups created; the failed instance can now start.
      await createStack(net, { Name: 'Other' });
      await waitForOpsWorksGroups(net.vpcId);
      await slowClient.send(new StartInstanceCommand({ InstanceId: instanceId }));
      const online = await pollStatus(slowClient, instanceId, (s) => s === 'online' || s === 'start_failed');
      assert.equal(online.Status, 'online');
    } finally {
      slowClient.destroy();
      await slow.stop();
    }
  });

  // --- layers (quirk 3) -----------------------------------------------------------------------

  it("checks a layer's packages against the stack's default OS, not the OS of its instances", async () => {
    const net = await makeNetwork();
    const ubuntu12 = await createStack(net, { DefaultOs: 'Ubuntu 12.04 LTS' });
    const error = await rejection(createLayer(ubuntu12, { Packages: ['traceroute', 'jq'] }));
    assert.equal(error.name, 'ValidationException');
    assert.equal(error.message, 'Packages: jq is not a valid Ubuntu 12.04 LTS package name');
    assert.equal(error.$metadata?.httpStatusCode, 400);

    const admin = await createLayer(ubuntu12, { Name: 'Admin Server', Shortname: 'admin', Packages: ['traceroute'] });
    // An instance of Amazon Linux in the layer changes nothing: the stack's OS decides.
    await createInstance(ubuntu12, admin, { Os: 'Amazon Linux' });
    const update = await rejection(opsworks.send(new UpdateLayerCommand({ LayerId: admin, Packages: ['traceroute', 'jq'] })));
    assert.equal(update.message, 'Packages: jq is not a valid Ubuntu 12.04 LTS package name');
    const unknown = await rejection(opsworks.send(new UpdateLayerCommand({ LayerId: admin, Packages: ['nosuchpkg'] })));
    assert.equal(unknown.message, 'Packages: nosuchpkg is not a valid Ubuntu 12.04 LTS package name');

    await opsworks.send(new UpdateStackCommand({ StackId: ubuntu12, DefaultOs: 'Ubuntu 14.04 LTS' }));
    await opsworks.send(new UpdateLayerCommand({ LayerId: admin, Packages: ['traceroute', 'jq'] }));
    const [layer] = (await opsworks.send(new DescribeLayersCommand({ LayerIds: [admin] }))).Layers!;
    assert.deepEqual(layer!.Packages, ['traceroute', 'jq']);
    assert.equal(layer!.Name, 'Admin Server', 'UpdateLayer left the other fields alone');

    const amazon = await createStack(net, { DefaultOs: 'Amazon Linux' });
    await createLayer(amazon, { Packages: ['traceroute', 'jq'] });
  });

  it('stores every layer field, keeps short names unique, and checks custom security groups in EC2', async () => {
    const net = await makeNetwork();
    const stackId = await createStack(net);
    const layerId = await createLayer(stackId, { CustomSecurityGroupIds: [net.extraGroupId], EnableAutoHealing: false });
    const [layer] = (await opsworks.send(new DescribeLayersCommand({ StackId: stackId }))).Layers!;
    assert.equal(layer!.LayerId, layerId);
    assert.equal(layer!.Arn, `arn:aws:opsworks:${REGION}:123456789012:layer/${layerId}`);
    assert.equal(layer!.Type, 'custom');
    assert.equal(layer!.Shortname, 'nat');
    assert.deepEqual(layer!.CustomRecipes, { Setup: ['timezone', 'vpcnat'], Configure: [], Deploy: [], Undeploy: [], Shutdown: [] });
    assert.deepEqual(layer!.DefaultSecurityGroupNames, ['AWS-OpsWorks-Custom-Server']);
    assert.deepEqual(layer!.CustomSecurityGroupIds, [net.extraGroupId]);
    assert.equal(layer!.AutoAssignPublicIps, true);
    assert.equal(layer!.AutoAssignElasticIps, false);
    assert.equal(layer!.EnableAutoHealing, false);

    const duplicate = await rejection(createLayer(stackId, { Name: 'Another' }));
    assert.equal(duplicate.name, 'ValidationException');
    assert.match(duplicate.message, /short name nat/);
    const badGroup = await rejection(createLayer(stackId, { Name: 'X', Shortname: 'x', CustomSecurityGroupIds: ['sg-0123456789abcdef0'] }));
    assert.match(badGroup.message, /^CustomSecurityGroupIds: sg-0123456789abcdef0 not found/);
    const badType = await rejection(createLayer(stackId, { Name: 'Y', Shortname: 'y', Type: 'nosuch' as never }));
    assert.match(badType.message, /^Type: nosuch is not valid/);
    const needsOne = await rejection(opsworks.send(new DescribeLayersCommand({})));
    assert.equal(needsOne.name, 'ValidationException');
  });

  // --- instance lifecycle -----------------------------------------------------------------------

  it('walks requested -> pending -> booting -> running_setup -> online, launching a real EC2 instance with the right subnet, groups and tags', async () => {
    const net = await makeNetwork();
    const stackId = await createStack(net);
    const layerId = await createLayer(stackId, { CustomSecurityGroupIds: [net.extraGroupId] });
    const [stack] = (await opsworks.send(new DescribeStacksCommand({ StackIds: [stackId] }))).Stacks!;
    const [layer] = (await opsworks.send(new DescribeLayersCommand({ LayerIds: [layerId] }))).Layers!;
    await opsworks.send(new TagResourceCommand({ ResourceArn: stack!.Arn, Tags: { team: 'network', env: 'test' } }));
    await opsworks.send(new TagResourceCommand({ ResourceArn: layer!.Arn, Tags: { role: 'nat' } }));

    const instanceId = await createInstance(stackId, layerId, { SubnetId: net.public1, Os: 'Amazon Linux' });
    const created = await describeInstance(instanceId);
    assert.equal(created.Status, 'stopped', 'a new instance is stopped until started');
    assert.equal(created.Hostname, 'nat1');
    assert.equal(created.AvailabilityZone, 'ap-northeast-1c', 'the zone of its subnet');
    assert.equal(created.RootDeviceType, 'ebs', "the stack's default");
    assert.equal(created.Ec2InstanceId, undefined);
    assert.match(created.CreatedAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/);

    const groups = await waitForOpsWorksGroups(net.vpcId);
    const customServer = groups.find((g) => g.GroupName === 'AWS-OpsWorks-Custom-Server')!.GroupId!;
    await opsworks.send(new StartInstanceCommand({ InstanceId: instanceId }));
    const seen: Instance[] = [];
    const deadline = Date.now() + 5_000;
    while (seen.at(-1)?.Status !== 'online' && Date.now() < deadline) {
      seen.push(await describeInstance(instanceId));
      await sleep(3);
    }
    const statuses = seen.map((i) => i.Status!).filter((s, i, all) => s !== all[i - 1]);
    assert.deepEqual(
      statuses,
      WALK.filter((s) => statuses.includes(s)),
      'statuses seen in order',
    );
    assert.equal(statuses.at(-1), 'online');
    const transitions = log.filter((l) => l.startsWith(`instance ${instanceId} `)).map((l) => l.split(': ')[1]);
    assert.deepEqual(transitions, [
      'stopped -> requested',
      'requested -> pending',
      'pending -> booting',
      'booting -> running_setup',
      'running_setup -> online',
    ]);
    for (const observed of seen) {
      if (observed.Status === 'requested') assert.equal(observed.Ec2InstanceId, undefined, 'no EC2 instance while requested');
      else assert.match(observed.Ec2InstanceId ?? '', /^i-/, `Ec2InstanceId while ${observed.Status}`);
    }
    const online = seen.at(-1)!;
    assert.equal(new Set(seen.map((i) => i.Ec2InstanceId).filter(Boolean)).size, 1, 'one EC2 instance throughout');

    const ec2 = await ec2Instance(online.Ec2InstanceId!);
    assert.equal(ec2.State?.Name, 'running');
    assert.equal(ec2.SubnetId, net.public1);
    assert.equal(ec2.InstanceType, 't1.micro');
    assert.equal(ec2.ImageId, online.AmiId);
    const ec2Groups = (ec2.NetworkInterfaces?.[0]?.Groups ?? []).map((g) => g.GroupId).sort();
    assert.deepEqual(ec2Groups, [customServer, net.extraGroupId].sort(), "the stack's OpsWorks group and the layer's own");
    assert.deepEqual([...online.SecurityGroupIds!].sort(), ec2Groups);
    assert.ok(ec2.PublicIpAddress, 'a public IP: the layer auto-assigns them');
    assert.equal(online.PublicIp, ec2.PublicIpAddress);
    assert.equal(online.PrivateIp, ec2.PrivateIpAddress);
    const tags = Object.fromEntries((ec2.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.deepEqual(tags, {
      'opsworks:stack': 'MyStack',
      'opsworks:instance': 'nat1',
      'opsworks:layer:nat': 'NAT Server',
      Name: 'MyStack - nat1',
      team: 'network',
      env: 'test',
      role: 'nat',
    });
  });

  it('stop and start keep an EBS-backed instance on the same EC2 instance', async () => {
    const net = await makeNetwork();
    const { instanceId, instance } = await onlineNat(net);
    const ec2Id = instance.Ec2InstanceId!;
    await opsworks.send(new StopInstanceCommand({ InstanceId: instanceId }));
    assert.equal((await describeInstance(instanceId)).Status, 'stopping');
    const stopped = await waitForStatus(instanceId, 'stopped');
    assert.equal(stopped.Ec2InstanceId, ec2Id, 'the EC2 instance is kept');
    assert.equal((await ec2Instance(ec2Id)).State?.Name, 'stopped');

    await opsworks.send(new StartInstanceCommand({ InstanceId: instanceId }));
    const again = await waitForStatus(instanceId, 'online');
    assert.equal(again.Ec2InstanceId, ec2Id);
    assert.equal((await ec2Instance(ec2Id)).State?.Name, 'running');
  });

  it('stopping an instance-store instance terminates its EC2 instance; the next start launches a new one', async () => {
    const net = await makeNetwork();
    const { instanceId, instance } = await onlineNat(net, { RootDeviceType: 'instance-store' });
    await opsworks.send(new StopInstanceCommand({ InstanceId: instanceId }));
    const stopped = await waitForStatus(instanceId, 'stopped');
    assert.equal(stopped.Ec2InstanceId, undefined);
    assert.equal((await ec2Instance(instance.Ec2InstanceId!)).State?.Name, 'terminated');
    await opsworks.send(new StartInstanceCommand({ InstanceId: instanceId }));
    const again = await waitForStatus(instanceId, 'online');
    assert.notEqual(again.Ec2InstanceId, instance.Ec2InstanceId);
  });

  it('reads EC2 at describe time: stopped behind its back reads stopped, terminated reads connection_lost, and a start launches a new EC2 instance', async () => {
    const net = await makeNetwork();
    const { stackId, layerId, instanceId: first, instance: firstInstance } = await onlineNat(net);
    const second = await createInstance(stackId, layerId, { SubnetId: net.public2 });
    await opsworks.send(new StartInstanceCommand({ InstanceId: second }));
    const secondInstance = await waitForStatus(second, 'online');
    assert.equal(secondInstance.Hostname, 'nat2');
    assert.equal(secondInstance.AvailabilityZone, 'ap-northeast-1a');

    await emu.ec2.send(new StopInstancesCommand({ InstanceIds: [firstInstance.Ec2InstanceId!] }));
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [secondInstance.Ec2InstanceId!] }));
    const byId = new Map(
      (await opsworks.send(new DescribeInstancesCommand({ StackId: stackId }))).Instances!.map((i) => [i.InstanceId, i]),
    );
    assert.equal(byId.get(first)!.Status, 'stopped');
    assert.equal(byId.get(second)!.Status, 'connection_lost');

    await opsworks.send(new StartInstanceCommand({ InstanceId: second }));
    const replaced = await waitForStatus(second, 'online');
    assert.match(replaced.Ec2InstanceId!, /^i-/);
    assert.notEqual(replaced.Ec2InstanceId, secondInstance.Ec2InstanceId, 'a new EC2 instance');
    const fresh = await ec2Instance(replaced.Ec2InstanceId!);
    assert.equal(fresh.State?.Name, 'running');
    assert.equal(fresh.SubnetId, net.public2);

    await opsworks.send(new StartInstanceCommand({ InstanceId: first }));
    const restarted = await waitForStatus(first, 'online');
    assert.equal(restarted.Ec2InstanceId, firstInstance.Ec2InstanceId, 'the stopped EC2 instance is started again');
  });

  it('makes one EC2 DescribeInstances call per DescribeInstances, whatever the number of instances', async () => {
    // An emulator of its own, talking to EC2 through the counting proxy.
    const counted = await startOpsWorksEmulator({ ec2Endpoint: emu.proxy.endpoint, delays: DELAYS });
    const countedClient = client(counted.endpoint);
    try {
      const net = await makeNetwork();
      const stackId = (await countedClient.send(new CreateStackCommand(stackInput(net)))).StackId!;
      const layerId = (
        await countedClient.send(new CreateLayerCommand({ StackId: stackId, Type: 'custom', Name: 'NAT', Shortname: 'nat' }))
      ).LayerId!;
      await waitForOpsWorksGroups(net.vpcId);
      const ids: string[] = [];
      for (const subnet of [net.public1, net.public2, net.private1]) {
        const id = (
          await countedClient.send(
            new CreateInstanceCommand({ StackId: stackId, LayerIds: [layerId], InstanceType: 't1.micro', SubnetId: subnet }),
          )
        ).InstanceId!;
        await countedClient.send(new StartInstanceCommand({ InstanceId: id }));
        ids.push(id);
      }
      for (const id of ids) await pollStatus(countedClient, id, (s) => s === 'online');
      await sleep(DELAYS.stepMs * 2);
      emu.proxy.resetCounts();
      const { Instances } = await countedClient.send(new DescribeInstancesCommand({ StackId: stackId }));
      assert.equal(Instances!.length, 3);
      assert.deepEqual(Object.fromEntries(emu.proxy.calls()), { DescribeInstances: 1 });
    } finally {
      countedClient.destroy();
      await counted.stop();
    }
  });

  it('gives an Elastic IP layer an Elastic IP; DeleteInstance terminates the EC2 instance and releases the address', async () => {
    const net = await makeNetwork();
    const stackId = await createStack(net, { DefaultOs: 'Ubuntu 12.04 LTS' });
    const layerId = await createLayer(stackId, {
      Name: 'Admin Server',
      Shortname: 'admin',
      AutoAssignPublicIps: false,
      AutoAssignElasticIps: true,
      Packages: ['traceroute'],
    });
    const instanceId = await createInstance(stackId, layerId, { SubnetId: net.public1, Hostname: 'admin' });
    await waitForOpsWorksGroups(net.vpcId);
    await opsworks.send(new StartInstanceCommand({ InstanceId: instanceId }));
    const online = await waitForStatus(instanceId, 'online');
    assert.ok(online.ElasticIp);
    assert.equal(online.PublicIp, online.ElasticIp);
    const addresses = (await emu.ec2.send(new DescribeAddressesCommand({}))).Addresses!;
    assert.deepEqual(
      addresses.map((a) => [a.PublicIp, a.InstanceId]),
      [[online.ElasticIp, online.Ec2InstanceId]],
    );

    const refused = await rejection(opsworks.send(new DeleteInstanceCommand({ InstanceId: instanceId })));
    assert.equal(refused.name, 'ValidationException');
    assert.match(refused.message, /must be stopped before it can be deleted \(its status is online\)/);
    await opsworks.send(new StopInstanceCommand({ InstanceId: instanceId }));
    await waitForStatus(instanceId, 'stopped');
    await opsworks.send(new DeleteInstanceCommand({ InstanceId: instanceId }));
    assert.equal((await ec2Instance(online.Ec2InstanceId!)).State?.Name, 'terminated');
    assert.deepEqual((await emu.ec2.send(new DescribeAddressesCommand({}))).Addresses, [], 'the Elastic IP is released');
    const gone = await rejection(describeInstance(instanceId));
    assert.equal(gone.name, 'ResourceNotFoundException');
    assert.equal(gone.message, `Unable to find instance with ID ${instanceId}`);
  });

  it('validates CreateInstance: unique host names per stack, subnets of the VPC, known types and OSes; DescribeInstances needs one id', async () => {
    const net = await makeNetwork();
    const other = await makeNetwork('10.9.0.0/16');
    const stackId = await createStack(net);
    const layerId = await createLayer(stackId);
    const otherStack = await createStack(net, { Name: 'Other' });
    const otherLayer = await createLayer(otherStack);

    await createInstance(stackId, layerId, { Hostname: 'nat1' });
    const taken = await rejection(createInstance(stackId, layerId, { Hostname: 'nat1' }));
    assert.equal(taken.name, 'ValidationException');
    assert.equal(taken.message, 'Hostname: nat1 is already used by another instance of this stack');
    await createInstance(otherStack, otherLayer, { Hostname: 'nat1' }); // another stack may use it
    assert.equal((await describeInstance(await createInstance(stackId, layerId))).Hostname, 'nat2', 'the next free name');

    const cases: [Partial<CreateInstanceCommandInput>, string, RegExp][] = [
      [
        { SubnetId: other.public1 },
        'ValidationException',
        new RegExp(`^SubnetId: ${other.public1} is not in the stack's VPC ${net.vpcId}$`),
      ],
      [{ SubnetId: net.public1, AvailabilityZone: 'ap-northeast-1a' }, 'ValidationException', /^AvailabilityZone: ap-northeast-1a differs/],
      [{ InstanceType: 'huge.enormous' }, 'ValidationException', /^InstanceType: huge\.enormous is not a supported instance type$/],
      [{ Os: 'Plan 9' }, 'ValidationException', /^Os: Plan 9 is not a supported operating system; use one of: .*Amazon Linux 2/],
      [{ Hostname: 'not_valid!' }, 'ValidationException', /^Hostname: not_valid! is not a valid host name/],
      [{ LayerIds: [otherLayer] }, 'ValidationException', /belongs to another stack/],
      [{ LayerIds: ['no-such-layer'] }, 'ResourceNotFoundException', /^Unable to find layer with ID no-such-layer$/],
      [{ StackId: 'no-such-stack' }, 'ResourceNotFoundException', /^Unable to find stack with ID no-such-stack$/],
    ];
    for (const [overrides, name, message] of cases) {
      const error = await rejection(createInstance(stackId, layerId, overrides));
      assert.equal(error.name, name, JSON.stringify(overrides));
      assert.match(error.message, message);
    }
    const noType = await rejection(opsworks.send(new CreateInstanceCommand({ StackId: stackId, LayerIds: [layerId] } as never)));
    assert.match(noType.message, /'InstanceType'/);

    for (const input of [{}, { StackId: stackId, LayerId: layerId }]) {
      const error = await rejection(opsworks.send(new DescribeInstancesCommand(input)));
      assert.equal(error.name, 'ValidationException', JSON.stringify(input));
    }
    assert.equal((await opsworks.send(new DescribeInstancesCommand({ LayerId: layerId }))).Instances!.length, 2);
  });

  // --- deployments -------------------------------------------------------------------------------

  it('deployments succeed on online instances and fail when a target is not online; newest first', async () => {
    const net = await makeNetwork();
    const { stackId, layerId, instanceId } = await onlineNat(net);
    const idle = await createInstance(stackId, layerId, { SubnetId: net.public2 });
    const customJson = JSON.stringify({ vpcnat: { enabled: 1 } });

    const good = await opsworks.send(
      new CreateDeploymentCommand({
        StackId: stackId,
        InstanceIds: [instanceId],
        Command: { Name: 'execute_recipes', Args: { recipes: ['vpcnat'] } },
        Comment: 'configure the NAT',
        CustomJson: customJson,
      }),
    );
    const [running] = (await opsworks.send(new DescribeDeploymentsCommand({ DeploymentIds: [good.DeploymentId!] }))).Deployments!;
    assert.equal(running!.Status, 'running');
    const succeeded = await waitForDeployment(good.DeploymentId!);
    assert.equal(succeeded.Status, 'successful');
    assert.equal(succeeded.StackId, stackId);
    assert.deepEqual(succeeded.Command, { Name: 'execute_recipes', Args: { recipes: ['vpcnat'] } });
    assert.deepEqual(succeeded.InstanceIds, [instanceId]);
    assert.equal(succeeded.Comment, 'configure the NAT');
    assert.equal(succeeded.CustomJson, customJson);
    assert.match(succeeded.CompletedAt!, /\+00:00$/);
    assert.equal(typeof succeeded.Duration, 'number');

    const bad = await opsworks.send(
      new CreateDeploymentCommand({ StackId: stackId, LayerIds: [layerId], Command: { Name: 'update_custom_cookbooks' } }),
    );
    const failed = await waitForDeployment(bad.DeploymentId!);
    assert.equal(failed.Status, 'failed', 'the stopped instance of the layer could not run it');
    assert.deepEqual([...failed.InstanceIds!].sort(), [instanceId, idle].sort());

    const all = (await opsworks.send(new DescribeDeploymentsCommand({ StackId: stackId }))).Deployments!;
    assert.deepEqual(
      all.map((d) => d.DeploymentId),
      [bad.DeploymentId, good.DeploymentId],
      'newest first',
    );

    const badCommand = await rejection(
      opsworks.send(new CreateDeploymentCommand({ StackId: stackId, Command: { Name: 'dance' as never } })),
    );
    assert.equal(badCommand.name, 'ValidationException');
    assert.match(badCommand.message, /^Command\.Name: dance is not valid/);
    const noCommand = await rejection(opsworks.send(new CreateDeploymentCommand({ StackId: stackId } as never)));
    assert.match(noCommand.message, /'Command'/);
    const needsOne = await rejection(opsworks.send(new DescribeDeploymentsCommand({})));
    assert.equal(needsOne.name, 'ValidationException');
  });

  // --- permissions and tags ---------------------------------------------------------------------

  it('SetPermission upserts per stack and IAM user; DescribePermissions filters by either', async () => {
    const net = await makeNetwork();
    const stackId = await createStack(net);
    const otherStack = await createStack(net, { Name: 'Other' });
    const alice = 'arn:aws:iam::123456789012:user/alice';
    const bob = 'arn:aws:iam::123456789012:user/bob';
    await opsworks.send(
      new SetPermissionCommand({ StackId: stackId, IamUserArn: alice, AllowSsh: true, AllowSudo: false, Level: 'manage' }),
    );
    await opsworks.send(new SetPermissionCommand({ StackId: stackId, IamUserArn: alice, AllowSudo: true }));
    await opsworks.send(new SetPermissionCommand({ StackId: stackId, IamUserArn: bob, AllowSsh: true, Level: 'show' }));
    await opsworks.send(new SetPermissionCommand({ StackId: otherStack, IamUserArn: alice, Level: 'deny' }));

    const ofStack = (await opsworks.send(new DescribePermissionsCommand({ StackId: stackId }))).Permissions!;
    assert.deepEqual(
      ofStack.find((p) => p.IamUserArn === alice),
      { StackId: stackId, IamUserArn: alice, AllowSsh: true, AllowSudo: true, Level: 'manage' },
    );
    assert.equal(ofStack.length, 2);
    const ofAlice = (await opsworks.send(new DescribePermissionsCommand({ IamUserArn: alice }))).Permissions!;
    assert.deepEqual(ofAlice.map((p) => p.StackId).sort(), [stackId, otherStack].sort());
    const both = (await opsworks.send(new DescribePermissionsCommand({ StackId: otherStack, IamUserArn: alice }))).Permissions!;
    assert.deepEqual(both, [{ StackId: otherStack, IamUserArn: alice, AllowSsh: false, AllowSudo: false, Level: 'deny' }]);

    const badLevel = await rejection(opsworks.send(new SetPermissionCommand({ StackId: stackId, IamUserArn: bob, Level: 'god' })));
    assert.equal(badLevel.name, 'ValidationException');
    const noStack = await rejection(opsworks.send(new SetPermissionCommand({ StackId: 'nope', IamUserArn: bob })));
    assert.equal(noStack.name, 'ResourceNotFoundException');
  });

  it('tags stacks and layers by ARN', async () => {
    const net = await makeNetwork();
    const stackId = await createStack(net);
    const layerId = await createLayer(stackId);
    const [stack] = (await opsworks.send(new DescribeStacksCommand({ StackIds: [stackId] }))).Stacks!;
    const [layer] = (await opsworks.send(new DescribeLayersCommand({ LayerIds: [layerId] }))).Layers!;

    await opsworks.send(new TagResourceCommand({ ResourceArn: stack!.Arn, Tags: { team: 'network', env: 'test' } }));
    await opsworks.send(new TagResourceCommand({ ResourceArn: stack!.Arn, Tags: { env: 'prod' } }));
    await opsworks.send(new TagResourceCommand({ ResourceArn: layer!.Arn, Tags: { role: 'nat' } }));
    assert.deepEqual((await opsworks.send(new ListTagsCommand({ ResourceArn: stack!.Arn }))).Tags, { team: 'network', env: 'prod' });
    assert.deepEqual((await opsworks.send(new ListTagsCommand({ ResourceArn: layer!.Arn }))).Tags, { role: 'nat' });
    await opsworks.send(new UntagResourceCommand({ ResourceArn: stack!.Arn, TagKeys: ['team'] }));
    assert.deepEqual((await opsworks.send(new ListTagsCommand({ ResourceArn: stack!.Arn }))).Tags, { env: 'prod' });

    const unknownArn = `arn:aws:opsworks:${REGION}:123456789012:stack/00000000-0000-0000-0000-000000000000/`;
    const unknown = await rejection(opsworks.send(new ListTagsCommand({ ResourceArn: unknownArn })));
    assert.equal(unknown.name, 'ResourceNotFoundException');
    assert.equal(unknown.$metadata?.httpStatusCode, 400);
    const reserved = await rejection(opsworks.send(new TagResourceCommand({ ResourceArn: stack!.Arn, Tags: { 'aws:owner': 'x' } })));
    assert.equal(reserved.name, 'ValidationException');
  });

  // --- deletion rules --------------------------------------------------------------------------

  it('deletes only in order: instances (stopped) before layers, layers before stacks', async () => {
    const net = await makeNetwork();
    const { stackId, layerId, instanceId, instance } = await onlineNat(net);

    const stackRefused = await rejection(opsworks.send(new DeleteStackCommand({ StackId: stackId })));
    assert.equal(stackRefused.name, 'ValidationException');
    assert.match(stackRefused.message, /still has 1 instance\(s\) and 1 layer\(s\)/);
    const layerRefused = await rejection(opsworks.send(new DeleteLayerCommand({ LayerId: layerId })));
    assert.match(layerRefused.message, /still has 1 instance\(s\)/);
    const instanceRefused = await rejection(opsworks.send(new DeleteInstanceCommand({ InstanceId: instanceId })));
    assert.equal(instanceRefused.name, 'ValidationException');

    await opsworks.send(new StopInstanceCommand({ InstanceId: instanceId }));
    await waitForStatus(instanceId, 'stopped');
    await opsworks.send(new DeleteInstanceCommand({ InstanceId: instanceId }));
    assert.equal((await ec2Instance(instance.Ec2InstanceId!)).State?.Name, 'terminated');
    await opsworks.send(new DeleteLayerCommand({ LayerId: layerId }));
    await opsworks.send(new DeleteStackCommand({ StackId: stackId }));
    assert.equal((await rejection(opsworks.send(new DescribeStacksCommand({ StackIds: [stackId] })))).name, 'ResourceNotFoundException');
    assert.equal((await groupsNamed(emu.ec2, net.vpcId)).length, 2, 'the OpsWorks groups stay');

    // A never-started instance may be deleted right away.
    const stack2 = await createStack(net);
    const layer2 = await createLayer(stack2);
    await opsworks.send(new DeleteInstanceCommand({ InstanceId: await createInstance(stack2, layer2) }));
  });

  // --- test control -----------------------------------------------------------------------------

  it('the control endpoint forces a status and resets everything', async () => {
    const net = await makeNetwork();
    const { stackId, instanceId } = await onlineNat(net);
    await forceInstanceStatus(emulator.endpoint, instanceId, 'setup_failed');
    assert.equal((await describeInstance(instanceId)).Status, 'setup_failed');

    const second = await createInstance(
      stackId,
      (await opsworks.send(new DescribeLayersCommand({ StackId: stackId }))).Layers![0]!.LayerId!,
    );
    await opsworks.send(new StartInstanceCommand({ InstanceId: second }));
    await forceInstanceStatus(emulator.endpoint, second, 'start_failed');
    await sleep(DELAYS.stepMs * 6);
    assert.equal((await describeInstance(second)).Status, 'start_failed', 'the forced status ends the walk');
    assert.equal((await describeInstance(instanceId)).Status, 'setup_failed');

    await assert.rejects(forceInstanceStatus(emulator.endpoint, 'no-such-instance', 'online'), /HTTP 404/);
    await assert.rejects(forceInstanceStatus(emulator.endpoint, instanceId, 'exploded'), /HTTP 400/);

    // Reset in the middle of a walk: nothing of it survives, nothing more is launched.
    await opsworks.send(new StopInstanceCommand({ InstanceId: instanceId }));
    await resetOpsWorksEmulator(emulator.endpoint);
    assert.deepEqual((await opsworks.send(new DescribeStacksCommand({}))).Stacks, []);
    const running = await instancesOf(emu.ec2, [{ Name: 'instance-state-name', Values: ['running', 'pending'] }]);
    await sleep(DELAYS.stepMs * 4);
    const later = await instancesOf(emu.ec2, [{ Name: 'instance-state-name', Values: ['running', 'pending'] }]);
    assert.equal(later.length, running.length, 'no EC2 instance launched after the reset');
  });

  it('dupsworks emulator opsworks: serves until SIGTERM, then exits 0', async () => {
    const port = await freePort();
    const child = startCli(['emulator', 'opsworks', '--port', String(port), '--ec2-endpoint', emu.moto.endpoint, '--step-delay-ms', '20']);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 15_000;
      while (!stdout.includes('\n') && Date.now() < deadline && child.exitCode === null) await sleep(20);
      assert.equal(stdout, `OpsWorks emulator listening on http://127.0.0.1:${port} (EC2: ${emu.moto.endpoint})\n`, stderr);
      const cliClient = client(`http://127.0.0.1:${port}`);
      assert.deepEqual((await cliClient.send(new DescribeStacksCommand({}))).Stacks, []);
      cliClient.destroy();
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
    assert.equal(stderr, '', 'nothing on stderr without --debug');
  });
});

function client(endpoint: string): OpsWorksClient {
  return new OpsWorksClient({ endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
}

async function pollStatus(
  opsworks: OpsWorksClient,
  instanceId: string,
  done: (status: string) => boolean,
  timeoutMs = 5_000,
): Promise<Instance> {
  const deadline = Date.now() + timeoutMs;
  let seen: Instance | undefined;
  while (Date.now() < deadline) {
    seen = (await opsworks.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Instances![0]!;
    if (done(seen.Status!)) return seen;
    await sleep(5);
  }
  assert.fail(`instance ${instanceId}: still ${seen?.Status} after ${timeoutMs} ms`);
}

async function groupsNamed(ec2: EC2Client, vpcId: string): Promise<SecurityGroup[]> {
  const out = await ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        { Name: 'vpc-id', Values: [vpcId] },
        { Name: 'group-name', Values: ['AWS-OpsWorks-Custom-Server', 'AWS-OpsWorks-Default-Server'] },
      ],
    }),
  );
  return out.SecurityGroups ?? [];
}

interface RawResult {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function rawCall(endpoint: string, operation: string, body: object): Promise<RawResult> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `OpsWorks_20130218.${operation}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

type SdkError = Error & { $metadata?: { httpStatusCode?: number; requestId?: string } };

async function rejection(promise: Promise<unknown>): Promise<SdkError> {
  try {
    await promise;
  } catch (error) {
    return error as SdkError;
  }
  assert.fail('expected the call to fail');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
