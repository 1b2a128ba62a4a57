// Runs a graph of steps with bounded parallelism. A failed step stops the steps that wait on it
// (directly or not); independent branches carry on.

export interface Node {
  key: string;
  after: readonly string[];
}

export interface WalkResult {
  done: string[];
  failed: { key: string; error: unknown }[];
  /** Not run because something they wait on failed (`because` names the failed step). */
  skipped: { key: string; because: string }[];
}

export interface WalkHooks<N extends Node> {
  run(node: N): Promise<void>;
  onSkip?(node: N, because: string): void;
}

export async function walk<N extends Node>(nodes: readonly N[], concurrency: number, hooks: WalkHooks<N>): Promise<WalkResult> {
  checkAcyclic(nodes);
  const result: WalkResult = { done: [], failed: [], skipped: [] };
  const waitingOn = new Map(nodes.map((n) => [n.key, new Set(n.after)]));
  const dependents = new Map<string, N[]>();
  for (const n of nodes) for (const dep of new Set(n.after)) dependents.set(dep, [...(dependents.get(dep) ?? []), n]);

  const ready: N[] = nodes.filter((n) => n.after.length === 0);
  const settled = new Set<string>();
  let running = 0;

  return new Promise<WalkResult>((finish) => {
    const skipDependents = (key: string, because: string): void => {
      for (const d of dependents.get(key) ?? []) {
        if (settled.has(d.key)) continue;
        settled.add(d.key);
        result.skipped.push({ key: d.key, because });
        hooks.onSkip?.(d, because);
        skipDependents(d.key, because);
      }
    };
    const pump = (): void => {
      while (running < concurrency && ready.length > 0) {
        const node = ready.shift()!;
        if (settled.has(node.key)) continue;
        running++;
        // Through a promise, so a hook that throws instead of rejecting cannot stall the walk.
        Promise.resolve()
          .then(() => hooks.run(node))
          .then(
            () => {
              settled.add(node.key);
              result.done.push(node.key);
              for (const d of dependents.get(node.key) ?? []) {
                const waiting = waitingOn.get(d.key)!;
                waiting.delete(node.key);
                if (waiting.size === 0 && !settled.has(d.key)) ready.push(d);
              }
            },
            (error: unknown) => {
              settled.add(node.key);
              result.failed.push({ key: node.key, error });
              skipDependents(node.key, node.key);
            },
          )
          .finally(() => {
            running--;
            pump();
          });
      }
      if (running === 0 && ready.length === 0) finish(result);
    };
    pump();
  });
}

function checkAcyclic(nodes: readonly Node[]): void {
  const byKey = new Map(nodes.map((n) => [n.key, n]));
  const state = new Map<string, 1 | 2>();
  const visit = (n: Node, path: string[]): void => {
    if (state.get(n.key) === 2) return;
    if (state.get(n.key) === 1) throw new Error(`internal: cycle in the apply graph: ${[...path, n.key].join(' -> ')}`);
    state.set(n.key, 1);
    for (const dep of n.after) {
      const target = byKey.get(dep);
      if (!target) throw new Error(`internal: ${n.key} waits on unknown step ${dep}`);
      visit(target, [...path, n.key]);
    }
    state.set(n.key, 2);
  };
  nodes.forEach((n) => visit(n, []));
}
