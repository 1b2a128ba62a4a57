// A destroy as Terraform's: the destroy plan lists each delete after everything that uses it (the
// order apply deletes in), gives no reason per resource (the command is the reason), and a
// finished destroy says "Destroy complete! Resources: N destroyed."

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSteps } from '../../src/planner/graph.js';
import { makePlan } from '../../src/planner/plan.js';
import { kindsFor } from '../../src/resources/index.js';
import { plainStyle, renderPlan } from '../../src/planner/render.js';
import { summary } from '../../src/terminal.js';
import { makeSpec, opsworksSpec } from './fixtures.js';
import { builtWorld } from './world.js';

describe('the destroy plan', () => {
  for (const manager of ['ec2', 'opsworks'] as const) {
    it(`deletes everything in reverse dependency order, without a reason per resource (${manager})`, async () => {
      const built = builtWorld(manager === 'ec2' ? makeSpec(3) : opsworksSpec());
      const kinds = kindsFor({ opsworks: manager === 'opsworks' });
      const seen = (await Promise.all([...kinds.values()].map((k) => k.observe(built.ctx)))).flat();
      const plan = await makePlan({ desired: [], observed: seen, kinds, ctx: built.ctx, destroy: true });
      assert.equal(plan.destroy, true);
      assert.ok(plan.changes.length >= 19);
      assert.ok(plan.changes.every((c) => c.action === 'delete' && c.reason === undefined));

      // Each delete comes after those of everything that uses what it deletes.
      const position = new Map(plan.changes.map((c, i) => [c, i]));
      for (const c of plan.changes) {
        const known = [c.observed!.physicalId, ...(c.observed!.alsoKnownAs ?? [])];
        for (const user of plan.changes.filter((u) => u !== c && u.observed!.references.some((r) => known.includes(r)))) {
          assert.ok(position.get(user)! < position.get(c)!, `${user.id} is listed before ${c.id}, which it uses`);
        }
      }
      // The VPC last of the network (the NATs' IAM role and profile are no part of it).
      assert.equal(plan.changes.filter((c) => !c.id.startsWith('iam-')).at(-1)!.id, 'vpc');

      // The listed order is one apply can follow: no step waits on one listed after it.
      const listed = new Map(plan.changes.map((c, i) => [`delete:${c.id}`, i]));
      for (const step of buildSteps(plan)) {
        for (const before of step.after) assert.ok(listed.get(before)! < listed.get(step.key)!, `${before} before ${step.key}`);
      }

      const text = renderPlan(plan, plainStyle, 'destroy');
      assert.match(text, /^dupsworks will perform the following actions \(destroy\):\n/);
      assert.doesNotMatch(text, /not in the spec/);
      assert.deepEqual(
        [...text.matchAll(/^  # (\S+) will be destroyed$/gm)].map((m) => m[1]),
        plan.changes.map((c) => c.id),
      );
    });
  }

  it('a plan that is not a destroy says why each resource goes', async () => {
    const built = builtWorld(makeSpec(2));
    const kinds = kindsFor({ opsworks: false });
    const seen = (await Promise.all([...kinds.values()].map((k) => k.observe(built.ctx)))).flat();
    const plan = await makePlan({ desired: [], observed: seen, kinds, ctx: built.ctx });
    assert.equal(plan.destroy, undefined);
    assert.ok(plan.changes.every((c) => c.reason === 'not in the spec'));
  });
});

describe("a destroy's closing line", () => {
  const done = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ key: `delete:r${i}`, id: `r${i}`, operation: 'delete' as const, status: 'done' as const }));

  it('is Terraform\'s: "Destroy complete! Resources: N destroyed."', () => {
    assert.equal(summary('destroy', { outcomes: done(19), ok: true }, plainStyle), '\nDestroy complete! Resources: 19 destroyed.\n');
  });

  it('counts only what was destroyed when it stops, and an apply still counts all three', () => {
    const failed = summary(
      'destroy',
      { outcomes: [...done(2), { key: 'delete:vpc', id: 'vpc', operation: 'delete', status: 'failed' }], ok: false },
      plainStyle,
    );
    assert.match(failed, /^\nDestroy failed\. Done: 2 destroyed\.\n/);
    assert.equal(
      summary('apply', { outcomes: done(1), ok: true }, plainStyle),
      '\nApply complete! Resources: 0 added, 0 changed, 1 destroyed.\n',
    );
  });
});
