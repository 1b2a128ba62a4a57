// Converging from any state: the states that a lost reply, two applies that crossed, a forged tag
// or a spec change leave behind, each against moto behind a proxy that answers as real EC2 does
// where moto does not (a subnet with instances in it, a gateway detached while instances of its
// VPC hold public addresses, a second gateway on a VPC, a ClientToken repeated), and that loses
// replies on request. Each ends with: apply, then a fresh plan with no changes, in at most two
// applies, and no resource made twice (the world is read: ids kept, counts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CreateInternetGatewayCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeInternetGatewaysCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachInternetGatewayCommand,
  ModifyVpcAttributeCommand,
  RunInstancesCommand,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import type { Engine } from '../../src/engine.js';
import { RecordingHost } from '../../src/io.js';
import { hasChanges, heldChanges, type Plan } from '../../src/planner/plan.js';
import { renderPlan } from '../../src/planner/render.js';
import type { Spec } from '../../src/spec/types.js';
import { startAwsProxy, type LostReply } from '../support/aws-proxy.js';
import { privateRouteTarget } from '../support/damage.js';
import {
  assertApplied,
  assertNoChanges,
  byResource,
  converge,
  instancesOf,
  liveNat,
  makeEngine,
  makeSpec,
  tagValue,
  useEmulator,
} from '../support/stack.js';

const MOTO_AMI = 'ami-12c6146b';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Logical id -> physical ids of the stack's live EC2 resources, read straight from moto. */
type Ids = Map<string, string[]>;

async function worldIds(ec2: EC2Client, stack: string): Promise<Ids> {
  const Filters = [{ Name: 'tag:dupsworks:stack', Values: [stack] }];
  const [vpcs, gateways, subnets, tables, groups, instances] = await Promise.all([
    ec2.send(new DescribeVpcsCommand({ Filters })).then((o) => o.Vpcs!.map((v) => [v.Tags, v.VpcId!] as const)),
    ec2
      .send(new DescribeInternetGatewaysCommand({ Filters }))
      .then((o) => o.InternetGateways!.map((g) => [g.Tags, g.InternetGatewayId!] as const)),
    ec2.send(new DescribeSubnetsCommand({ Filters })).then((o) => o.Subnets!.map((s) => [s.Tags, s.SubnetId!] as const)),
    ec2.send(new DescribeRouteTablesCommand({ Filters })).then((o) => o.RouteTables!.map((t) => [t.Tags, t.RouteTableId!] as const)),
    ec2.send(new DescribeSecurityGroupsCommand({ Filters })).then((o) => o.SecurityGroups!.map((g) => [g.Tags, g.GroupId!] as const)),
    instancesOf(ec2, Filters).then((all) =>
      all.filter((i) => !['shutting-down', 'terminated'].includes(i.State!.Name!)).map((i) => [i.Tags, i.InstanceId!] as const),
    ),
  ]);
  const ids: Ids = new Map();
  for (const [tags, id] of [...vpcs, ...gateways, ...subnets, ...tables, ...groups, ...instances]) {
    const logical = tagValue(tags as Tag[] | undefined, 'dupsworks:resource') ?? '(no logical id)';
    ids.set(logical, [...(ids.get(logical) ?? []), id].sort());
  }
  return ids;
}

/** Every resource of the spec is there exactly once, and what was there before was kept, not made again. */
function assertKept(before: Ids, after: Ids): void {
  for (const [logical, found] of after) {
    assert.equal(found.length, 1, `one ${logical}, found ${found.join(', ')}`);
    const earlier = before.get(logical);
    if (earlier) assert.ok(earlier.includes(found[0]!), `${logical} is one of ${earlier.join(', ')}, not a new ${found[0]}`);
  }
}

/**
 * The acceptance rule after a disturbed apply: at most `applies` applies in all (the disturbed one
 * included) until a fresh plan is empty. Returns the plans applied after the disturbed one.
 */
async function settles(engine: Engine, applies = 2): Promise<Plan[]> {
  const plans: Plan[] = [];
  for (let n = 1; ; n++) {
    const plan = await engine.plan();
    if (!hasChanges(plan)) return plans;
    assert.ok(n < applies, `still not converged after ${applies} applies:\n${renderPlan(plan)}`);
    plans.push(plan);
    assertApplied(await engine.apply(plan));
  }
}

/** The changes of a plan but no-ops, a duplicate's key shortened to "<id>~". */
function doing(plan: Plan): [string, string][] {
  return plan.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id.replace(/~.*/, '~'), c.action]);
}

async function gatewaysOf(ec2: EC2Client, stack: string) {
  return (await ec2.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: [stack] }] })))
    .InternetGateways!;
}

/** Each zone's private default route goes to that zone's one live NAT. */
async function assertNatsRouted(ec2: EC2Client, spec: Spec): Promise<void> {
  for (const [zone, { availabilityZone: az }] of spec.zones.entries()) {
    const nat = await liveNat(ec2, spec.name, az);
    assert.equal(await privateRouteTarget({ ec2, spec }, zone), nat.InstanceId, `${az}'s private default route goes to its NAT`);
  }
}

describe('converging from any state', () => {
  const emu = useEmulator();

  describe('after a lost reply', () => {
    /** A build from empty through the proxy, the reply of `action` lost: its engine, the apply's result, the world it left. */
    async function buildLosing(name: string, action: string, loss: { times?: number; as?: LostReply } = {}) {
      const spec = makeSpec({ name });
      emu.proxy.setOptions({ ec2Rules: true });
      emu.proxy.loseReplies(action, loss);
      const engine = makeEngine(spec, emu.proxy.endpoint);
      const result = await engine.apply(await engine.plan());
      assert.equal(emu.proxy.faults().get('LostReply'), loss.times ?? 1, `the reply of ${action} was lost`);
      return { spec, engine, result, before: await worldIds(emu.ec2, spec.name) };
    }

    it('CreateInternetGateway: of two gateways the attached one is kept, the other deleted; no dead end', async () => {
      const { spec, engine, before } = await buildLosing('lost-igw', 'CreateInternetGateway');
      assert.equal(before.get('internet-gateway')?.length, 2, 'the lost reply left two gateways');
      const [plan] = await settles(engine);
      assert.deepEqual(doing(plan!), [['internet-gateway~', 'delete']], renderPlan(plan!));
      const after = await worldIds(emu.ec2, spec.name);
      assertKept(before, after);
      const [kept] = await gatewaysOf(emu.ec2, spec.name);
      assert.equal(kept!.Attachments?.[0]?.VpcId, after.get('vpc')![0], 'the gateway kept is the attached one');
    });

    it('two detached gateways (a lost CreateInternetGateway reply, then a run stopped before attaching): one is attached, the other deleted', async () => {
      const spec = makeSpec({ name: 'lost-igw-2' });
      emu.proxy.setOptions({ ec2Rules: true });
      const engine = makeEngine(spec, emu.proxy.endpoint);
      await converge(engine);
      const [attached] = await gatewaysOf(emu.ec2, spec.name);
      const vpcId = attached!.Attachments![0]!.VpcId!;
      await emu.ec2.send(new DetachInternetGatewayCommand({ InternetGatewayId: attached!.InternetGatewayId!, VpcId: vpcId }));
      await emu.ec2.send(
        new CreateInternetGatewayCommand({ TagSpecifications: [{ ResourceType: 'internet-gateway', Tags: attached!.Tags }] }),
      );
      const before = await worldIds(emu.ec2, spec.name);
      assert.equal((await settles(engine)).length, 1);
      assertKept(before, await worldIds(emu.ec2, spec.name));
      assert.equal((await gatewaysOf(emu.ec2, spec.name))[0]!.Attachments?.[0]?.VpcId, vpcId);
    });

    it('CreateSubnet: the subnet its retry finds in its place is adopted; the same apply builds the rest', async () => {
      const { spec, engine, result, before } = await buildLosing('lost-subnet', 'CreateSubnet', { times: 4, as: 'server-error' });
      assertApplied(result);
      assertNoChanges(await engine.plan());
      assertKept(before, before);
      await assertNatsRouted(emu.ec2, spec);
    });

    it('CreateVpc: the VPC the apply built in is kept and the empty one deleted, nothing else rebuilt', async () => {
      const { spec, engine, before } = await buildLosing('lost-vpc', 'CreateVpc');
      assert.equal(before.get('vpc')?.length, 2, 'the lost reply left two VPCs');
      const [plan] = await settles(engine);
      assert.deepEqual(doing(plan!), [['vpc~', 'delete']], renderPlan(plan!));
      assert.match(
        plan!.changes.find((c) => c.action === 'delete')!.reason!,
        /^duplicate of vpc; vpc-\S+ is kept: it is in use \(by \d+ of the stack's resources\)$/,
      );
      assertKept(before, await worldIds(emu.ec2, spec.name));
    });

    // Every call a build makes, its reply lost once (reset or 500, by turns): the apply completes,
    // and only a create AWS made twice leaves work for one more apply.
    const madeTwice = new Set(['CreateVpc', 'CreateInternetGateway']);
    const mutations = [
      'CreateVpc',
      'ModifyVpcAttribute',
      'CreateInternetGateway',
      'AttachInternetGateway',
      'CreateSubnet',
      'CreateRouteTable',
      'AssociateRouteTable',
      'CreateRoute',
      'CreateSecurityGroup',
      'AuthorizeSecurityGroupIngress',
      'RunInstances',
      'ModifyInstanceAttribute',
    ];
    for (const [n, action] of mutations.entries()) {
      const as = n % 2 === 0 ? 'reset' : 'server-error';
      it(`${action} (${as}): the apply completes${madeTwice.has(action) ? ', and one more deletes what AWS made twice' : ''}`, async () => {
        const { spec, engine, result, before } = await buildLosing(`lost-${action.toLowerCase()}`, action, { as });
        assertApplied(result);
        assert.equal((await settles(engine)).length, madeTwice.has(action) ? 1 : 0);
        assertKept(before, await worldIds(emu.ec2, spec.name));
        await assertNatsRouted(emu.ec2, spec);
      });
    }

    for (const action of ['RunInstances', 'CreateRouteTable']) {
      it(`${action}: its ClientToken makes the retries return what the first call made, so nothing is made twice`, async () => {
        const { spec, engine, result } = await buildLosing(`token-${action.toLowerCase()}`, action, { times: 2 });
        assertApplied(result);
        assertNoChanges(await engine.plan());
        const all = await instancesOf(emu.ec2, [{ Name: 'tag:dupsworks:stack', Values: [spec.name] }]);
        assert.equal(all.length, spec.zones.length, `one launch per zone, found ${all.map((i) => i.InstanceId).join(', ')}`);
        for (const [logical, found] of await worldIds(emu.ec2, spec.name)) assert.equal(found.length, 1, `one ${logical}`);
      });
    }
  });

  describe('several resources claiming one logical id', () => {
    it("a CIDR change whose old VPC keeps a workload: the new network is kept by every later plan, the old one's blockers named", async () => {
      const spec = makeSpec({ name: 'moved' });
      emu.proxy.setOptions({ ec2Rules: true });
      await converge(makeEngine(spec, emu.proxy.endpoint));
      const [oldPrivate] = (
        await emu.ec2.send(new DescribeSubnetsCommand({ Filters: byResource(spec.name, 'subnet/private/ap-northeast-1c') }))
      ).Subnets!;
      const workload = (
        await emu.ec2.send(new RunInstancesCommand({ ImageId: MOTO_AMI, MinCount: 1, MaxCount: 1, SubnetId: oldPrivate!.SubnetId! }))
      ).Instances![0]!;

      const moved: Spec = {
        ...spec,
        vpc: { ...spec.vpc, cidr: '10.1.0.0/16' },
        zones: spec.zones.map((z, i) => ({ ...z, publicSubnet: `10.1.${i}.0/24`, privateSubnet: `10.1.${128 + i}.0/24` })),
      };
      const io = new RecordingHost();
      const engine = makeEngine(moved, emu.proxy.endpoint, { io });
      const first = await engine.plan();
      assert.equal(first.changes.find((c) => c.id === 'vpc')?.action, 'replace');
      assertApplied(await engine.apply(first));
      assert.deepEqual(
        io.events.filter((e) => e.type === 'retry'),
        [],
        'nothing waited on what AWS refuses',
      );
      const built = await worldIds(emu.ec2, spec.name);

      for (let round = 0; round < 2; round++) {
        const plan = await engine.plan();
        assert.equal(hasChanges(plan), false, `round ${round} changes nothing:\n${renderPlan(plan)}`);
        assert.deepEqual(
          heldChanges(plan).map((c) => [c.id.replace(/~.*/, '~'), c.observed!.physicalId]),
          [
            ['subnet/private/ap-northeast-1c~', oldPrivate!.SubnetId],
            ['vpc~', oldPrivate!.VpcId],
          ],
          renderPlan(plan),
        );
        assert.ok(
          plan.unclaimed.some((u) => u.description.includes(workload.InstanceId!)),
          'the workload is named',
        );
      }
      assert.deepEqual(await worldIds(emu.ec2, spec.name), built, 'nothing was rebuilt');
      const vpc = (await emu.ec2.send(new DescribeVpcsCommand({ VpcIds: built.get('vpc')!.filter((v) => v !== oldPrivate!.VpcId) })))
        .Vpcs![0]!;
      assert.equal(vpc.CidrBlock, '10.1.0.0/16');
    });

    it("an older VPC that someone tagged as the stack's, with a workload in it, does not make apply rebuild the network", async () => {
      const spec = makeSpec({ name: 'forged' });
      const { Vpc: forged } = await emu.ec2.send(new CreateVpcCommand({ CidrBlock: spec.vpc.cidr }));
      await emu.ec2.send(new ModifyVpcAttributeCommand({ VpcId: forged!.VpcId!, EnableDnsHostnames: { Value: true } }));
      const { Subnet: theirs } = await emu.ec2.send(
        new CreateSubnetCommand({ VpcId: forged!.VpcId!, CidrBlock: '10.0.200.0/24', AvailabilityZone: 'ap-northeast-1c' }),
      );
      await emu.ec2.send(new RunInstancesCommand({ ImageId: MOTO_AMI, MinCount: 1, MaxCount: 1, SubnetId: theirs!.SubnetId! }));
      emu.proxy.setOptions({ ec2Rules: true });
      const engine = makeEngine(spec, emu.proxy.endpoint);
      await converge(engine);
      const built = await worldIds(emu.ec2, spec.name);
      // Listed first, being older.
      await emu.ec2.send(
        new CreateTagsCommand({
          Resources: [forged!.VpcId!],
          Tags: [
            { Key: 'dupsworks:stack', Value: spec.name },
            { Key: 'dupsworks:resource', Value: 'vpc' },
            { Key: 'Name', Value: spec.vpc.name },
          ],
        }),
      );
      for (let round = 0; round < 2; round++) {
        const plan = await engine.plan();
        assert.equal(hasChanges(plan), false, `round ${round} changes nothing:\n${renderPlan(plan)}`);
        assert.deepEqual(
          heldChanges(plan).map((c) => c.observed!.physicalId),
          [forged!.VpcId],
        );
        assert.match(heldChanges(plan)[0]!.reason!, /^duplicate of vpc/);
      }
      const after = await worldIds(emu.ec2, spec.name);
      assert.deepEqual(after.get('vpc'), [...built.get('vpc')!, forged!.VpcId!].sort());
      after.delete('vpc');
      built.delete('vpc');
      assert.deepEqual(after, built, 'nothing was rebuilt');
    });
  });

  describe('two applies crossed (no lock)', () => {
    it('one built its whole network while the other waited to make its subnets: the next plan keeps one network, in one apply', async () => {
      const spec = makeSpec({ name: 'crossed' });
      const other = await startAwsProxy({ target: emu.moto.endpoint, ec2Rules: true });
      try {
        emu.proxy.setOptions({ ec2Rules: true });
        const a = makeEngine(spec, emu.proxy.endpoint);
        const b = makeEngine(spec, other.endpoint);
        const [planA, planB] = await Promise.all([a.plan(), b.plan()]);
        const held = emu.proxy.holdCalls('CreateSubnet');
        const runA = a.apply(planA);
        while (held.waiting() === 0) await sleep(20);
        assertApplied(await b.apply(planB));
        held.release();
        assertApplied(await runA);
        const before = await worldIds(emu.ec2, spec.name);
        assert.equal(before.get('vpc')?.length, 2, 'two networks');

        const plans = await settles(a);
        assert.equal(plans.length, 1);
        const kept = await worldIds(emu.ec2, spec.name);
        assertKept(before, kept);
        await assertNatsRouted(emu.ec2, spec);
      } finally {
        await other.stop();
      }
    });

    for (const startAfter of [0, 4]) {
      it(`the second starting after the first completed ${startAfter} steps: converges, one of each`, async () => {
        const spec = makeSpec({ name: `crossed-${startAfter}` });
        emu.proxy.setOptions({ ec2Rules: true });
        const io = new RecordingHost();
        const a = makeEngine(spec, emu.proxy.endpoint, { io });
        const b = makeEngine(spec, emu.proxy.endpoint);
        const started = new Promise<void>((resolve) => {
          if (startAfter === 0) return resolve();
          const notify = io.notify.bind(io);
          io.notify = (event) => {
            notify(event);
            if (io.events.filter((e) => e.type === 'step-done').length === startAfter) resolve();
          };
        });
        const runA = a.plan().then((p) => a.apply(p));
        const runB = started.then(() => b.plan()).then((p) => b.apply(p));
        await Promise.all([runA, runB]);
        await settles(a);
        const ids = await worldIds(emu.ec2, spec.name);
        for (const [logical, found] of ids) assert.equal(found.length, 1, `one ${logical}, found ${found.join(', ')}`);
        await assertNatsRouted(emu.ec2, spec);
      });
    }
  });

  describe('destroy', () => {
    for (const manager of ['ec2'] as const) {
      it(`with --concurrency 1, the gateway goes only once no instance of the stack holds a public address (${manager})`, async () => {
        const spec = makeSpec({ name: 'one-by-one', manager });
        emu.proxy.setOptions({ ec2Rules: true });
        await converge(makeEngine(spec, emu.proxy.endpoint));
        const io = new RecordingHost();
        const engine = makeEngine(spec, emu.proxy.endpoint, { io, concurrency: 1, retryTimeoutSeconds: 20 });
        const started = Date.now();
        assertApplied(await engine.apply(await engine.destroyPlan()));
        assertNoChanges(await engine.destroyPlan(), 'nothing left to destroy');
        const waited = io.events.filter((e) => e.type === 'retry' && e.code === 'DependencyViolation');
        assert.deepEqual(waited, [], 'no delete waited on what AWS refuses');
        assert.ok(Date.now() - started < 15_000);
      });
    }

    it('a foreign instance with a public address in our subnet is named, keeps what it is in, and nothing waits on it', async () => {
      const spec = makeSpec({ name: 'foreign' });
      emu.proxy.setOptions({ ec2Rules: true });
      await converge(makeEngine(spec, emu.proxy.endpoint));
      const [subnet] = (await emu.ec2.send(new DescribeSubnetsCommand({ Filters: byResource(spec.name, 'subnet/public/ap-northeast-1a') })))
        .Subnets!;
      const foreign = (
        await emu.ec2.send(
          new RunInstancesCommand({
            ImageId: MOTO_AMI,
            MinCount: 1,
            MaxCount: 1,
            NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet!.SubnetId!, AssociatePublicIpAddress: true }],
          }),
        )
      ).Instances![0]!;
      const io = new RecordingHost();
      const engine = makeEngine(spec, emu.proxy.endpoint, { io, concurrency: 1, retryTimeoutSeconds: 20 });
      const plan = await engine.destroyPlan();
      assert.ok(
        plan.unclaimed.some((u) => u.description.includes(foreign.InstanceId!)),
        renderPlan(plan, undefined, 'destroy'),
      );
      assert.deepEqual(
        heldChanges(plan)
          .map((c) => c.id)
          .sort(),
        ['internet-gateway', 'subnet/public/ap-northeast-1a', 'vpc'],
      );
      const started = Date.now();
      assertApplied(await engine.apply(plan));
      assert.deepEqual(
        io.events.filter((e) => e.type === 'retry' && e.code === 'DependencyViolation'),
        [],
        'nothing waited on the foreign instance',
      );
      assert.ok(Date.now() - started < 15_000);
      const [untouched] = await instancesOf(emu.ec2, [{ Name: 'instance-id', Values: [foreign.InstanceId!] }]);
      assert.equal(untouched?.State?.Name, 'running');
    });
  });

  describe('a NAT that lost its tags', () => {
    for (const how of ['its dupsworks:resource tag edited', 'its tags removed'] as const) {
      it(`${how}: a new NAT serves, and every plan names the old one as running and costing money`, async () => {
        const spec = makeSpec({ name: how.includes('edited') ? 'edited' : 'untagged' });
        emu.proxy.setOptions({ ec2Rules: true });
        const engine = makeEngine(spec, emu.proxy.endpoint);
        await converge(engine);
        const old = await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
        if (how.includes('edited')) {
          await emu.ec2.send(
            new CreateTagsCommand({ Resources: [old.InstanceId!], Tags: [{ Key: 'dupsworks:resource', Value: 'old-nat' }] }),
          );
        } else {
          await emu.ec2.send(new DeleteTagsCommand({ Resources: [old.InstanceId!], Tags: old.Tags!.map((t) => ({ Key: t.Key! })) }));
        }
        const plan = await engine.plan();
        assert.equal(plan.changes.find((c) => c.id === 'nat/ap-northeast-1c')?.action, 'create');
        assertApplied(await engine.apply(plan));
        const after = await engine.plan();
        assert.equal(hasChanges(after), false, renderPlan(after));
        const named = after.unclaimed.find((u) => u.physicalId === old.InstanceId);
        assert.ok(named, `the old NAT is named:\n${renderPlan(after)}`);
        assert.match(named.description, new RegExp(`^EC2 instance ${old.InstanceId}( \\("[^"]+"\\))?, t3\\.micro, running$`));
        assert.match(named.advice, /costs money/);
        assert.match(named.advice, /terminate/i);
        const text = renderPlan(after);
        assert.match(text, new RegExp(old.InstanceId!));
        const [still] = (await emu.ec2.send(new DescribeInstancesCommand({ InstanceIds: [old.InstanceId!] }))).Reservations![0]!.Instances!;
        assert.equal(still!.State!.Name, 'running', 'not ours to terminate');
      });
    }
  });
});
