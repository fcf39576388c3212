import { sql, type Kysely } from 'kysely';

/**
 * Search read model, geo on GiST indexes (bench/search at a million sessions): the series'
 * position as a built-in `point(longitude, latitude)` (degrees; no extension, so PGlite and
 * PostgreSQL alike), indexed apart for SessionSeries and for facilities (every search names its
 * kinds; the partial predicates are written so the queries' `kind = any(…)` implies them). A
 * radius search reads the box around the circle from it in both dimensions (the btree on
 * `(kind, latitude, longitude)` it replaces could only seek on latitude); a nearest-first search
 * (discovery-geo) walks it in `<->` order and stops after the page, index-only (`include`:
 * the row id, and the coordinates the `<->` value is computed from), instead of visiting and
 * sorting every series in the radius. The true distance is still the haversine in SQL
 * (search.repository.ts); the index only narrows and orders.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index search_series_session_point_idx on search_series using gist (point(longitude, latitude))
    include (id, longitude, latitude) where kind = 'SessionSeries'`.execute(db);
  await sql`create index search_series_facility_point_idx on search_series using gist (point(longitude, latitude))
    include (id, longitude, latitude) where kind <> 'SessionSeries'`.execute(db);
  await sql`drop index search_series_geo_idx`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`create index search_series_geo_idx on search_series (kind, latitude, longitude)`.execute(db);
  await sql`drop index search_series_facility_point_idx`.execute(db);
  await sql`drop index search_series_session_point_idx`.execute(db);
}
