// Saved plans: this version's only, for this spec only, and applied only while a plan made afresh
// has exactly the saved changes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { loadPlan, planToApply, savePlan, type SavedPlan } from '../../src/planfile.js';
import { makePlan, type Plan } from '../../src/planner/plan.js';
import { ref } from '../../src/planner/values.js';
import { VERSION } from '../../src/version.js';
import { tempFile } from '../support/cli.js';
import { World, desired, fakeKind, kindsOf, makeSpec, observed } from './fixtures.js';

const kinds = kindsOf(fakeKind('network', { withPreview: true }), fakeKind('box', { forceNew: ['size'] }));
const spec = makeSpec(2);

function plan(size = 'large'): Promise<Plan> {
  return makePlan({
    desired: [desired('net', 'network', { name: 'net' }), desired('box', 'box', { network: ref('net'), size })],
    observed: [observed('box', 'box', 'box-1', { network: 'gone', size: 'small' })],
    kinds,
    ctx: { world: new World() },
  });
}

async function saved(p: Plan, edit: (file: SavedPlan) => void = () => {}): Promise<string> {
  const file = await tempFile('plan.json', '');
  await savePlan(file, p, spec);
  const json = JSON.parse(await readFile(file, 'utf8')) as SavedPlan;
  edit(json);
  await writeFile(file, JSON.stringify(json));
  return file;
}

describe('saved plans', () => {
  it('record the dupsworks version and the changes, and apply while a fresh plan is the same', async () => {
    const file = await saved(await plan());
    const loaded = await loadPlan(file, spec);
    assert.equal(loaded.format, 'dupsworks-plan/2');
    assert.equal(loaded.dupsworks_version, VERSION);
    assert.deepEqual(
      loaded.resource_changes.map((c) => [c.address, c.change.actions]),
      [
        ['net', ['create']],
        ['box', ['create', 'delete']],
      ],
    );
    const applied = planToApply(loaded, await plan(), file);
    assert.deepEqual(
      applied.changes.map((c) => [c.id, c.action]),
      [
        ['net', 'create'],
        ['box', 'replace'],
      ],
    );
  });

  it('create what the saved plan showed, not what a lookup now would show', async () => {
    const file = await saved(await plan(), (json) => {
      json.previews.net = { name: 'net', previewed: 'at plan time' };
      json.resource_changes[0]!.change.after = { name: 'net', previewed: 'at plan time' };
    });
    const applied = planToApply(await loadPlan(file, spec), await plan(), file);
    assert.deepEqual(applied.changes[0]!.preview, { name: 'net', previewed: 'at plan time' });
  });

  it("refuse a file edited to change one resource's action, naming it", async () => {
    const file = await saved(await plan(), (json) => {
      json.resource_changes[1]!.change.actions = ['no-op'];
    });
    await assert.rejects(async () => planToApply(await loadPlan(file, spec), await plan(), file), {
      message: `Saved plan ${file} does not match what dupsworks would do now: the file has box as ["no-op"], a plan made now as ["create","delete"]. Was the file edited? Run "dupsworks plan --out" again.`,
    });
  });

  it('refuse a file with a change left out, one added, or a change edited otherwise', async () => {
    const fresh = await plan();
    const cases: [string, (json: SavedPlan) => void, RegExp][] = [
      [
        'left out',
        (json) => json.resource_changes.splice(0, 1),
        /a plan made now has a change for net \(\["create"\]\), the file has none/,
      ],
      [
        'added',
        (json) => json.resource_changes.push({ ...json.resource_changes[0]!, address: 'ghost' }),
        /the file has a change for ghost \(\["create"\]\), a plan made now has none/,
      ],
      [
        'edited',
        (json) => (json.resource_changes[1]!.change.after = { size: 'huge' }),
        /the change of box \(\["create","delete"\]\) is not the same in the file/,
      ],
      [
        'preview edited',
        (json) => (json.previews.net = { name: 'other' }),
        /the change of net \(\["create"\]\) is not the same in the file/,
      ],
    ];
    for (const [what, edit, message] of cases) {
      const file = await saved(fresh, edit);
      await assert.rejects(async () => planToApply(await loadPlan(file, spec), fresh, file), { message }, what);
    }
  });

  it('refuse a plan of another version, of the earlier format, of another spec, or of a world that changed', async () => {
    const other = await saved(await plan(), (json) => (json.dupsworks_version = '0.0.9'));
    await assert.rejects(loadPlan(other, spec), {
      message: `${other} was made by dupsworks "0.0.9"; this is dupsworks ${VERSION}, which may plan the same stack differently. Run "dupsworks plan --out" again with this version.`,
    });
    const v1 = await saved(await plan(), (json) => {
      (json as { format: string }).format = 'dupsworks-plan/1';
      delete (json as Partial<SavedPlan>).dupsworks_version;
    });
    await assert.rejects(loadPlan(v1, spec), { message: /was saved by an earlier dupsworks, which did not record its version/ });
    const file = await saved(await plan());
    await assert.rejects(loadPlan(file, { ...spec, vpc: { ...spec.vpc, name: 'Renamed' } }), {
      message: `Saved plan ${file} is stale: the spec has changed since the plan was made. Run "dupsworks plan" again.`,
    });
    await assert.rejects(loadPlan(file, { ...spec, name: 'other-stack' }), {
      message: /is a plan for stack test-stack in ap-northeast-1, not other-stack/,
    });
    const loaded = await loadPlan(file, spec);
    const moved = { ...(await plan()), stateHash: 'elsewhere' };
    assert.throws(() => planToApply(loaded, moved, file), {
      message: /is stale: the stack has changed in AWS since the plan was made/,
    });
    const junk = await tempFile('junk.json', '{"format":"something else"}');
    await assert.rejects(loadPlan(junk, spec), { message: `${junk}: not a dupsworks plan file (expected format dupsworks-plan/2)` });
  });
});
