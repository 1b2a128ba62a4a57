// Runs a graph of steps with bounded parallelism. A failed step stops the steps that wait on it
// (directly or not); independent branches carry on. Once told to stop, it starts nothing new and
// lets the running steps finish; told to abandon them too, it returns at once.

export interface Node {
  key: string;
  after: readonly string[];
}

export interface WalkResult {
  done: string[];
  failed: { key: string; error: unknown }[];
  /** Not run because something they wait on failed (`because` names the failed step). */
  skipped: { key: string; because: string }[];
  /** Not started because the walk was told to stop. */
  cancelled: string[];
  /** Still running when the walk was told to abandon them (they may yet finish, unobserved). */
  abandoned: string[];
}

export interface WalkSignals {
  /** Start no new step; finish when the running ones have. */
  stop?: AbortSignal;
  /** Finish now, leaving the running steps behind. */
  abandon?: AbortSignal;
}

export interface WalkHooks<N extends Node> {
  run(node: N): Promise<void>;
  onSkip?(node: N, because: string): void;
}

export async function walk<N extends Node>(
  nodes: readonly N[],
  concurrency: number,
  hooks: WalkHooks<N>,
  signals: WalkSignals = {},
): Promise<WalkResult> {
  checkAcyclic(nodes);
  const result: WalkResult = { done: [], failed: [], skipped: [], cancelled: [], abandoned: [] };
  const waitingOn = new Map(nodes.map((n) => [n.key, new Set(n.after)]));
  const dependents = new Map<string, N[]>();
  for (const n of nodes) for (const dep of new Set(n.after)) dependents.set(dep, [...(dependents.get(dep) ?? []), n]);

  const ready: N[] = nodes.filter((n) => n.after.length === 0);
  const settled = new Set<string>();
  const inFlight = new Set<string>();
  let finished = false;

  return new Promise<WalkResult>((resolve) => {
    const finish = (): void => {
      if (finished) return;
      finished = true;
      result.abandoned.push(...inFlight);
      result.cancelled.push(...nodes.filter((n) => !settled.has(n.key) && !inFlight.has(n.key)).map((n) => n.key));
      signals.stop?.removeEventListener('abort', pump);
      signals.abandon?.removeEventListener('abort', finish);
      resolve(result);
    };
    const skipDependents = (key: string, because: string): void => {
      for (const d of dependents.get(key) ?? []) {
        if (settled.has(d.key)) continue;
        settled.add(d.key);
        result.skipped.push({ key: d.key, because });
        hooks.onSkip?.(d, because);
        skipDependents(d.key, because);
      }
    };
    function pump(): void {
      if (finished) return;
      while (!signals.stop?.aborted && inFlight.size < concurrency && ready.length > 0) {
        const node = ready.shift()!;
        if (settled.has(node.key)) continue;
        inFlight.add(node.key);
        // Through a promise, so a hook that throws instead of rejecting cannot stall the walk.
        Promise.resolve()
          .then(() => hooks.run(node))
          .then(
            () => {
              if (finished) return;
              settled.add(node.key);
              result.done.push(node.key);
              for (const d of dependents.get(node.key) ?? []) {
                const waiting = waitingOn.get(d.key)!;
                waiting.delete(node.key);
                if (waiting.size === 0 && !settled.has(d.key)) ready.push(d);
              }
            },
            (error: unknown) => {
              if (finished) return;
              settled.add(node.key);
              result.failed.push({ key: node.key, error });
              skipDependents(node.key, node.key);
            },
          )
          .finally(() => {
            inFlight.delete(node.key);
            pump();
          });
      }
      if (inFlight.size === 0 && (ready.length === 0 || signals.stop?.aborted)) finish();
    }
    if (signals.abandon?.aborted) return finish();
    signals.stop?.addEventListener('abort', pump);
    signals.abandon?.addEventListener('abort', finish);
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
