import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { RateLimitConfig } from '../config.js';
import { hashApiKey } from '../modules/brokers/index.js';
import { AppError } from './errors.js';

/*
 * Rate limits that count every request (issue 14 point 4). Three fixed-window buckets:
 *   - the client address (`request.ip`; TRUST_PROXY decides whether X-Forwarded-For is believed;
 *     an IPv6 client by its /64, as one host is given millions of addresses), counted for every
 *     request, with or without a key;
 *   - the API key, by its SHA-256 (never the key itself), counted for every request that sends
 *     one, from whichever address — a key's own traffic meets its own limit only;
 *   - rejected keys per address (unknown, revoked, a wrong operator key): a small budget that,
 *     once spent, answers 429 to that address's keyed requests before any key is looked up.
 * All three are counted in one round trip to the store: memory (per process) or Redis (shared by
 * every process on REDIS_URL). A store that fails is skipped — requests pass unlimited — with one
 * warning per outage.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false`: counted against no bucket (operations endpoints a load balancer polls). */
    rateLimit?: boolean;
  }
}

/** A change to one counter: `by` 0 reads it. */
export interface CounterHit {
  key: string;
  by: number;
}

/** A counter's value in its current window, and the time left in that window. */
export interface CounterValue {
  count: number;
  resetMs: number;
}

/** Where the counters live. A window starts at a counter's first hit and lasts `windowMs`. */
export interface CounterStore {
  add(hits: readonly CounterHit[], windowMs: number): Promise<CounterValue[]>;
  close(): Promise<void>;
}

/** Counters in this process: each server limits on its own. */
export function createMemoryStore(): CounterStore {
  const counters = new Map<string, { count: number; resetAt: number }>();
  let nextSweep = 0;
  return {
    async add(hits, windowMs) {
      const now = Date.now();
      if (now >= nextSweep) {
        // Expired counters go once a window, so the map holds about one window's clients.
        for (const [key, counter] of counters) if (counter.resetAt <= now) counters.delete(key);
        nextSweep = now + windowMs;
      }
      return hits.map(({ key, by }) => {
        let counter = counters.get(key);
        if (!counter || counter.resetAt <= now) {
          if (by === 0) return { count: 0, resetMs: windowMs };
          counter = { count: 0, resetAt: now + windowMs };
          counters.set(key, counter);
        }
        counter.count += by;
        return { count: counter.count, resetMs: counter.resetAt - now };
      });
    },
    async close() {
      counters.clear();
    },
  };
}

// KEYS: the counters; ARGV[1]: the window (ms); ARGV[1 + i]: what to add to KEYS[i] (0 = read).
// Returns count and milliseconds left for each, in order. A counter expires with its window.
const HIT_SCRIPT = `
local out = {}
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local by = tonumber(ARGV[i + 1])
  local count
  if by == 0 then
    count = tonumber(redis.call('GET', key) or '0')
  else
    count = redis.call('INCRBY', key, by)
  end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    if by ~= 0 then redis.call('PEXPIRE', key, window) end
    ttl = window
  end
  out[#out + 1] = count
  out[#out + 1] = ttl
end
return out
`;

type HitCommand = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/**
 * Counters in Redis, shared by every process with the same REDIS_URL and prefix. Commands fail
 * at once while disconnected (no offline queue) and within 500 ms when Redis hangs, so an outage
 * costs each request at most that; the client keeps reconnecting in the background.
 */
export async function createRedisStore({ url, prefix }: { url: string; prefix: string }): Promise<CounterStore> {
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 250, 5000),
  });
  // Connection errors surface as failed commands (reported once per outage by the limiter).
  client.on('error', () => undefined);
  client.defineCommand('activehubRateHit', { lua: HIT_SCRIPT });
  const hit = (client as unknown as { activehubRateHit: HitCommand }).activehubRateHit.bind(client);
  // Connected before the first request when Redis is up; when it is down, the first request
  // reports the outage and the client keeps trying.
  await client.connect().catch(() => undefined);
  return {
    async add(hits, windowMs) {
      const reply = (await hit(
        hits.length,
        ...hits.map((h) => prefix + h.key),
        windowMs,
        ...hits.map((h) => h.by),
      )) as number[];
      return hits.map((_, i) => ({ count: Number(reply[2 * i]), resetMs: Number(reply[2 * i + 1]) }));
    },
    async close() {
      client.disconnect();
    },
  };
}

export interface RateLimits {
  /** Counts a rejected API key against the request's address (call before answering 401). */
  noteRejectedKey: (request: FastifyRequest) => Promise<void>;
}

type Bucket = 'address' | 'key' | 'auth_failures';

/** Adds the rate-limit hook (before authentication) and returns what authentication reports to. */
export function registerRateLimits(
  app: FastifyInstance,
  { limits, store, log, metrics }: { limits: RateLimitConfig; store: CounterStore; log: Logger; metrics: Registry },
): RateLimits {
  const limited = new Counter({
    name: 'rate_limited_total',
    help: 'Requests answered 429, by the bucket that was full',
    labelNames: ['bucket'],
    registers: [metrics],
  });
  const window = describeWindow(limits.windowMs);
  let storeDown = false;

  /** The counters after `hits`, or null when the store failed (the request is then not limited). */
  async function count(hits: CounterHit[]): Promise<CounterValue[] | null> {
    try {
      const values = await store.add(hits, limits.windowMs);
      if (storeDown) {
        storeDown = false;
        log.info('rate-limit store (Redis) answers again: rate limits apply');
      }
      return values;
    } catch (err) {
      if (!storeDown) {
        storeDown = true;
        log.warn({ err }, 'rate-limit store (Redis) unreachable: requests are not limited until it answers again');
      }
      return null;
    }
  }

  const headers = (limit: number, remaining: number, resetMs: number) => ({
    'ratelimit-limit': String(limit),
    'ratelimit-remaining': String(Math.max(0, remaining)),
    'ratelimit-reset': String(Math.max(1, Math.ceil(resetMs / 1000))),
  });

  function tooMany(bucket: Bucket, limit: number, resetMs: number, description: string): AppError {
    limited.inc({ bucket });
    return new AppError('TOO_MANY_REQUESTS', `${description} Retry after the time in Retry-After.`, {
      headers: { ...headers(limit, 0, resetMs), 'retry-after': String(Math.max(1, Math.ceil(resetMs / 1000))) },
    });
  }

  app.addHook('onRequest', async (request, reply) => {
    const route = request.routeOptions.config;
    const authenticates = Boolean(route?.product);
    // An exempt route that takes a key still honours the failure budget (no free guessing).
    const exempt = route?.rateLimit === false;
    if (exempt && !authenticates) return;
    const header = request.headers['x-api-key'];
    const rawKey = exempt ? undefined : Array.isArray(header) ? header[0] : header;
    const hits: CounterHit[] = [];
    const slot = (key: string, by: number) => hits.push({ key, by }) - 1;
    const client = clientOf(request.ip);
    const addressSlot = exempt ? -1 : slot(`addr:${client}`, 1);
    const failureSlot = authenticates ? slot(`fail:${client}`, 0) : -1;
    const keySlot = rawKey ? slot(`key:${hashApiKey(rawKey)}`, 1) : -1;
    const values = await count(hits);
    if (!values) return;
    const address = values[addressSlot];
    const failures = values[failureSlot];
    const key = values[keySlot];
    if (address && address.count > limits.addressMax) {
      throw tooMany(
        'address',
        limits.addressMax,
        address.resetMs,
        `Rate limit of ${limits.addressMax} requests per ${window} from one address exceeded.`,
      );
    }
    if (failures && failures.count >= limits.authFailuresMax) {
      throw tooMany(
        'auth_failures',
        limits.authFailuresMax,
        failures.resetMs,
        `Too many rejected API keys from this address (${limits.authFailuresMax} per ${window}).`,
      );
    }
    if (key && key.count > limits.max) {
      throw tooMany(
        'key',
        limits.max,
        key.resetMs,
        `Rate limit of ${limits.max} requests per ${window} for this API key exceeded.`,
      );
    }
    if (!address) return;
    // The headers describe whichever bucket is nearer its limit.
    const addressLeft = limits.addressMax - address.count;
    if (key && limits.max - key.count <= addressLeft) {
      void reply.headers(headers(limits.max, limits.max - key.count, key.resetMs));
    } else {
      void reply.headers(headers(limits.addressMax, addressLeft, address.resetMs));
    }
  });

  app.addHook('onClose', async () => {
    await store.close();
  });

  return {
    async noteRejectedKey(request) {
      await count([{ key: `fail:${clientOf(request.ip)}`, by: 1 }]);
    },
  };
}

/**
 * The client an address counts for: an IPv4 address (IPv4-mapped IPv6 included) as itself, an
 * IPv6 address by its /64 network (what one subscriber or host is given).
 */
export function clientOf(ip: string): string {
  const address = ip.split('%')[0] ?? ip;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const front = groups(head);
  // An embedded IPv4 tail (…:1.2.3.4) is two groups; only the first four groups matter here.
  const back = tail === undefined ? [] : groups(tail).flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
  const all =
    tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  const network = all.slice(0, 4).map((g) => parseInt(g, 16).toString(16));
  return `${network.join(':')}::/64`;
}

/** TRUST_PROXY as Fastify's `trustProxy` (a hop count becomes "the first n hops"). */
export function trustProxyOption(
  setting: boolean | number | string[],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting !== 'number') return setting;
  return (_address, hop) => hop < setting;
}

function describeWindow(ms: number): string {
  const unit = (n: number, name: string) => `${n === 1 ? '' : `${n} `}${name}${n === 1 ? '' : 's'}`;
  if (ms % 60_000 === 0) return unit(ms / 60_000, 'minute');
  if (ms % 1000 === 0) return unit(ms / 1000, 'second');
  return `${ms} ms`;
}
