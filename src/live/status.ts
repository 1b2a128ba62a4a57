// `dupsworks status`: the live stack for a person (per zone, the NAT, who serves the private
// subnet, the heartbeat routes) or as JSON, and whether anything needs attention: a NAT that is
// not healthy, a failover in effect, changes a plan would make. Exit codes: 0 nothing needs
// attention, 2 something does (the lines at the end say what), 1 an error.

import { plainStyle, type Style } from '../planner/render.js';
import type { LiveRoute, LiveStack, LiveZone } from './stack.js';

/** What needs attention, one sentence each; empty when the stack is as the spec means it. */
export function attention(live: LiveStack): string[] {
  const notes: string[] = [];
  for (const zone of live.zones) {
    if (zone.nat.health !== 'healthy') {
      notes.push(`the NAT of ${zone.availabilityZone} is ${zone.nat.health}${zone.nat.healthDetail ? `: ${zone.nat.healthDetail}` : ''}`);
    }
    if (zone.failover) notes.push(`failover in effect: ${zone.availabilityZone} is served by the NAT of ${zone.failover.servedBy}`);
  }
  const { changes } = live.pending;
  if (changes > 0) notes.push(`${changes} change${changes === 1 ? '' : 's'} pending: run plan`);
  return notes;
}

export function statusExitCode(live: LiveStack): number {
  return attention(live).length === 0 ? 0 : 2;
}

export function statusJson(live: LiveStack): object {
  const notes = attention(live);
  return { ...live, ok: notes.length === 0, attention: notes };
}

export function renderStatus(live: LiveStack, style: Style = plainStyle): string {
  const lines = [
    `Stack ${style.bold(live.stack)} in ${live.region}: ${shown(live.vpc.physicalId)} (${live.vpc.cidr}), ` +
      `internet gateway ${shown(live.internetGateway.physicalId)}`,
  ];
  for (const zone of live.zones) lines.push('', ...zoneLines(zone, style));
  lines.push('');
  const notes = attention(live);
  if (notes.length === 0) {
    lines.push(`${style.green(style.bold('All well.'))} Every zone is served by its own healthy NAT; no changes pending.`);
  } else {
    for (const note of notes) lines.push(`${style.yellow('!')} ${note.charAt(0).toUpperCase()}${note.slice(1)}.`);
  }
  const { kept, unclaimed } = live.pending;
  if (kept + unclaimed > 0) {
    lines.push(
      `  (the plan also lists ${kept + unclaimed} thing${kept + unclaimed === 1 ? '' : 's'} it leaves alone: run plan to see them)`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function zoneLines(zone: LiveZone, style: Style): string[] {
  const { nat } = zone;
  const health =
    nat.health === 'healthy' ? style.green('healthy') : nat.health === 'starting' ? style.yellow('starting') : style.red(nat.health);
  const address = nat.publicIp
    ? `${nat.publicIp}${zone.elasticIp ? ` (Elastic IP ${zone.elasticIp.allocationId}${zone.elasticIp.reused ? ', reused' : ''})` : ''}`
    : 'no public IP';
  const natLine = nat.instanceId
    ? `${nat.instanceId} (${nat.id})  ${nat.state}  ${address}  ${health}${nat.healthDetail ? `: ${nat.healthDetail}` : ''}`
    : `${nat.id}  ${health}${nat.healthDetail ? `: ${nat.healthDetail}` : ''}`;
  const served = zone.failover
    ? style.red(
        `FAILOVER: served by the NAT of ${zone.failover.servedBy}` +
          [
            zone.failover.since ? ` since ${zone.failover.since}` : '',
            zone.failover.switchedBy ? `, switched by ${zone.failover.switchedBy}` : '',
            zone.failover.reason ? ` (${zone.failover.reason})` : '',
            zone.failover.source === 'route target' ? ' (read from the route: no agent tags about it)' : '',
          ].join(''),
      )
    : '';
  const privateSubnet = `${shown(zone.subnet.private.physicalId)} ${zone.subnet.private.cidr}`;
  const lines = [
    `${style.bold(zone.availabilityZone)}`,
    `  NAT        ${natLine}`,
    `  private    ${privateSubnet}: ${routeText(zone.privateRoute, zone.availabilityZone, 'its own NAT')}`,
    ...(served ? [`             ${served}`] : []),
  ];
  for (const heartbeat of zone.heartbeats)
    lines.push(`  heartbeat  ${routeText(heartbeat, zone.availabilityZone, 'the NAT of this zone')}`);
  return lines;
}

/** "0.0.0.0/0 in rtb-1 -> i-2, the NAT of ap-northeast-1a" */
function routeText(route: LiveRoute, zone: string, ownWords: string): string {
  const where = `${route.destination} in ${shown(route.tableId)}`;
  if (route.target === undefined) return `${where}: missing (the NAT of ${route.meantFor} is meant)`;
  const nat =
    route.servedBy === undefined ? 'not a NAT of this stack' : route.servedBy === zone ? ownWords : `the NAT of ${route.servedBy}`;
  const meant = route.servedBy !== undefined && route.servedBy !== route.meantFor ? ` (meant: the NAT of ${route.meantFor})` : '';
  return `${where} -> ${route.target}, ${nat}${meant}${route.blackhole ? ', a blackhole' : ''}`;
}

function shown(physicalId: string | undefined): string {
  return physicalId ?? '(not built)';
}
