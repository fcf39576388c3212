import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';

/*
 * The key lookup's cache (issue 14 point 4): good and unknown keys are cached apart, so a flood
 * of unknown keys can neither evict a good key nor cost more than one lookup per distinct key
 * per TTL.
 */

/** Database lookups of API keys so far, by result (`found` / `unknown`). */
async function lookups(t: TestContext, result: 'found' | 'unknown'): Promise<number> {
  const metric = t.deps.metrics.getSingleMetric('auth_key_lookups_total');
  expect(metric, 'auth_key_lookups_total is registered').toBeDefined();
  const { values } = await metric!.get();
  return values.filter((v) => v.labels.result === result).reduce((sum, v) => sum + v.value, 0);
}

const FLOOD = 12_000;
const bogusKey = (i: number) => `ah_live_bogus${i}_${randomBytes(8).toString('hex')}`;

describe('API key lookups are cached, good and unknown keys apart', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext({ config: { authCacheTtlMs: 600_000 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a good key stays cached through 12,000 distinct bogus keys, each looked up once', async () => {
    const { brokers } = t.services;
    const broker = await t.newBroker();
    expect(await brokers.authenticate(broker.key)).toMatchObject({ brokerId: broker.brokerId });
    const found = await lookups(t, 'found');
    const unknown = await lookups(t, 'unknown');

    // More than the 10,000 entries at which the old single cache was cleared, good keys and all.
    const keys = Array.from({ length: FLOOD }, (_, i) => bogusKey(i));
    for (let i = 0; i < keys.length; i += 100) {
      const results = await Promise.all(keys.slice(i, i + 100).map((k) => brokers.authenticate(k)));
      expect(results.every((r) => r === null)).toBe(true);
    }
    expect(await lookups(t, 'unknown')).toBe(unknown + FLOOD);

    // The good key is still answered from the cache.
    expect(await brokers.authenticate(broker.key)).toMatchObject({ brokerId: broker.brokerId });
    expect(await lookups(t, 'found')).toBe(found);

    // The same bogus key again: no lookup (recent ones are all still cached).
    for (let i = 0; i < 100; i += 1) expect(await brokers.authenticate(keys.at(-1 - (i % 10))!)).toBeNull();
    expect(await lookups(t, 'unknown')).toBe(unknown + FLOOD);
  }, 120_000);

  it('a key created after it was looked up as unknown works at once', async () => {
    const { brokers } = t.services;
    const rawKey = `ah_test_${randomBytes(12).toString('hex')}`;
    expect(await brokers.authenticate(rawKey)).toBeNull();
    expect(await brokers.authenticate(rawKey)).toBeNull();
    // The demo broker with an operator-given key (DEMO_API_KEY) is one such key.
    await brokers.ensureDemoBroker(rawKey);
    expect(await brokers.authenticate(rawKey)).toMatchObject({ brokerSlug: 'acme', mode: 'test' });
  });
});

describe('the unknown-key cache keeps the TTL', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext({ config: { authCacheTtlMs: 300 } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('one lookup per TTL for a repeated unknown key', async () => {
    const { brokers } = t.services;
    const key = bogusKey(-1);
    const before = await lookups(t, 'unknown');
    for (let i = 0; i < 50; i += 1) expect(await brokers.authenticate(key)).toBeNull();
    expect(await lookups(t, 'unknown')).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 400));
    for (let i = 0; i < 50; i += 1) expect(await brokers.authenticate(key)).toBeNull();
    expect(await lookups(t, 'unknown')).toBe(before + 2);
  });
});
