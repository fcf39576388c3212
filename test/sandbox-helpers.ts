import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { inject } from 'vitest';
import { systemClock, type Clock } from '../src/lib/clock.js';
import { createVocabularies, type Vocabularies } from '../src/lib/vocabularies.js';
import { buildSandboxApp } from '../src/sandbox/app.js';
import { migrateSandbox, openSandboxDatabase, type SandboxDatabase } from '../src/sandbox/db/database.js';
import { sandboxUrls, type SandboxUrls } from '../src/sandbox/ids.js';

/**
 * A fresh, migrated sandbox database for one test file, on the same kind of database the run
 * uses (`npm test`: in-memory PGlite; `npm run test:pg`: a new Postgres database, dropped on close).
 */
export async function openTestSandboxDatabase(): Promise<SandboxDatabase> {
  const target = inject('testDatabase');
  if (target.kind === 'pglite') {
    const database = await openSandboxDatabase({});
    await migrateSandbox(database.db);
    return database;
  }
  const name = `activehub_sb_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: target.serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(target.serverUrl);
  url.pathname = `/${name}`;
  const database = await openSandboxDatabase({ url: url.toString(), poolSize: 5 });
  const close = database.close.bind(database);
  database.close = async () => {
    await close();
    const a = new pg.Client({ connectionString: target.serverUrl });
    await a.connect();
    // pg's pool.end() resolves before its sockets have closed; forcing the drop at once would
    // terminate those sessions and surface as an unhandled 57P01 error in the test file. Wait for
    // them to go (a second at most), then drop.
    for (let i = 0; i < 50; i += 1) {
      const r = await a.query('select count(*)::int as n from pg_stat_activity where datname = $1', [name]);
      if ((r.rows[0] as { n: number }).n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await a.query(`drop database if exists ${name} with (force)`);
    await a.end();
  };
  await migrateSandbox(database.db);
  return database;
}

export const SANDBOX_TEST_URL = 'http://sandbox.test';

export interface SandboxTestContext {
  app: FastifyInstance;
  database: SandboxDatabase;
  urls: SandboxUrls;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let vocab: Vocabularies | undefined;
/** Parsed once per test file: the activity list is half a megabyte. */
export function sharedVocab(): Vocabularies {
  vocab ??= createVocabularies();
  return vocab;
}

export async function createSandboxTestContext(
  options: { clock?: Clock; vocab?: Vocabularies; feedPageSize?: number } = {},
): Promise<SandboxTestContext> {
  const database = await openTestSandboxDatabase();
  const urls = sandboxUrls(SANDBOX_TEST_URL);
  const app = await buildSandboxApp({
    db: database.db,
    urls,
    clock: options.clock ?? systemClock,
    vocab: options.vocab ?? sharedVocab(),
    ...(options.feedPageSize ? { feedPageSize: options.feedPageSize } : {}),
  });
  await app.ready();
  return {
    app,
    database,
    urls,
    request: (o) => app.inject(o),
    async close() {
      await app.close();
      await database.close();
    },
  };
}
