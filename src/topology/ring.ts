// Who watches whom: the NATs form a ring in the order the spec lists the zones. Zone i's NAT
// watches the NAT of zone (i+1) mod N (its peer): it pings heartbeat.viaPeer through the peer, so
// the peer's whole egress path is tested, and it takes over the peer's private route table when
// the peer fails. Two zones make the original's cross-wiring.
//
// Computed here only. The heartbeat /32 routes, the OpsWorks custom JSON's opposite_* fields and
// the NAT agent's configuration all read it from here.

import type { Zone } from '../spec/types.js';

export interface RingPosition {
  /** This zone: its subnets and its probe targets (heartbeat.viaPeer, heartbeat.viaInternetGateway). */
  zone: Zone;
  /** Its place in the spec's list of zones. */
  index: number;
  /** The zone whose NAT this zone's NAT watches (and routes heartbeat.viaPeer through). */
  peer: Zone;
  /** The zone whose NAT watches this zone's NAT. */
  watcher: Zone;
  /** Every zone in ring order, starting with this one: itself, its peer, its peer's peer, … */
  order: Zone[];
}

/** The ring of the spec's zones, one position per zone, in the spec's order. */
export function natRing(zones: readonly Zone[]): RingPosition[] {
  const n = zones.length;
  const at = (i: number) => zones[((i % n) + n) % n]!;
  return zones.map((zone, index) => ({
    zone,
    index,
    peer: at(index + 1),
    watcher: at(index - 1),
    order: zones.map((_, k) => at(index + k)),
  }));
}
