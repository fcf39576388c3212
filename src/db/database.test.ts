import pg from 'pg';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';

/*
 * A PostgreSQL server may end an idle pooled connection at any time (restart, failover, an
 * administrator's pg_terminate_backend, DROP DATABASE … WITH (FORCE)). That must be reported and
 * survived, not end the process with an unhandled 'error' event.
 */

const url = process.env.TEST_DATABASE_URL;

describe.runIf(url)('PostgreSQL pool', () => {
  it('survives the server ending an idle connection, and reports it', async () => {
    const failures: Error[] = [];
    const database = await openDatabase({ url, poolSize: 2, onConnectionError: (err) => failures.push(err) });
    try {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db);
      const pid = rows[0]!.pid;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query('select pg_terminate_backend($1)', [pid]);
      await admin.end();
      await expect.poll(() => failures.length, { timeout: 5_000 }).toBe(1);
      expect((failures[0] as Error & { code?: string }).code).toBe('57P01');
      const again = await sql<{ one: number }>`select 1 as one`.execute(database.db);
      expect(again.rows[0]!.one).toBe(1);
    } finally {
      await database.close();
    }
  });
});
