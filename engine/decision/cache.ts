// A bounded LRU of decisions keyed by statement fingerprint + identity + connection + bundle revision.
// Map iteration order is insertion order, so delete-and-set on a hit keeps the eldest first.
// The LRU is approximate: a hit moves its entry to the back only when at least half the capacity was
// inserted since the entry last moved, so an entry hit within the last maxEntries/2 insertions is never
// evicted. A delete-and-set on every hit churned the Map's hash table (rehash, grow) once per cached
// statement: ~1.5% of the gateway's CPU in pgbench -S (perf on bench:gateway).

export interface CacheOptions {
  /** Entries kept at most; 0 disables the cache. Default 10 000. */
  maxEntries?: number;
  /** How long an entry stays valid, so time-dependent policies are re-evaluated; default 60 s. */
  ttlMs?: number;
}

interface Entry<V> {
  value: V;
  expires: number;
  /** The insertion count when the entry last moved to the back. */
  stamp: number;
}

export class DecisionCache<V> {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly #map = new Map<string, Entry<V>>();
  readonly #refreshAfter: number;
  #inserts = 0;
  hits = 0;
  misses = 0;

  constructor(options: CacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.#refreshAfter = Math.max(1, Math.floor(this.maxEntries / 2));
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.#map.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    if (entry.expires <= now) {
      this.#map.delete(key);
      this.misses++;
      return undefined;
    }
    if (this.#inserts - entry.stamp >= this.#refreshAfter) {
      this.#map.delete(key);
      this.#map.set(key, entry);
      entry.stamp = this.#inserts;
    }
    this.hits++;
    return entry.value;
  }

  set(key: string, value: V, now: number): void {
    if (this.maxEntries === 0) return;
    this.#map.delete(key);
    this.#map.set(key, { value, expires: now + this.ttlMs, stamp: ++this.#inserts });
    while (this.#map.size > this.maxEntries) {
      const eldest = this.#map.keys().next().value as string;
      this.#map.delete(eldest);
    }
  }

  clear(): void {
    this.#map.clear();
  }
}
