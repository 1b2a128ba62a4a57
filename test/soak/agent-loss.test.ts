// Packet loss alone never moves a route: five minutes of 10% random loss each way on every path
// out of the VPC (dropped in the lab's internet namespace, which every probe of every agent
// crosses once each way: a probe is lost with probability about 0.19) with the default timings
// (FAILOVER_DEFAULTS: a probe every 100 ms, 15 lost in a row to take over), and not one takeover. In a file of its
// own, so that it runs beside the other test files (npm test runs two at a time).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { faults, ping } from '../../src/lab/index.js';
import { agentEvent, agentService, lastWords, switches } from '../support/agent.js';
import { egressBecomes, useLab, useMoto } from '../support/lab.js';
import { converge, makeEngine } from '../support/stack.js';

const LOSS = 0.1;
const MINUTES = 5;

describe('agent: packet loss', () => {
  const emu = useMoto();
  const lab = useLab(emu, { name: 'loss' });

  it(`${LOSS * 100}% random loss each way on every path for ${MINUTES} minutes, default timings: zero takeovers`, async () => {
    const nats = lab.now().zones.map((z) => z.nat!);
    for (const nat of nats) await agentEvent(lab, nat.instanceId, (e) => e.event === 'peer-ok', 'watching', 20_000);
    const internet = lab.now().namespaces.internet;
    await faults.randomLoss(internet, LOSS);
    try {
      // The loss is real: a NAT's probe through its peer, sent 200 times, loses about 19%.
      const viaPeer = lab.spec.zones[0]!.heartbeat.viaPeer;
      const [answered] = await Promise.all([
        ping(nats[0]!.namespace, viaPeer, { count: 200, timeoutSeconds: 1 }),
        new Promise((r) => setTimeout(r, MINUTES * 60_000)),
      ]);
      const lost = 1 - answered / 200;
      assert.ok(lost > 0.08 && lost < 0.32, `a probe through the peer lost ${Math.round(lost * 100)}% of the time`);
      assert.deepEqual(await switches(lab), [], `no switch\n${await lastWords(lab)}`);
    } finally {
      await faults.clearDrops(internet);
    }
    for (const nat of nats) assert.equal(agentService(lab, nat.instanceId).starts, 1, 'no agent died');
    for (const zone of lab.now().zones) await egressBecomes(lab, zone.availabilityZone, zone.nat!.publicIp);
    await converge(makeEngine(lab.spec, emu.moto.endpoint));
  });
});
