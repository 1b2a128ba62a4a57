// A route in one of the stack's route tables: a destination and a target (internet gateway or
// instance). Routes carry no tags; a route is identified by its table and destination.
//
// NAT failover happens outside the engine: an agent points a zone's private default route at
// another NAT of the stack. `acceptTargets` lets the spec say which targets are fine as they are,
// so the plan does not fight a failover, and says it in words (remark): who serves the zone, and
// since when (the agent's tags on the route table). A route is repaired when it is missing, a
// blackhole, or points at something that is neither the desired target nor an accepted one.

import type { Route as Ec2Route } from '@aws-sdk/client-ec2';
import type { AwsContext } from '../aws/context.js';
import { ignoreNotFound } from '../aws/errors.js';
import { errorCode } from '../aws/retry.js';
import { logicalIdOf, ofStack, tagMap, withLogicalIds } from '../aws/tags.js';
import { SERVED_BY, SERVED_SINCE } from '../nat/tags.js';
import { idScheme } from '../planner/identity.js';
import { desired, type ChangeOf, type Observed, type ResourceKind } from '../planner/resource.js';
import type { Ref } from '../planner/values.js';
import { routeTable } from './route-table.js';

export type RouteProps = {
  routeTableId: Ref;
  destinationCidrBlock: string;
  /** Exactly one of gatewayId / instanceId. */
  gatewayId?: Ref;
  instanceId?: Ref;
  /** Other targets that are fine as they are (optional refs: absent when not currently usable). */
  acceptTargets?: Ref[];
};

export interface RouteState {
  routeTableId: string;
  destinationCidrBlock: string;
  /** igw-…, i-…, or whatever else the route points at (nat-…, eni-…, pcx-…). */
  target: string | undefined;
  /** "active" or "blackhole". */
  state: string;
  /** The target's logical id, when it is a resource of the stack (nat/ap-northeast-1c). */
  targetId?: string;
  /** Since when the target serves the table, as the failover agent tagged the table. */
  servedSince?: string;
}

/**
 * "route/public/ap-northeast-1c/8.8.4.4/32": a route is named by its table's key and its
 * destination. Routes carry no tags; `desire` and `observe` both name a route from its table's
 * logical id (read by the route-table kind's scheme) and its destination, through routeIdIn.
 */
const ids = idScheme('route', ['tier', 'availabilityZone', 'destination']);

function routeIdIn(routeTableId: string, destination: string): string | undefined {
  const table = routeTable.ids.parse(routeTableId);
  return table && ids.id({ ...table, destination });
}

export const route = {
  kind: 'route',
  ids,
  permissions: ['ec2:CreateRoute', 'ec2:DeleteRoute', 'ec2:ReplaceRoute'],
  /** The route to props.destinationCidrBlock in the table props.routeTableId refers to. */
  desire: (props: RouteProps) => {
    const id = routeIdIn(props.routeTableId.$ref, props.destinationCidrBlock);
    if (!id) throw new Error(`internal: a route's routeTableId must refer to a route table, not to ${props.routeTableId.$ref}`);
    return desired('route', id, props);
  },

  async observe(ctx) {
    const [tables, instances, gateways] = await Promise.all([
      ctx.snapshot.routeTables(),
      ctx.snapshot.instances(),
      ctx.snapshot.internetGateways(),
    ]);
    // Targets made by this stack: a route to one of them was made by this stack too.
    const ours = new Set([
      ...instances.filter((i) => ofStack(i.Tags, ctx.stack)).map((i) => i.InstanceId!),
      ...gateways.filter((g) => ofStack(g.Tags, ctx.stack)).map((g) => g.InternetGatewayId!),
    ]);
    const logicalIds = new Map(instances.map((i) => [i.InstanceId, logicalIdOf(i.Tags, ctx.stack)]));
    const found: Observed<RouteState, 'route'>[] = [];
    for (const { id: tableId, item: table } of withLogicalIds(tables, ctx.stack, routeTable.ids)) {
      for (const r of table.Routes ?? []) {
        if (r.Origin !== 'CreateRoute' || !r.DestinationCidrBlock) continue; // the local route and propagated ones are not ours to manage
        const target = targetOf(r);
        const tags = tagMap(table.Tags);
        const targetId = target === undefined ? undefined : logicalIds.get(target);
        const servedSince = target !== undefined && tags[SERVED_BY] === target ? tags[SERVED_SINCE] : undefined;
        found.push({
          id: routeIdIn(tableId, r.DestinationCidrBlock)!,
          kind: 'route',
          physicalId: physicalId(table.RouteTableId!, r.DestinationCidrBlock),
          outputs: { id: physicalId(table.RouteTableId!, r.DestinationCidrBlock) },
          references: [table.RouteTableId!, ...(target ? [target] : [])],
          owned: target !== undefined && ours.has(target),
          state: {
            routeTableId: table.RouteTableId!,
            destinationCidrBlock: r.DestinationCidrBlock,
            target,
            state: r.State ?? 'active',
            ...(targetId ? { targetId } : {}),
            ...(servedSince ? { servedSince } : {}),
          },
        });
      }
    }
    return found;
  },

  diff(desired, observed) {
    const changes: ChangeOf<RouteProps, RouteState>[] = [];
    const { state } = observed;
    if (desired.routeTableId !== state.routeTableId) {
      changes.push({ path: 'routeTableId', before: state.routeTableId, after: desired.routeTableId, forcesReplacement: true });
    }
    // Named after the prop, so the planner can say which resource an unknown target waits for.
    const path = desired.gatewayId !== undefined ? 'gatewayId' : 'instanceId';
    const wanted = desired[path];
    const accepted = (desired.acceptTargets ?? []).filter((t) => typeof t === 'string');
    const targetIsFine = state.target !== undefined && (state.target === wanted || accepted.includes(state.target));
    if (state.state === 'blackhole') {
      changes.push({ path, before: state.target, after: wanted, reason: 'route is a blackhole' });
    } else if (!targetIsFine) {
      changes.push({ path, before: state.target, after: wanted });
    }
    return changes;
  },

  remark(desired, observed) {
    const { target, targetId, servedSince } = observed.state;
    const wanted = desired.gatewayId ?? desired.instanceId;
    if (target === undefined || typeof wanted !== 'string' || target === wanted) return undefined;
    const key = ids.parse(observed.id);
    const since = servedSince
      ? `since ${servedSince.replace('T', ' ').replace(/Z$/, ' UTC')}`
      : 'since a time its route table does not say';
    return `${key?.tier ?? 'the'} subnet of ${key?.availabilityZone ?? observed.state.routeTableId} is served by ${targetId ?? 'another NAT'} (${target}) ${since} (failover)`;
  },

  async preview(desired) {
    // Accepted failover targets are a rule for later diffs, not an attribute of the new route.
    const { acceptTargets: _, ...shown } = desired;
    return shown;
  },

  async create(desired, ctx) {
    const { CreateRouteCommand, ReplaceRouteCommand } = await import('@aws-sdk/client-ec2');
    const input = routeInput(desired.routeTableId, desired);
    try {
      await ctx.ec2.send(new CreateRouteCommand(input));
    } catch (error) {
      // Appeared since the plan looked (a re-run after a crash, or a read that lagged): point it.
      if (errorCode(error) !== 'RouteAlreadyExists') throw error;
      await ctx.ec2.send(new ReplaceRouteCommand(input));
    }
    return { id: physicalId(desired.routeTableId, desired.destinationCidrBlock) };
  },

  async update(desired, observed, _changes, ctx) {
    const { ReplaceRouteCommand } = await import('@aws-sdk/client-ec2');
    await ctx.ec2.send(new ReplaceRouteCommand(routeInput(observed.state.routeTableId, desired)));
    return observed.outputs;
  },

  async delete(observed, ctx) {
    const { DeleteRouteCommand } = await import('@aws-sdk/client-ec2');
    await ignoreNotFound(
      ctx.ec2.send(
        new DeleteRouteCommand({ RouteTableId: observed.state.routeTableId, DestinationCidrBlock: observed.state.destinationCidrBlock }),
      ),
    );
  },
} satisfies ResourceKind<'route', RouteProps, RouteState, AwsContext>;

function physicalId(routeTableId: string, destination: string): string {
  return `${routeTableId}:${destination}`;
}

function routeInput(routeTableId: string, desired: { destinationCidrBlock: string; gatewayId?: string; instanceId?: string }) {
  const target = desired.gatewayId ? { GatewayId: desired.gatewayId } : { InstanceId: desired.instanceId };
  return { RouteTableId: routeTableId, DestinationCidrBlock: desired.destinationCidrBlock, ...target };
}

function targetOf(r: Ec2Route): string | undefined {
  return (
    r.GatewayId ?? r.InstanceId ?? r.NatGatewayId ?? r.NetworkInterfaceId ?? r.VpcPeeringConnectionId ?? r.TransitGatewayId ?? undefined
  );
}
