// Name (and any other desired tag) drift is repaired in place with CreateTags.

import type { AwsContext } from '../aws/context.js';
import { toTags } from '../aws/tags.js';
import type { AttributeChange } from '../planner/resource.js';

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
