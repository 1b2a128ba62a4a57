// The stack as it is now, zone by zone, read off a plan (one read of the world, the plan's batched
// calls): each NAT's state, address and health; which NAT serves each private subnet, and whether
// that is a failover (since when and by whom, from the agents' tags when they wrote some); the
// heartbeat routes and where they point; and what a plan would change. Pure: `dupsworks status`,
// `graph` and `output` render it.
//
// Which NAT a zone's routes are meant for is the spec's word, read from the desired routes: the
// same for both NAT managers (an OpsWorks NAT is found by its EC2 instance).

import { AGENT_TAGS } from '../aws/tags.js';
import { countActions, heldChanges, type Change, type Plan } from '../planner/plan.js';
import { isRef } from '../planner/values.js';
import type { EipAssociationState } from '../resources/eip-association.js';
import { elasticIp } from '../resources/elastic-ip.js';
import { eipAssociation } from '../resources/eip-association.js';
import { internetGateway } from '../resources/internet-gateway.js';
import type { NatInstanceState } from '../resources/nat-instance.js';
import type { OpsWorksInstanceState } from '../resources/opsworks-instance.js';
import { routeTable, type RouteTableState } from '../resources/route-table.js';
import type { RouteState } from '../resources/route.js';
import { securityGroup } from '../resources/security-group.js';
import { subnet } from '../resources/subnet.js';
import { vpc } from '../resources/vpc.js';
import type { Spec } from '../spec/types.js';
import type { Tier } from '../topology/network.js';

/** A resource of the spec: its logical id, and its id in AWS once it exists. */
export interface Part {
  id: string;
  physicalId?: string;
}

export type HealthStatus = 'healthy' | 'starting' | 'impaired' | 'failing' | 'stopped' | 'down' | 'missing';

export interface LiveNat extends Part {
  /** The EC2 instance (an OpsWorks NAT's physical id is OpsWorks's). */
  instanceId?: string;
  /** EC2's state (OpsWorks's status, for an OpsWorks NAT). */
  state?: string;
  publicIp?: string;
  health: HealthStatus;
  /** Why it is not healthy, or who found it healthy. */
  healthDetail?: string;
}

export interface LiveRoute {
  id: string;
  destination: string;
  /** The route table's id in AWS. */
  tableId?: string;
  /** Absent: the route does not exist. */
  target?: string;
  blackhole: boolean;
  /** The zone whose NAT the spec routes it through. */
  meantFor: string;
  /** The zone whose NAT it points at now, when it points at a NAT of the stack. */
  servedBy?: string;
}

export interface Failover {
  /** The zone whose NAT serves it instead. */
  servedBy: string;
  /** When the agent took it over, if an agent wrote so. */
  since?: string;
  /** The instance that switched it (an agent), if it wrote so. */
  switchedBy?: string;
  reason?: string;
  /** Where this was read: the agent's tags on the route table, or only the route's target. */
  source: 'agent tags' | 'route target';
}

export interface LiveZone {
  availabilityZone: string;
  subnet: Record<Tier, Part & { cidr: string }>;
  routeTable: Record<Tier, Part>;
  nat: LiveNat;
  elasticIp?: { allocationId: string; publicIp?: string; reused: boolean };
  /** The private subnet's default route. */
  privateRoute: LiveRoute;
  /** Set while another zone's NAT serves this zone's private subnet. */
  failover?: Failover;
  /** The /32 routes of the public table through NATs: what this zone's NAT pings its peers by. */
  heartbeats: LiveRoute[];
}

export interface LiveStack {
  stack: string;
  region: string;
  vpc: Part & { cidr: string };
  internetGateway: Part;
  natSecurityGroup: Part;
  zones: LiveZone[];
  /** What a plan would change now. */
  pending: { add: number; change: number; destroy: number; changes: number; kept: number; unclaimed: number };
}

const DEFAULT_ROUTE = '0.0.0.0/0';

export function liveStack(spec: Spec, plan: Plan): LiveStack {
  const byId = new Map<string, Change>();
  for (const c of plan.changes) if (c.action !== 'delete') byId.set(c.id, c);
  const part = (id: string): Part => {
    const physicalId = byId.get(id)?.observed?.physicalId;
    return physicalId ? { id, physicalId } : { id };
  };
  const routes = plan.changes.filter((c) => c.kind === 'route' && c.desired);
  const routesIn = (table: string) =>
    routes.filter((c) => isRef(c.desired!.props.routeTableId) && c.desired!.props.routeTableId.$ref === table);
  const natOf = (route: Change): string | undefined => {
    const target = route.desired!.props.instanceId;
    return isRef(target) ? target.$ref : undefined;
  };

  // The NAT each zone's private route is meant for, and every id in AWS each NAT (also a duplicate) is known by.
  const privateRouteOf = (az: string) =>
    routesIn(routeTable.ids.id({ tier: 'private', availabilityZone: az })).find(
      (c) => c.desired!.props.destinationCidrBlock === DEFAULT_ROUTE,
    );
  const zoneOfNat = new Map<string, string>();
  for (const zone of spec.zones) {
    const route = privateRouteOf(zone.availabilityZone);
    const nat = route && natOf(route);
    if (nat) zoneOfNat.set(nat, zone.availabilityZone);
  }
  const zoneOfInstance = new Map<string, string>();
  for (const c of plan.changes) {
    const zone = c.observed && zoneOfNat.get(c.observed.id);
    if (!zone) continue;
    for (const id of [c.observed!.physicalId, ...(c.observed!.alsoKnownAs ?? [])]) zoneOfInstance.set(id, zone);
  }

  const liveRoute = (c: Change, meantFor: string): LiveRoute => {
    const state = c.observed?.state as RouteState | undefined;
    const table = byId.get((c.desired!.props.routeTableId as { $ref: string }).$ref)?.observed?.physicalId;
    const servedBy = state?.target ? zoneOfInstance.get(state.target) : undefined;
    return {
      id: c.id,
      destination: String(c.desired!.props.destinationCidrBlock),
      ...(table ? { tableId: table } : {}),
      ...(state?.target ? { target: state.target } : {}),
      blackhole: state?.state === 'blackhole',
      meantFor,
      ...(servedBy ? { servedBy } : {}),
    };
  };

  const zones = spec.zones.map((zone): LiveZone => {
    const az = zone.availabilityZone;
    const tables = {
      public: routeTable.ids.id({ tier: 'public', availabilityZone: az }),
      private: routeTable.ids.id({ tier: 'private', availabilityZone: az }),
    };
    const privateRoute = privateRouteOf(az);
    const natId = privateRoute ? natOf(privateRoute) : undefined;
    const nat = liveNat(natId ? byId.get(natId) : undefined, natId ?? '');
    const route = privateRoute ? liveRoute(privateRoute, az) : { id: '', destination: DEFAULT_ROUTE, blackhole: false, meantFor: az };
    const address = byId.get(eipAssociation.ids.id({ availabilityZone: az }));
    const heldAddress = address?.observed?.state as EipAssociationState | undefined;
    const wantedAllocation = address?.desired?.props.allocationId;
    const ownAddress = byId.get(elasticIp.ids.id({ availabilityZone: az }))?.observed;
    const allocationId = typeof wantedAllocation === 'string' ? wantedAllocation : ownAddress?.physicalId;
    const publicIp = heldAddress?.publicIp ?? ownAddress?.outputs.publicIp;
    // The address a NAT holds is its egress address, whatever EC2 still shows on an instance it left.
    if (heldAddress && heldAddress.instanceId === nat.instanceId) nat.publicIp = heldAddress.publicIp;
    return {
      availabilityZone: az,
      subnet: {
        public: { ...part(subnet.ids.id({ tier: 'public', availabilityZone: az })), cidr: zone.publicSubnet },
        private: { ...part(subnet.ids.id({ tier: 'private', availabilityZone: az })), cidr: zone.privateSubnet },
      },
      routeTable: { public: part(tables.public), private: part(tables.private) },
      nat,
      ...(address && allocationId
        ? { elasticIp: { allocationId, ...(publicIp ? { publicIp } : {}), reused: typeof wantedAllocation === 'string' } }
        : {}),
      privateRoute: route,
      ...failoverOf(route, byId.get(tables.private)),
      heartbeats: routesIn(tables.public)
        .filter((c) => natOf(c) !== undefined)
        .map((c) => liveRoute(c, zoneOfNat.get(natOf(c)!) ?? '')),
    };
  });

  const { add, change, destroy } = countActions(plan);
  const changes = plan.changes.filter((c) => c.action !== 'no-op' && !(c.action === 'delete' && c.heldBy)).length;
  return {
    stack: spec.name,
    region: spec.region,
    vpc: { ...part(vpc.ids.id({})), cidr: spec.vpc.cidr },
    internetGateway: part(internetGateway.ids.id({})),
    natSecurityGroup: part(securityGroup.ids.id({ role: 'nat' })),
    zones,
    pending: { add, change, destroy, changes, kept: heldChanges(plan).length, unclaimed: plan.unclaimed.length },
  };
}

/** A failover: the private route points at another zone's NAT. The agent's tags say more when they are about this switch. */
function failoverOf(route: LiveRoute, table: Change | undefined): { failover?: Failover } {
  if (!route.servedBy || route.servedBy === route.meantFor) return {};
  const tags = (table?.observed?.state as RouteTableState | undefined)?.tags ?? {};
  if (tags[AGENT_TAGS.servedBy] !== route.target) return { failover: { servedBy: route.servedBy, source: 'route target' } };
  const since = tags[AGENT_TAGS.servedSince];
  const switchedBy = tags[AGENT_TAGS.switchedBy];
  const reason = tags[AGENT_TAGS.switch];
  return {
    failover: {
      servedBy: route.servedBy,
      ...(since ? { since } : {}),
      ...(switchedBy ? { switchedBy } : {}),
      ...(reason ? { reason } : {}),
      source: 'agent tags',
    },
  };
}

function liveNat(change: Change | undefined, id: string): LiveNat {
  const observed = change?.observed;
  if (!observed) {
    // A terminated NAT EC2 still lists claims nothing: the plan creates its successor, saying why.
    return change?.reason
      ? { id, health: 'down', healthDetail: change.reason }
      : { id, health: 'missing', healthDetail: 'it does not exist' };
  }
  if (observed.kind === 'opsworks-instance') {
    const s = observed.state as OpsWorksInstanceState;
    const instanceId = observed.alsoKnownAs?.[0];
    const health: HealthStatus =
      s.status === 'online' && !s.impaired ? 'healthy' : s.impaired ? 'impaired' : s.status === 'stopped' ? 'stopped' : 'down';
    return {
      id,
      physicalId: observed.physicalId,
      ...(instanceId ? { instanceId } : {}),
      state: s.status,
      ...(s.publicIp ? { publicIp: s.publicIp } : {}),
      health,
      ...(health === 'impaired'
        ? { healthDetail: 'it fails its EC2 status checks' }
        : health === 'healthy'
          ? {}
          : { healthDetail: `OpsWorks says ${s.status}` }),
    };
  }
  const s = observed.state as NatInstanceState;
  const base = {
    id,
    physicalId: observed.physicalId,
    instanceId: observed.physicalId,
    state: s.state,
    ...(s.publicIp ? { publicIp: s.publicIp } : {}),
  };
  if (s.state === 'shutting-down' || s.state === 'terminated')
    return { ...base, health: 'down', healthDetail: `the instance is ${s.state}` };
  if (s.state === 'stopped' || s.state === 'stopping') return { ...base, health: 'stopped', healthDetail: `the instance is ${s.state}` };
  if (s.state === 'pending') return { ...base, health: 'starting' };
  if (s.impaired) return { ...base, health: 'impaired', healthDetail: 'it fails its EC2 status checks' };
  // Its watcher's word, when an agent wrote one.
  const verdict = s.tags[AGENT_TAGS.health];
  const by = s.tags[AGENT_TAGS.healthBy];
  const since = s.tags[AGENT_TAGS.healthSince];
  const word = [by ? `by ${by}` : '', since ? `since ${since}` : ''].filter(Boolean).join(' ');
  if (verdict === 'failing') return { ...base, health: 'failing', healthDetail: `its watcher's probes fail${word ? ` (${word})` : ''}` };
  return { ...base, health: 'healthy', ...(verdict === 'ok' && word ? { healthDetail: `probed ok ${word}` } : {}) };
}
