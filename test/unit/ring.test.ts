import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { natRing } from '../../src/topology/ring.js';
import { makeSpec } from './fixtures.js';

const names = (zones: { availabilityZone: string }[]) => zones.map((z) => z.availabilityZone);

describe('natRing', () => {
  it('cross-wires two zones: each watches the other', () => {
    const ring = natRing(makeSpec(2).zones);
    assert.deepEqual(
      ring.map((p) => [p.zone.availabilityZone, p.index, p.peer.availabilityZone, p.watcher.availabilityZone]),
      [
        ['ap-northeast-1a', 0, 'ap-northeast-1c', 'ap-northeast-1c'],
        ['ap-northeast-1c', 1, 'ap-northeast-1a', 'ap-northeast-1a'],
      ],
    );
  });

  it('makes a ring of three: zone i watches zone (i+1) mod 3 and is watched by zone (i-1) mod 3', () => {
    const ring = natRing(makeSpec(3).zones);
    assert.deepEqual(
      ring.map((p) => [p.zone.availabilityZone, p.peer.availabilityZone, p.watcher.availabilityZone]),
      [
        ['ap-northeast-1a', 'ap-northeast-1c', 'ap-northeast-1d'],
        ['ap-northeast-1c', 'ap-northeast-1d', 'ap-northeast-1a'],
        ['ap-northeast-1d', 'ap-northeast-1a', 'ap-northeast-1c'],
      ],
    );
  });

  it('gives each zone the ring order starting with itself, and keeps its probe targets', () => {
    const spec = makeSpec(3);
    const ring = natRing(spec.zones);
    assert.deepEqual(names(ring[1]!.order), ['ap-northeast-1c', 'ap-northeast-1d', 'ap-northeast-1a']);
    assert.deepEqual(names(ring[2]!.order), ['ap-northeast-1d', 'ap-northeast-1a', 'ap-northeast-1c']);
    assert.equal(ring[2]!.zone, spec.zones[2], 'the zone itself, heartbeat targets included');
    for (const p of ring) {
      assert.equal(p.order[1], p.peer);
      assert.equal(p.order.at(-1), p.watcher);
    }
  });
});
