/*
 * bench/probes/common.ts: the world the issue 14 probes run in, shared by fuzz, tenants and
 * overbook (crash.ts has its own, built around killing the server).
 *
 * - a seller: the bundled sandbox booking system behind a proxy (test/seller-world.ts), registered
 *   as a live publisher (a live key books it), with booking credentials;
 * - activehub as a real server process (test/server-process.ts) on a fresh database: PGlite in a
 *   temporary DATA_DIR by default, or a database of its own on a PostgreSQL server (`pgUrl`);
 * - two brokers, made with the CLI before the server starts: `acme` and `rival`, each with a live
 *   key and a test key (all products); acme also has a search-only key and a display-only key.
 *
 * `sql()` reads the activehub database: directly on PostgreSQL; on PGlite (one process only) by
 * stopping the server, opening the data directory, and starting the server again.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.js';
import { readForm } from '../../test/checkout-pages.js';
import { freePort } from '../../test/net.js';
import { startSellerWorld, TEST_CLIENT, type SellerWorld } from '../../test/seller-world.js';
import { createEmptyDatabase, runCli, startServerProcess, type ServerProcess } from '../../test/server-process.js';

export const ADMIN_KEY = 'probe-admin-key-0123456789abcdef';

/**
 * Rate limits high enough never to be reached, so the probes measure the app. The per-address
 * and auth-failure settings are the ones being added for issue 14; a server that does not know
 * them ignores them.
 */
export const GENEROUS_LIMITS: Record<string, string> = {
  RATE_LIMIT_MAX: '10000000',
  RATE_LIMIT_ADDRESS_MAX: '10000000',
  RATE_LIMIT_AUTH_FAILURES_MAX: '10000000',
};

export interface Keys {
  acmeLive: string;
  acmeTest: string;
  acmeSearch: string;
  acmeDisplay: string;
  rivalLive: string;
  rivalTest: string;
}

export interface World {
  kind: 'pglite' | 'postgres';
  seller: SellerWorld;
  base: string;
  keys: Keys;
  /** Paid ScheduledSessions at the seller (10 places each), harvested and bookable. */
  opportunities: string[];
  server(): ServerProcess;
  /** Rows from the activehub database (on PGlite the server is stopped and started around it). */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Several queries with one stop and start of the server on PGlite. */
  withDb<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  /** Starts the server again with these environment variables changed (undefined: removed). */
  restart(changes?: Record<string, string | undefined>): Promise<void>;
  admin(pathname: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startWorld(options: {
  pgUrl?: string | undefined;
  opportunities?: number;
  criteria?: string;
  env?: Record<string, string>;
  prefix: string;
  /** Runs after the seller's opportunities exist, before activehub starts (and harvests them). */
  beforeServer?: (seller: SellerWorld, opportunities: string[]) => Promise<void>;
}): Promise<World> {
  const cleanups: (() => Promise<void>)[] = [];
  const seller = await startSellerWorld({ sessions: 30, seed: 41 });
  cleanups.push(() => seller.close());
  const opportunities: string[] = [];
  for (let i = 0; i < (options.opportunities ?? 2); i += 1)
    opportunities.push(await seller.createOpportunity(options.criteria ?? 'TestOpportunityBookableNonFree'));

  let dbEnv: Record<string, string>;
  let pool: pg.Pool | undefined;
  let dataDir: string | undefined;
  if (options.pgUrl) {
    const database = await createEmptyDatabase(options.pgUrl, options.prefix);
    cleanups.push(() => database.drop());
    dbEnv = { DATABASE_URL: database.url };
    pool = new pg.Pool({ connectionString: database.url, max: 3 });
    const p = pool;
    cleanups.push(() => p.end());
  } else {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${options.prefix}-`));
    const d = dataDir;
    cleanups.push(async () => fs.rmSync(d, { recursive: true, force: true }));
    dbEnv = { DATA_DIR: dataDir };
  }
  const cliEnv = { ...dbEnv, SANDBOX_ENABLED: 'false', HARVEST_REGISTER_SANDBOX: 'false' };
  const keyOf = (out: string) => {
    const m = /\n\s+(ah_(?:live|test)_\S+)\n/.exec(out);
    if (!m) throw new Error(`no key in: ${out}`);
    return m[1]!;
  };
  await runCli(['migrate'], cliEnv);
  await runCli(
    ['brokers', 'create', '--slug', 'acme', '--name', 'Acme Fitness', '--contact-email', 'help@acme.example.com'],
    cliEnv,
  );
  await runCli(
    ['brokers', 'create', '--slug', 'rival', '--name', 'Rival Gyms', '--contact-email', 'help@rival.example.com'],
    cliEnv,
  );
  const key = async (broker: string, mode: string, name: string, products?: string) =>
    keyOf(
      await runCli(
        [
          'keys',
          'create',
          '--broker',
          broker,
          '--mode',
          mode,
          '--name',
          name,
          ...(products ? ['--products', products] : []),
        ],
        cliEnv,
      ),
    );
  const keys: Keys = {
    acmeLive: await key('acme', 'live', 'probe-live'),
    acmeTest: await key('acme', 'test', 'probe-test'),
    acmeSearch: await key('acme', 'live', 'probe-search', 'search'),
    acmeDisplay: await key('acme', 'live', 'probe-display', 'search'),
    rivalLive: await key('rival', 'live', 'probe-live'),
    rivalTest: await key('rival', 'test', 'probe-test'),
  };

  async function direct<T>(fn: (query: Query) => Promise<T>): Promise<T> {
    if (pool) {
      const p = pool;
      return fn(async <R>(text: string, params: unknown[] = []) => (await p.query(text, params)).rows as R[]);
    }
    const db = await openDatabase({ dataDir });
    try {
      return await fn(
        async <R>(text: string, params: unknown[] = []) =>
          (await db.db.executeQuery(CompiledQuery.raw(text, params))).rows as R[],
      );
    } finally {
      await db.close();
    }
  }
  const query = <T>(text: string, params: unknown[] = []) => direct((q) => q<T>(text, params));
  // No CLI option makes a display-only key: mark the second search key so.
  await query(`update api_keys set display_only = true where name = 'probe-display'`);
  const [marked] = await query<{ n: number }>(`select count(*)::int as n from api_keys where display_only`);
  if (marked?.n !== 1) throw new Error(`display-only key not marked (${JSON.stringify(marked)})`);

  await options.beforeServer?.(seller, opportunities);
  const port = await freePort();
  let env: Record<string, string> = {
    ...dbEnv,
    ...GENEROUS_LIMITS,
    SEED_DEMO: 'false',
    ADMIN_API_KEY: ADMIN_KEY,
    HARVEST_DATASET_URLS: seller.datasetUrl,
    HARVEST_POLL_INTERVAL_SECONDS: '2',
    JOBS_MAINTENANCE_INTERVAL_SECONDS: '2',
    ...options.env,
  };
  let server = await startServerProcess(env, { port });
  let stopped = false;
  cleanups.push(async () => {
    stopped = true;
    await server.stop();
  });
  const base = server.base;
  const admin = (pathname: string, init: RequestInit = {}) =>
    fetch(`${base}${pathname}`, {
      ...init,
      headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });

  // Ready: the seller registered with its booking credentials, its feeds caught up.
  const t0 = Date.now();
  for (;;) {
    const publishers = (await (await admin('/admin/publishers')).json()) as { items: { id: number }[] };
    if (publishers.items.length > 0) {
      const put = await admin(`/admin/publishers/${publishers.items[0]!.id}/booking-credentials`, {
        method: 'PUT',
        body: JSON.stringify({ headers: TEST_CLIENT }),
      });
      if (put.status >= 300) throw new Error(`booking credentials: ${put.status} ${await put.text()}`);
      break;
    }
    if (Date.now() - t0 > 60_000) throw new Error('the seller was not registered within 60 s');
    await sleep(250);
  }
  for (;;) {
    const feeds = (await (await admin('/admin/feeds')).json()) as { items?: { status: string; pages: number }[] };
    const items = feeds.items ?? [];
    if (items.length > 0 && items.every((f) => f.status === 'caught_up')) break;
    if (Date.now() - t0 > 120_000) throw new Error(`feeds not caught up within 120 s: ${JSON.stringify(feeds)}`);
    await sleep(300);
  }

  async function withDb<T>(fn: (q: Query) => Promise<T>): Promise<T> {
    if (pool) return direct(fn);
    await server.stop();
    try {
      return await direct(fn);
    } finally {
      if (!stopped) server = await startServerProcess(env, { port });
    }
  }

  return {
    kind: pool ? 'postgres' : 'pglite',
    seller,
    base,
    keys,
    opportunities,
    server: () => server,
    sql: <T>(text: string, params: unknown[] = []) => withDb((q) => q<T>(text, params)),
    withDb,
    async restart(changes = {}) {
      await server.stop();
      env = { ...env };
      for (const [k, v] of Object.entries(changes)) {
        if (v === undefined) delete env[k];
        else env[k] = v;
      }
      server = await startServerProcess(env, { port });
    },
    admin,
    async close() {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    },
  };
}

export interface Customer {
  email: string;
  givenName: string;
  familyName: string;
}

/** POST a JSON body with a key; the status and parsed body (or the text when not JSON). */
export async function call(
  base: string,
  method: string,
  pathname: string,
  key: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; text: string; headers: Headers }> {
  const res = await fetch(`${base}${pathname}`, {
    method,
    headers: {
      ...(key ? { 'x-api-key': key } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    redirect: 'manual',
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export async function createCustomer(base: string, key: string, customer: Customer): Promise<string> {
  const r = await call(base, 'POST', '/api/v2/customer-accounts', key, customer);
  if (r.status !== 201) throw new Error(`customer: ${r.status} ${r.text}`);
  return (r.body as { identifier: string }).identifier;
}

export type CheckoutEnd = 'confirmed' | 'refused' | 'failed';

/**
 * A checkout session through the broker API, then the hosted pages to the end (sandbox test card).
 * `customer` is a customer account identifier or an inline customer.
 */
export async function checkout(
  base: string,
  slug: string,
  key: string,
  opportunity: string,
  customer: string | Customer,
  extraHeaders: Record<string, string> = {},
): Promise<{ end: CheckoutEnd; page?: string; why?: string; sessionId?: string }> {
  const created = await call(
    base,
    'POST',
    `/checkout/${slug}/api/checkout-sessions`,
    key,
    {
      'imin:initialOrder': {
        customer,
        orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunity } }],
      },
    },
    extraHeaders,
  );
  if (created.status !== 201) {
    const type = (created.body as { '@type'?: string } | undefined)?.['@type'] ?? '';
    return { end: 'refused', why: `${created.status} ${type}`.trim() };
  }
  const body = created.body as { identifier?: string; potentialAction: { target: string }[] };
  const page = body.potentialAction[0]!.target;
  const sessionId = body.identifier;
  let url = page;
  for (let step = 0; step < 40; step += 1) {
    const res = await fetch(url, { redirect: 'manual' });
    const html = await res.text();
    const heading = () =>
      /<h1[^>]*>([\s\S]*?)<\/h1>/
        .exec(html)?.[1]
        ?.replace(/<[^>]+>/g, '')
        .trim();
    if (res.status !== 200)
      return { end: 'failed', page, sessionId, why: `GET ${res.status} ${heading() ?? ''}`.trim() };
    if (html.includes('Booking confirmed')) return { end: 'confirmed', page, sessionId };
    const form = readForm(html, url);
    if (!form) {
      if (html.includes('Processing your payment')) {
        await sleep(500);
        continue;
      }
      const why = /<h1[^>]*>([\s\S]*?)<\/h1>/
        .exec(html)?.[1]
        ?.replace(/<[^>]+>/g, '')
        .trim();
      return { end: 'failed', page, sessionId, why: why ?? 'no form' };
    }
    const posted = await fetch(form.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.fields.toString(),
      redirect: 'manual',
    });
    const location = posted.headers.get('location');
    await posted.arrayBuffer();
    if (posted.status !== 303 || !location) return { end: 'failed', page, sessionId, why: `POST ${posted.status}` };
    url = new URL(location, form.action).toString();
  }
  return { end: 'failed', page, sessionId, why: 'too many steps' };
}

export const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}

/** Prints rows as an aligned table. */
export function table(rows: (string | number)[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  for (const r of rows)
    console.log(
      '  ' +
        r
          .map((c, i) => (typeof c === 'number' ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
    );
}
