import { randomBytes } from 'node:crypto';
import Fastify, { type LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../test/http-assertions.js';
import { createTestContext, testRateLimit, type TestContext } from '../../test/helpers.js';
import { registerAuth } from './auth.js';
import { clientOf, createMemoryStore, registerRateLimits } from './rate-limit.js';

/*
 * Issue 14 point 4: every request counts — per client address always, per key (by its hash)
 * when one is sent — and failed authentication has a small budget per address, so guessing
 * keys is throttled before it costs a database lookup each.
 */

const ADMIN_KEY = 'admin-key-for-rate-limit-tests';
const ATTACKER = '203.0.113.7';
const VICTIM = '198.51.100.2';
const ACCOUNT = '/api/v2/customer-accounts/NoSuchAcct';

const bogusKey = () => `ah_live_${randomBytes(16).toString('hex')}`;

/** Database lookups of API keys so far (the `auth_key_lookups_total` counter). */
async function keyLookups(t: TestContext): Promise<number> {
  const metric = t.deps.metrics.getSingleMetric('auth_key_lookups_total');
  expect(metric, 'auth_key_lookups_total is registered').toBeDefined();
  const { values } = await metric!.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

/** `count` requests made by `make(i)`, `concurrency` at a time; their responses in order. */
async function flood(
  count: number,
  concurrency: number,
  make: (i: number) => Promise<LightMyRequestResponse>,
): Promise<LightMyRequestResponse[]> {
  const out: LightMyRequestResponse[] = [];
  for (let i = 0; i < count; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - i) }, (_, j) => make(i + j));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

const statuses = (responses: LightMyRequestResponse[]) => {
  const tally: Record<number, number> = {};
  for (const r of responses) tally[r.statusCode] = (tally[r.statusCode] ?? 0) + 1;
  return tally;
};

describe('failed authentication has a small budget per address', () => {
  const BUDGET = 20;
  const CONCURRENCY = 10;
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext({
      config: { adminApiKey: ADMIN_KEY, rateLimit: { authFailuresMax: BUDGET, windowMs: 60_000 } },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('5,000 distinct bogus keys from one address: 429 after the budget, and about one lookup per allowed try', async () => {
    const before = await keyLookups(t);
    const responses = await flood(5000, CONCURRENCY, () =>
      t.app.inject({ method: 'GET', url: ACCOUNT, headers: { 'x-api-key': bogusKey() }, remoteAddress: ATTACKER }),
    );
    const tally = statuses(responses);
    expect(Object.keys(tally).sort()).toEqual(['401', '429']);
    expect(tally[401]).toBeGreaterThanOrEqual(BUDGET);
    // Tries already in flight when the budget ran out may still be looked up (one batch at most).
    expect(tally[401]).toBeLessThan(BUDGET + CONCURRENCY);
    expect(await keyLookups(t)).toBeLessThan(before + BUDGET + CONCURRENCY);
    const last = responses.at(-1)!;
    expectError(last, 429, 'TooManyRequestsError');
    const retryAfter = Number(last.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(last.headers['ratelimit-limit']).toBe(String(BUDGET));
    expect(last.headers['ratelimit-remaining']).toBe('0');
  });

  it('2,000 wrong admin keys from one address: 429 after the budget', async () => {
    const responses = await flood(2000, CONCURRENCY, (i) =>
      t.app.inject({
        method: 'GET',
        url: '/admin/publishers',
        headers: { 'x-api-key': `wrong-admin-key-${i}-${randomBytes(4).toString('hex')}` },
        remoteAddress: '203.0.113.8',
      }),
    );
    const tally = statuses(responses);
    expect(Object.keys(tally).sort()).toEqual(['401', '429']);
    expect(tally[401]).toBeLessThan(BUDGET + CONCURRENCY);
    expectError(responses.at(-1)!, 429, 'TooManyRequestsError');
    // The operator, from another address, is not locked out.
    const ok = await t.app.inject({
      method: 'GET',
      url: '/admin/publishers',
      headers: { 'x-api-key': ADMIN_KEY },
      remoteAddress: VICTIM,
    });
    expect(ok.statusCode).toBe(200);
  });

  it('a good key keeps working from its own address while another address floods bogus keys', async () => {
    const broker = await t.newBroker();
    const attacker = '203.0.113.9';
    const victimAnswers: number[] = [];
    for (let round = 0; round < 20; round += 1) {
      await flood(50, CONCURRENCY, () =>
        t.app.inject({ method: 'GET', url: ACCOUNT, headers: { 'x-api-key': bogusKey() }, remoteAddress: attacker }),
      );
      const res = await t.app.inject({
        method: 'GET',
        url: ACCOUNT,
        headers: { 'x-api-key': broker.key },
        remoteAddress: VICTIM,
      });
      victimAnswers.push(res.statusCode);
    }
    expect(new Set(victimAnswers)).toEqual(new Set([404]));
    // The attacker's address is throttled for keyed routes, whatever key it sends.
    const fromAttacker = await t.app.inject({
      method: 'GET',
      url: ACCOUNT,
      headers: { 'x-api-key': broker.key },
      remoteAddress: attacker,
    });
    expectError(fromAttacker, 429, 'TooManyRequestsError');
  });

  it('a route exempt from counting that takes a key still honours the failure budget', async () => {
    const app = Fastify();
    const rateLimits = registerRateLimits(app, {
      limits: testRateLimit({ authFailuresMax: 3 }),
      store: createMemoryStore(),
      log: pino({ level: 'silent' }),
      metrics: new Registry(),
    });
    registerAuth(app, t.services.brokers, ADMIN_KEY, { onRejectedKey: rateLimits.noteRejectedKey });
    app.get('/exempt', { config: { product: 'admin', rateLimit: false } }, async () => ({ ok: true }));
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        codes.push(
          (await app.inject({ method: 'GET', url: '/exempt', headers: { 'x-api-key': `wrong-${i}` } })).statusCode,
        );
      }
      expect(codes).toEqual([401, 401, 401, 429, 429]);
      // Otherwise it counts against nothing: no RateLimit headers.
      const ok = await app.inject({
        method: 'GET',
        url: '/exempt',
        headers: { 'x-api-key': ADMIN_KEY },
        remoteAddress: VICTIM,
      });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['ratelimit-limit']).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('a missing key is not a failed guess (no lookup), but still counts for its address', async () => {
    const responses = await flood(60, CONCURRENCY, () =>
      t.app.inject({ method: 'GET', url: ACCOUNT, remoteAddress: '203.0.113.10' }),
    );
    expect(statuses(responses)).toEqual({ 401: 60 });
  });
});

describe('per-key and per-address buckets', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext({ config: { rateLimit: { max: 5, addressMax: 8, windowMs: 60_000 } } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('two addresses using the same key share its bucket', async () => {
    const broker = await t.newBroker();
    const codes: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      const res = await t.app.inject({
        method: 'GET',
        url: ACCOUNT,
        headers: { 'x-api-key': broker.key },
        remoteAddress: i % 2 === 0 ? '192.0.2.1' : '192.0.2.2',
      });
      codes.push(res.statusCode);
      if (i < 5) expect(res.headers['ratelimit-limit']).toBe('5');
    }
    expect(codes).toEqual([404, 404, 404, 404, 404, 429, 429]);
  });

  it('every request counts for its address, with or without a key, on any route', async () => {
    const address = '192.0.2.3';
    const codes: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const res = await t.app.inject({ method: 'GET', url: i % 2 ? '/nope' : ACCOUNT, remoteAddress: address });
      codes.push(res.statusCode);
    }
    expect(codes.slice(0, 8).every((c) => c !== 429)).toBe(true);
    expect(codes.slice(8)).toEqual([429, 429]);
    const limited = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: address });
    expectError(limited, 429, 'TooManyRequestsError');
    expect(limited.headers['ratelimit-limit']).toBe('8');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is unaffected; operations endpoints are never limited.
    expect((await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: '192.0.2.4' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/health', remoteAddress: address })).statusCode).toBe(200);
  });

  it('an IPv6 client is counted by its /64 (one host holds millions of addresses); IPv4-mapped as IPv4', async () => {
    const sameNetwork = ['2001:db8:1:2::1', '2001:db8:1:2:aaaa::9', '2001:0db8:0001:0002:ffff:ffff:ffff:ffff'];
    const codes: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const res = await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: sameNetwork[i % 3]! });
      codes.push(res.statusCode);
    }
    expect(codes.slice(8)).toEqual([429, 429]);
    expect((await t.app.inject({ method: 'GET', url: '/nope', remoteAddress: '2001:db8:1:3::1' })).statusCode).toBe(
      404,
    );
    const mapped: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/nope',
        remoteAddress: i % 2 ? '::ffff:192.0.2.77' : '192.0.2.77',
      });
      mapped.push(res.statusCode);
    }
    expect(mapped.slice(8)).toEqual([429, 429]);
  });

  it('without TRUST_PROXY, X-Forwarded-For does not give a client a fresh bucket', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/nope',
        remoteAddress: '192.0.2.5',
        headers: { 'x-forwarded-for': `10.0.${i}.1` },
      });
      codes.push(res.statusCode);
    }
    expect(codes.slice(8)).toEqual([429, 429]);
  });
});

describe('clientOf', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6, and takes the /64 of IPv6 in any spelling', () => {
    expect(clientOf('192.0.2.1')).toBe('192.0.2.1');
    expect(clientOf('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(clientOf('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(clientOf('::1')).toBe('0:0:0:0::/64');
    expect(clientOf('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(clientOf('2001:DB8:0:0:1::')).toBe('2001:db8:0:0::/64');
    expect(clientOf('2001:0db8:0000:0007:1:2:3:4')).toBe('2001:db8:0:7::/64');
    expect(clientOf('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientOf('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });
});

describe('TRUST_PROXY', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext({
      config: { trustProxy: ['127.0.0.1'], rateLimit: { addressMax: 3, windowMs: 60_000 } },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('from a trusted proxy, each forwarded client address has its own bucket', async () => {
    const viaProxy = (client: string) =>
      t.app.inject({ method: 'GET', url: '/nope', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } });
    for (let i = 0; i < 10; i += 1) expect((await viaProxy(`198.18.0.${i}`)).statusCode).toBe(404);
    const one = [];
    for (let i = 0; i < 4; i += 1) one.push((await viaProxy('198.18.1.1')).statusCode);
    expect(one).toEqual([404, 404, 404, 429]);
  });

  it('from an untrusted address, X-Forwarded-For is ignored', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const res = await t.app.inject({
        method: 'GET',
        url: '/nope',
        remoteAddress: '192.0.2.9',
        headers: { 'x-forwarded-for': `198.18.2.${i}` },
      });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([404, 404, 404, 429]);
  });
});
