import { sql, type Kysely } from 'kysely';

/**
 * Search read model, cheaper searches (bench/search): the two occurrence indexes the searches
 * use hold only the occurrences a search can return (not cancelled or postponed), so they are a
 * third of the size and need no status test. `(start_at, id)` lets an upcoming-sessions page walk
 * occurrences in result order and stop after the page, index-only; `(series_id, start_at, id)`
 * answers "has a session that…", counts and each series' sessions in order. The full
 * `(series_id, start_at)` index stays for By-ID answers, which list cancelled sessions too; the
 * old searchable `start_at` index gives way to a plain one the pruning uses.
 *
 * The predicate is written exactly as the queries write it (search.repository.ts,
 * `OPEN_OCCURRENCE`), so the planner can prove they only need the indexed rows.
 *
 * `search_series.open_starts`: the start instants of the series' open occurrences, sorted (the
 * projector keeps it in step). How many fall in a window is two binary searches in the row
 * (`width_bucket`), so searches without a time-of-day or day-of-week filter need not visit the
 * occurrences to know whether a series has sessions in the window, or how many.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table search_series add column open_starts timestamptz[] not null default '{}'`.execute(db);
  // Kept in the row (compressed if need be): the rows' low toast target would otherwise move it
  // out of line, and every search would fetch it back from the TOAST table.
  await sql`alter table search_series alter column open_starts set storage main`.execute(db);
  await sql`update search_series s set open_starts = coalesce((select array_agg(o.start_at order by o.start_at)
    from search_occurrences o where o.series_id = s.id and o.status not in ('EventCancelled', 'EventPostponed')), '{}')`.execute(
    db,
  );
  await sql`create index search_occurrences_open_start_idx on search_occurrences (start_at, id)
    include (series_id, local_minute, iso_dow) where status not in ('EventCancelled', 'EventPostponed')`.execute(db);
  await sql`create index search_occurrences_open_series_idx on search_occurrences (series_id, start_at, id)
    include (local_minute, iso_dow) where status not in ('EventCancelled', 'EventPostponed')`.execute(db);
  await sql`drop index search_occurrences_start_idx`.execute(db);
  await sql`create index search_occurrences_start_idx on search_occurrences (start_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index search_occurrences_start_idx`.execute(db);
  await sql`create index search_occurrences_start_idx on search_occurrences (start_at)
    include (series_id, status, local_minute, iso_dow)`.execute(db);
  await sql`drop index search_occurrences_open_series_idx`.execute(db);
  await sql`drop index search_occurrences_open_start_idx`.execute(db);
  await sql`alter table search_series drop column open_starts`.execute(db);
}
