import { sql, type Kysely } from 'kysely';

/**
 * Search read model, a covering geo index for SessionSeries (issue 5, the searches that read
 * every matching series in the radius: price orders, upcoming-sessions' membership set,
 * time-of-day filters). The GiST index of migration 013 held only the id and coordinates, so
 * each series in the box cost a visit to its heap row (about 1 KB, rows of one area scattered
 * over the table: at 1,000,000 sessions a 15 km London box touched 5,643 of 10,502 heap pages).
 * It now also holds what those searches test and group by — `hfs`, `attendance`, `identifier`,
 * `adult_price`, `age_min`, `age_max` and the open starts — so they are index-only.
 *
 * `open_starts` itself cannot go in: an index row is at most 8 KB and a series publishing a
 * session every quarter hour would exceed it (the projector's write would fail). The index holds
 * `open_starts_short`, generated from it: the same array when it has at most 200 elements, else
 * null (the queries then read `open_starts` from the row by primary key).
 *
 * And a btree on `tz`, so the time zones in use can be listed cheaply (a loose index scan).
 */
const OPEN_STARTS_SHORT_MAX = 200;

export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement, so the rewrite that fills the column already stores it in the row (`main`, as
  // `open_starts`): with the table's low TOAST target the default would put it out of line, a
  // TOAST fetch for every heap row a search reads.
  await sql`alter table search_series
    add column open_starts_short timestamptz[]
      generated always as (case when cardinality(open_starts) <= ${sql.lit(OPEN_STARTS_SHORT_MAX)} then open_starts end) stored,
    alter column open_starts_short set storage main`.execute(db);
  await sql`create index search_series_session_cover_idx on search_series using gist (point(longitude, latitude))
    include (id, longitude, latitude, hfs, attendance, identifier, adult_price, age_min, age_max, open_starts_short)
    where kind = 'SessionSeries'`.execute(db);
  await sql`drop index search_series_session_point_idx`.execute(db);
  // The time zones in use, listed by a loose scan (a time-of-day search walks only the stretches
  // of its window those local times fall in, in each zone).
  await sql`create index search_series_tz_idx on search_series (tz)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index search_series_tz_idx`.execute(db);
  await sql`create index search_series_session_point_idx on search_series using gist (point(longitude, latitude))
    include (id, longitude, latitude) where kind = 'SessionSeries'`.execute(db);
  await sql`drop index search_series_session_cover_idx`.execute(db);
  await sql`alter table search_series drop column open_starts_short`.execute(db);
}
