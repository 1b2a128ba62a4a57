// Error handling shared by the resource kinds.

import { isNotFound } from './retry.js';

/** IAM's "not found". */
export function isNoSuchEntity(error: unknown): boolean {
  return (error as { name?: string })?.name === 'NoSuchEntityException';
}

/** Awaits a removal; a resource that is already gone counts as removed. */
export async function ignoreNotFound<T>(removal: Promise<T>): Promise<T | undefined> {
  try {
    return await removal;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
