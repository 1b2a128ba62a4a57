// The stack lock against moto's DynamoDB: one holder at a time, a clear holder for whoever is
// blocked, renewal while held, takeover only once expired, a lost lease stops the apply, and two
// runs started together on one stack build one stack.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import type { Engine } from '../../src/engine.js';
import { DupsworksError } from '../../src/errors.js';
import { RecordingHost } from '../../src/io.js';
import { DEFAULT_LOCK_TABLE, LockHeldError } from '../../src/lock/lease.js';
import {
  assertApplied,
  assertNoChanges,
  converge,
  instancesOf,
  killNat,
  liveNat,
  makeEngine,
  makeSpec,
  REGION,
  useEmulator,
} from '../support/stack.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the stack lock', () => {
  const emu = useEmulator();
  const engine = (options: Parameters<typeof makeEngine>[2] = {}, name = 'locked-stack'): Engine =>
    makeEngine(makeSpec({ name }), emu.proxy.endpoint, options);

  it('is created on first use; of two runs taking it at once, one gets it and the other is told who holds it', async () => {
    const [a, b] = [engine(), engine()];
    const results = await Promise.allSettled([a.lock('apply', { waitSeconds: 0 }), b.lock('destroy', { waitSeconds: 0 })]);
    const held = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(held.length, 1, 'exactly one holder');
    assert.equal(refused.length, 1);
    const error = refused[0]!.reason as LockHeldError;
    assert.ok(error instanceof LockHeldError, String(error));
    assert.equal(error.code, 'LockHeld');
    assert.equal(error.fault, 'user');
    const lease = (held[0] as PromiseFulfilledResult<Awaited<ReturnType<Engine['lock']>>>).value;
    assert.deepEqual(error.holder, lease.info, 'the blocked run sees the holder as it took the lock');
    assert.equal(error.holder.pid, process.pid);
    assert.equal(error.holder.stack, 'locked-stack');
    assert.equal(error.holder.table, DEFAULT_LOCK_TABLE);
    assert.match(error.message, /^the lock of stack locked-stack is held by .+@.+ \(pid \d+, (apply|destroy)\) since \d{4}-\d\d-\d\dT/);
    assert.equal(emu.proxy.calls().get('CreateTable') !== undefined, true, 'the table was made');
    await lease.release();
    assert.equal(await a.lockHolder(), undefined, 'released');
  });

  it('a run that waits gets the lock once its holder releases it, and says once whom it waits for', async () => {
    const io = new RecordingHost();
    const holder = await engine().lock('apply', { waitSeconds: 0 });
    setTimeout(() => void holder.release(), 1500);
    const started = Date.now();
    const lease = await engine({ io }).lock('apply', { waitSeconds: 30 });
    const waited = Date.now() - started;
    assert.ok(waited >= 1400 && waited < 6000, `waited ${waited} ms`);
    const waits = io.events.filter((e) => e.type === 'lock-waiting');
    assert.equal(waits.length, 1);
    assert.deepEqual(waits[0]!.type === 'lock-waiting' && waits[0]!.holder.id, holder.info.id);
    await lease.release();
  });

  it('a run that waits in vain gives up after --lock-timeout with the holder', async () => {
    const holder = await engine().lock('apply', { waitSeconds: 0 });
    const started = Date.now();
    await assert.rejects(engine().lock('apply', { waitSeconds: 2 }), (e: LockHeldError) => {
      assert.equal(e.holder.id, holder.info.id);
      assert.match(e.message, /\(waited 2s\)$/);
      return true;
    });
    assert.ok(Date.now() - started < 5000);
    await holder.release();
  });

  it('is renewed while held: it outlives its lease', async () => {
    const holder = await engine({ lock: { leaseSeconds: 1.5 } }).lock('apply', { waitSeconds: 0 });
    await sleep(4000);
    await assert.rejects(engine().lock('apply', { waitSeconds: 0 }), LockHeldError);
    assert.ok(Date.parse(holder.info.expires) > Date.now(), 'its expiry moved on');
    await holder.release();
  });

  it('left behind by a run that died, is taken over once expired (and not before)', async () => {
    const dynamodb = new DynamoDBClient({ region: REGION, endpoint: emu.moto.endpoint });
    const dead = async (expiresInMs: number) => {
      const expires = new Date(Date.now() + expiresInMs).toISOString();
      await dynamodb.send(
        new PutItemCommand({
          TableName: DEFAULT_LOCK_TABLE,
          Item: {
            LockID: { S: 'locked-stack' },
            LeaseId: { S: 'dead-lease' },
            User: { S: 'ops' },
            Host: { S: 'gone-host' },
            Pid: { N: '4242' },
            Operation: { S: 'apply' },
            Since: { S: '2026-01-01T00:00:00.000Z' },
            Expires: { S: expires },
            ExpiresAt: { N: String(Date.parse(expires)) },
          },
        }),
      );
    };
    (await engine().lock('apply', { waitSeconds: 0 })).release(); // makes the table
    await sleep(200);
    await dead(60_000);
    await assert.rejects(engine().lock('apply', { waitSeconds: 0 }), (e: LockHeldError) => e.holder.host === 'gone-host');
    await dead(-1000);
    const io = new RecordingHost();
    const lease = await engine({ io }).lock('apply', { waitSeconds: 0 });
    assert.equal(lease.tookOverFrom?.id, 'dead-lease');
    const acquired = io.events.find((e) => e.type === 'lock-acquired');
    assert.equal(acquired?.level, 'warn', 'a takeover is worth a warning');
    await lease.release();
  });

  it('force-unlock breaks only the lock held under the ID given; the holder then knows it lost it', async () => {
    const other = engine();
    await assert.rejects(other.forceUnlock('no-such-id'), (e: DupsworksError) => e.code === 'LockNotHeld');
    const holder = await engine({ lock: { leaseSeconds: 1.5 } }).lock('apply', { waitSeconds: 0 });
    await assert.rejects(other.forceUnlock('no-such-id'), (e: DupsworksError) => {
      assert.equal(e.code, 'LockIdMismatch');
      assert.match(e.message, new RegExp(`held under ID ${holder.info.id}`));
      return true;
    });
    const broken = await other.forceUnlock(holder.info.id);
    assert.equal(broken.id, holder.info.id);
    const taker = await other.lock('apply', { waitSeconds: 0 });
    await new Promise<void>((resolve) => holder.signal.addEventListener('abort', () => resolve(), { once: true }));
    assert.equal((holder.signal.reason as DupsworksError).code, 'LockLost');
    await holder.release();
    assert.equal((await other.lockHolder())?.id, taker.info.id, "the old holder's release leaves the new holder's lock alone");
    await taker.release();
  });

  it('a lock lost during an apply stops it like an interrupt; the next apply converges', async () => {
    const io = new RecordingHost();
    const spec = makeSpec({ name: 'locked-stack' });
    emu.proxy.setOptions({ pendingInstanceMs: 3000 });
    const breaker = engine();
    let broken = false;
    const host = {
      confirm: async () => true,
      notify: (event: Parameters<RecordingHost['notify']>[0]) => {
        io.notify(event);
        if (event.type === 'step-start' && event.id.startsWith('nat/') && !broken) {
          broken = true;
          void breaker.lockHolder().then((h) => breaker.forceUnlock(h!.id));
        }
      },
    };
    const report = await makeEngine(spec, emu.proxy.endpoint, { io: host, lock: { leaseSeconds: 1.5 } }).run({
      operation: 'apply',
      lock: { waitSeconds: 0 },
      autoApprove: true,
    });
    assert.equal(report.stopped?.code, 'LockLost', JSON.stringify(report.stopped));
    assert.equal(report.result?.ok, false);
    assert.ok(
      report.result!.outcomes.some((o) => o.status === 'cancelled'),
      'what had not started, did not',
    );
    assert.ok(io.events.some((e) => e.type === 'stopping'));
    emu.proxy.setOptions({ pendingInstanceMs: 0 });
    await converge(engine());
  });

  it('two applies started together on an empty account build one stack; the second finds nothing to do', async () => {
    const spec = makeSpec({ name: 'together' });
    const run = () => makeEngine(spec, emu.proxy.endpoint).run({ operation: 'apply', lock: { waitSeconds: 120 }, autoApprove: true });
    const reports = await Promise.all([run(), run()]);
    const applied = reports.filter((r) => r.result);
    assert.equal(applied.length, 1, 'one of them applied');
    assertApplied(applied[0]!.result!);
    const idle = reports.find((r) => !r.result)!;
    assert.equal(idle.plan?.changes.filter((c) => c.action !== 'no-op').length, 0, 'the other planned after it, and found nothing');
    const vpcs = await emu.ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:dupsworks:stack', Values: ['together'] }] }));
    assert.equal(vpcs.Vpcs!.length, 1, 'one VPC');
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
  });

  it('two applies healing the same dead NAT launch one replacement', async () => {
    const spec = makeSpec({ name: 'heal-twice' });
    await converge(makeEngine(spec, emu.proxy.endpoint));
    await killNat(emu.ec2, spec.name, 'ap-northeast-1c');
    const run = () => makeEngine(spec, emu.proxy.endpoint).run({ operation: 'apply', lock: { waitSeconds: 120 }, autoApprove: true });
    const reports = await Promise.all([run(), run()]);
    assert.equal(reports.filter((r) => r.result).length, 1, 'one of them applied');
    const all = await instancesOf(emu.ec2, [
      { Name: 'tag:dupsworks:stack', Values: [spec.name] },
      { Name: 'tag:dupsworks:resource', Values: ['nat/ap-northeast-1c'] },
    ]);
    assert.equal(all.length, 2, `the dead NAT and one replacement: ${all.map((i) => `${i.InstanceId} ${i.State?.Name}`).join(', ')}`);
    await liveNat(emu.ec2, spec.name, 'ap-northeast-1c');
    assertNoChanges(await makeEngine(spec, emu.proxy.endpoint).plan());
  });

  it('a run without the lock makes no lock calls', async () => {
    const report = await engine().run({ operation: 'apply', lock: false, autoApprove: true });
    assertApplied(report.result!);
    for (const call of ['PutItem', 'GetItem', 'DeleteItem', 'CreateTable']) assert.equal(emu.proxy.calls().get(call), undefined, call);
  });

  it('the approval goes through the host: declined, nothing changes and the lock is released', async () => {
    const io = new RecordingHost(false);
    const e = makeEngine(makeSpec({ name: 'locked-stack' }), emu.proxy.endpoint, { io });
    await assert.rejects(e.run({ operation: 'apply', lock: { waitSeconds: 0 }, autoApprove: false }), (error: DupsworksError) => {
      assert.equal(error.code, 'Cancelled');
      return true;
    });
    assert.deepEqual(io.questions, ['Do you want to perform these actions?']);
    assert.equal(await e.lockHolder(), undefined);
    const mutating = [...emu.proxy.calls().keys()].filter((a) => !/^(Describe|Get|PutItem|DeleteItem|CreateTable)/.test(a));
    assert.deepEqual(mutating, []);
  });
});
