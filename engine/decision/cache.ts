// A bounded LRU of decisions keyed by statement fingerprint + identity + connection + bundle revision.
// Map iteration order is insertion order, so delete-and-set on a hit keeps the eldest first.

export interface CacheOptions {
  /** Entries kept at most; 0 disables the cache. Default 10 000. */
  maxEntries?: number;
  /** How long an entry stays valid, so time-dependent policies are re-evaluated; default 60 s. */
  ttlMs?: number;
}

interface Entry<V> {
  value: V;
  expires: number;
}

export class DecisionCache<V> {
  readonly maxEntries: number;
  readonly ttlMs: number;
  readonly #map = new Map<string, Entry<V>>();
  hits = 0;
  misses = 0;

  constructor(options: CacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.ttlMs = options.ttlMs ?? 60_000;
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
    this.#map.delete(key);
    if (entry.expires <= now) {
      this.misses++;
      return undefined;
    }
    this.#map.set(key, entry);
    this.hits++;
    return entry.value;
  }

  set(key: string, value: V, now: number): void {
    if (this.maxEntries === 0) return;
    this.#map.delete(key);
    this.#map.set(key, { value, expires: now + this.ttlMs });
    while (this.#map.size > this.maxEntries) {
      const eldest = this.#map.keys().next().value as string;
      this.#map.delete(eldest);
    }
  }

  clear(): void {
    this.#map.clear();
  }
}
