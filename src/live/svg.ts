// SVG of the graph, laid out and drawn by Graphviz itself, compiled to WebAssembly (@viz-js/viz):
// no browser, no system package, the same picture on every machine. Loaded only by graph --format svg.

export async function dotToSvg(dot: string): Promise<string> {
  const { instance } = await import('@viz-js/viz');
  return (await instance()).renderString(dot, { format: 'svg' });
}
