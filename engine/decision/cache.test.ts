// Unit tests for the decision cache: bounded, least-recently-used eviction, expiry.
import { describe, expect, it } from 'vitest';
import { DecisionCache } from './cache.ts';

describe('DecisionCache', () => {
  it('evicts the least recently used entry beyond maxEntries', () => {
    const c = new DecisionCache<number>({ maxEntries: 2 });
    c.set('a', 1, 0);
    c.set('b', 2, 0);
    expect(c.get('a', 1)).toBe(1); // a is now the most recent
    c.set('c', 3, 1);
    expect(c.size).toBe(2);
    expect(c.get('b', 1)).toBeUndefined();
    expect(c.get('a', 1)).toBe(1);
    expect(c.get('c', 1)).toBe(3);
  });

  it('expires entries after ttlMs', () => {
    const c = new DecisionCache<string>({ ttlMs: 100 });
    c.set('k', 'v', 1000);
    expect(c.get('k', 1099)).toBe('v');
    expect(c.get('k', 1100)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('is disabled with maxEntries 0 and counts hits and misses', () => {
    const c = new DecisionCache<string>({ maxEntries: 0 });
    c.set('k', 'v', 0);
    expect(c.get('k', 0)).toBeUndefined();
    const d = new DecisionCache<string>();
    d.set('k', 'v', 0);
    d.get('k', 1);
    d.get('x', 1);
    expect([d.hits, d.misses]).toEqual([1, 1]);
  });
});
