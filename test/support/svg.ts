// What a Graphviz SVG draws, read back as XML: the nodes and edges it names (each element's
// <title>) and how each edge looks. For tests that check a picture's structure, not its pixels.

import { XMLParser } from 'fast-xml-parser';

/** The nodes and edges a Graphviz SVG names (each element's <title>), and each edge's look. */
export function svgParts(svg: string): { nodes: string[]; edges: Map<string, { stroke?: string; dashed: boolean }> } {
  const tree = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    isArray: (name) => name === 'g' || name === 'path',
  }).parse(svg);
  const groups: { class?: string; title?: string; path?: { stroke?: string; 'stroke-dasharray'?: string }[] }[] = [];
  const walk = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'g') for (const g of value as (typeof groups)[number][]) groups.push(g);
      walk(value);
    }
  };
  walk(tree);
  const unescape = (t: string) => t.replace(/&#45;/g, '-').replace(/&gt;/g, '>');
  return {
    nodes: groups.filter((g) => g.class === 'node').map((g) => unescape(String(g.title))),
    edges: new Map(
      groups
        .filter((g) => g.class === 'edge')
        .map((g) => [unescape(String(g.title)), { stroke: g.path?.[0]?.stroke, dashed: !!g.path?.[0]?.['stroke-dasharray'] }]),
    ),
  };
}
