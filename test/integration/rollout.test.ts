// Rolling replacement against moto, in-process: a spec change replaces the NATs one zone at a
// time in ring order, each new NAT's routes moving only once its watcher has tagged it healthy; a
// NAT that never gets there stops the rollout with the other zones untouched; a dead NAT is
// repaired at once, before the rollout. The watchers are the agents' stand-in (support/watchers.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DescribeImagesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { RecordingHost, type EngineEvent, type Stamped } from '../../src/io.js';
import { rolloutOf } from '../../src/planner/plan.js';
import { plainStyle } from '../../src/planner/render.js';
import type { Spec } from '../../src/spec/types.js';
import { summary } from '../../src/terminal.js';
import { privateRouteTarget } from '../support/damage.js';
import {
  assertApplied,
  assertNoChanges,
  converge,
  ec2Client,
  killNat,
  liveNat,
  makeEngine,
  makeSpec,
  useEmulator,
} from '../support/stack.js';
import { startWatchers, type Watchers } from '../support/watchers.js';

const ZONES = ['ap-northeast-1c', 'ap-northeast-1a', 'ap-northeast-1d'];

describe('rolling replacement of the NATs', () => {
  const emu = useEmulator();

  const engineFor = (spec: Spec, host = new RecordingHost()) =>
    makeEngine(spec, emu.proxy.endpoint, { io: host, readyTimeoutSeconds: 20, readyPollSeconds: 0.2 });

  /** Builds a 3-zone stack with its watchers running; returns them and the EC2 client. */
  async function built(spec: Spec, forwards?: (nat: Instance) => boolean) {
    const ec2 = ec2Client(emu.moto.endpoint);
    const watchers = startWatchers(ec2, spec, { forwards });
    await converge(engineFor(spec));
    // A stack at rest: every NAT's watcher has had its say.
    for (const az of ZONES) {
      const id = (await liveNat(ec2, spec.name, az)).InstanceId;
      await until(() => watchers.written.some((w) => w.target === id && w.health === 'ok'), `a health tag on nat/${az}`);
    }
    return { ec2, watchers };
  }

  /** Each zone's steps, from the first start to the last done, by sequence number. */
  function spans(events: Stamped<EngineEvent>[]) {
    const span = new Map<string, { from: number; to: number }>();
    for (const e of events) {
      if (e.type !== 'step-start' && e.type !== 'step-done') continue;
      if (!e.id.startsWith('nat/')) continue;
      const s = span.get(e.id) ?? { from: e.seq, to: e.seq };
      s.from = Math.min(s.from, e.seq);
      s.to = Math.max(s.to, e.seq);
      span.set(e.id, s);
    }
    return span;
  }

  async function until(check: () => boolean, what: string, timeoutMs = 10_000) {
    for (const started = Date.now(); !check(); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() - started > timeoutMs) assert.fail(`no ${what} within ${timeoutMs} ms`);
    }
  }

  const seqOf = (events: Stamped<EngineEvent>[], match: (e: Stamped<EngineEvent>) => boolean) => events.find(match)?.seq ?? -1;

  async function images(ec2: EC2Client): Promise<string[]> {
    const out = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }));
    return [...new Set((out.Images ?? []).map((i) => i.ImageId!))].sort();
  }

  async function stop(watchers: Watchers) {
    await watchers.stop();
  }

  it('replaces the NATs of a spec change one zone at a time, in ring order, each routed only once ready', async () => {
    const spec = makeSpec({ zones: 3 });
    const { ec2, watchers } = await built(spec);
    try {
      const before = await Promise.all(ZONES.map((az) => liveNat(ec2, spec.name, az)));
      const bigger: Spec = { ...spec, nat: { ...spec.nat, instanceType: 't3.small' } };
      const host = new RecordingHost();
      const engine = engineFor(bigger, host);
      const plan = await engine.plan();
      assert.deepEqual(
        rolloutOf(plan)?.steps.map((s) => s.id),
        ZONES.map((az) => `nat/${az}`),
      );
      assert.deepEqual(
        ZONES.map((az) => plan.changes.find((c) => c.id === `nat/${az}`)?.cause),
        ['rollout', 'rollout', 'rollout'],
      );
      assertApplied(await engine.apply(plan));

      // Never two zones at once, and in ring order.
      const span = spans(host.events);
      const ordered = ZONES.map((az) => span.get(`nat/${az}`)!);
      for (let i = 1; i < ordered.length; i++)
        assert.ok(ordered[i - 1]!.to < ordered[i]!.from, `zone ${ZONES[i]} started before ${ZONES[i - 1]} was done`);
      for (const [i, az] of ZONES.entries()) {
        const id = `nat/${az}`;
        const ready = seqOf(host.events, (e) => e.type === 'ready-check' && e.id === id && e.ready);
        const routed = seqOf(host.events, (e) => e.type === 'step-start' && e.id === `route/private/${az}/0.0.0.0/0`);
        const gone = seqOf(host.events, (e) => e.type === 'step-done' && e.id === id && e.operation === 'delete');
        assert.ok(ready > 0 && ready < routed && routed < gone, `${id}: ready ${ready}, routed ${routed}, old one gone ${gone}`);
        // What its watcher wrote is what made it ready: the previous zone's NAT, about the new one.
        const now = await liveNat(ec2, spec.name, az);
        assert.notEqual(now.InstanceId, before[i]!.InstanceId);
        assert.equal(now.InstanceType, 't3.small');
        assert.equal(await privateRouteTarget({ ec2, spec }, i), now.InstanceId);
        const watcherZone = ZONES[(i + ZONES.length - 1) % ZONES.length]!;
        const tag = watchers.written.find((w) => w.target === now.InstanceId && w.health === 'ok');
        assert.ok(tag, `no health tag on ${now.InstanceId}`);
        const watcher = (await liveNat(ec2, spec.name, watcherZone)).InstanceId;
        const watcherBefore = before[(i + ZONES.length - 1) % ZONES.length]!.InstanceId;
        assert.ok([watcher, watcherBefore].includes(tag.by), `tagged by ${tag.by}, not by ${watcherZone}'s NAT`);
      }
      assertNoChanges(await engineFor(bigger).plan());
    } finally {
      await stop(watchers);
    }
  });

  it('stops a rollout at the first zone whose new NAT is not ready in time: that zone keeps its NAT, the others are untouched', async () => {
    const spec = makeSpec({ zones: 3 });
    const ec2 = ec2Client(emu.moto.endpoint);
    const [, bad, fixed] = (await images(ec2)).filter((id) => id !== undefined);
    assert.ok(bad && fixed, 'moto lists too few images');
    const { watchers } = await built(spec, (nat) => nat.ImageId !== bad);
    try {
      const before = await Promise.all(ZONES.map((az) => liveNat(ec2, spec.name, az)));
      const broken: Spec = { ...spec, nat: { ...spec.nat, imageId: bad } };
      const host = new RecordingHost();
      const engine = makeEngine(broken, emu.proxy.endpoint, { io: host, readyTimeoutSeconds: 3, readyPollSeconds: 0.2 });
      const result = await engine.apply(await engine.plan());

      assert.equal(result.ok, false);
      const gate = result.outcomes.find((o) => o.status === 'failed');
      assert.equal(gate?.key, `ready:nat/${ZONES[0]}`);
      assert.match(
        gate?.error?.message ?? '',
        new RegExp(`^rollout stopped: nat/${ZONES[0]} i-\\w+ not ready after 3 s: its watcher i-\\w+ finds it failing since `),
      );
      assert.equal(gate?.error?.code, 'RolloutStopped');
      const text = summary('apply', result, plainStyle);
      assert.match(text, /Apply failed: rollout stopped: nat\/ap-northeast-1c i-\w+ not ready after 3 s/);
      assert.match(text, /the rollout resumes from this step/);
      // Nothing of the other zones was started.
      for (const az of ZONES.slice(1)) {
        assert.ok(!host.events.some((e) => e.type === 'step-start' && e.id === `nat/${az}`), `nat/${az} was touched`);
      }
      // The zone tried keeps serving through its old NAT; the others keep theirs.
      for (const [i, az] of ZONES.entries()) {
        assert.equal(await privateRouteTarget({ ec2, spec }, i), before[i]!.InstanceId, `${az}'s private route moved`);
      }
      for (const az of ZONES.slice(1)) assert.equal((await liveNat(ec2, spec.name, az)).InstanceId, before[ZONES.indexOf(az)]!.InstanceId);

      // A plan now keeps the old NAT (it is ready; the new one is not) and tries again.
      const again = await engineFor(broken).plan();
      const duplicate = again.changes.find((c) => c.id.startsWith(`nat/${ZONES[0]}~`));
      assert.equal(duplicate?.action, 'delete');
      assert.match(duplicate?.reason ?? '', /is kept: it is ready/);

      // The cause fixed (another image): the rollout resumes, and converges.
      const good: Spec = { ...spec, nat: { ...spec.nat, imageId: fixed } };
      await converge(engineFor(good));
      for (const az of ZONES) assert.equal((await liveNat(ec2, spec.name, az)).ImageId, fixed);
    } finally {
      await stop(watchers);
    }
  });

  it('replaces a dead NAT at once, before the rollout of a spec change to the others', async () => {
    const spec = makeSpec({ zones: 3 });
    const { ec2, watchers } = await built(spec);
    try {
      await killNat(ec2, spec.name, ZONES[1]!);
      const bigger: Spec = { ...spec, nat: { ...spec.nat, instanceType: 't3.small' } };
      const host = new RecordingHost();
      const engine = engineFor(bigger, host);
      const plan = await engine.plan();
      const rollout = rolloutOf(plan)!;
      assert.deepEqual(rollout.repairsFirst, [`nat/${ZONES[1]}`]);
      assert.deepEqual(
        rollout.steps.map((s) => s.id),
        [`nat/${ZONES[0]}`, `nat/${ZONES[2]}`],
      );
      assertApplied(await engine.apply(plan));
      const span = spans(host.events);
      const repaired = span.get(`nat/${ZONES[1]}`)!;
      assert.ok(repaired.to < span.get(`nat/${ZONES[0]}`)!.from, 'the rollout started before the repair was done');
      // The repair does not wait for readiness: its routes moved as soon as it was made.
      assert.ok(!host.events.some((e) => e.type === 'step-start' && e.id === `nat/${ZONES[1]}` && e.operation === 'ready'));
      assertNoChanges(await engineFor(bigger).plan());
    } finally {
      await stop(watchers);
    }
  });
});
