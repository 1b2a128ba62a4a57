// TagResource, UntagResource, ListTags on stack and layer ARNs. The tags do more than sit there:
// instances launched afterwards carry their stack's and layers' tags in EC2 (see lifecycle.ts).

import type { ListTagsRequest, TagResourceRequest, UntagResourceRequest } from '@aws-sdk/client-opsworks';
import { notFoundError, validationError } from './errors.js';
import { readInput } from './input.js';
import type { Handler, Service } from './service.js';

const MAX_TAGS = 40;

export const tagResource: Handler = (body, service) => {
  const input = readInput<TagResourceRequest>(body, { ResourceArn: 'string', Tags: 'stringMap' }, ['ResourceArn', 'Tags']);
  const tags = tagsOf(service, input.ResourceArn!);
  for (const [key, value] of Object.entries(input.Tags!)) {
    if (key.length < 1 || key.length > 127) throw validationError(`Tags: the key ${key} must be 1 to 127 characters long`);
    if (key.toLowerCase().startsWith('aws:')) throw validationError(`Tags: the key ${key} uses the reserved prefix aws:`);
    if (value.length > 256) throw validationError(`Tags: the value of ${key} is longer than 256 characters`);
  }
  const merged = { ...tags, ...input.Tags };
  if (Object.keys(merged).length > MAX_TAGS) throw validationError(`Tags: a resource can have at most ${MAX_TAGS} tags`);
  Object.assign(tags, input.Tags);
  return {};
};

export const untagResource: Handler = (body, service) => {
  const input = readInput<UntagResourceRequest>(body, { ResourceArn: 'string', TagKeys: 'strings' }, ['ResourceArn', 'TagKeys']);
  const tags = tagsOf(service, input.ResourceArn!);
  for (const key of input.TagKeys!) delete tags[key];
  return {};
};

export const listTags: Handler = (body, service) => {
  const input = readInput<ListTagsRequest>(body, { ResourceArn: 'string', MaxResults: 'integer', NextToken: 'string' }, ['ResourceArn']);
  return { Tags: { ...tagsOf(service, input.ResourceArn!) } };
};

/** The live tag map of the stack or layer the ARN names. */
function tagsOf(service: Service, arn: string): Record<string, string> {
  for (const record of service.state.stacks.values()) if (record.stack.Arn === arn) return record.tags;
  for (const record of service.state.layers.values()) if (record.layer.Arn === arn) return record.tags;
  throw notFoundError(`Unable to find resource with ARN ${arn}`);
}
