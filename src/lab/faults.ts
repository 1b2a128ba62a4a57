// Faults to inject into a running lab, the way an outage would break a real VPC: a NAT's link
// down, its forwarding off or its masquerade flushed (inside the NAT, as a broken instance would
// be), the path between two zones cut, random loss on a path. The lab never undoes them: it
// re-programs only what the emulator changes. Drops go in the raw and mangle tables, which the
// lab's own firewalls (filter, nat) never touch.

import type { LabDescription } from './lab.js';
import { INSTANCE_LINK, routerPort } from './names.js';
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

/**
 * Cuts the path between two zones: the VPC router drops every packet that comes in from one
 * zone's instances and hosts and would go out to the other's, both ways, while both still reach
 * the internet. It covers the instances there now (a NAT launched later is not cut).
 */
export async function cutBetween(lab: LabDescription, azA: string, azB: string): Promise<void> {
  const ports = (az: string) => {
    const zone = lab.zones.find((z) => z.availabilityZone === az);
    if (!zone) throw new Error(`the lab has no zone ${az}`);
    return [...(zone.host ? [routerPort(`host/${az}`)] : []), ...zone.nats.map((n) => routerPort(n.instanceId))];
  };
  for (const from of ports(azA)) {
    for (const to of ports(azB)) {
      for (const [i, o] of [
        [from, to],
        [to, from],
      ]) {
        // The mangle table: it sees where a packet goes (raw does not), and the lab never writes it.
        await inNamespace(lab.namespaces.router, 'iptables', ['-t', 'mangle', '-A', 'FORWARD', '-i', i!, '-o', o!, '-j', 'DROP']);
      }
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

/** Undoes cutBetween (in the router's namespace) and randomLoss in a namespace. */
export async function clearDrops(namespace: string): Promise<void> {
  await inNamespace(namespace, 'iptables', ['-t', 'raw', '-F']);
  await inNamespace(namespace, 'iptables', ['-t', 'mangle', '-F']);
}

async function dropInRaw(namespace: string, match: readonly string[]): Promise<void> {
  await inNamespace(namespace, 'iptables', ['-t', 'raw', '-A', 'PREROUTING', ...match, '-j', 'DROP']);
}
