import { Migrator, type Kysely, type Migration } from 'kysely';
import { openDatabase, type DatabaseOptions } from '../../db/database.js';
import * as m001 from './migrations/2026-11-27-001-sandbox-opportunities.js';
import * as m002 from './migrations/2026-11-27-002-sandbox-booking.js';
import type { SandboxDB } from './schema.js';

/** Listed by hand, like the platform's, so the set is fixed at build time. */
const migrations: Record<string, Migration> = {
  '2026-11-27-001-sandbox-opportunities': m001,
  '2026-11-27-002-sandbox-booking': m002,
};

export interface SandboxDatabase {
  db: Kysely<SandboxDB>;
  kind: 'pglite' | 'postgres';
  /** PGlite only: the whole data directory as a tarball. */
  dumpDataDir?: () => Promise<Blob>;
  close(): Promise<void>;
}

/**
 * Opens the sandbox's own database with the platform's generic driver setup (PGlite or pg, same
 * type parsers). It is a separate database: the sandbox is a third party to activehub.
 */
export async function openSandboxDatabase(options: DatabaseOptions): Promise<SandboxDatabase> {
  const database = await openDatabase(options);
  // The driver setup is schema-agnostic; only the table typing differs.
  const db = database.db as unknown as Kysely<SandboxDB>;
  return {
    db,
    kind: database.kind,
    ...(database.dumpDataDir ? { dumpDataDir: database.dumpDataDir } : {}),
    close: () => database.close(),
  };
}

export async function migrateSandbox(db: Kysely<SandboxDB>): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    // Own bookkeeping tables, so a sandbox schema can never be confused with the platform's.
    migrationTableName: 'sandbox_kysely_migration',
    migrationLockTableName: 'sandbox_kysely_migration_lock',
  });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(
      `Sandbox migration ${failed?.migrationName ?? '?'} failed: ${result.error instanceof Error ? result.error.message : JSON.stringify(result.error)}`,
      { cause: result.error },
    );
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
