// `dupsworks status` against moto: per zone the NAT, who serves the private subnet, the heartbeat
// routes; a failover made by hand (ReplaceRoute to the other zone's NAT) shown as such, from the
// route's target, and with the agent's tags when they are there; a dead NAT and the drift it
// means. Read-only: the same calls as a plan. Every scenario ends with apply, then an empty plan.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CreateTagsCommand, DescribeRouteTablesCommand } from '@aws-sdk/client-ec2';
import { liveStack } from '../../src/live/stack.js';
import { attention, statusExitCode } from '../../src/live/status.js';
import type { Spec } from '../../src/spec/types.js';
import { runCli, tempFile } from '../support/cli.js';
import { failOver } from '../support/damage.js';
import { assertNoChanges, byResource, converge, killNat, liveNat, makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

describe('dupsworks status', () => {
  const emu = useEmulator();

  async function statusOf(spec: Spec) {
    return liveStack(spec, await makeEngine(spec, emu.moto.endpoint).plan());
  }

  it('shows each zone served by its own healthy NAT, the heartbeat ring, and nothing pending', async () => {
    const spec = makeSpec({ zones: 3 });
    await converge(makeEngine(spec, emu.moto.endpoint));
    const live = await statusOf(spec);
    assert.deepEqual(attention(live), []);
    assert.equal(statusExitCode(live), 0);
    for (const [i, zone] of live.zones.entries()) {
      const nat = await liveNat(emu.ec2, spec.name, zone.availabilityZone);
      const peer = spec.zones[(i + 1) % spec.zones.length]!.availabilityZone;
      assert.equal(zone.nat.instanceId, nat.InstanceId);
      assert.equal(zone.nat.publicIp, nat.PublicIpAddress);
      assert.equal(zone.nat.health, 'healthy');
      assert.equal(zone.privateRoute.target, nat.InstanceId);
      assert.equal(zone.privateRoute.servedBy, zone.availabilityZone);
      assert.equal(zone.failover, undefined);
      assert.deepEqual(
        zone.heartbeats.map((h) => [h.destination, h.servedBy, h.meantFor]),
        [[`${spec.zones[i]!.heartbeat.viaPeer}/32`, peer, peer]],
        'the heartbeat goes through the next zone’s NAT',
      );
    }
    // Read-only: what a plan reads, nothing more.
    emu.proxy.resetCounts();
    liveStack(spec, await makeEngine(spec, emu.proxy.endpoint).plan());
    const calls = [...emu.proxy.calls().keys()];
    assert.ok(
      calls.every((action) => /^Describe/.test(action)),
      calls.join(', '),
    );
  });

  it('shows a failover made by hand: from the route’s target, then with what the agent’s tags say', async () => {
    const spec = makeSpec({ nat: { elasticIps: true } });
    await converge(makeEngine(spec, emu.moto.endpoint));
    const [a, b] = spec.zones.map((z) => z.availabilityZone) as [string, string];
    const rescuer = await failOver({ ec2: emu.ec2, spec }, 0);
    assertNoChanges(await makeEngine(spec, emu.moto.endpoint).plan(), 'a failover is no drift');

    let live = await statusOf(spec);
    const zone = live.zones[0]!;
    assert.equal(zone.privateRoute.target, rescuer);
    assert.deepEqual(zone.failover, { servedBy: b, source: 'route target' });
    assert.deepEqual(attention(live), [`failover in effect: ${a} is served by the NAT of ${b}`]);
    assert.equal(statusExitCode(live), 2);
    assert.equal(live.zones[1]!.failover, undefined);

    // The agent that took the route over says so on the route table.
    const table = (await emu.ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(spec.name, `route-table/private/${a}`) })))
      .RouteTables![0]!;
    await emu.ec2.send(
      new CreateTagsCommand({
        Resources: [table.RouteTableId!],
        Tags: [
          { Key: 'dupsworks:served-by', Value: rescuer },
          { Key: 'dupsworks:served-by-nat', Value: `nat/${b}` },
          { Key: 'dupsworks:served-since', Value: '2026-03-01T10:00:00Z' },
          { Key: 'dupsworks:switch', Value: 'failover: 10 probes lost in a row' },
          { Key: 'dupsworks:switched-by', Value: rescuer },
        ],
      }),
    );
    live = await statusOf(spec);
    assert.deepEqual(live.zones[0]!.failover, {
      servedBy: b,
      since: '2026-03-01T10:00:00Z',
      switchedBy: rescuer,
      reason: 'failover: 10 probes lost in a row',
      source: 'agent tags',
    });

    // Through the CLI, as a user runs it: text and JSON, exit 2.
    const file = await tempFile('spec.yaml', specYaml(spec));
    const text = await runCli(['status', '-f', file, '--endpoint-url', emu.moto.endpoint]);
    assert.equal(text.code, 2, text.stderr);
    assert.match(text.stdout, new RegExp(`FAILOVER: served by the NAT of ${b} since 2026-03-01T10:00:00Z, switched by ${rescuer}`));
    assert.match(text.stdout, /Elastic IP eipalloc-/);
    assert.match(text.stdout, new RegExp(`^! Failover in effect: ${a} is served by the NAT of ${b}\\.$`, 'm'));
    const json = await runCli(['status', '-f', file, '--json', '--endpoint-url', emu.moto.endpoint]);
    assert.equal(json.code, 2, json.stderr);
    const parsed = JSON.parse(json.stdout) as { ok: boolean; zones: { failover?: { servedBy: string } }[] };
    assert.equal(parsed.ok, false);
    assert.equal(parsed.zones[0]!.failover!.servedBy, b);
    assertNoChanges(await makeEngine(spec, emu.moto.endpoint).plan());
  });

  it('shows a dead NAT and the changes pending, and all well once applied', async () => {
    const spec = makeSpec();
    await converge(makeEngine(spec, emu.moto.endpoint));
    await killNat(emu.ec2, spec.name, spec.zones[1]!.availabilityZone);
    const live = await statusOf(spec);
    assert.equal(live.zones[1]!.nat.health, 'down');
    assert.match(live.zones[1]!.nat.healthDetail!, /terminated/);
    assert.ok(live.pending.changes > 0);
    assert.ok(attention(live).includes(`${live.pending.changes} changes pending: run plan`), attention(live).join('; '));
    await converge(makeEngine(spec, emu.moto.endpoint));
    assert.deepEqual(attention(await statusOf(spec)), []);
  });

  it('on an account without the stack: every NAT missing, everything to add', async () => {
    const spec = makeSpec();
    const live = await statusOf(spec);
    assert.ok(live.zones.every((z) => z.nat.health === 'missing' && z.privateRoute.target === undefined));
    assert.equal(live.pending.add, live.pending.changes);
    assert.equal(statusExitCode(live), 2);
    await converge(makeEngine(spec, emu.moto.endpoint));
  });
});
