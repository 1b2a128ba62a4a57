// `dupsworks graph`: the live stack as a picture. One model (nodes, edges, the zones as groups),
// drawn as Mermaid (for Markdown), Graphviz DOT, or SVG (DOT laid out by Graphviz itself, see
// svg.ts). Each zone holds its subnets, route tables and NAT; edges are what routes traffic: a
// subnet to its table, a table's routes to the internet gateway or a NAT. The heartbeat routes
// through the next zone's NAT make the ring; a failover (a private route served by another
// zone's NAT) is drawn as a dashed red edge, and what is not built yet as a dashed grey box.

import type { LiveStack, LiveNat, Part } from './stack.js';

export const GRAPH_FORMATS = ['mermaid', 'dot', 'svg'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

type Look = 'normal' | 'missing' | 'unhealthy' | 'foreign';

interface Node {
  id: string;
  lines: string[];
  look: Look;
  shape: 'box' | 'nat' | 'gateway';
}

type EdgeKind = 'uses' | 'route' | 'heartbeat' | 'failover' | 'in';

interface Edge {
  from: string;
  to: string;
  label?: string;
  kind: EdgeKind;
}

export interface TopologyGraph {
  title: string;
  nodes: Node[];
  /** The zones: a label and the nodes inside. */
  groups: { id: string; label: string; nodes: string[] }[];
  edges: Edge[];
}

export function topologyGraph(live: LiveStack): TopologyGraph {
  const nodes = new Map<string, Node>();
  const add = (node: Node) => nodes.set(node.id, node);
  const box = (part: Part, what: string, ...extra: string[]): string => {
    add({
      id: part.id,
      lines: [what, part.physicalId ?? '(not built)', ...extra],
      look: part.physicalId ? 'normal' : 'missing',
      shape: 'box',
    });
    return part.id;
  };
  const gateway = live.internetGateway;
  add({
    id: gateway.id,
    lines: ['internet gateway', gateway.physicalId ?? '(not built)'],
    look: gateway.physicalId ? 'normal' : 'missing',
    shape: 'gateway',
  });

  // A route's target: a NAT of the stack by its zone, else a node of its own (not this stack's).
  const natOfZone = new Map(live.zones.map((z) => [z.availabilityZone, z.nat.id]));
  const targetNode = (target: string, servedBy: string | undefined): string => {
    const nat = servedBy && natOfZone.get(servedBy);
    if (nat) return nat;
    if (target.startsWith('igw-') && target === gateway.physicalId) return gateway.id;
    add({ id: target, lines: [target, 'not of this stack'], look: 'foreign', shape: 'box' });
    return target;
  };

  const edges: Edge[] = [];
  const groups: TopologyGraph['groups'] = [];
  for (const zone of live.zones) {
    const az = zone.availabilityZone;
    // Top to bottom, as the zone's private traffic goes out.
    const members = [
      box(zone.subnet.private, 'private subnet', zone.subnet.private.cidr),
      box(zone.routeTable.private, 'private route table'),
      natNode(zone.nat, add, zone.elasticIp !== undefined),
      box(zone.subnet.public, 'public subnet', zone.subnet.public.cidr),
      box(zone.routeTable.public, 'public route table'),
    ];
    groups.push({ id: `zone ${az}`, label: az, nodes: members });
    edges.push(
      { from: zone.nat.id, to: zone.subnet.public.id, kind: 'in', label: 'in' },
      { from: zone.subnet.public.id, to: zone.routeTable.public.id, kind: 'uses' },
      { from: zone.routeTable.public.id, to: gateway.id, kind: 'route', label: '0.0.0.0/0' },
      { from: zone.subnet.private.id, to: zone.routeTable.private.id, kind: 'uses' },
    );
    const route = zone.privateRoute;
    if (route.target) {
      edges.push({
        from: zone.routeTable.private.id,
        to: targetNode(route.target, route.servedBy),
        kind: zone.failover ? 'failover' : 'route',
        label: zone.failover ? `${route.destination} FAILOVER` : route.destination,
      });
    }
    for (const heartbeat of zone.heartbeats) {
      if (!heartbeat.target) continue;
      edges.push({
        from: zone.routeTable.public.id,
        to: targetNode(heartbeat.target, heartbeat.servedBy),
        kind: heartbeat.servedBy === heartbeat.meantFor ? 'heartbeat' : 'failover',
        label: `${heartbeat.destination} heartbeat`,
      });
    }
  }
  return { title: `dupsworks stack ${live.stack} (${live.region})`, nodes: [...nodes.values()], groups, edges };
}

function natNode(nat: LiveNat, add: (node: Node) => void, elasticIp: boolean): string {
  const address = nat.publicIp ? `${nat.publicIp}${elasticIp ? ' (EIP)' : ''}` : 'no public IP';
  const lines = nat.instanceId ? [`NAT ${nat.id}`, nat.instanceId, `${address}, ${nat.health}`] : [`NAT ${nat.id}`, nat.health];
  add({ id: nat.id, lines, look: nat.health === 'missing' ? 'missing' : nat.health === 'healthy' ? 'normal' : 'unhealthy', shape: 'nat' });
  return nat.id;
}

// ---- Mermaid ---------------------------------------------------------------------------------------

const MERMAID_EDGE: Record<EdgeKind, string> = { uses: '-->', route: '-->', heartbeat: '-.->', failover: '-.->', in: '---' };
const MERMAID_EDGE_STYLE: Partial<Record<EdgeKind, string>> = {
  heartbeat: 'stroke:#1f6feb',
  failover: 'stroke:#d1242f,stroke-width:3px,stroke-dasharray:6 4',
  in: 'stroke:#999,stroke-dasharray:2 2',
};

export function toMermaid(graph: TopologyGraph): string {
  // Mermaid's node ids are words: the logical id with its punctuation made underscores.
  const ids = new Map(graph.nodes.map((n) => [n.id, n.id.replace(/[^A-Za-z0-9]/g, '_')]));
  const node = (n: Node) => {
    const label = n.lines.map(mermaidText).join('<br/>');
    const [open, close] = n.shape === 'nat' ? ['([', '])'] : n.shape === 'gateway' ? ['{{', '}}'] : ['[', ']'];
    return `${ids.get(n.id)}${open}"${label}"${close}`;
  };
  const grouped = new Set(graph.groups.flatMap((g) => g.nodes));
  const lines = ['flowchart TB', `  %% ${mermaidText(graph.title)}`];
  for (const n of graph.nodes) if (!grouped.has(n.id)) lines.push(`  ${node(n)}`);
  graph.groups.forEach((g, i) => {
    lines.push(`  subgraph zone_${i}["${mermaidText(g.label)}"]`);
    for (const id of g.nodes) lines.push(`    ${node(graph.nodes.find((n) => n.id === id)!)}`);
    lines.push('  end');
  });
  graph.edges.forEach((e) => {
    const label = e.label ? `|"${mermaidText(e.label)}"|` : '';
    lines.push(`  ${ids.get(e.from)} ${MERMAID_EDGE[e.kind]}${label} ${ids.get(e.to)}`);
  });
  graph.edges.forEach((e, i) => {
    const style = MERMAID_EDGE_STYLE[e.kind];
    if (style) lines.push(`  linkStyle ${i} ${style}`);
  });
  lines.push('  classDef missing stroke-dasharray:5 5,stroke:#999,color:#777', '  classDef unhealthy stroke:#d1242f,stroke-width:2px');
  lines.push('  classDef foreign fill:#eee,stroke:#999');
  for (const look of ['missing', 'unhealthy', 'foreign'] as const) {
    const of = graph.nodes.filter((n) => n.look === look).map((n) => ids.get(n.id));
    if (of.length > 0) lines.push(`  class ${of.join(',')} ${look}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Mermaid's labels take entity codes for what its syntax uses. */
function mermaidText(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/[<>]/g, (c) => (c === '<' ? '#lt;' : '#gt;'));
}

// ---- Graphviz DOT ------------------------------------------------------------------------------------

// Routes between zones (the heartbeat ring, a failover) do not rank the nodes: every zone is laid
// out alike, private subnet at the top to the internet gateway at the bottom, whoever serves whom.
const DOT_EDGE: Record<EdgeKind, string> = {
  uses: '',
  route: '',
  heartbeat: 'style=dashed, color="#1f6feb", fontcolor="#1f6feb", constraint=false',
  failover: 'style=dashed, color="#d1242f", fontcolor="#d1242f", penwidth=2.5, constraint=false',
  in: 'style=dotted, color="#999999", arrowhead=none',
};

/** The colours of a node's look (its style words come from its shape and look together). */
const DOT_LOOK: Record<Look, string> = {
  normal: '',
  missing: 'color="#999999", fontcolor="#777777"',
  unhealthy: 'color="#d1242f", penwidth=2',
  foreign: 'fillcolor="#eeeeee", color="#999999"',
};

export function toDot(graph: TopologyGraph): string {
  const node = (n: Node, indent: string) => {
    const styles = [n.shape === 'nat' ? 'rounded' : '', n.look === 'missing' ? 'dashed' : '', n.look === 'foreign' ? 'filled' : ''];
    const style = styles.filter(Boolean).join(',');
    const attributes = [
      n.shape === 'gateway' ? 'shape=hexagon' : 'shape=box',
      style ? `style="${style}"` : '',
      DOT_LOOK[n.look],
      `label=${dotId(n.lines.join('\n'))}`,
    ];
    return `${indent}${dotId(n.id)} [${attributes.filter(Boolean).join(', ')}];`;
  };
  const grouped = new Set(graph.groups.flatMap((g) => g.nodes));
  const lines = [
    'digraph dupsworks {',
    `  label=${dotId(graph.title)};`,
    '  labelloc=t; rankdir=TB; fontname="Helvetica"; newrank=true; pad=0.3;',
    // Room around the text: a viewer's sans-serif may be wider than the Helvetica Graphviz measured.
    '  node [fontname="Helvetica", fontsize=11, margin="0.25,0.08"]; edge [fontname="Helvetica", fontsize=10];',
  ];
  // The zones first, so that Graphviz lays them out left to right in the spec's order.
  graph.groups.forEach((g, i) => {
    lines.push(`  subgraph cluster_${i} {`, `    label=${dotId(g.label)}; style="rounded"; color="#888888";`);
    for (const id of g.nodes)
      lines.push(
        node(
          graph.nodes.find((n) => n.id === id)!,
          '    ',
        ),
      );
    lines.push('  }');
  });
  for (const n of graph.nodes) if (!grouped.has(n.id)) lines.push(node(n, '  '));
  for (const e of graph.edges) {
    const attributes = [e.label ? `label=${dotId(e.label)}` : '', DOT_EDGE[e.kind]].filter(Boolean).join(', ');
    lines.push(`  ${dotId(e.from)} -> ${dotId(e.to)}${attributes ? ` [${attributes}]` : ''};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** A DOT id (and label): quoted, with quotes, backslashes and newlines escaped. */
function dotId(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}
