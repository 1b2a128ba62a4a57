// Faults to inject into a running lab, the way an outage would break a real VPC: a NAT's link
// down, its forwarding off or its masquerade flushed (inside the NAT, as a broken instance would
// be), the path between two zones cut, random loss on a path. The lab never undoes them: it
// re-programs only what the emulator changes. Drops go in each namespace's raw table, which the
// lab's own firewalls (filter, nat) never touch.

import { INSTANCE_LINK } from './names.js';
import { inNamespace, ipBatch } from './kernel.js';

/** A place in the lab: an instance's or private host's namespace, with its router address. */
export interface Place {
  namespace: string;
  gateway: string;
}

export async function linkDown(place: Place): Promise<void> {
  await ipBatch(place.namespace, [`link set ${INSTANCE_LINK} down`]);
}

export async function linkUp(place: Place): Promise<void> {
  await ipBatch(place.namespace, [`link set ${INSTANCE_LINK} up`, `route replace default via ${place.gateway} dev ${INSTANCE_LINK}`]);
}

export async function setForwarding(namespace: string, on: boolean): Promise<void> {
  await inNamespace(namespace, 'sysctl', ['-q', '-w', `net.ipv4.ip_forward=${on ? 1 : 0}`]);
}

/** What an operator's `iptables -t nat -F` does to a NAT: it still reaches the internet itself. */
export async function flushMasquerade(namespace: string): Promise<void> {
  await inNamespace(namespace, 'iptables', ['-t', 'nat', '-F', 'POSTROUTING']);
}

/** Drops, in the VPC router, every packet between the two blocks (two zones' subnets, say), both ways. */
export async function cutBetween(routerNamespace: string, a: readonly string[], b: readonly string[]): Promise<void> {
  for (const from of a) {
    for (const to of b) {
      await dropInRaw(routerNamespace, ['-s', from, '-d', to]);
      await dropInRaw(routerNamespace, ['-s', to, '-d', from]);
    }
  }
}

/** Drops each packet entering or leaving `namespace` with the given probability (0..1). */
export async function randomLoss(namespace: string, probability: number): Promise<void> {
  if (!(probability > 0 && probability <= 1)) throw new Error(`a loss probability is above 0 and at most 1, not ${probability}`);
  const statistic = ['-m', 'statistic', '--mode', 'random', '--probability', String(probability)];
  await dropInRaw(namespace, statistic);
  await inNamespace(namespace, 'iptables', ['-t', 'raw', '-A', 'OUTPUT', ...statistic, '-j', 'DROP']);
}

/** Undoes cutBetween and randomLoss in a namespace. */
export async function clearDrops(namespace: string): Promise<void> {
  await inNamespace(namespace, 'iptables', ['-t', 'raw', '-F']);
}

async function dropInRaw(namespace: string, match: readonly string[]): Promise<void> {
  await inNamespace(namespace, 'iptables', ['-t', 'raw', '-A', 'PREROUTING', ...match, '-j', 'DROP']);
}
