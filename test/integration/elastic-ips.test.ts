// Elastic IPs against moto, with the real SDK: each NAT's egress address survives its replacement
// (the address moves to the new NAT before the old one is terminated); destroy releases the
// stack's own addresses and never one it reused, nor any other; addresses named for reuse that
// do not exist, or that something else holds, are refused at plan time. Every scenario ends with
// apply, then a fresh plan that shows no changes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  DescribeAddressesCommand,
  RunInstancesCommand,
  type Address,
} from '@aws-sdk/client-ec2';
import { SpecRejected } from '../../src/errors.js';
import { watched } from '../support/watchers.js';
import { RecordingHost } from '../../src/io.js';
import type { Spec } from '../../src/spec/types.js';
import {
  assertApplied,
  assertNoChanges,
  converge,
  killNat,
  liveNat,
  makeEngine,
  makeSpec,
  tagValue,
  useEmulator,
} from '../support/stack.js';

function withElasticIps(elasticIps: Spec['nat']['elasticIps']): Spec {
  return makeSpec({ nat: { elasticIps } });
}

describe('Elastic IPs', () => {
  const emu = useEmulator();

  async function addresses(): Promise<Address[]> {
    return (await emu.ec2.send(new DescribeAddressesCommand({}))).Addresses ?? [];
  }

  async function allocate(): Promise<{ allocationId: string; publicIp: string }> {
    const out = await emu.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    return { allocationId: out.AllocationId!, publicIp: out.PublicIp! };
  }

  /** The address a zone's NAT leaves by, as EC2 shows the instance. */
  async function egressOf(spec: Spec, az: string): Promise<string | undefined> {
    return (await liveNat(emu.ec2, spec.name, az)).PublicIpAddress;
  }

  it('allocates one per zone, keeps it through a replacement of the NAT, and destroy releases only those', async () => {
    const spec = withElasticIps(true);
    const foreign = await allocate();
    const plan = await makeEngine(spec, emu.moto.endpoint).plan();
    const creates = plan.changes.filter((c) => c.kind === 'elastic-ip' || c.kind === 'eip-association');
    assert.deepEqual(creates.map((c) => `${c.action} ${c.id}`).sort(), [
      'create eip-association/ap-northeast-1a',
      'create eip-association/ap-northeast-1c',
      'create eip/ap-northeast-1a',
      'create eip/ap-northeast-1c',
    ]);
    await converge(makeEngine(spec, emu.moto.endpoint));

    const own = (await addresses()).filter((a) => tagValue(a.Tags, 'dupsworks:stack') === spec.name);
    assert.equal(own.length, 2);
    const byZone = new Map(own.map((a) => [tagValue(a.Tags, 'dupsworks:resource')!.split('/')[1]!, a]));
    for (const zone of spec.zones) {
      assert.equal(await egressOf(spec, zone.availabilityZone), byZone.get(zone.availabilityZone)!.PublicIp, 'the NAT leaves by its EIP');
    }

    // The NAT of the first zone dies: its replacement gets the same address.
    const az = spec.zones[0]!.availabilityZone;
    const dead = await killNat(emu.ec2, spec.name, az);
    await converge(makeEngine(spec, emu.moto.endpoint));
    const fresh = await liveNat(emu.ec2, spec.name, az);
    assert.notEqual(fresh.InstanceId, dead.InstanceId);
    assert.equal(fresh.PublicIpAddress, byZone.get(az)!.PublicIp, 'the replacement leaves by the same address');

    // A replacement of running NATs (a new instance type) moves each address to the new NAT
    // before the old one is terminated.
    const bigger = makeSpec({ nat: { elasticIps: true, instanceType: 't3.small' } });
    const rollout = await makeEngine(bigger, emu.moto.endpoint).plan();
    assert.deepEqual(
      rollout.changes.filter((c) => c.kind === 'eip-association').map((c) => c.action),
      ['update', 'update'],
      'the addresses move',
    );
    const io = new RecordingHost();
    assertApplied(await watched(emu.ec2, bigger, () => makeEngine(bigger, emu.moto.endpoint, { io }).apply(rollout)));
    const order = io.events.flatMap((e) => (e.type === 'step-done' ? [`${e.operation}:${e.id}`] : []));
    for (const zone of spec.zones) {
      const at = (key: string) => order.indexOf(`${key}${zone.availabilityZone}`);
      assert.ok(at('create:nat/') < at('update:eip-association/'), order.join(', '));
      assert.ok(at('update:eip-association/') < at('delete:nat/'), order.join(', '));
      const nat = await liveNat(emu.ec2, spec.name, zone.availabilityZone);
      assert.equal(nat.InstanceType, 't3.small');
      assert.equal(nat.PublicIpAddress, byZone.get(zone.availabilityZone)!.PublicIp);
      const held = (await addresses()).find((a) => a.AllocationId === byZone.get(zone.availabilityZone)!.AllocationId)!;
      assert.equal(held.InstanceId, nat.InstanceId);
    }
    assertNoChanges(await makeEngine(bigger, emu.moto.endpoint).plan());

    // Destroy releases the stack's own addresses, and nothing else.
    const engine = makeEngine(bigger, emu.moto.endpoint);
    assertApplied(await engine.apply(await engine.destroyPlan()));
    const left = await addresses();
    assert.deepEqual(
      left.map((a) => a.AllocationId),
      [foreign.allocationId],
      'only the address that is not the stack’s is left',
    );
    assertNoChanges(await engine.destroyPlan(), 'a second destroy has nothing to do');
  });

  it('reuses the addresses the spec names, keeps them through a replacement, and leaves them allocated after destroy', async () => {
    const reused = [await allocate(), await allocate()];
    const spec = withElasticIps(reused.map((r) => r.allocationId));
    const plan = await makeEngine(spec, emu.moto.endpoint).plan();
    assert.ok(!plan.changes.some((c) => c.kind === 'elastic-ip'), 'nothing is allocated');
    const shown = plan.changes.filter((c) => c.kind === 'eip-association').map((c) => c.preview!.publicIp);
    assert.deepEqual(
      shown,
      reused.map((r) => r.publicIp),
      'the plan shows each NAT’s address to be',
    );
    await converge(makeEngine(spec, emu.moto.endpoint));
    for (const [i, zone] of spec.zones.entries()) assert.equal(await egressOf(spec, zone.availabilityZone), reused[i]!.publicIp);

    const az = spec.zones[1]!.availabilityZone;
    await killNat(emu.ec2, spec.name, az);
    await converge(makeEngine(spec, emu.moto.endpoint));
    assert.equal(await egressOf(spec, az), reused[1]!.publicIp);

    const engine = makeEngine(spec, emu.moto.endpoint);
    const destroy = await engine.destroyPlan();
    assert.ok(!destroy.changes.some((c) => c.kind === 'eip-association' && c.action === 'delete'), 'reused associations are not undone');
    assertApplied(await engine.apply(destroy));
    const left = (await addresses()).map((a) => a.AllocationId).sort();
    assert.deepEqual(left, reused.map((r) => r.allocationId).sort(), 'reused addresses stay allocated');
    for (const a of await addresses()) assert.equal(tagValue(a.Tags, 'dupsworks:stack'), undefined, 'and untagged');
  });

  it('turning them off releases the stack’s own, and the NATs keep running', async () => {
    await converge(makeEngine(withElasticIps(true), emu.moto.endpoint));
    const plan = await makeEngine(makeSpec(), emu.moto.endpoint).plan();
    assert.deepEqual(
      plan.changes
        .filter((c) => c.action !== 'no-op')
        .map((c) => `${c.action} ${c.kind}`)
        .sort(),
      ['delete eip-association', 'delete eip-association', 'delete elastic-ip', 'delete elastic-ip'],
    );
    await converge(makeEngine(makeSpec(), emu.moto.endpoint));
    assert.deepEqual(await addresses(), []);
  });

  it('refuses, before any change, an address to reuse that does not exist, that another holds, or that is the stack’s own', async () => {
    const free = await allocate();
    const taken = await allocate();
    const someone = (await emu.ec2.send(new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1 }))).Instances![0]!;
    await emu.ec2.send(new AssociateAddressCommand({ AllocationId: taken.allocationId, InstanceId: someone.InstanceId! }));
    const rejected = async (spec: Spec): Promise<SpecRejected> => {
      let caught: unknown;
      await makeEngine(spec, emu.moto.endpoint)
        .plan()
        .catch((error: unknown) => (caught = error));
      assert.ok(caught instanceof SpecRejected, `rejected: ${String(caught)}`);
      return caught;
    };

    const missing = await rejected(withElasticIps([free.allocationId, 'eipalloc-0123456789abcdef0']));
    assert.deepEqual(missing.problems[0]!.path, ['nat', 'elasticIps', 1]);
    assert.match(missing.problems[0]!.message, /^eipalloc-0123456789abcdef0 is no Elastic IP of this account in ap-northeast-1/);

    const held = await rejected(withElasticIps([taken.allocationId, free.allocationId]));
    assert.deepEqual(held.problems[0]!.path, ['nat', 'elasticIps', 0]);
    assert.match(held.problems[0]!.message, new RegExp(`is held by ${someone.InstanceId}, which is not this stack's`));

    await converge(makeEngine(withElasticIps(true), emu.moto.endpoint));
    const own = (await addresses()).filter((a) => tagValue(a.Tags, 'dupsworks:stack') === 'test-stack').map((a) => a.AllocationId!);
    const ours = await rejected(withElasticIps(own));
    assert.equal(ours.problems.length, 2);
    assert.match(ours.problems[0]!.message, /is this stack's own \(eip\/ap-northeast-1/);

    const stillThere = await addresses();
    assert.equal(stillThere.find((a) => a.AllocationId === taken.allocationId)!.InstanceId, someone.InstanceId, 'untouched');
    assertNoChanges(await makeEngine(withElasticIps(true), emu.moto.endpoint).plan());
  });
});
