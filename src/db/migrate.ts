import { Migrator, type Migration, type MigrationResultSet } from 'kysely';
import type { Kysely } from 'kysely';
import * as m001 from './migrations/2026-11-26-001-brokers-customers.js';
import * as m002 from './migrations/2026-11-26-002-catalog.js';
import * as m003 from './migrations/2026-11-26-003-search.js';
import * as m004 from './migrations/2026-11-26-004-search-layout.js';
import * as m005 from './migrations/2026-11-27-005-payments.js';
import * as m006 from './migrations/2026-11-27-006-notifications.js';
import * as m007 from './migrations/2026-11-27-007-booking.js';
import * as m008 from './migrations/2026-11-27-008-orders-checkout.js';
import * as m009 from './migrations/2026-11-27-009-orders-read-paths.js';
import * as m010 from './migrations/2026-11-27-010-search-open-occurrences.js';
import * as m011 from './migrations/2026-11-27-011-catalog-lz4.js';
import * as m012 from './migrations/2026-11-27-012-emails-to-render.js';
import * as m013 from './migrations/2026-11-27-013-search-geo-gist.js';
import * as m014 from './migrations/2026-11-27-014-search-detail-doc.js';
import * as m015 from './migrations/2026-11-27-015-search-covering-geo.js';
import * as m016 from './migrations/2026-11-27-016-search-session-point-back.js';
import * as m019 from './migrations/2026-12-07-019-test-mode.js';
import * as m021 from './migrations/2026-12-07-021-orders-feed-scope.js';
import * as m022 from './migrations/2026-12-07-022-checkout-paying-idx.js';
import * as m025 from './migrations/2026-12-08-025-sealed-booking-credentials.js';
import * as m028 from './migrations/2026-12-08-028-search-contract-filters.js';

/** Migrations in order. Listed by hand so the set is fixed at build time and needs no file scan. */
const migrations: Record<string, Migration> = {
  '2026-11-26-001-brokers-customers': m001,
  '2026-11-26-002-catalog': m002,
  '2026-11-26-003-search': m003,
  '2026-11-26-004-search-layout': m004,
  '2026-11-27-005-payments': m005,
  '2026-11-27-006-notifications': m006,
  '2026-11-27-007-booking': m007,
  '2026-11-27-008-orders-checkout': m008,
  '2026-11-27-009-orders-read-paths': m009,
  '2026-11-27-010-search-open-occurrences': m010,
  '2026-11-27-011-catalog-lz4': m011,
  '2026-11-27-012-emails-to-render': m012,
  '2026-11-27-013-search-geo-gist': m013,
  '2026-11-27-014-search-detail-doc': m014,
  '2026-11-27-015-search-covering-geo': m015,
  '2026-11-27-016-search-session-point-back': m016,
  '2026-12-07-019-test-mode': m019,
  '2026-12-07-021-orders-feed-scope': m021,
  '2026-12-07-022-checkout-paying-idx': m022,
  '2026-12-08-025-sealed-booking-credentials': m025,
  '2026-12-08-028-search-contract-filters': m028,
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
