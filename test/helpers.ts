import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { inject } from 'vitest';
import { buildApp, buildServices, type Services } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createDeps, type Deps } from '../src/deps.js';
import type { Clock } from '../src/lib/clock.js';
import {
  createOutboundPolicy,
  type OutboundPolicy,
  type OutboundPolicyOptions,
  type Resolver,
} from '../src/lib/outbound.js';
import type { Product } from '../src/modules/brokers/index.js';

/** A fresh database for one test file, copied from the run's migrated snapshot. */
export async function openTestDatabase(): Promise<Database> {
  const target = inject('testDatabase');
  if (target.kind === 'pglite') {
    const database = await openDatabase({ loadDataDir: new Blob([fs.readFileSync(target.snapshotFile)]) });
    await migrateToLatest(database.db);
    return database;
  }
  const name = `activehub_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: target.serverUrl });
  await admin.connect();
  await admin.query(`create database ${name} template ${target.template}`);
  await admin.end();
  const url = new URL(target.serverUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString(), poolSize: 5 });
  const close = database.close.bind(database);
  database.close = async () => {
    await close();
    const a = new pg.Client({ connectionString: target.serverUrl });
    await a.connect();
    await a.query(`drop database if exists ${name} with (force)`);
    await a.end();
  };
  return database;
}

export interface TestContext {
  app: FastifyInstance;
  deps: Deps;
  services: Services;
  /** A new broker with a key granting `products` (all by default). */
  newBroker(options?: {
    products?: Product[];
    mode?: 'live' | 'test';
  }): Promise<{ slug: string; key: string; brokerId: number }>;
  request(options: InjectOptions & { key?: string | undefined }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let brokerCounter = 0;

/**
 * The outbound policy tests run with: test servers listen on 127.0.0.1, so loopback (and other
 * private addresses) are allowed unless a test asks for the default, closed policy.
 */
export const TEST_OUTBOUND: Config['outbound'] = { allowPrivate: true, allowedHosts: [] };

/** An outbound policy for tests that build their own HTTP client (closed with the test's servers). */
export function testOutbound(options: Partial<OutboundPolicyOptions> = {}): OutboundPolicy {
  return createOutboundPolicy({ ...TEST_OUTBOUND, ...options });
}

/** The secrets key of every test context in this process (random: nothing sealed outlives it). */
export const TEST_SECRETS_KEY = randomBytes(32);

/** Test settings: like `Config`, with any subset of the rate limits (the rest as in tests). */
export type TestConfig = Omit<Partial<Config>, 'rateLimit'> & { rateLimit?: Partial<Config['rateLimit']> };

/**
 * The rate limits tests run with: every test file's requests come from 127.0.0.1, so the
 * per-address and failed-authentication budgets are raised out of reach unless a test sets them.
 */
export function testRateLimit(overrides: Partial<Config['rateLimit']> = {}): Config['rateLimit'] {
  return { ...loadConfig({}).rateLimit, addressMax: 1_000_000, authFailuresMax: 1_000_000, ...overrides };
}

/** The configuration `createTestContext` builds its app with. */
export function testConfig(overrides: TestConfig = {}): Config {
  const { rateLimit, ...rest } = overrides;
  return loadConfig(
    {},
    {
      publicBaseUrl: 'http://activehub.test',
      logLevel: 'silent',
      seedDemo: false,
      authCacheTtlMs: 0,
      outbound: TEST_OUTBOUND,
      // A key of the test's own: no key file is made under ./data.
      secretsKey: TEST_SECRETS_KEY,
      ...rest,
      rateLimit: testRateLimit(rateLimit),
    },
  );
}

export async function createTestContext(
  options: { config?: TestConfig; clock?: Clock; log?: Logger; resolve?: Resolver } = {},
): Promise<TestContext> {
  const database = await openTestDatabase();
  const config = testConfig(options.config);
  const deps = await createDeps(config, {
    database,
    log: options.log ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  const services = buildServices(deps);
  const app = await buildApp(deps, services);
  await app.ready();

  return {
    app,
    deps,
    services,
    async newBroker({ products, mode } = {}) {
      brokerCounter += 1;
      const slug = `broker-${process.pid}-${brokerCounter}-${randomBytes(3).toString('hex')}`;
      const broker = await services.brokers.createBroker({ slug, name: `Test broker ${brokerCounter}` });
      const key = await services.brokers.createKey(slug, {
        ...(products ? { products } : {}),
        ...(mode ? { mode } : {}),
      });
      return { slug, key: key.key, brokerId: broker.id };
    },
    request({ key, headers, ...rest }) {
      return app.inject({ ...rest, headers: { ...(key ? { 'x-api-key': key } : {}), ...headers } });
    },
    async close() {
      await app.close();
      await deps.jobs.stop();
      await database.close();
      await deps.outbound.close();
    },
  };
}
