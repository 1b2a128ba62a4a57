// The failover agent beyond two zones and beyond its probes: two adjacent NATs of a three-zone
// ring dying together (the survivor takes over both zones, around the ring), the control plane's
// word on a stopped NAT when the probes are too slow to tell, and an EC2 API that refuses the
// agent's writes for a while (it keeps probing, and acts once it can).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StopInstancesCommand } from '@aws-sdk/client-ec2';
import { faults } from '../../src/lab/index.js';
import { agentEvent, agentLog, agentService, eventuallyTold, routeBecomes, settle, switches } from '../support/agent.js';
import { startAwsProxy, type AwsProxy } from '../support/aws-proxy.js';
import { egressBecomes, useLab, useMoto } from '../support/lab.js';
import { converge, makeEngine } from '../support/stack.js';

const QUICK = { probeIntervalMs: 100, failAfter: 5, recoverAfter: 5, holdDownSeconds: 2 };

describe('agent: a three-zone ring', () => {
  const emu = useMoto();
  const lab = useLab(emu, { name: 'ring3', zones: 3, failover: QUICK });

  it('two adjacent NATs die together: the one left takes over both zones, around the ring, and gives each back once it is mended', async () => {
    const [a, b, c] = lab.now().zones.map((z) => z.nat!);
    const [A, B, C] = lab.spec.zones.map((z) => z.availabilityZone);
    await agentEvent(lab, a!.instanceId, (e) => e.event === 'peer-ok', 'watching');
    await faults.linkDown(b!);
    await faults.linkDown(c!);
    // A watches B; with B down it watches what B watched, C, through its heartbeat route to B's viaPeer.
    await routeBecomes(emu.ec2, lab, B!, a!.instanceId);
    await routeBecomes(emu.ec2, lab, C!, a!.instanceId);
    for (const az of [A!, B!, C!]) await egressBecomes(lab, az, a!.publicIp);
    const taken = (await switches(lab)).filter((s) => s.event === 'failover');
    assert.deepEqual(taken.map((s) => [s.zone, s.by]).sort(), [
      [B, a!.instanceId],
      [C, a!.instanceId],
    ]);
    await faults.linkUp(b!);
    await faults.linkUp(c!);
    await settle(lab, emu);
    const back = (await switches(lab)).filter((s) => s.event === 'revert');
    assert.deepEqual(back.map((s) => [s.zone, s.by]).sort(), [
      [B, a!.instanceId],
      [C, a!.instanceId],
    ]);
  });
});

describe('agent: the control plane', () => {
  const emu = useMoto();
  // Probes far too slow to notice anything within the test (100 lost at one a second).
  const lab = useLab(emu, { name: 'cplane', failover: { probeIntervalMs: 1000, failAfter: 100, recoverAfter: 2, holdDownSeconds: 1 } });

  it("a NAT stopped through the EC2 API is taken over on the control plane's word, and given back once it runs again", async () => {
    const [a, b] = lab.now().zones.map((z) => z.nat!);
    const B = lab.spec.zones[1]!.availabilityZone;
    await agentEvent(lab, a!.instanceId, (e) => e.event === 'peer-ok', 'watching', 20_000);
    await emu.ec2.send(new StopInstancesCommand({ InstanceIds: [b!.instanceId] }));
    // Read every 10 s: within two reads.
    await routeBecomes(emu.ec2, lab, B, a!.instanceId, 25_000);
    const failover = await agentEvent(lab, a!.instanceId, (e) => e.event === 'failover', 'took over');
    assert.match(failover.reason!, new RegExp(`^control plane: ${b!.instanceId} is stopp(ed|ing)$`));
    // The apply that starts it again; the agent then gives the zone back.
    await converge(makeEngine(lab.spec, emu.moto.endpoint));
    await settle(lab, emu);
  });
});

describe('agent: an EC2 API that refuses it for a while', () => {
  const emu = useMoto();
  const proxy = {} as { it: AwsProxy };
  before(async () => {
    proxy.it = await startAwsProxy({ target: emu.moto.endpoint, faultActions: ['ReplaceRoute'] });
  });
  after(async () => {
    await proxy.it?.stop();
  });
  const lab = useLab(emu, { name: 'throttle', failover: QUICK, labEndpoint: () => proxy.it.endpoint });

  it('keeps probing through throttling and server errors, retrying with backoff, and takes over once the API lets it', async () => {
    const [a, b] = lab.now().zones.map((z) => z.nat!);
    const B = lab.spec.zones[1]!.availabilityZone;
    await agentEvent(lab, a!.instanceId, (e) => e.event === 'peer-ok', 'watching');
    proxy.it.setOptions({ throttleRate: 0.5, serverErrorRate: 1 });
    await faults.setForwarding(b!.namespace, false);
    const refusals = async () => (await agentLog(lab, a!.instanceId)).filter((e) => e.event === 'api-error' && e.action === 'ReplaceRoute');
    // Each decision is tried three times; refused, it is made again a second later, from a fresh read.
    const refused = await eventuallyTold(lab, 'ReplaceRoute refused, decided again, refused again', refusals, (r) => r.length >= 2);
    assert.ok(
      refused.every((e) => /^(RequestLimitExceeded|InternalError|Unavailable)$/.test(e.code!)),
      JSON.stringify(refused),
    );
    assert.ok(
      refused.every((e) => e.attempts === '3'),
      'each decision tried three times, with backoff',
    );
    assert.equal(proxy.it.faults().size > 0, true);
    proxy.it.setOptions({ throttleRate: 0, serverErrorRate: 0 });
    await routeBecomes(emu.ec2, lab, B, a!.instanceId);
    await faults.setForwarding(b!.namespace, true);
    await settle(lab, emu);
    assert.equal(agentService(lab, a!.instanceId).starts, 1, 'the agent never died');
  });
});
