// The configuration of the failover agent on a zone's NAT (src/nat/agent.sh reads it): stable
// values only, so that replacing one NAT changes no other NAT's user data. The agent finds the
// instances and route tables these name at run time, by the stack's tags; the names are made by
// the kinds' id schemes and the ring is ring.ts's.

import { RESOURCE_TAG, STACK_TAG } from '../aws/tags.js';
import { natInstance } from '../resources/nat-instance.js';
import { routeTable } from '../resources/route-table.js';
import { failoverOf } from '../spec/defaults.js';
import type { Spec } from '../spec/types.js';
import { natRing } from './ring.js';

/** How often an agent reads the stack's instances and route tables (the slow signal; probes are the fast one). */
export const DISCOVER_SECONDS = 10;

export function agentConfig(spec: Spec, az: string): [string, string][] {
  const position = natRing(spec.zones).find((p) => p.zone.availabilityZone === az);
  if (!position) throw new Error(`internal: no zone ${az} in the spec`);
  const ring = position.order;
  const list = (f: (zone: (typeof ring)[number]) => string) => ring.map(f).join(',');
  const failover = failoverOf(spec);
  return [
    ['STACK', spec.name],
    ['REGION', spec.region],
    ['ZONE', az],
    // The ring from this zone on: this zone, its peer, its peer's peer, …
    ['RING_ZONES', list((z) => z.availabilityZone)],
    // Per ring zone: its heartbeat.viaPeer, which this zone's public table sends through the next ring zone's NAT.
    ['RING_VIA_PEER', list((z) => z.heartbeat.viaPeer)],
    ['RING_NAT_IDS', list((z) => natInstance.ids.id({ availabilityZone: z.availabilityZone }))],
    ['RING_PRIVATE_TABLE_IDS', list((z) => routeTable.ids.id({ tier: 'private', availabilityZone: z.availabilityZone }))],
    ['PUBLIC_TABLE_ID', routeTable.ids.id({ tier: 'public', availabilityZone: az })],
    ['SELF_TARGET', position.zone.heartbeat.viaInternetGateway],
    ['STACK_TAG', STACK_TAG],
    ['RESOURCE_TAG', RESOURCE_TAG],
    ['PROBE_INTERVAL_MS', String(failover.probeIntervalMs)],
    ['FAIL_AFTER', String(failover.failAfter)],
    ['RECOVER_AFTER', String(failover.recoverAfter)],
    ['HOLD_DOWN_SECONDS', String(failover.holdDownSeconds)],
    ['DISCOVER_SECONDS', String(DISCOVER_SECONDS)],
    ...(failover.snsTopicArn ? ([['SNS_TOPIC_ARN', failover.snsTopicArn]] as [string, string][]) : []),
  ];
}
