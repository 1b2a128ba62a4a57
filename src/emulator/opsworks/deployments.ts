// CreateDeployment, DescribeDeployments. A deployment runs for `deploymentMs`, then succeeds when
// every instance it targets is online at that moment, and fails otherwise: no Chef runs here, but a
// recipe sent to a stopped NAT fails, as it did for real.

import { randomUUID } from 'node:crypto';
import type { CreateDeploymentRequest, DescribeDeploymentsRequest } from '@aws-sdk/client-opsworks';
import { DEPLOYMENT_COMMANDS } from './catalog.js';
import { validationError } from './errors.js';
import { checkCustomJson, checkOneOf, readInput } from './input.js';
import { copy, timestamp, type DeploymentRecord } from './model.js';
import type { Handler, Service } from './service.js';

export const createDeployment: Handler = (body, service) => {
  const input = readInput<CreateDeploymentRequest>(
    body,
    {
      StackId: 'string',
      AppId: 'string',
      InstanceIds: 'strings',
      LayerIds: 'strings',
      Command: 'object',
      Comment: 'string',
      CustomJson: 'string',
    },
    ['StackId', 'Command'],
  );
  const { state } = service;
  const stack = state.stack(input.StackId!);
  const command = input.Command!;
  if (!command.Name)
    throw validationError(
      "1 validation error detected: Value null at 'Command.Name' failed to satisfy constraint: Member must not be null",
    );
  checkOneOf('Command.Name', command.Name, DEPLOYMENT_COMMANDS);
  checkCustomJson('CustomJson', input.CustomJson);
  if (input.AppId) throw validationError(`AppId: apps are not emulated (${input.AppId})`);

  const stackId = stack.stack.StackId;
  const targets = new Set<string>();
  for (const id of input.InstanceIds ?? []) {
    if (state.instance(id).instance.StackId !== stackId) throw validationError(`InstanceIds: instance ${id} belongs to another stack`);
    targets.add(id);
  }
  for (const id of input.LayerIds ?? []) {
    if (state.layer(id).layer.StackId !== stackId) throw validationError(`LayerIds: layer ${id} belongs to another stack`);
    for (const i of state.instancesOf(stackId)) if (i.instance.LayerIds.includes(id)) targets.add(i.instance.InstanceId);
  }
  // Without explicit targets a deployment goes to every instance of the stack that is online.
  if (!input.InstanceIds && !input.LayerIds) {
    for (const i of state.instancesOf(stackId)) if (i.instance.Status === 'online') targets.add(i.instance.InstanceId);
  }

  const deploymentId = randomUUID();
  const record: DeploymentRecord = {
    sequence: state.nextSequence(),
    startedAt: Date.now(),
    deployment: {
      DeploymentId: deploymentId,
      StackId: stackId,
      CreatedAt: timestamp(),
      Command: copy(command),
      Status: 'running',
      Comment: input.Comment,
      CustomJson: input.CustomJson,
      InstanceIds: [...targets],
    },
  };
  state.deployments.set(deploymentId, record);
  service.scheduler.after(service.delays.deploymentMs, () => finish(service, record));
  return { DeploymentId: deploymentId };
};

export const describeDeployments: Handler = (body, service) => {
  const input = readInput<DescribeDeploymentsRequest>(body, { StackId: 'string', AppId: 'string', DeploymentIds: 'strings' });
  const { state } = service;
  const given = [input.StackId, input.AppId, input.DeploymentIds].filter((v) => v !== undefined && v !== null);
  if (given.length !== 1) throw validationError('Please provide either one or more deployment IDs or one stack ID or one app ID');
  let records: DeploymentRecord[];
  if (input.DeploymentIds) records = input.DeploymentIds.map((id) => state.deployment(id));
  else if (input.AppId) records = [];
  else {
    const stackId = state.stack(input.StackId!).stack.StackId;
    records = [...state.deployments.values()].filter((d) => d.deployment.StackId === stackId);
  }
  records.sort((a, b) => b.sequence - a.sequence);
  return { Deployments: records.map((r) => copy(r.deployment)) };
};

async function finish(service: Service, record: DeploymentRecord): Promise<void> {
  const { state } = service;
  if (state.deployments.get(record.deployment.DeploymentId) !== record) return;
  const targets = record.deployment.InstanceIds.map((id) => state.instances.get(id));
  // Look at EC2 first: an instance stopped behind OpsWorks's back could not have run the recipes.
  await service.lifecycle.observe(targets.filter((t) => t !== undefined));
  const ok = targets.every((t) => t?.instance.Status === 'online');
  const finishedAt = Date.now();
  record.deployment.Status = ok ? 'successful' : 'failed';
  record.deployment.CompletedAt = timestamp(new Date(finishedAt));
  record.deployment.Duration = Math.round((finishedAt - record.startedAt) / 1000);
  service.log(`deployment ${record.deployment.DeploymentId} (${record.deployment.Command?.Name}): ${record.deployment.Status}`);
}
