// The operations the emulator answers, by the name in `X-Amz-Target: OpsWorks_20130218.<Name>`.
// Any other name gets UnknownOperationException.

import type { DescribeOperatingSystemsResponse } from '@aws-sdk/client-opsworks';
import { OPERATING_SYSTEMS } from './catalog.js';
import { createDeployment, describeDeployments } from './deployments.js';
import { createInstance, deleteInstance, describeInstances, startInstance, stopInstance } from './instances.js';
import { createLayer, deleteLayer, describeLayers, updateLayer } from './layers.js';
import { describePermissions, setPermission } from './permissions.js';
import type { Handler } from './service.js';
import { createStack, deleteStack, describeStacks, updateStack } from './stacks.js';
import { listTags, tagResource, untagResource } from './tags.js';

const describeOperatingSystems: Handler = (): DescribeOperatingSystemsResponse => ({
  OperatingSystems: OPERATING_SYSTEMS.map((os) => ({
    Name: os.name,
    Id: os.name,
    Type: 'Linux',
    ConfigurationManagers: [{ Name: 'Chef', Version: '12' }],
    Supported: true,
  })),
});

export const OPERATIONS: Readonly<Record<string, Handler>> = {
  CreateStack: createStack,
  DescribeStacks: describeStacks,
  UpdateStack: updateStack,
  DeleteStack: deleteStack,
  CreateLayer: createLayer,
  DescribeLayers: describeLayers,
  UpdateLayer: updateLayer,
  DeleteLayer: deleteLayer,
  CreateInstance: createInstance,
  DescribeInstances: describeInstances,
  StartInstance: startInstance,
  StopInstance: stopInstance,
  DeleteInstance: deleteInstance,
  CreateDeployment: createDeployment,
  DescribeDeployments: describeDeployments,
  SetPermission: setPermission,
  DescribePermissions: describePermissions,
  TagResource: tagResource,
  UntagResource: untagResource,
  ListTags: listTags,
  DescribeOperatingSystems: describeOperatingSystems,
};
