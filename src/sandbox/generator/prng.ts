/**
 * A small seeded PRNG (SplitMix32-seeded sfc32) so generated data depends only on the seed,
 * never on Math.random. `derive` gives an independent stream per entity (e.g. per series), so
 * one entity's draws never shift another's: adding a template does not reshuffle the world.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [min, max], inclusive. */
  int(min: number, max: number): number;
  chance(probability: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Picks by weight; weights need not sum to 1. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
  /** `count` distinct items in random order (all of them if count ≥ length). */
  sample<T>(items: readonly T[], count: number): T[];
  derive(...keys: (string | number)[]): Rng;
}

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function hashKeys(seed: number, keys: (string | number)[]): number {
  let h = mix32(seed >>> 0) ^ 0x9e3779b9;
  for (const key of keys) {
    const text = String(key);
    for (let i = 0; i < text.length; i += 1) h = mix32(h ^ text.charCodeAt(i)) + 0x6d2b79f5;
    h = mix32(h ^ 0xff);
  }
  return h >>> 0;
}

export function createRng(seed: number): Rng {
  let a = hashKeys(seed, ['a']);
  let b = hashKeys(seed, ['b']);
  let c = hashKeys(seed, ['c']);
  let d = 1;
  const next = (): number => {
    // sfc32
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i += 1) next();
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
    weighted: (items) => {
      const total = items.reduce((s, [, w]) => s + w, 0);
      let r = next() * total;
      for (const [item, w] of items) {
        r -= w;
        if (r < 0) return item;
      }
      return items[items.length - 1]![0];
    },
    sample: (items, count) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i -= 1) {
        const j = Math.floor(next() * (i + 1));
        [copy[i], copy[j]] = [copy[j]!, copy[i]!];
      }
      return copy.slice(0, Math.min(count, copy.length));
    },
    derive: (...keys) => createRng(hashKeys(seed, keys)),
  };
  return rng;
}
