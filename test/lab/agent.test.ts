// The NATs' failover agent, with real packets: the agent each NAT runs is the file its user data
// installed, started as systemd would start its unit. Faults are the lab's (a NAT's link down, its
// forwarding off, its masquerade flushed, source/dest check on through the EC2 API, the path
// between the zones cut, a NAT terminated, an agent killed). Each scenario ends with the
// acceptance rule and with every zone served by its own NAT again, given back by the agent that
// took it over, once. Small timings keep it short: a probe every 100 ms, 5 lost to take over, 5
// answered and a 2 s hold-down to give back.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ModifyInstanceAttributeCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { faults, rerunBootParts } from '../../src/lab/index.js';
import { renderPlan } from '../../src/planner/render.js';
import { agentEvent, agentLog, agentService, instanceTags, privateTable, routeBecomes, settle, switches } from '../support/agent.js';
import { ROOT } from '../support/cli.js';
import { egressBecomes, egressOf, eventually, labStackName, useLab, useMoto } from '../support/lab.js';
import { converge, makeEngine, REGION } from '../support/stack.js';

const FAILOVER = { probeIntervalMs: 100, failAfter: 5, recoverAfter: 5, holdDownSeconds: 2 };
const [A, B] = ['ap-northeast-1c', 'ap-northeast-1a'];
const TOPIC = `arn:aws:sns:${REGION}:123456789012:${labStackName('switch')}`;

/** Every zone leaves through its own NAT again, in the emulator and for a packet; then the acceptance rule. */
describe('agent: two zones', () => {
  const emu = useMoto();
  const lab = useLab(emu, { name: 'agent', failover: { ...FAILOVER, snsTopicArn: TOPIC } });
  const notices: { Subject?: string; Message: string }[] = [];
  let subscriber: Server;

  before(async () => {
    // The topic the spec names, and an HTTP subscriber to it (moto delivers to one).
    subscriber = createServer((request, response) => {
      let body = '';
      request.on('data', (d) => (body += d));
      request.on('end', () => {
        const message = JSON.parse(body) as { Type: string; Subject?: string; Message: string };
        if (message.Type === 'Notification') notices.push(message);
        response.end();
      });
    });
    await new Promise<void>((resolve) => subscriber.listen(0, '127.0.0.1', resolve));
    const sns = new SNSClient({ region: REGION, endpoint: emu.moto.endpoint });
    await sns.send(new CreateTopicCommand({ Name: TOPIC.split(':').pop()! }));
    const port = (subscriber.address() as { port: number }).port;
    await sns.send(new SubscribeCommand({ TopicArn: TOPIC, Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/` }));
    sns.destroy();
  });
  after(() => subscriber?.close());

  const nat = (az: string) => lab.zone(az).nat!;
  const ec2 = () => emu.ec2;

  it('runs on every NAT: the file the user data installed, as its systemd unit; each finds its peer healthy and tags it so', async () => {
    for (const az of [A, B]) {
      const self = nat(az);
      const service = agentService(lab, self.instanceId);
      assert.ok(service.pid, 'it runs');
      const installed = readFileSync(join(lab.lab.names.instanceRoot(self.instanceId), 'usr/local/sbin/dupsworks-agent'), 'utf8');
      assert.equal(installed, readFileSync(join(ROOT, 'src/nat/agent.sh'), 'utf8'));
      const start = await agentEvent(lab, self.instanceId, (e) => e.event === 'start', 'started');
      assert.equal(start.instance, self.instanceId);
      assert.equal(start.zone, az);
      await agentEvent(lab, self.instanceId, (e) => e.event === 'peer-ok', 'found its peer healthy');
    }
    // The watcher's word on each NAT, for whoever waits for a NAT to be seen healthy.
    const tags = await eventually(
      "the watcher's health tag on A",
      () => instanceTags(ec2(), nat(A).instanceId),
      (t) => t['dupsworks:health'] === 'ok',
    );
    assert.equal(tags['dupsworks:health-by'], nat(B).instanceId);
    assert.match(tags['dupsworks:health-since']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it("the seed's experiment: source/dest check on for NAT B through the EC2 API, NAT A takes over B's zone (its host leaves as A's public IP); turned off, the route goes back to B, once", async () => {
    const before = (await switches(lab)).length;
    const [a, b] = [nat(A), nat(B)];
    await ec2().send(new ModifyInstanceAttributeCommand({ InstanceId: b.instanceId, SourceDestCheck: { Value: true } }));
    await routeBecomes(ec2(), lab, B, a.instanceId);
    await egressBecomes(lab, B, a.publicIp);
    assert.deepEqual(await egressOf(lab, A), { ok: true, source: a.publicIp }, "A's own zone is untouched");
    const failover = await agentEvent(lab, a.instanceId, (e) => e.event === 'failover' && e.zone === B, 'took over B');
    assert.equal(failover.from, b.instanceId);
    assert.equal(failover.to, a.instanceId);
    assert.match(failover.reason!, /probes through it lost in a row; its private address answers/);

    const table = await privateTable(ec2(), lab, B);
    await eventually(
      'the notice on the table',
      async () => (await privateTable(ec2(), lab, B)).tags,
      (t) => t['dupsworks:served-by'] === a.instanceId,
    );
    // Source/dest check on is drift, the plan's to mend; the failover is not: no change, in words.
    const plan = await makeEngine(lab.spec, emu.moto.endpoint).plan();
    assert.deepEqual(
      plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id, c.attributes.map((x) => x.path)]),
      [[`nat/${B}`, ['sourceDestCheck']]],
      renderPlan(plan),
    );
    assert.match(
      renderPlan(plan),
      new RegExp(
        `private subnet of ${B} is served by nat/${A} \\(${a.instanceId}\\) since \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC \\(failover\\)`,
      ),
    );
    const notice = await eventually(
      'the SNS notice',
      async () => notices.find((n) => n.Message.includes(table.id)),
      (n) => n !== undefined,
    );
    assert.match(
      notice!.Message,
      new RegExp(
        `^NAT instance has switched: ${table.id}\\(subnet-[0-9a-f]+\\) is now served by ${a.instanceId} \\(nat/${A}\\), failover: `,
      ),
    );

    // Turned off again (as the seed did; apply would too), and the agent gives the route back.
    await ec2().send(new ModifyInstanceAttributeCommand({ InstanceId: b.instanceId, SourceDestCheck: { Value: false } }));
    await routeBecomes(ec2(), lab, B, b.instanceId);
    const revert = await agentEvent(lab, a.instanceId, (e) => e.event === 'revert' && e.zone === B, 'gave B back');
    assert.equal(
      Date.parse(revert.time) - Date.parse(failover.time) >= FAILOVER.holdDownSeconds * 1000 - 1000,
      true,
      'not before the hold-down',
    );
    await settle(lab, emu);
    assert.deepEqual(
      (await switches(lab)).slice(before).map((s) => [s.event, s.zone, s.by]),
      [
        ['failover', B, a.instanceId],
        ['revert', B, a.instanceId],
      ],
      'one takeover, one revert, nothing else',
    );
  });

  const natFaults: {
    name: string;
    inject: (n: ReturnType<typeof nat>) => Promise<void>;
    clear: (n: ReturnType<typeof nat>) => Promise<void>;
  }[] = [
    { name: 'its link down', inject: (n) => faults.linkDown(n), clear: (n) => faults.linkUp(n) },
    {
      name: 'its forwarding off',
      inject: (n) => faults.setForwarding(n.namespace, false),
      clear: (n) => faults.setForwarding(n.namespace, true),
    },
    {
      name: 'its masquerade flushed',
      inject: (n) => faults.flushMasquerade(n.namespace),
      clear: async (n) => void (await rerunBootParts(n.namespace, lab.lab.names.instanceRoot(n.instanceId), ['masquerade'])),
    },
  ];
  // Each fault on the other NAT than the last: a NAT taken over again soon after it got its route
  // back is held down longer (tested below), and these scenarios follow each other closely.
  natFaults.forEach((fault, i) => {
    const [victim, rescuer] = i % 2 === 0 ? [A, B] : [B, A];
    const [V, R] = i % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    it(`NAT ${V} with ${fault.name}: ${R} takes over ${V}'s zone, whose host keeps reaching the internet; mended, the route goes back to ${V}, once`, async () => {
      const before = (await switches(lab)).length;
      const [v, r] = [nat(victim), nat(rescuer)];
      await fault.inject(v);
      await routeBecomes(ec2(), lab, victim, r.instanceId);
      await egressBecomes(lab, victim, r.publicIp);
      await fault.clear(v);
      await settle(lab, emu);
      assert.deepEqual(
        (await switches(lab)).slice(before).map((s) => [s.event, s.zone, s.by]),
        [
          ['failover', victim, r.instanceId],
          ['revert', victim, r.instanceId],
        ],
      );
    });
  });

  it('the path between the zones cut while both reach the internet: no takeover, both zones keep their egress, each agent says why', async () => {
    const before = (await switches(lab)).length;
    const [a, b] = [nat(A), nat(B)];
    await faults.cutBetween(lab.now(), A, B);
    try {
      for (const [self, peer] of [
        [a, b],
        [b, a],
      ]) {
        const partition = await agentEvent(
          lab,
          self!.instanceId,
          (e) => e.event === 'partition' && e.nat === peer!.instanceId,
          'saw the cut',
        );
        assert.match(partition.message!, /not taking over/);
      }
      // Long enough for a takeover, were there to be one: several times the detection time.
      await new Promise((r) => setTimeout(r, 3 * FAILOVER.failAfter * FAILOVER.probeIntervalMs));
      assert.deepEqual(await egressOf(lab, A), { ok: true, source: a.publicIp });
      assert.deepEqual(await egressOf(lab, B), { ok: true, source: b.publicIp });
      assert.deepEqual((await switches(lab)).slice(before), [], 'no switch');
    } finally {
      await faults.clearDrops(lab.now().namespaces.router);
    }
    // Nor as the cut heals: a private address answers before the probe through the NAT does.
    await new Promise((r) => setTimeout(r, (FAILOVER.recoverAfter + FAILOVER.failAfter) * FAILOVER.probeIntervalMs + 1000));
    assert.deepEqual((await switches(lab)).slice(before), [], 'no switch as the cut heals');
    await settle(lab, emu);
  });

  it('a NAT that fails again soon after it got its route back is held down twice as long', async () => {
    const b = nat(B);
    const before = (await switches(lab)).length;
    for (let round = 0; round < 2; round++) {
      await faults.setForwarding(b.namespace, false);
      await routeBecomes(ec2(), lab, B, nat(A).instanceId);
      await faults.setForwarding(b.namespace, true);
      await routeBecomes(ec2(), lab, B, b.instanceId, 20_000);
    }
    const seen = (await switches(lab)).slice(before);
    const said = JSON.stringify(seen, null, 1);
    assert.deepEqual(
      seen.map((e) => [e.event, e.zone]),
      [
        ['failover', B],
        ['revert', B],
        ['failover', B],
        ['revert', B],
      ],
      said,
    );
    const [first, , second, secondBack] = seen;
    assert.equal(second!.hold_down, `${2 * Number(first!.hold_down!.replace(/s$/, ''))}s`, `doubled: ${said}`);
    assert.ok(Date.parse(secondBack!.time) - Date.parse(second!.time) >= 2 * FAILOVER.holdDownSeconds * 1000 - 1000, said);
    await settle(lab, emu);
  });

  it('an agent killed is started again as systemd would (Restart=always), and one killed while it serves a zone finds it serves it and gives it back', async () => {
    const [a, b] = [nat(A), nat(B)];
    const service = agentService(lab, b.instanceId);
    const starts = service.starts;
    process.kill(service.pid!, 'SIGKILL');
    await eventually(
      'restarted',
      async () => service.starts,
      (n) => n === starts + 1,
    );
    await agentEvent(lab, b.instanceId, (e) => e.event === 'peer-ok' && Date.parse(e.time) >= Date.now() - 10_000, 'watching again');

    await faults.setForwarding(a.namespace, false);
    await routeBecomes(ec2(), lab, A, b.instanceId);
    process.kill(service.pid!, 'SIGKILL');
    await eventually(
      'restarted again',
      async () => service.starts,
      (n) => n === starts + 2,
    );
    await agentEvent(lab, b.instanceId, (e) => e.event === 'serving' && e.zone === A, 'found it serves A');
    await faults.setForwarding(a.namespace, true);
    await settle(lab, emu);
    const log = await agentLog(lab, b.instanceId);
    assert.equal(log.filter((e) => e.event === 'revert' && e.zone === A).length >= 1, true);
  });

  it('a NAT terminated in the emulator: its zone is taken over at once; apply replaces it, and the agent gives the zone to the new NAT without a person', async () => {
    const [a, b] = [nat(A), nat(B)];
    await ec2().send(new TerminateInstancesCommand({ InstanceIds: [a.instanceId] }));
    await routeBecomes(ec2(), lab, A, b.instanceId);
    await egressBecomes(lab, A, b.publicIp);
    // The apply that heals: a new NAT for A, the heartbeat route re-pointed at it; the private route
    // is served by B, a running NAT of the stack, and is left alone.
    await converge(makeEngine(lab.spec, emu.moto.endpoint));
    await lab.lab.synced();
    const fresh = await eventually(
      'the new NAT of A',
      async () => lab.zone(A).nat,
      (n) => !!n && n.instanceId !== a.instanceId,
    );
    await routeBecomes(ec2(), lab, A, fresh!.instanceId, 20_000);
    const revert = await agentEvent(lab, b.instanceId, (e) => e.event === 'revert' && e.to === fresh!.instanceId, 'gave A to the new NAT');
    assert.equal(revert.from, b.instanceId);
    await eventually(
      "the new NAT's health tag, from its watcher",
      () => instanceTags(ec2(), fresh!.instanceId),
      (t) => t['dupsworks:health'] === 'ok' && t['dupsworks:health-by'] === b.instanceId,
    );
    await settle(lab, emu);
  });
});
