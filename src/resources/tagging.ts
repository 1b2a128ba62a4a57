// What the kinds do with the tags they write: drift of Name (and any other desired tag) is repaired
// in place with CreateTags, and a create's own work is recognised by them after a lost reply.

import type { Tag } from '@aws-sdk/client-ec2';
import type { AwsContext } from '../aws/context.js';
import { errorCode } from '../aws/retry.js';
import { logicalIdOf, toTags } from '../aws/tags.js';
import type { AttributeChange, CreateContext } from '../planner/resource.js';

/** What applyTags calls (a kind that uses it lists it too). */
export const permissions = ['ec2:CreateTags'];

export async function applyTags(
  ctx: AwsContext,
  physicalId: string,
  changes: readonly AttributeChange[],
  desired: Readonly<Record<string, string>>,
) {
  const changed = Object.fromEntries(Object.entries(desired).filter(([key]) => changes.some((c) => c.path === `tags.${key}`)));
  if (Object.keys(changed).length === 0) return;
  const { CreateTagsCommand } = await import('@aws-sdk/client-ec2');
  await ctx.ec2.send(new CreateTagsCommand({ Resources: [physicalId], Tags: toTags(changed) }));
}

/**
 * A create sent again after a lost reply (or racing an apply that runs alongside) is refused with
 * `code` when what it makes must be unique (a subnet's block, a group's name): the one in the way,
 * found by `find`, is this very resource if it carries the stack's tags and this logical id. Any
 * other error, or anything else in the way, is the refusal it is.
 */
export async function madeBefore<T extends { Tags?: Tag[] }>(
  error: unknown,
  code: string,
  ctx: AwsContext & CreateContext,
  find: () => Promise<T[] | undefined>,
): Promise<T> {
  if (errorCode(error) !== code) throw error;
  const made = (await find())?.find((item) => logicalIdOf(item.Tags, ctx.stack) === ctx.resourceId);
  if (!made) throw error;
  return made;
}
