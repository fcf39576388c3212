/**
 * A small in-process cache whose entries are reused for `ttlMs` (0: nothing is kept), for
 * lookups that every request repeats and that may lag their source by that long. At `max`
 * entries it starts afresh rather than tracking age.
 */
export function createTtlCache<K, V>(ttlMs: number, max = 5_000) {
  const entries = new Map<K, { value: V; until: number }>();
  return {
    get(key: K): V | undefined {
      const entry = entries.get(key);
      if (!entry) return undefined;
      if (entry.until > Date.now()) return entry.value;
      entries.delete(key);
      return undefined;
    },
    set(key: K, value: V): void {
      if (ttlMs <= 0) return;
      if (entries.size >= max) entries.clear();
      entries.set(key, { value, until: Date.now() + ttlMs });
    },
    clear(): void {
      entries.clear();
    },
  };
}
