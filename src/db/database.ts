import fs from 'node:fs';
import path from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { CompiledQuery, Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import type { DB } from './schema.js';

/** Anything a repository function can run a query on: the database or an open transaction. */
export type Executor = Kysely<DB> | Transaction<DB>;

/** The minimal SQL surface pg-boss needs, bound either to the pool or to one transaction. */
export interface SqlRunner {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface Database {
  db: Kysely<DB>;
  kind: 'pglite' | 'postgres';
  /** Runs SQL on whichever connection `executor` stands for (pool or transaction). */
  runnerFor(executor: Executor): SqlRunner;
  /** PGlite only: the whole data directory as a tarball (test snapshots, backups). */
  dumpDataDir?: () => Promise<Blob>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** Postgres server URL. Absent: embedded PGlite. */
  url?: string | undefined;
  /** PGlite data directory; `undefined` with no url means in-memory. */
  dataDir?: string | undefined;
  /** A PGlite data-dir dump to start from (tests start every file from a migrated snapshot). */
  loadDataDir?: Blob | undefined;
  poolSize?: number;
  /**
   * PostgreSQL only: told when an idle pooled connection fails (the server restarted, or an
   * administrator ended the session). The pool drops that connection and opens a new one when
   * next needed; without a listener the failure would end the process.
   */
  onConnectionError?: (err: Error) => void;
}

// Both drivers must hand back the same JS types: bigint counts as numbers, `date` as the
// ISO string it is (pg would otherwise turn it into a local-time Date and shift the day).
const parseInt8 = (value: string): number => Number(value);
const identity = (value: string): string => value;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.url) return openPostgres(options.url, options.poolSize ?? 20, options.onConnectionError);
  return openPglite(options);
}

async function openPostgres(
  url: string,
  poolSize: number,
  onConnectionError: ((err: Error) => void) | undefined,
): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: {
      getTypeParser: ((oid: number, format?: string) => {
        if (oid === 20) return parseInt8;
        if (oid === 1082) return identity;
        return pg.types.getTypeParser(oid, format as 'text');
      }) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', (err) => onConnectionError?.(err));
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db);
  return {
    db,
    kind: 'postgres',
    runnerFor(executor) {
      return {
        async executeSql(text, values = []) {
          // With no parameters node-postgres uses the simple protocol, which also takes the
          // multi-statement scripts pg-boss sends.
          if (values.length > 0 || executor.isTransaction) {
            const r = await executor.executeQuery(CompiledQuery.raw(text, values));
            return { rows: r.rows };
          }
          // A script that opens a transaction (pg-boss's `BEGIN; …; COMMIT`) and fails part-way
          // would leave its pooled connection inside the aborted transaction, failing whatever
          // runs on it next ("current transaction is aborted"): seen when two servers install
          // pg-boss at once and the loser's CREATE TYPE fails. The connection is rolled back first.
          return executor.connection().execute(async (conn) => {
            try {
              const r = await conn.executeQuery(CompiledQuery.raw(text, values));
              return { rows: r.rows };
            } catch (err) {
              await conn.executeQuery(CompiledQuery.raw('rollback')).catch(() => undefined);
              throw err;
            }
          });
        },
      };
    },
    async close() {
      await db.destroy();
    },
  };
}

/**
 * PGlite has no server to arbitrate between processes: two processes opening one data directory
 * corrupt it. A lock file with the owner's pid refuses the second (a lock left by a dead process
 * is taken over).
 */
function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, 'activehub.lock');
  try {
    const owner = Number(fs.readFileSync(file, 'utf8').trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid) {
      let alive = true;
      try {
        process.kill(owner, 0);
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) {
        throw new Error(
          `The embedded database in ${dataDir} is in use by process ${owner} (a running activehub?). Stop it first, or use the HTTP admin API while it runs.`,
        );
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.writeFileSync(file, String(process.pid));
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file);
    } catch {
      // already gone
    }
  };
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  if (options.dataDir) fs.mkdirSync(options.dataDir, { recursive: true });
  const unlock = options.dataDir ? lockDataDir(options.dataDir) : () => undefined;
  const pglite = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
    parsers: { [pgliteTypes.INT8]: parseInt8, [pgliteTypes.DATE]: identity },
  });
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    dumpDataDir: async () => db.connection().execute(async () => pglite.dumpDataDir('none')),
    runnerFor(executor) {
      return {
        async executeSql(text, values = []) {
          // PGlite has one connection; the Kysely driver queues users of it. Going through
          // `executor` keeps pg-boss inside that queue (or inside the caller's transaction).
          const run = async (): Promise<{ rows: unknown[] }> => {
            if (values.length) {
              const r = await pglite.query(text, values);
              return { rows: r.rows };
            }
            // pg-boss sends multi-statement scripts without parameters: only `exec` takes those.
            const results = await pglite.exec(text);
            return { rows: results.at(-1)?.rows ?? [] };
          };
          if (executor.isTransaction) return run();
          return executor.connection().execute(run);
        },
      };
    },
    async close() {
      await db.destroy();
      unlock();
    },
  };
}
