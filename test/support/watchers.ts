// A stand-in for the NATs' failover agents (src/nat/agent.sh), for tests against moto, where no
// user data ever runs. It writes only what the agent writes, where the agent writes it: the agent
// of each running NAT of zone i probes through the target of its zone's public heartbeat route
// (zone i's viaPeer/32, which points at the next zone's NAT) and, when what its probes say
// changes, tags that target dupsworks:health=ok|failing, dupsworks:health-by=<its own id>,
// dupsworks:health-since=<now>. A target is found forwarding after it has been seen running with
// its source/destination check off for `settleMs` (the agent's recoverAfter good probes), failing
// after as long when `forwards` says it does not (a bad AMI): the test decides what forwards,
// never whether a tag is written.

import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  type EC2Client,
  type Instance,
} from '@aws-sdk/client-ec2';
import { natRing } from '../../src/topology/ring.js';
import type { Spec } from '../../src/spec/types.js';
import { tagValue } from './stack.js';

export interface Watchers {
  /** Every tag written, in order: which NAT tagged which, and what. */
  written: { target: string; by: string; health: 'ok' | 'failing'; at: string }[];
  stop(): Promise<void>;
}

export function startWatchers(
  ec2: EC2Client,
  spec: Spec,
  options: { forwards?: (nat: Instance) => boolean; settleMs?: number; intervalMs?: number } = {},
): Watchers {
  const forwards = options.forwards ?? (() => true);
  const settleMs = options.settleMs ?? 300;
  const written: Watchers['written'] = [];
  /** watcher id + target id -> since when the watcher has seen the target able to forward, and what it last said. */
  const seen = new Map<string, { since: number; said?: 'ok' | 'failing' }>();
  let stopped = false;

  const round = async () => {
    const [instances, tables] = await Promise.all([
      ec2
        .send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }))
        .then((o) => (o.Reservations ?? []).flatMap((r) => r.Instances ?? [])),
      ec2
        .send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }] }))
        .then((o) => o.RouteTables ?? []),
    ]);
    const byId = new Map(instances.map((i) => [i.InstanceId!, i]));
    for (const { zone } of natRing(spec.zones)) {
      const az = zone.availabilityZone;
      const table = tables.find((t) => tagValue(t.Tags, 'dupsworks:resource') === `route-table/public/${az}`);
      const heartbeat = table?.Routes?.find((r) => r.DestinationCidrBlock === `${zone.heartbeat.viaPeer}/32`);
      const target = heartbeat?.InstanceId ? byId.get(heartbeat.InstanceId) : undefined;
      // Every running NAT of the zone runs an agent (an old one and its replacement alike).
      const agents = instances.filter((i) => tagValue(i.Tags, 'dupsworks:resource') === `nat/${az}` && i.State?.Name === 'running');
      for (const agent of agents) {
        if (!target || target.InstanceId === agent.InstanceId) continue;
        const key = `${agent.InstanceId} ${target.InstanceId}`;
        const able = target.State?.Name === 'running' && target.SourceDestCheck === false;
        if (!able) {
          seen.delete(key);
          continue;
        }
        const view = seen.get(key) ?? { since: Date.now() };
        seen.set(key, view);
        if (Date.now() - view.since < settleMs) continue;
        const health = forwards(target) ? 'ok' : 'failing';
        if (view.said === health) continue;
        view.said = health;
        const at = new Date().toISOString();
        await ec2.send(
          new CreateTagsCommand({
            Resources: [target.InstanceId!],
            Tags: [
              { Key: 'dupsworks:health', Value: health },
              { Key: 'dupsworks:health-by', Value: agent.InstanceId! },
              { Key: 'dupsworks:health-since', Value: at },
            ],
          }),
        );
        written.push({ target: target.InstanceId!, by: agent.InstanceId!, health, at });
      }
    }
  };

  const running = (async () => {
    while (!stopped) {
      await round().catch(() => {}); // the stack may be half-built or going: the agents keep probing
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
    }
  })();
  return {
    written,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Runs `work` with the agents' stand-in watching `spec`'s stack (a rollout against moto needs their word). */
export async function watched<T>(ec2: EC2Client, spec: Spec, work: () => Promise<T>): Promise<T> {
  const watchers = startWatchers(ec2, spec);
  try {
    return await work();
  } finally {
    await watchers.stop();
  }
}
