// What the lab's agent tests ask: what a NAT's failover agent logged (one key=value line per
// event, in the log the lab keeps of the unit, as journald would), where a zone's private route
// points in the emulator and what the agents tagged, and whether the agent runs.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DescribeInstancesCommand, DescribeRouteTablesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { tagMap } from '../../src/aws/tags.js';
import { AGENT_UNIT, egressBecomes, eventually, type LabEmulator, type LabFixture } from './lab.js';
import { byResource, converge, makeEngine } from './stack.js';

/** What reading the agents' logs needs of a lab (a test's fixture, or the bench's lab). */
export type LabLogs = Pick<LabFixture, 'lab' | 'now'>;

export interface AgentEvent {
  time: string;
  level: string;
  event: string;
  [key: string]: string;
}

/** One line of the agent's log: "2026-03-01T12:03:10Z level=info event=failover zone=… reason="…"". */
export function parseAgentLine(line: string): AgentEvent | undefined {
  const match = /^(\S+) (.*)$/.exec(line);
  if (!match) return undefined;
  const fields: Record<string, string> = { time: match[1]! };
  for (const m of match[2]!.matchAll(/(\w+)=("((?:[^"\\]|\\.)*)"|\S*)/g)) {
    fields[m[1]!] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]!;
  }
  return fields.event ? (fields as AgentEvent) : undefined;
}

/** Everything the agent of `instanceId` logged so far, through all its restarts. */
export async function agentLog(fixture: LabLogs, instanceId: string): Promise<AgentEvent[]> {
  const file = join(fixture.lab.names.instanceRoot(instanceId), 'var/log', `${AGENT_UNIT}.log`);
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .map(parseAgentLine)
    .filter((e): e is AgentEvent => e !== undefined);
}

/** Waits until the agent of `instanceId` has logged an event that `ok` accepts; returns it. */
export async function agentEvent(
  fixture: LabFixture,
  instanceId: string,
  ok: (event: AgentEvent) => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<AgentEvent> {
  const events = await eventually(
    `${instanceId}'s agent: ${what}`,
    () => agentLog(fixture, instanceId),
    (log) => log.some(ok),
    timeoutMs,
  ).catch(async (error: Error) => {
    const log = await agentLog(fixture, instanceId);
    assert.fail(`${error.message}\nits log:\n${log.map((e) => JSON.stringify(e)).join('\n')}`);
  });
  return events.find(ok)!;
}

/** The switches (failover, revert, restore) every agent of the lab logged, in time order. */
export async function switches(fixture: LabLogs): Promise<(AgentEvent & { by: string })[]> {
  const all: (AgentEvent & { by: string })[] = [];
  for (const zone of fixture.now().zones) {
    for (const nat of zone.nats) {
      for (const e of await agentLog(fixture, nat.instanceId)) {
        if (['failover', 'revert', 'restore'].includes(e.event)) all.push({ ...e, by: nat.instanceId });
      }
    }
  }
  return all.sort((a, b) => a.time.localeCompare(b.time));
}

/** The zone's private route table in the emulator: its id, where 0.0.0.0/0 points, its tags. */
export function privateTable(ec2: EC2Client, fixture: LabFixture, az: string) {
  return privateTableOf(ec2, fixture.spec.name, az);
}

/** The same, by the stack's name (for the bench and the demo, which have no fixture). */
export async function privateTableOf(ec2: EC2Client, stack: string, az: string) {
  const out = await ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(stack, `route-table/private/${az}`) }));
  const table = out.RouteTables![0]!;
  return {
    id: table.RouteTableId!,
    target: table.Routes?.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')?.InstanceId,
    tags: tagMap(table.Tags),
  };
}

/** Waits until the zone's private route points at `instanceId` in the emulator (failing with what the agents logged). */
export async function routeBecomes(ec2: EC2Client, fixture: LabFixture, az: string, instanceId: string, timeoutMs = 15_000) {
  try {
    return await eventually(
      `${az}'s private route -> ${instanceId}`,
      async () => (await privateTable(ec2, fixture, az)).target,
      (target) => target === instanceId,
      timeoutMs,
    );
  } catch (error) {
    return assert.fail(`${(error as Error).message}\n${await lastWords(fixture)}`);
  }
}

/** Waits for `check` as eventually does, failing with what the agents logged last. */
export async function eventuallyTold<T>(
  fixture: LabFixture,
  what: string,
  probe: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs?: number,
): Promise<T> {
  try {
    return await eventually(what, probe, ok, timeoutMs);
  } catch (error) {
    return assert.fail(`${(error as Error).message}\n${await lastWords(fixture)}`);
  }
}

/** The last lines of every agent's log, for a failure message. */
export async function lastWords(fixture: LabFixture, lines = 15): Promise<string> {
  const logs: string[] = ["the agents' last words:"];
  for (const zone of fixture.now().zones) {
    for (const nat of zone.nats) {
      logs.push(
        `${nat.instanceId} (${zone.availabilityZone}):`,
        ...(await agentLog(fixture, nat.instanceId)).slice(-lines).map((e) => `  ${JSON.stringify(e)}`),
      );
    }
  }
  return logs.join('\n');
}

export async function instanceTags(ec2: EC2Client, instanceId: string): Promise<Record<string, string>> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return tagMap(out.Reservations?.[0]?.Instances?.[0]?.Tags);
}

/** The agent unit of a NAT in the lab (as systemd runs it). */
export function agentService(fixture: LabFixture, instanceId: string) {
  const service = fixture.lab.servicesOf(instanceId).find((s) => s.name === AGENT_UNIT);
  assert.ok(service, `${instanceId} runs no ${AGENT_UNIT}`);
  return service;
}

/** Every zone back on its own NAT (route and egress), and the stack converged: between tests of a shared lab. */
export async function settle(lab: LabFixture, emu: LabEmulator): Promise<void> {
  await lab.lab.synced();
  for (const zone of lab.now().zones) {
    await routeBecomes(emu.ec2, lab, zone.availabilityZone, zone.nat!.instanceId, 20_000);
    await egressBecomes(lab, zone.availabilityZone, zone.nat!.publicIp);
  }
  await converge(makeEngine(lab.spec, emu.moto.endpoint));
}
