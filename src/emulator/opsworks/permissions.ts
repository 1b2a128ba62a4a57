// SetPermission, DescribePermissions: which IAM users may SSH into a stack's instances, use sudo
// there, and at which level they may manage the stack.

import type { DescribePermissionsRequest, SetPermissionRequest } from '@aws-sdk/client-opsworks';
import { PERMISSION_LEVELS } from './catalog.js';
import { validationError } from './errors.js';
import { checkArn, checkOneOf, readInput } from './input.js';
import { copy, permissionKey } from './model.js';
import type { Handler } from './service.js';

const USER_ARN = /(user|role)\/[\w+=,.@/-]+/;

/** An upsert: a field left out keeps its earlier value (or false / no level for a new permission). */
export const setPermission: Handler = (body, service) => {
  const input = readInput<SetPermissionRequest>(
    body,
    { StackId: 'string', IamUserArn: 'string', AllowSsh: 'boolean', AllowSudo: 'boolean', Level: 'string' },
    ['StackId', 'IamUserArn'],
  );
  const stackId = service.state.stack(input.StackId!).stack.StackId;
  checkArn('IamUserArn', input.IamUserArn, USER_ARN, 'IAM user');
  checkOneOf('Level', input.Level, PERMISSION_LEVELS);
  const key = permissionKey(stackId, input.IamUserArn!);
  const earlier = service.state.permissions.get(key);
  service.state.permissions.set(key, {
    StackId: stackId,
    IamUserArn: input.IamUserArn!,
    AllowSsh: input.AllowSsh ?? earlier?.AllowSsh ?? false,
    AllowSudo: input.AllowSudo ?? earlier?.AllowSudo ?? false,
    Level: input.Level ?? earlier?.Level,
  });
  return {};
};

export const describePermissions: Handler = (body, service) => {
  const input = readInput<DescribePermissionsRequest>(body, { StackId: 'string', IamUserArn: 'string' });
  if (!input.StackId && !input.IamUserArn) throw validationError('Please provide a stack ID, an IAM user ARN, or both');
  if (input.StackId) service.state.stack(input.StackId);
  const permissions = [...service.state.permissions.values()].filter(
    (p) => (!input.StackId || p.StackId === input.StackId) && (!input.IamUserArn || p.IamUserArn === input.IamUserArn),
  );
  return { Permissions: permissions.map(copy) };
};
