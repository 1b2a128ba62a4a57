// Everything a lab makes carries one prefix with the stack's name: its network namespaces, their
// hosts files under /etc/netns, and its state directory. Stack names are letters, digits and
// hyphens, so the dot after the name keeps stack "a" from ever matching stack "a-b"'s things.

import { createHash } from 'node:crypto';
import { join } from 'node:path';

const PREFIX = 'dwlab-';

/** Where running labs keep their pid, description, log and the NATs' root directories. */
export const STATE_ROOT = '/run/dupsworks-lab';
/** `ip netns exec NAME` bind-mounts /etc/netns/NAME/hosts over /etc/hosts. */
export const NETNS_ETC = '/etc/netns';

export function namespacePrefix(stack: string): string {
  return `${PREFIX}${stack}.`;
}

export interface LabNames {
  stack: string;
  router: string;
  internetGateway: string;
  internet: string;
  host(az: string): string;
  instance(instanceId: string): string;
  stateDir: string;
  pidFile: string;
  descriptionFile: string;
  logFile: string;
  /** The directory a NAT's boot script writes its files under, in place of /. */
  instanceRoot(instanceId: string): string;
}

export function labNames(stack: string): LabNames {
  const ns = (what: string) => `${namespacePrefix(stack)}${what}`;
  const stateDir = join(STATE_ROOT, stack);
  return {
    stack,
    router: ns('router'),
    internetGateway: ns('igw'),
    internet: ns('internet'),
    host: (az) => ns(`host-${az}`),
    instance: (id) => ns(id),
    stateDir,
    pidFile: join(stateDir, 'lab.pid'),
    descriptionFile: join(stateDir, 'lab.json'),
    logFile: join(stateDir, 'lab.log'),
    instanceRoot: (id) => join(stateDir, 'root', id),
  };
}

/** The stack a namespace belongs to, if it is a lab's. */
export function stackOfNamespace(name: string): string | undefined {
  if (!name.startsWith(PREFIX)) return undefined;
  const dot = name.indexOf('.', PREFIX.length);
  return dot > PREFIX.length ? name.slice(PREFIX.length, dot) : undefined;
}

// Interface names are limited to 15 characters but are per namespace: inside an instance it is
// always ens5 (Amazon Linux's name), and the router names its end after a hash of the instance.
export const INSTANCE_LINK = 'ens5';
export const ROUTER_TO_IGW = 'igw0';
export const IGW_TO_ROUTER = 'vpc0';
export const IGW_TO_INTERNET = 'inet0';
export const INTERNET_TO_IGW = 'igw0';

export function routerPort(endpointKey: string): string {
  return `p${createHash('sha256').update(endpointKey).digest('hex').slice(0, 12)}`;
}
