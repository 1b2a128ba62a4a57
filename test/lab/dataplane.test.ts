// Real packets through the stack dupsworks builds: moto holds the stack, the lab builds it out of
// network namespaces and follows every change made to it through the EC2 API. Each scenario ends
// with the acceptance rule (apply, then a fresh plan shows no changes) and with the lab's egress
// back to normal, so the tests of a describe block share one stack and one lab. These are tests of
// the lab itself: the NATs' failover agents are stopped (test/lab/agent*.test.ts test those), so
// that only the test moves a route.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  ModifyInstanceAttributeCommand,
  ReplaceRouteCommand,
  RevokeSecurityGroupIngressCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { API_ADDRESS, faults, ping, rerunBootParts, whoami } from '../../src/lab/index.js';
import { ROOT } from '../support/cli.js';
import { egressBecomes, egressOf, eventually, useLab, useMoto, type LabFixture } from '../support/lab.js';
import { byResource, converge, makeEngine } from '../support/stack.js';

const run = promisify(execFile);
const IN_NAT = join(ROOT, 'dist/test/support/in-nat.js');

/** Each private host leaves through its own zone's NAT, as the internet sees it. */
async function assertOwnNats(fixture: LabFixture): Promise<void> {
  for (const zone of fixture.now().zones) {
    const seen = await egressBecomes(fixture, zone.availabilityZone, zone.nat!.publicIp);
    assert.deepEqual(seen, { ok: true, source: zone.nat!.publicIp });
  }
}

/** The acceptance rule, then the lab back to every host leaving through its own NAT. */
async function settle(fixture: LabFixture, endpoint: string): Promise<void> {
  await converge(makeEngine(fixture.spec, endpoint));
  await fixture.lab.synced();
  await assertOwnNats(fixture);
}

describe('lab: real packets, two zones', () => {
  const emu = useMoto();
  const lab = useLab(emu, { name: 'two', agents: false });
  const [A, B] = ['ap-northeast-1c', 'ap-northeast-1a'];

  it("every private host reaches the internet through its own zone's NAT (the source the target sees is that NAT's public IP)", async () => {
    await assertOwnNats(lab);
    for (const zone of lab.now().zones) {
      assert.equal(await ping(zone.host!.namespace, '203.0.113.80', { count: 2 }), 2, `${zone.availabilityZone} pings a target`);
    }
    const [a, b] = [lab.zone(A).nat!, lab.zone(B).nat!];
    assert.notEqual(a.publicIp, b.publicIp);
  });

  it("the ring: from NAT i, zone i's viaPeer target leaves through NAT i+1; viaInternetGateway leaves through NAT i itself", async () => {
    const zones = lab.spec.zones;
    for (const [i, zone] of zones.entries()) {
      const self = lab.zone(zone.availabilityZone).nat!;
      const peer = lab.zone(zones[(i + 1) % zones.length]!.availabilityZone).nat!;
      assert.deepEqual(await whoami(self.namespace, zone.heartbeat.viaPeer), { ok: true, source: peer.publicIp });
      assert.equal(await ping(self.namespace, zone.heartbeat.viaPeer), 1);
      // The name resolves through the namespace's hosts file to an address on the lab's internet.
      assert.deepEqual(await whoami(self.namespace, zone.heartbeat.viaInternetGateway), { ok: true, source: self.publicIp });
    }
  });

  it('IMDSv2 in each NAT answers from the emulator, and 401 without a token', async () => {
    for (const zone of lab.now().zones) {
      const nat = zone.nat!;
      const { stdout } = await run('ip', ['netns', 'exec', nat.namespace, process.execPath, IN_NAT, 'imds']);
      const answer = JSON.parse(stdout);
      const instance = lab.lab.describe().zones.find((z) => z.availabilityZone === zone.availabilityZone)!.nat!;
      assert.equal(answer.unauthorized, 401);
      assert.equal(answer.instanceId, instance.instanceId);
      assert.equal(answer.region, lab.spec.region);
      assert.equal(answer.availabilityZone, zone.availabilityZone);
      assert.match(answer.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.match(answer.interfaceId, /^eni-/);
      assert.match(answer.subnetId, /^subnet-/);
      assert.equal(answer.vpcCidr, lab.spec.vpc.cidr);
      assert.equal(answer.localIpv4s, nat.address);
    }
  });

  it('the EC2 API answers a NAT through its own internet path, with the credentials the SDK finds in the metadata service', async () => {
    const nat = lab.zone(A).nat!;
    const env = {
      PATH: process.env.PATH,
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      AWS_CONFIG_FILE: '/nonexistent',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const args = ['netns', 'exec', nat.namespace, process.execPath, IN_NAT, 'api', `http://${API_ADDRESS}`, lab.spec.region];
    const { stdout } = await run('ip', args, { env });
    assert.ok(JSON.parse(stdout).instanceIds.includes(nat.instanceId));
    // Its own internet path: with its link down the API is out of reach, as on AWS.
    await faults.linkDown(nat);
    await assert.rejects(run('ip', args, { env, timeout: 15_000 }));
    await faults.linkUp(nat);
    await settle(lab, emu.moto.endpoint);
  });

  it('source/dest check turned on by the EC2 API stops the NAT forwarding (its own traffic still flows); apply turns it off and forwarding resumes', async () => {
    const nat = lab.zone(A).nat!;
    await emu.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: nat.instanceId, SourceDestCheck: { Value: true } }));
    await egressBecomes(lab, A, null);
    assert.deepEqual(await whoami(nat.namespace, '198.51.100.80'), { ok: true, source: nat.publicIp });
    assert.deepEqual(await egressOf(lab, B), { ok: true, source: lab.zone(B).nat!.publicIp }, 'the other zone is untouched');
    await settle(lab, emu.moto.endpoint);
  });

  it("a private route repointed by the EC2 API to the other zone's NAT: the host leaves through that NAT within the sync interval", async () => {
    const [a, b] = [lab.zone(A).nat!, lab.zone(B).nat!];
    const tables = await emu.ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(lab.spec.name, `route-table/private/${A}`) }));
    const table = tables.RouteTables![0]!.RouteTableId!;
    await emu.ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0', InstanceId: b.instanceId }));
    const started = Date.now();
    await egressBecomes(lab, A, b.publicIp, 3_000);
    assert.ok(Date.now() - started < 3_000);
    // A failover is not drift: apply leaves it, and the plan is empty.
    await converge(makeEngine(lab.spec, emu.moto.endpoint));
    assert.deepEqual(await egressOf(lab, A), { ok: true, source: b.publicIp });
    await emu.ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0', InstanceId: a.instanceId }));
    await settle(lab, emu.moto.endpoint);
  });

  it("a NAT whose masquerade was flushed is seen broken by a probe through it (no reply comes back), while it still reaches the internet itself; its boot script's masquerade part, run again, mends it", async () => {
    const [a, b] = [lab.zone(A).nat!, lab.zone(B).nat!];
    await faults.flushMasquerade(a.namespace);
    assert.equal((await egressOf(lab, A)).ok, false, "the zone's host gets no answer");
    // The peer's heartbeat probe goes through it: zone B's viaPeer is routed through NAT A.
    const viaA = lab.spec.zones.find((z) => z.availabilityZone === B)!.heartbeat.viaPeer;
    assert.equal((await whoami(b.namespace, viaA)).ok, false, "the peer's probe through it gets no answer");
    assert.equal(await ping(b.namespace, viaA), 0);
    assert.deepEqual(await whoami(a.namespace, '198.51.100.80'), { ok: true, source: a.publicIp }, 'its own egress works');
    await rerunBootParts(a.namespace, lab.lab.names.instanceRoot(a.instanceId), ['masquerade']);
    assert.deepEqual(await whoami(b.namespace, viaA), { ok: true, source: a.publicIp });
    await settle(lab, emu.moto.endpoint);
  });

  it("the NAT's security group without its VPC ingress rule drops what the VPC sends it; apply restores the rule and the traffic", async () => {
    const groups = await emu.ec2.send(new DescribeSecurityGroupsCommand({ Filters: byResource(lab.spec.name, 'security-group/nat') }));
    const group = groups.SecurityGroups![0]!.GroupId!;
    await emu.ec2.send(
      new RevokeSecurityGroupIngressCommand({
        GroupId: group,
        IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: lab.spec.vpc.cidr }] }],
      }),
    );
    await egressBecomes(lab, A, null);
    await egressBecomes(lab, B, null);
    // Stateful: what the NAT itself opens still comes back.
    assert.deepEqual(await whoami(lab.zone(A).nat!.namespace, '198.51.100.80'), { ok: true, source: lab.zone(A).nat!.publicIp });
    await settle(lab, emu.moto.endpoint);
  });

  it('the fault helpers break what they say and mend it: forwarding off, the path between two zones cut, total loss', async () => {
    const [a, b] = [lab.zone(A).nat!, lab.zone(B).nat!];
    await faults.setForwarding(a.namespace, false);
    assert.equal((await egressOf(lab, A)).ok, false, 'forwarding off: nothing gets through the NAT');
    await faults.setForwarding(a.namespace, true);
    assert.deepEqual(await egressOf(lab, A), { ok: true, source: a.publicIp });

    // Both NATs still reach the internet, but not each other: each one's probe through its peer fails.
    await faults.cutBetween(lab.now(), A, B);
    const viaB = lab.spec.zones.find((z) => z.availabilityZone === A)!.heartbeat.viaPeer;
    assert.equal((await whoami(a.namespace, viaB)).ok, false, "A's probe through B is cut");
    assert.deepEqual(await whoami(a.namespace, '198.51.100.80'), { ok: true, source: a.publicIp }, 'A still reaches the internet');
    assert.deepEqual(await whoami(b.namespace, '198.51.100.80'), { ok: true, source: b.publicIp }, 'B still reaches the internet');
    await faults.clearDrops(lab.now().namespaces.router);
    assert.deepEqual(await whoami(a.namespace, viaB), { ok: true, source: b.publicIp });

    const host = lab.zone(A).host!.namespace;
    await faults.randomLoss(host, 1);
    assert.equal(await ping(host, '198.51.100.80', { count: 3 }), 0, 'loss 1: every packet dropped');
    await faults.clearDrops(host);
    assert.equal(await ping(host, '198.51.100.80', { count: 3 }), 3);
    await settle(lab, emu.moto.endpoint);
  });

  it('a stopped NAT has its link down (its zone loses egress); apply starts it and egress comes back, its firewall as its user data left it', async () => {
    const nat = lab.zone(A).nat!;
    await emu.ec2.send(new StopInstancesCommand({ InstanceIds: [nat.instanceId] }));
    await egressBecomes(lab, A, null);
    await eventually(
      'the stopped NAT',
      async () => lab.zone(A).nats.find((n) => n.instanceId === nat.instanceId)?.state,
      (s) => s === 'stopped',
    );
    await settle(lab, emu.moto.endpoint);
    assert.equal(lab.zone(A).nat!.instanceId, nat.instanceId, 'the same instance, started again');
  });

  it('a NAT terminated in the emulator: its host loses egress; one apply heals the stack and egress comes back through the new NAT, booted from its own user data', async () => {
    const old = lab.zone(A).nat!;
    await emu.ec2.send(new TerminateInstancesCommand({ InstanceIds: [old.instanceId] }));
    await egressBecomes(lab, A, null);
    await converge(makeEngine(lab.spec, emu.moto.endpoint));
    await lab.lab.synced();
    const fresh = lab.zone(A).nat!;
    assert.notEqual(fresh.instanceId, old.instanceId);
    await egressBecomes(lab, A, fresh.publicIp);
    assert.ok(
      lab.events.some((e) => e.type === 'booted' && e.instanceId === fresh.instanceId),
      'the new NAT ran the user data the emulator holds for it',
    );
    // The peer's heartbeat route follows the new NAT too.
    const viaA = lab.spec.zones.find((z) => z.availabilityZone === B)!.heartbeat.viaPeer;
    assert.deepEqual(await whoami(lab.zone(B).nat!.namespace, viaA), { ok: true, source: fresh.publicIp });
    assert.equal(lab.now().zones.flatMap((z) => z.nats).length, 2, 'the old NAT is gone from the lab');
    await settle(lab, emu.moto.endpoint);
  });
});

describe('lab: real packets, a three-zone ring', () => {
  const emu = useMoto();
  const lab = useLab(emu, { name: 'ring', zones: 3, agents: false });

  it("each private host leaves through its own NAT, and each NAT's viaPeer target through the next zone's NAT", async () => {
    await assertOwnNats(lab);
    const zones = lab.spec.zones;
    for (const [i, zone] of zones.entries()) {
      const self = lab.zone(zone.availabilityZone).nat!;
      const next = lab.zone(zones[(i + 1) % zones.length]!.availabilityZone).nat!;
      assert.deepEqual(await whoami(self.namespace, zone.heartbeat.viaPeer), { ok: true, source: next.publicIp });
    }
    await settle(lab, emu.moto.endpoint);
  });
});

describe('lab: --propagation-delay', () => {
  const emu = useMoto();
  const DELAY_MS = 1500;
  const lab = useLab(emu, { name: 'delay', propagationDelayMs: DELAY_MS, agents: false });

  it('a route change seen in the emulator reaches the data plane only after the delay', async () => {
    const [A, B] = ['ap-northeast-1c', 'ap-northeast-1a'];
    const [a, b] = [lab.zone(A).nat!, lab.zone(B).nat!];
    const tables = await emu.ec2.send(new DescribeRouteTablesCommand({ Filters: byResource(lab.spec.name, `route-table/private/${A}`) }));
    const table = tables.RouteTables![0]!.RouteTableId!;
    await emu.ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0', InstanceId: b.instanceId }));
    const changed = Date.now();
    await lab.lab.synced();
    assert.deepEqual(await egressOf(lab, A), { ok: true, source: a.publicIp }, 'still the old route right after the change');
    await egressBecomes(lab, A, b.publicIp, DELAY_MS + 3000);
    assert.ok(Date.now() - changed >= DELAY_MS, `applied after ${Date.now() - changed} ms`);
    await emu.ec2.send(new ReplaceRouteCommand({ RouteTableId: table, DestinationCidrBlock: '0.0.0.0/0', InstanceId: a.instanceId }));
    await settle(lab, emu.moto.endpoint);
  });
});
