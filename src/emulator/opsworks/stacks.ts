// CreateStack, DescribeStacks, UpdateStack, DeleteStack.
//
// A stack lives in a VPC: the VpcId given (with a DefaultSubnetId inside it, checked in EC2), or the
// region's default VPC. Some time after CreateStack (`securityGroupsMs`) OpsWorks has created its
// security groups there, or found them from an earlier stack; DeleteStack leaves them behind.

import { randomUUID } from 'node:crypto';
import type {
  CreateStackRequest,
  DeleteStackRequest,
  DescribeStacksRequest,
  Stack,
  StackConfigurationManager,
  UpdateStackRequest,
} from '@aws-sdk/client-opsworks';
import {
  CHEF_VERSIONS,
  CUSTOM_OS,
  DEFAULT_OS,
  HOSTNAME_THEMES,
  REGIONS,
  ROOT_DEVICE_TYPES,
  SOURCE_TYPES,
  isKnownOs,
  knownOsNames,
} from './catalog.js';
import { validationError } from './errors.js';
import { checkArn, checkCustomJson, checkOneOf, readInput, type Shape } from './input.js';
import { copy, givenFields, stackArn, timestamp, type StackRecord } from './model.js';
import type { Handler, Service } from './service.js';

type StackSettings = Omit<UpdateStackRequest, 'StackId'>;

const SETTINGS_SHAPE: Shape<StackSettings> = {
  Name: 'string',
  Attributes: 'stringMap',
  ServiceRoleArn: 'string',
  DefaultInstanceProfileArn: 'string',
  DefaultOs: 'string',
  HostnameTheme: 'string',
  DefaultAvailabilityZone: 'string',
  DefaultSubnetId: 'string',
  CustomJson: 'string',
  ConfigurationManager: 'object',
  ChefConfiguration: 'object',
  UseCustomCookbooks: 'boolean',
  CustomCookbooksSource: 'object',
  DefaultSshKeyName: 'string',
  DefaultRootDeviceType: 'string',
  UseOpsworksSecurityGroups: 'boolean',
  AgentVersion: 'string',
};

export const createStack: Handler = async (body, service) => {
  const input = readInput<CreateStackRequest>(body, { ...SETTINGS_SHAPE, Region: 'string', VpcId: 'string' }, [
    'Name',
    'Region',
    'ServiceRoleArn',
    'DefaultInstanceProfileArn',
  ]);
  const region = input.Region!;
  if (!REGIONS.has(region)) throw validationError(`Region: ${region} is not a region where OpsWorks Stacks is offered`);
  checkSettings(input);
  const network = await resolveNetwork(service, region, input);

  const stackId = randomUUID();
  const record: StackRecord = {
    vpcId: network.vpcId,
    tags: {},
    stack: {
      StackId: stackId,
      Name: input.Name!,
      Arn: stackArn(region, stackId),
      Region: region,
      VpcId: input.VpcId,
      Attributes: input.Attributes,
      ServiceRoleArn: input.ServiceRoleArn,
      DefaultInstanceProfileArn: input.DefaultInstanceProfileArn,
      DefaultOs: input.DefaultOs ?? DEFAULT_OS,
      HostnameTheme: input.HostnameTheme ?? 'Layer_Dependent',
      DefaultAvailabilityZone: network.availabilityZone,
      DefaultSubnetId: input.DefaultSubnetId,
      CustomJson: input.CustomJson,
      ConfigurationManager: configurationManager(input.ConfigurationManager),
      ChefConfiguration: input.ChefConfiguration,
      UseCustomCookbooks: input.UseCustomCookbooks ?? false,
      UseOpsworksSecurityGroups: input.UseOpsworksSecurityGroups ?? true,
      CustomCookbooksSource: input.CustomCookbooksSource,
      DefaultSshKeyName: input.DefaultSshKeyName,
      CreatedAt: timestamp(),
      DefaultRootDeviceType: input.DefaultRootDeviceType ?? 'instance-store',
      AgentVersion: input.AgentVersion ?? 'LATEST',
    },
  };
  service.state.stacks.set(stackId, record);
  service.scheduler.after(service.delays.securityGroupsMs, async () => {
    if (service.state.stacks.get(stackId) !== record) return;
    const groups = await service.ec2.ensureOpsWorksGroups(region, record.vpcId);
    service.log(`stack ${stackId}: OpsWorks security groups ready in ${record.vpcId}: ${[...groups.values()].join(', ')}`);
  });
  return { StackId: stackId };
};

export const describeStacks: Handler = (body, service) => {
  const input = readInput<DescribeStacksRequest>(body, { StackIds: 'strings' });
  const records = input.StackIds?.length ? input.StackIds.map((id) => service.state.stack(id)) : [...service.state.stacks.values()];
  return { Stacks: records.map((r) => present(r.stack)) };
};

export const updateStack: Handler = async (body, service) => {
  const input = readInput<UpdateStackRequest>(body, { ...SETTINGS_SHAPE, StackId: 'string' }, ['StackId']);
  const record = service.state.stack(input.StackId!);
  checkSettings(input);
  if (input.Name === '') throw validationError('Name: must not be empty');
  const { StackId: _, ...changes } = input;
  if (changes.DefaultSubnetId !== undefined || changes.DefaultAvailabilityZone !== undefined) {
    const network = await resolveNetwork(service, record.stack.Region, {
      VpcId: record.stack.VpcId,
      DefaultSubnetId: changes.DefaultSubnetId ?? record.stack.DefaultSubnetId,
      DefaultAvailabilityZone: changes.DefaultAvailabilityZone,
    });
    changes.DefaultAvailabilityZone = network.availabilityZone;
  }
  if (changes.ConfigurationManager) changes.ConfigurationManager = configurationManager(changes.ConfigurationManager);
  Object.assign(record.stack, givenFields(changes));
  return {};
};

export const deleteStack: Handler = (body, service) => {
  const input = readInput<DeleteStackRequest>(body, { StackId: 'string' }, ['StackId']);
  const { state } = service;
  const record = state.stack(input.StackId!);
  const instances = state.instancesOf(record.stack.StackId).length;
  const layers = state.layersOf(record.stack.StackId).length;
  if (instances > 0 || layers > 0) {
    throw validationError(
      `Cannot delete stack ${record.stack.StackId}: it still has ${instances} instance(s) and ${layers} layer(s); delete them first`,
    );
  }
  state.stacks.delete(record.stack.StackId);
  for (const [key, permission] of state.permissions) if (permission.StackId === record.stack.StackId) state.permissions.delete(key);
  for (const [id, deployment] of state.deployments)
    if (deployment.deployment.StackId === record.stack.StackId) state.deployments.delete(id);
  return {};
};

/** Secrets of the cookbook source were never returned, only a placeholder saying one is set. */
function present(stack: Stack): Stack {
  const shown = copy(stack);
  const source = shown.CustomCookbooksSource;
  if (source?.Password) source.Password = '*****FILTERED*****';
  if (source?.SshKey) source.SshKey = '*****FILTERED*****';
  return shown;
}

function checkSettings(input: StackSettings): void {
  checkArn('ServiceRoleArn', input.ServiceRoleArn, /role\/[\w+=,.@/-]+/, 'IAM role');
  checkArn('DefaultInstanceProfileArn', input.DefaultInstanceProfileArn, /instance-profile\/[\w+=,.@/-]+/, 'instance profile');
  if (input.DefaultOs !== undefined && !isKnownOs(input.DefaultOs)) {
    throw validationError(`DefaultOs: ${input.DefaultOs} is not a supported operating system; use one of: ${knownOsNames().join(', ')}`);
  }
  if (input.DefaultOs === CUSTOM_OS) throw validationError('DefaultOs: Custom needs an AMI, which only CreateInstance takes (AmiId)');
  checkOneOf('HostnameTheme', input.HostnameTheme, HOSTNAME_THEMES);
  checkOneOf('DefaultRootDeviceType', input.DefaultRootDeviceType, ROOT_DEVICE_TYPES);
  checkCustomJson('CustomJson', input.CustomJson);
  for (const key of Object.keys(input.Attributes ?? {})) checkOneOf('Attributes', key, ['Color']);
  if (input.CustomCookbooksSource) {
    checkOneOf('CustomCookbooksSource.Type', input.CustomCookbooksSource.Type, SOURCE_TYPES);
    if (input.UseCustomCookbooks && !input.CustomCookbooksSource.Url) throw validationError('CustomCookbooksSource.Url: required');
  }
  const manager = input.ConfigurationManager;
  if (manager) {
    checkOneOf('ConfigurationManager.Name', manager.Name, ['Chef']);
    checkOneOf('ConfigurationManager.Version', manager.Version, CHEF_VERSIONS);
  }
}

function configurationManager(given: StackConfigurationManager | undefined): StackConfigurationManager {
  return { Name: given?.Name ?? 'Chef', Version: given?.Version ?? '12' };
}

interface Network {
  vpcId: string;
  availabilityZone?: string;
}

/** The stack's VPC and default zone, checked against EC2: the original author had to name a subnet inside the VPC. */
async function resolveNetwork(
  service: Service,
  region: string,
  input: Pick<CreateStackRequest, 'VpcId' | 'DefaultSubnetId' | 'DefaultAvailabilityZone'>,
): Promise<Network> {
  let vpcId = input.VpcId;
  if (vpcId !== undefined) {
    if (!(await service.ec2.vpcExists(region, vpcId))) throw validationError(`VpcId: ${vpcId} does not exist in ${region}`);
    if (!input.DefaultSubnetId) throw validationError('DefaultSubnetId: required when the stack is in a VPC (VpcId)');
  } else {
    vpcId = await service.ec2.defaultVpc(region);
    if (!vpcId) throw validationError(`VpcId: required, since ${region} has no default VPC`);
  }
  if (!input.DefaultSubnetId) return { vpcId, availabilityZone: input.DefaultAvailabilityZone };
  const subnet = await service.ec2.subnet(region, input.DefaultSubnetId);
  if (!subnet) throw validationError(`DefaultSubnetId: ${input.DefaultSubnetId} does not exist in ${region}`);
  if (subnet.vpcId !== vpcId) throw validationError(`DefaultSubnetId: ${input.DefaultSubnetId} is not in VPC ${vpcId}`);
  if (input.DefaultAvailabilityZone && input.DefaultAvailabilityZone !== subnet.availabilityZone) {
    throw validationError(
      `DefaultAvailabilityZone: ${input.DefaultAvailabilityZone} differs from the zone of DefaultSubnetId ${subnet.subnetId} (${subnet.availabilityZone})`,
    );
  }
  return { vpcId, availabilityZone: subnet.availabilityZone };
}
