// Resources are found by their tags; there is no state file. Every EC2 resource the stack makes
// carries these from the moment it exists (TagSpecifications), so a crash never leaves an
// untagged orphan.

import type { ResourceType, Tag, TagSpecification } from '@aws-sdk/client-ec2';
import type { IdScheme } from '../planner/identity.js';

export const STACK_TAG = 'dupsworks:stack';
export const RESOURCE_TAG = 'dupsworks:resource';

/**
 * What the NATs' failover agents write, for people and `dupsworks status` to read: on a private
 * route table, who serves it since when and why (the last switch); on a NAT, what its watcher's
 * probes last found. Never written by the engine, never compared by a plan.
 */
export const AGENT_TAGS = {
  servedBy: 'dupsworks:served-by',
  servedByNat: 'dupsworks:served-by-nat',
  servedSince: 'dupsworks:served-since',
  switch: 'dupsworks:switch',
  switchedBy: 'dupsworks:switched-by',
  health: 'dupsworks:health',
  healthBy: 'dupsworks:health-by',
  healthSince: 'dupsworks:health-since',
} as const;

export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).filter((t) => t.Key).map((t) => [t.Key!, t.Value ?? '']));
}

/** The logical id of a resource of `stack`, or undefined when it is not one of ours. */
export function logicalIdOf(tags: readonly Tag[] | undefined, stack: string): string | undefined {
  const map = tagMap(tags);
  return map[STACK_TAG] === stack ? map[RESOURCE_TAG] : undefined;
}

/**
 * The resources of `stack` among `items` whose logical id is one of `ids` (a kind's scheme), each
 * with its logical id and the key it names. A kind claims only ids of its own scheme: other kinds'
 * resources, and resources that carry the stack tag without a logical id (instances OpsWorks
 * launched for the stack), are not its to manage.
 */
export function withLogicalIds<T extends { Tags?: Tag[] }, K>(
  items: readonly T[],
  stack: string,
  ids: IdScheme<K>,
): { id: string; key: K; item: T }[] {
  return items.flatMap((item) => {
    const id = logicalIdOf(item.Tags, stack);
    const key = id === undefined ? undefined : ids.parse(id);
    return id !== undefined && key !== undefined ? [{ id, key, item }] : [];
  });
}

/** Whether `tags` say the resource belongs to `stack` (with or without a logical id). */
export function ofStack(tags: readonly Tag[] | undefined, stack: string): boolean {
  return tagMap(tags)[STACK_TAG] === stack;
}

/** The tags a new resource gets: the desired ones plus the stack's identity. */
export function tagSpecifications(
  resourceType: ResourceType,
  stack: string,
  logicalId: string,
  tags: Readonly<Record<string, string>>,
): TagSpecification[] {
  const all = { ...tags, [STACK_TAG]: stack, [RESOURCE_TAG]: logicalId };
  return [{ ResourceType: resourceType, Tags: Object.entries(all).map(([Key, Value]) => ({ Key, Value })) }];
}

/** As EC2 and IAM take them. */
export function toTags(tags: Readonly<Record<string, string>>): { Key: string; Value: string }[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
