// `dupsworks graph` against moto: the live topology's structure (not its pixels) in Mermaid, DOT
// and SVG: every subnet, route table and NAT, the routes between them, the heartbeat ring, and a
// failover made by hand drawn as a dashed red edge. The SVG is Graphviz's, parsed as XML. Every
// scenario ends with apply, then an empty plan.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLValidator } from 'fast-xml-parser';
import { toDot, toMermaid, topologyGraph } from '../../src/live/graph.js';
import { liveStack } from '../../src/live/stack.js';
import { runCli, tempFile } from '../support/cli.js';
import { failOver } from '../support/damage.js';
import { svgParts } from '../support/svg.js';
import { assertNoChanges, converge, makeEngine, makeSpec, specYaml, useEmulator } from '../support/stack.js';

/** Every edge of a DOT text: [from, to, its attributes]. */
function dotEdges(dot: string): [string, string, string][] {
  return [...dot.matchAll(/^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$/gm)].map((m) => [m[1]!, m[2]!, m[3] ?? '']);
}

describe('dupsworks graph', () => {
  const emu = useEmulator();

  it('draws every zone, the routes and the heartbeat ring; a failover made by hand as a dashed red edge; the SVG names them all', async () => {
    const spec = makeSpec({ zones: 3 });
    await converge(makeEngine(spec, emu.moto.endpoint));
    const zones = spec.zones.map((z) => z.availabilityZone);
    const ids = (az: string) => [
      `subnet/private/${az}`,
      `route-table/private/${az}`,
      `nat/${az}`,
      `subnet/public/${az}`,
      `route-table/public/${az}`,
    ];

    const healthy = topologyGraph(liveStack(spec, await makeEngine(spec, emu.moto.endpoint).plan()));
    assert.deepEqual(
      healthy.groups.map((g) => [g.label, g.nodes]),
      zones.map((az) => [az, ids(az)]),
    );
    const before = dotEdges(toDot(healthy));
    for (const [i, az] of zones.entries()) {
      const peer = zones[(i + 1) % zones.length]!;
      const edge = (from: string, to: string) => before.find(([f, t]) => f === from && t === to);
      assert.ok(edge(`subnet/private/${az}`, `route-table/private/${az}`));
      assert.match(edge(`route-table/private/${az}`, `nat/${az}`)![2], /label="0\.0\.0\.0\/0"/);
      assert.ok(edge(`nat/${az}`, `subnet/public/${az}`));
      assert.match(edge(`route-table/public/${az}`, 'internet-gateway')![2], /label="0\.0\.0\.0\/0"/);
      assert.match(edge(`route-table/public/${az}`, `nat/${peer}`)![2], /heartbeat.*style=dashed, color="#1f6feb"/, 'the ring');
    }
    assert.ok(!before.some(([, , attributes]) => attributes.includes('#d1242f')), 'no failover drawn');

    // A failover by hand: zone 0's private route to zone 1's NAT.
    await failOver({ ec2: emu.ec2, spec }, 0);
    const graph = topologyGraph(liveStack(spec, await makeEngine(spec, emu.moto.endpoint).plan()));
    const after = dotEdges(toDot(graph));
    const failover = after.find(([from]) => from === `route-table/private/${zones[0]}`)!;
    assert.deepEqual(failover.slice(0, 2), [`route-table/private/${zones[0]}`, `nat/${zones[1]}`]);
    assert.match(failover[2], /label="0\.0\.0\.0\/0 FAILOVER", style=dashed, color="#d1242f"/);
    assert.ok(!after.some(([from, to]) => from === `route-table/private/${zones[0]}` && to === `nat/${zones[0]}`));

    const mermaid = toMermaid(graph);
    assert.match(mermaid, /^flowchart TB$/m);
    for (const az of zones) {
      assert.match(mermaid, new RegExp(`^  subgraph zone_\\d\\["${az}"\\]$`, 'm'));
      for (const id of ids(az)) assert.match(mermaid, new RegExp(`^    ${id.replace(/[^A-Za-z0-9]/g, '_')}[[(]`, 'm'), id);
    }
    const lines = mermaid.split('\n').filter((l) => /^  \S+ (-->|-\.->|---)/.test(l));
    const index = lines.findIndex((l) => l.includes('FAILOVER'));
    assert.equal(
      lines[index],
      `  route_table_private_${zones[0]!.replace(/-/g, '_')} -.->|"0.0.0.0/0 FAILOVER"| nat_${zones[1]!.replace(/-/g, '_')}`,
    );
    assert.match(mermaid, new RegExp(`^  linkStyle ${index} stroke:#d1242f,stroke-width:3px,stroke-dasharray:6 4$`, 'm'));

    // The SVG, as a user gets it.
    const file = await tempFile('spec.yaml', specYaml(spec));
    const out = await runCli(['graph', '-f', file, '--format', 'svg', '--endpoint-url', emu.moto.endpoint]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(XMLValidator.validate(out.stdout), true, 'the SVG is well-formed XML');
    const svg = svgParts(out.stdout);
    assert.deepEqual([...svg.nodes].sort(), [...zones.flatMap(ids), 'internet-gateway'].sort());
    assert.deepEqual(
      [...svg.edges.keys()].sort(),
      after.map(([from, to]) => `${from}->${to}`).sort(),
      'the SVG draws the edges of the DOT',
    );
    assert.deepEqual(svg.edges.get(`route-table/private/${zones[0]}->nat/${zones[1]}`), { stroke: '#d1242f', dashed: true });
    assert.equal(svg.edges.get(`route-table/private/${zones[1]}->nat/${zones[1]}`)!.dashed, false);
    assertNoChanges(await makeEngine(spec, emu.moto.endpoint).plan());
  });

  it('draws what is not built yet as such, and the default format is Mermaid', async () => {
    const spec = makeSpec();
    const file = await tempFile('spec.yaml', specYaml(spec));
    const out = await runCli(['graph', '-f', file, '--endpoint-url', emu.moto.endpoint]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^flowchart TB$/m);
    assert.match(out.stdout, /\(not built\)/);
    assert.match(out.stdout, /^  class .*nat_ap_northeast_1c.* missing$/m);
    await converge(makeEngine(spec, emu.moto.endpoint));
  });
});
