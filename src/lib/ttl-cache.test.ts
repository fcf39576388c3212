import { describe, expect, it } from 'vitest';
import { createTtlCache } from './ttl-cache.js';

describe('createTtlCache', () => {
  it('answers an entry until its time is up, then reads as missing', async () => {
    const cache = createTtlCache<string, number>(40);
    cache.set('a', 1);
    expect(cache.get('a')).toBe(1);
    expect(cache.get('b')).toBeUndefined();
    await new Promise((r) => setTimeout(r, 60));
    expect(cache.get('a')).toBeUndefined();
  });

  it('keeps nothing with a time of 0; clear forgets everything; starts afresh at its size limit', () => {
    const none = createTtlCache<string, number>(0);
    none.set('a', 1);
    expect(none.get('a')).toBeUndefined();
    const cache = createTtlCache<string, number>(60_000, 2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.set('c', 3);
    expect([cache.get('a'), cache.get('b'), cache.get('c')]).toEqual([undefined, undefined, 3]);
    cache.clear();
    expect(cache.get('c')).toBeUndefined();
  });
});
