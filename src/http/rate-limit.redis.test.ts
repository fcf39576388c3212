import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../test/helpers.js';
import { freePort } from '../../test/net.js';
import { hashApiKey } from '../modules/brokers/index.js';

/*
 * Several activehub processes behind one load balancer share one limit when REDIS_URL is set
 * (issue 14): two apps, each with its own Redis connection, split one client's requests. Redis
 * runs on 127.0.0.1:6379 on the development machines and in CI (TEST_REDIS_URL to change it).
 */

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const KEY = `ah_test_${randomBytes(16).toString('hex')}`;
const ACCOUNT = '/api/v2/customer-accounts/NoSuchAcct';

describe('rate limits shared through Redis', () => {
  const prefix = `activehub-test:${randomUUID()}:`;
  const limits = { max: 6, addressMax: 10, authFailuresMax: 4, windowMs: 60_000 };
  let one: TestContext;
  let two: TestContext;
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(REDIS_URL);
    const config = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, rateLimit: limits };
    one = await createTestContext({ config });
    two = await createTestContext({ config });
    // The same key on both (each test context has a database of its own).
    for (const t of [one, two]) await t.services.brokers.ensureDemoBroker(KEY);
  });
  afterAll(async () => {
    await one?.close();
    await two?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it("one key's requests split across two servers meet one limit", async () => {
    const codes: number[] = [];
    const remaining: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      const app = i % 2 ? two.app : one.app;
      const res = await app.inject({
        method: 'GET',
        url: ACCOUNT,
        headers: { 'x-api-key': KEY },
        remoteAddress: `192.0.2.${i + 1}`,
      });
      codes.push(res.statusCode);
      remaining.push(String(res.headers['ratelimit-remaining']));
    }
    expect(codes).toEqual([404, 404, 404, 404, 404, 404, 429, 429]);
    expect(remaining).toEqual(['5', '4', '3', '2', '1', '0', '0', '0']);
  });

  it("one address's requests split across two servers meet one limit", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      const app = i % 2 ? two.app : one.app;
      codes.push((await app.inject({ method: 'GET', url: '/nope', remoteAddress: '198.51.100.20' })).statusCode);
    }
    expect(codes).toEqual([...Array<number>(10).fill(404), 429, 429]);
  });

  it("one address's failed keys on two servers meet one budget", async () => {
    const codes: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      const app = i % 2 ? two.app : one.app;
      const res = await app.inject({
        method: 'GET',
        url: ACCOUNT,
        headers: { 'x-api-key': `ah_live_${randomBytes(16).toString('hex')}` },
        remoteAddress: '198.51.100.30',
      });
      codes.push(res.statusCode);
    }
    expect(codes).toEqual([401, 401, 401, 401, 429, 429, 429, 429]);
  });

  it('Redis holds the hash of a key, never the key', async () => {
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.some((k) => k.includes(hashApiKey(KEY)))).toBe(true);
    expect(keys.filter((k) => k.includes(KEY))).toEqual([]);
    // Every counter expires with its window.
    for (const k of keys) {
      const ttl = await redis.pttl(k);
      expect(ttl, k).toBeGreaterThan(0);
      expect(ttl, k).toBeLessThanOrEqual(limits.windowMs);
    }
  });
});

describe('Redis unreachable', () => {
  let t: TestContext;
  const lines: { level: number; msg: string }[] = [];
  beforeAll(async () => {
    const log = pino(
      { level: 'info' },
      {
        write(line: string) {
          lines.push(JSON.parse(line) as { level: number; msg: string });
        },
      },
    );
    t = await createTestContext({
      log,
      config: { redisUrl: `redis://127.0.0.1:${await freePort()}`, rateLimit: { max: 2, addressMax: 2 } },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers every request (fails open) and logs one warning for the outage', async () => {
    const broker = await t.newBroker();
    for (let i = 0; i < 30; i += 1) {
      const res = await t.request({ method: 'GET', url: ACCOUNT, key: broker.key });
      expect(res.statusCode, res.body).toBe(404);
    }
    expectError(await t.request({ method: 'GET', url: ACCOUNT }), 401, 'UnauthenticatedError');
    const warnings = lines.filter((l) => l.level === 40 && /redis/i.test(l.msg));
    expect(warnings, JSON.stringify(lines.map((l) => l.msg))).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/not limited/i);
  });
});

/** A TCP relay to Redis that can be cut and restored on the same port (an outage, then recovery). */
async function redisRelay(port: number) {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  return {
    async up() {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(target.port || 6379), target.hostname);
        track(client);
        track(upstream);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    },
    async down() {
      const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      server = undefined;
    },
  };
}

describe('Redis outage and recovery', () => {
  let t: TestContext;
  let relay: Awaited<ReturnType<typeof redisRelay>>;
  const prefix = `activehub-test:${randomUUID()}:`;
  const lines: { level: number; msg: string }[] = [];
  beforeAll(async () => {
    const port = await freePort();
    relay = await redisRelay(port);
    await relay.up();
    const log = pino(
      { level: 'info' },
      {
        write(line: string) {
          lines.push(JSON.parse(line) as { level: number; msg: string });
        },
      },
    );
    t = await createTestContext({
      log,
      config: { redisUrl: `redis://127.0.0.1:${port}`, redisKeyPrefix: prefix, rateLimit: { max: 100 } },
    });
  });
  afterAll(async () => {
    await t?.close();
    await relay?.down();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const storeLines = () => lines.filter((l) => /rate-limit store/.test(l.msg)).map((l) => `${l.level} ${l.msg}`);

  it('warns once per outage, says when Redis answers again, and the shared counts go on', async () => {
    const broker = await t.newBroker();
    const call = () => t.request({ method: 'GET', url: ACCOUNT, key: broker.key });
    const remaining = async () => (await call()).headers['ratelimit-remaining'];
    expect([await remaining(), await remaining()]).toEqual(['99', '98']);

    await relay.down();
    for (let i = 0; i < 10; i += 1) {
      const res = await call();
      expect(res.statusCode).toBe(404);
      expect(res.headers['ratelimit-remaining']).toBeUndefined();
    }
    expect(storeLines()).toEqual([expect.stringMatching(/^40 rate-limit store \(Redis\) unreachable/)]);

    await relay.up();
    let back: unknown;
    const deadline = Date.now() + 15_000;
    while (back === undefined && Date.now() < deadline) {
      back = await remaining();
      if (back === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    // Counting resumes where Redis left it (the requests during the outage were not counted).
    expect(back).toBe('97');
    expect(storeLines()).toEqual([
      expect.stringMatching(/^40 rate-limit store \(Redis\) unreachable/),
      expect.stringMatching(/^30 rate-limit store \(Redis\) answers again/),
    ]);

    await relay.down();
    expect((await call()).statusCode).toBe(404);
    expect((await call()).statusCode).toBe(404);
    expect(storeLines()).toHaveLength(3);
    expect(storeLines()[2]).toMatch(/^40 /);
  }, 30_000);
});
