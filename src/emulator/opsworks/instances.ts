// CreateInstance, DescribeInstances, StartInstance, StopInstance, DeleteInstance. The status walk and
// everything done in EC2 is lifecycle.ts; this file is the API around it.

import { randomUUID } from 'node:crypto';
import type {
  CreateInstanceRequest,
  DeleteInstanceRequest,
  DescribeInstancesRequest,
  StartInstanceRequest,
  StopInstanceRequest,
} from '@aws-sdk/client-opsworks';
import { CUSTOM_OS, ROOT_DEVICE_TYPES, findOs, isKnownInstanceType, isKnownOs, knownOsNames } from './catalog.js';
import type { SubnetInfo } from './ec2-backend.js';
import { validationError } from './errors.js';
import { checkOneOf, readInput } from './input.js';
import { copy, instanceArn, timestamp, type InstanceRecord, type LayerRecord, type StackRecord } from './model.js';
import type { Handler, Service } from './service.js';

export const createInstance: Handler = async (body, service) => {
  const input = readInput<CreateInstanceRequest>(
    body,
    {
      StackId: 'string',
      LayerIds: 'strings',
      InstanceType: 'string',
      AutoScalingType: 'string',
      Hostname: 'string',
      Os: 'string',
      AmiId: 'string',
      SshKeyName: 'string',
      AvailabilityZone: 'string',
      VirtualizationType: 'string',
      SubnetId: 'string',
      Architecture: 'string',
      RootDeviceType: 'string',
      InstallUpdatesOnBoot: 'boolean',
      EbsOptimized: 'boolean',
      AgentVersion: 'string',
      Tenancy: 'string',
    },
    ['StackId', 'LayerIds', 'InstanceType'],
  );
  const { state } = service;
  const stack = state.stack(input.StackId!);
  const layers = layersFor(service, stack, input.LayerIds!);
  if (!isKnownInstanceType(input.InstanceType!))
    throw validationError(`InstanceType: ${input.InstanceType} is not a supported instance type`);
  const os = input.Os ?? stack.stack.DefaultOs;
  if (!isKnownOs(os)) throw validationError(`Os: ${os} is not a supported operating system; use one of: ${knownOsNames().join(', ')}`);
  if (os === CUSTOM_OS && !input.AmiId) throw validationError('AmiId: required when Os is Custom');
  if (os !== CUSTOM_OS && input.AmiId) throw validationError('AmiId: only with Os Custom');
  checkOneOf('RootDeviceType', input.RootDeviceType, ROOT_DEVICE_TYPES);
  checkOneOf('Architecture', input.Architecture, ['x86_64', 'i386']);
  checkOneOf('AutoScalingType', input.AutoScalingType, ['load', 'timer']);
  const hostname = input.Hostname ?? suggestHostname(service, stack, layers[0]!);
  checkHostname(service, stack, hostname);
  const subnet = await subnetFor(service, stack, input);

  const instanceId = randomUUID();
  const record: InstanceRecord = {
    run: 0,
    ec2Work: Promise.resolve(),
    instance: {
      InstanceId: instanceId,
      Arn: instanceArn(stack.stack.Region, instanceId),
      StackId: stack.stack.StackId,
      LayerIds: [...input.LayerIds!],
      InstanceType: input.InstanceType,
      Hostname: hostname,
      Os: os,
      AmiId: os === CUSTOM_OS ? input.AmiId : findOs(os)!.amiId,
      SshKeyName: input.SshKeyName ?? stack.stack.DefaultSshKeyName,
      AvailabilityZone: subnet.availabilityZone,
      SubnetId: subnet.subnetId,
      RootDeviceType: input.RootDeviceType ?? stack.stack.DefaultRootDeviceType ?? 'instance-store',
      Architecture: input.Architecture ?? 'x86_64',
      VirtualizationType: input.VirtualizationType === 'paravirtual' ? 'paravirtual' : 'hvm',
      AutoScalingType: input.AutoScalingType,
      InstallUpdatesOnBoot: input.InstallUpdatesOnBoot ?? true,
      EbsOptimized: input.EbsOptimized ?? false,
      AgentVersion: input.AgentVersion ?? 'INHERIT',
      Tenancy: input.Tenancy,
      InfrastructureClass: 'ec2',
      InstanceProfileArn:
        layers.find((l) => l.layer.CustomInstanceProfileArn)?.layer.CustomInstanceProfileArn ?? stack.stack.DefaultInstanceProfileArn,
      SecurityGroupIds: [],
      Status: 'stopped',
      CreatedAt: timestamp(),
    },
  };
  state.instances.set(instanceId, record);
  return { InstanceId: instanceId };
};

export const describeInstances: Handler = async (body, service) => {
  const input = readInput<DescribeInstancesRequest>(body, { StackId: 'string', LayerId: 'string', InstanceIds: 'strings' });
  const { state } = service;
  const given = [input.StackId, input.LayerId, input.InstanceIds].filter((v) => v !== undefined && v !== null);
  if (given.length !== 1) throw validationError('Please provide either one or more instance IDs or one stack ID or one layer ID');
  let records: InstanceRecord[];
  if (input.InstanceIds) records = input.InstanceIds.map((id) => state.instance(id));
  else if (input.LayerId) {
    const layerId = state.layer(input.LayerId).layer.LayerId;
    records = [...state.instances.values()].filter((i) => i.instance.LayerIds.includes(layerId));
  } else records = state.instancesOf(state.stack(input.StackId!).stack.StackId);
  await service.lifecycle.observe(records);
  return { Instances: records.map((r) => copy(r.instance)) };
};

export const startInstance: Handler = (body, service) => {
  const input = readInput<StartInstanceRequest>(body, { InstanceId: 'string' }, ['InstanceId']);
  service.lifecycle.start(service.state.instance(input.InstanceId!));
  return {};
};

export const stopInstance: Handler = (body, service) => {
  const input = readInput<StopInstanceRequest>(body, { InstanceId: 'string', Force: 'boolean' }, ['InstanceId']);
  service.lifecycle.stop(service.state.instance(input.InstanceId!));
  return {};
};

/** Only a stopped instance (or one that never got going) may be deleted, as with the real service. */
const DELETABLE = new Set(['stopped', 'start_failed']);

export const deleteInstance: Handler = async (body, service) => {
  const input = readInput<DeleteInstanceRequest>(body, { InstanceId: 'string', DeleteElasticIp: 'boolean', DeleteVolumes: 'boolean' }, [
    'InstanceId',
  ]);
  const record = service.state.instance(input.InstanceId!);
  const status = record.instance.Status;
  if (!DELETABLE.has(status)) {
    throw validationError(`Instance ${record.instance.InstanceId} must be stopped before it can be deleted (its status is ${status})`);
  }
  await service.lifecycle.remove(record, input.DeleteElasticIp !== false);
  return {};
};

function layersFor(service: Service, stack: StackRecord, layerIds: string[]): LayerRecord[] {
  if (layerIds.length === 0) throw validationError('LayerIds: an instance needs at least one layer');
  return layerIds.map((id) => {
    const layer = service.state.layer(id);
    if (layer.layer.StackId !== stack.stack.StackId) throw validationError(`LayerIds: layer ${id} belongs to another stack`);
    return layer;
  });
}

/** The "Layer_Dependent" theme: the first layer's short name and the lowest free number (nat1, nat2, ...). */
function suggestHostname(service: Service, stack: StackRecord, layer: LayerRecord): string {
  const prefix = layer.layer.Shortname.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const taken = new Set(service.state.instancesOf(stack.stack.StackId).map((i) => i.instance.Hostname.toLowerCase()));
  let n = 1;
  while (taken.has(`${prefix}${n}`)) n++;
  return `${prefix}${n}`;
}

function checkHostname(service: Service, stack: StackRecord, hostname: string): void {
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(hostname)) {
    throw validationError(`Hostname: ${hostname} is not a valid host name (letters, digits and inner hyphens, at most 63)`);
  }
  const clash = service.state.instancesOf(stack.stack.StackId).some((i) => i.instance.Hostname.toLowerCase() === hostname.toLowerCase());
  if (clash) throw validationError(`Hostname: ${hostname} is already used by another instance of this stack`);
}

/** The instance's subnet (given, else the stack's default) must be in the stack's VPC; its zone is the instance's. */
async function subnetFor(service: Service, stack: StackRecord, input: CreateInstanceRequest): Promise<SubnetInfo> {
  const region = stack.stack.Region;
  const subnetId = input.SubnetId ?? stack.stack.DefaultSubnetId;
  let subnet: SubnetInfo | undefined;
  if (subnetId) {
    subnet = await service.ec2.subnet(region, subnetId);
    if (!subnet) throw validationError(`SubnetId: ${subnetId} does not exist in ${region}`);
    if (subnet.vpcId !== stack.vpcId) throw validationError(`SubnetId: ${subnetId} is not in the stack's VPC ${stack.vpcId}`);
  } else {
    subnet = await service.ec2.defaultSubnet(region, stack.vpcId, input.AvailabilityZone ?? stack.stack.DefaultAvailabilityZone);
    if (!subnet) throw validationError(`AvailabilityZone: no default subnet of ${stack.vpcId} in ${input.AvailabilityZone ?? region}`);
  }
  if (input.AvailabilityZone && input.AvailabilityZone !== subnet.availabilityZone) {
    throw validationError(
      `AvailabilityZone: ${input.AvailabilityZone} differs from the zone of subnet ${subnet.subnetId} (${subnet.availabilityZone})`,
    );
  }
  return subnet;
}
