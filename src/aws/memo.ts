// Each read of a plan's snapshot runs at most once; later callers share its promise.

export class Memo {
  private readonly cache = new Map<string, Promise<unknown>>();

  has(key: string): boolean {
    return this.cache.has(key);
  }

  once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let hit = this.cache.get(key) as Promise<T> | undefined;
    if (!hit) {
      hit = load();
      this.cache.set(key, hit);
    }
    return hit;
  }
}
