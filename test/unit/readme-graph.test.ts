// The README's picture (docs/failover.svg, drawn by `npm run demo -- --status --svg ...`) is
// what `dupsworks graph` draws today for that demo's stack during its failover: the same nodes, the
// same edges, the failover dashed red. Its ids in AWS are the emulator's of the day it was drawn;
// its structure must stay the code's.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { XMLValidator } from 'fast-xml-parser';
import { toDot, topologyGraph } from '../../src/live/graph.js';
import { liveStack } from '../../src/live/stack.js';
import { makePlan } from '../../src/planner/plan.js';
import { kindsFor } from '../../src/resources/index.js';
import { loadSpecFile } from '../../src/spec/load.js';
import { desiredResources } from '../../src/topology/index.js';
import { ROOT } from '../support/cli.js';
import { svgParts } from '../support/svg.js';
import { builtWorld } from './world.js';

const REDRAW = 'draw it again: npm run demo -- --status --svg docs/failover.svg';

describe("the README's picture", () => {
  it('is the graph of the failover demo as the code draws it now', async () => {
    assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /!\[[^\]]*\]\(docs\/failover\.svg\)/, 'the README shows it');
    const svg = readFileSync(join(ROOT, 'docs', 'failover.svg'), 'utf8');
    assert.equal(XMLValidator.validate(svg), true);

    const loaded = await loadSpecFile(join(ROOT, 'examples', 'ha-nat-graviton.yaml'));
    assert.ok(loaded.ok);
    const spec = loaded.spec;
    const world = builtWorld(spec);
    // The demo's failover: the first zone's private route to the second zone's NAT.
    const [served, rescuer] = spec.zones.map((z) => z.availabilityZone) as [string, string];
    const tagged = (id: string) => (t: { Tags?: { Key?: string; Value?: string }[] }) => t.Tags?.some((tag) => tag.Value === id);
    const route = world.routeTables
      .find(tagged(`route-table/private/${served}`))!
      .Routes!.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')!;
    route.InstanceId = world.instances.find(tagged(`nat/${rescuer}`))!.InstanceId;
    const kinds = kindsFor({ opsworks: false });
    const observed = (await Promise.all([...kinds.values()].map((k) => k.observe(world.ctx)))).flat();
    const plan = await makePlan({ desired: desiredResources(spec), observed, kinds, ctx: world.ctx });
    const graph = topologyGraph(liveStack(spec, plan));

    const drawn = svgParts(svg);
    assert.deepEqual([...drawn.nodes].sort(), graph.nodes.map((n) => n.id).sort(), REDRAW);
    const edges = [...toDot(graph).matchAll(/^\s*"([^"]+)" -> "([^"]+)"/gm)].map((m) => `${m[1]}->${m[2]}`);
    assert.deepEqual([...drawn.edges.keys()].sort(), edges.sort(), REDRAW);
    assert.deepEqual(drawn.edges.get(`route-table/private/${served}->nat/${rescuer}`), { stroke: '#d1242f', dashed: true }, REDRAW);
  });
});
