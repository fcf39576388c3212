import { sql, type Kysely } from 'kysely';

/**
 * Search read model: the narrow SessionSeries geo index of migration 013 (point, id and
 * coordinates) back beside the covering one of migration 015, which replaced it. Searches that
 * combine the box with the activity GIN index (a BitmapAnd) and the nearest-first walk read the
 * narrow one in fewer pages (at 1,000,000 sessions a 10 km box is 498 pages there, 846 in the
 * covering index: upcoming-sessions with an activity cost PostgreSQL about 15 % more CPU with the
 * covering index alone); the planner picks the covering one where it makes a radius scan
 * index-only. The second GiST index costs the projector about a third more per series update
 * (10,000 updates of `open_starts` at 1M sessions: 470 → 640 ms).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index if not exists search_series_session_point_idx on search_series
    using gist (point(longitude, latitude)) include (id, longitude, latitude) where kind = 'SessionSeries'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists search_series_session_point_idx`.execute(db);
}
