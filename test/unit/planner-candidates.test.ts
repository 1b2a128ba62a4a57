import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bestFirst, preferredBecause, type Claimant } from '../../src/planner/candidates.js';

const claimant = (physicalId: string, extra: Partial<Claimant<string>> = {}): Claimant<string> => ({
  item: physicalId,
  physicalId,
  ...extra,
});
const order = (claimants: Claimant<string>[]) => bestFirst(claimants).map((c) => c.item);

describe('bestFirst (several claiming one logical id)', () => {
  it('puts first what fits, then the healthiest, the most used by the stack, the fewest changes, the most used by others, the oldest', () => {
    const steps: [Claimant<string>, Claimant<string>, string][] = [
      [claimant('a', { fits: false }), claimant('b', { fits: true, health: 9, changes: 9 }), 'it fits the spec'],
      [claimant('a', { health: 1 }), claimant('b', { health: 0, usedBy: 0 }), 'it is healthier'],
      [claimant('a', { usedBy: 1 }), claimant('b', { usedBy: 5, changes: 3 }), "it is in use (by 5 of the stack's resources)"],
      [claimant('a', { changes: 2 }), claimant('b', { changes: 1, usedByOthers: 0 }), 'it needs fewer changes'],
      [claimant('a', { changes: 1 }), claimant('b', { changes: 0 }), 'it matches the spec'],
      [
        claimant('a', { usedByOthers: 0 }),
        claimant('b', { usedByOthers: 2, createdAt: 9 }),
        "it is in use (by 2 found that are not the stack's)",
      ],
      [claimant('a', { createdAt: 2000 }), claimant('b', { createdAt: 1000 }), 'it is older (made 1970-01-01T00:00:01.000Z)'],
    ];
    for (const [a, b, because] of steps) {
      assert.deepEqual(order([a, b]), ['b', 'a'], because);
      assert.deepEqual(order([b, a]), ['b', 'a'], `${because}, listed the other way`);
      assert.equal(preferredBecause(b, a), because);
    }
  });

  it('takes what it does not know as equal, and orders equals by id', () => {
    assert.deepEqual(order([claimant('b'), claimant('a')]), ['a', 'b']);
    assert.deepEqual(order([claimant('b', { createdAt: 5 }), claimant('a')]), ['b', 'a'], 'a known age before an unknown one');
    assert.deepEqual(order([claimant('b', { fits: true }), claimant('a')]), ['a', 'b'], 'fits unknown counts as fitting');
    assert.equal(preferredBecause(claimant('a'), claimant('b')), 'of equals, its id sorts first');
  });
});
