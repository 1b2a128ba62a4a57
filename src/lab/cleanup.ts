// Removes everything a lab of a stack made: the processes left inside its namespaces (a service,
// a boot script), the namespaces with their links, their /etc/netns directories and the lab's
// state directory. Safe to run when nothing is there; it touches only names with the stack's prefix.

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deleteNamespace, listNamespaces, namespacePids } from './kernel.js';
import { NETNS_ETC, labNames, namespacePrefix } from './names.js';

/** Removes the lab of `stack`; returns the namespaces it removed. */
export async function removeLab(stack: string): Promise<string[]> {
  const prefix = namespacePrefix(stack);
  const namespaces = (await listNamespaces()).filter((n) => n.startsWith(prefix));
  for (const ns of namespaces) {
    for (const pid of await namespacePids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const ns of namespaces) await deleteNamespace(ns);
  const etc = await readdir(NETNS_ETC).catch(() => [] as string[]);
  for (const entry of etc.filter((e) => e.startsWith(prefix))) await rm(join(NETNS_ETC, entry), { recursive: true, force: true });
  await rm(labNames(stack).stateDir, { recursive: true, force: true });
  return namespaces;
}
