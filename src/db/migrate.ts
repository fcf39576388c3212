import { Migrator, type Migration, type MigrationResultSet } from 'kysely';
import type { Kysely } from 'kysely';
import * as m001 from './migrations/2026-11-26-001-brokers-customers.js';
import * as m002 from './migrations/2026-11-26-002-catalog.js';
import * as m003 from './migrations/2026-11-26-003-search.js';
import * as m004 from './migrations/2026-11-26-004-search-layout.js';

/** Migrations in order. Listed by hand so the set is fixed at build time and needs no file scan. */
const migrations: Record<string, Migration> = {
  '2026-11-26-001-brokers-customers': m001,
  '2026-11-26-002-catalog': m002,
  '2026-11-26-003-search': m003,
  '2026-11-26-004-search-layout': m004,
};

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const result: MigrationResultSet = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(
      `Migration ${failed?.migrationName ?? '?'} failed: ${result.error instanceof Error ? result.error.message : JSON.stringify(result.error)}`,
      {
        cause: result.error,
      },
    );
  }
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
