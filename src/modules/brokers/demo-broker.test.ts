import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { DEMO_BROKER, modeOfGivenKey } from './index.js';

/*
 * The demo broker's printed key is a test key (issue 14 point 3): the README's worked example
 * books the bundled sandbox, a test publisher. An install whose demo key was live gets a test
 * key on its next start; DEMO_API_KEY's mode follows its prefix.
 */

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
});
afterAll(async () => {
  await t?.close();
});

const demoKeys = async () => (await t.services.brokers.listKeys(DEMO_BROKER.slug)).filter((k) => !k.revoked_at);

describe('the demo broker', () => {
  it('is created with a test key, printed once', async () => {
    const first = await t.services.brokers.ensureDemoBroker(undefined);
    expect(first).toMatchObject({ created: true, mode: 'test' });
    expect(first.key).toMatch(/^ah_test_[A-Za-z0-9]{32}$/);
    expect(await t.services.brokers.authenticate(first.key!)).toMatchObject({ mode: 'test', brokerSlug: 'acme' });
    // A restart: the broker has its test key, nothing new to print.
    expect(await t.services.brokers.ensureDemoBroker(undefined)).toEqual({ created: false });
    expect((await demoKeys()).map((k) => k.mode)).toEqual(['test']);
  });

  it('gets a test key when its only key is live (an install from before test mode was a world)', async () => {
    for (const k of await demoKeys()) await t.services.brokers.revokeKey(k.id);
    const live = await t.services.brokers.createKey(DEMO_BROKER.slug, { name: 'demo' });
    expect(live.mode).toBe('live');
    const next = await t.services.brokers.ensureDemoBroker(undefined);
    expect(next).toMatchObject({ created: false, mode: 'test' });
    expect(next.key).toMatch(/^ah_test_/);
    // The live key keeps working, for live data.
    expect(await t.services.brokers.authenticate(live.key)).toMatchObject({ mode: 'live' });
    expect((await demoKeys()).map((k) => k.mode).sort()).toEqual(['live', 'test']);
  });

  it('DEMO_API_KEY: ah_live_… is a live key, anything else a test key; an existing key keeps its mode', async () => {
    expect(modeOfGivenKey('ah_live_0123456789abcdef')).toBe('live');
    expect(modeOfGivenKey('ah_test_0123456789abcdef')).toBe('test');
    expect(modeOfGivenKey('demo_key_0123456789')).toBe('test');
    const live = 'ah_live_fixedDemoKey0123456789';
    expect(await t.services.brokers.ensureDemoBroker(live)).toMatchObject({ key: live, mode: 'live' });
    expect(await t.services.brokers.authenticate(live)).toMatchObject({ mode: 'live' });
    const other = 'demo_key_for_scripts_0123';
    expect(await t.services.brokers.ensureDemoBroker(other)).toMatchObject({ key: other, mode: 'test' });
    expect(await t.services.brokers.authenticate(other)).toMatchObject({ mode: 'test' });
    // Given again on a later start: the same key, the same mode.
    expect(await t.services.brokers.ensureDemoBroker(live)).toMatchObject({ key: live, mode: 'live' });
  });
});
