import { sql, type Kysely } from 'kysely';

/**
 * Search read model, layout for a million occurrences (bench/search): the prepared documents
 * move out of line (TOAST), so the rows the filters read stay narrow, and the occurrence
 * indexes carry the columns the occurrence filters test, so "has a session that…" and counts are
 * answered from the indexes alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of ['search_series', 'search_occurrences']) {
    await sql`alter table ${sql.table(table)} set (toast_tuple_target = 128)`.execute(db);
    await sql`alter table ${sql.table(table)} alter column doc set storage external`.execute(db);
  }
  await sql`drop index search_occurrences_start_idx`.execute(db);
  await sql`create index search_occurrences_start_idx on search_occurrences (start_at)
    include (series_id, status, local_minute, iso_dow)`.execute(db);
  await sql`drop index search_occurrences_series_start_idx`.execute(db);
  await sql`create index search_occurrences_series_start_idx on search_occurrences (series_id, start_at)
    include (status, local_minute, iso_dow)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index search_occurrences_series_start_idx`.execute(db);
  await sql`create index search_occurrences_series_start_idx on search_occurrences (series_id, start_at)`.execute(db);
  await sql`drop index search_occurrences_start_idx`.execute(db);
  await sql`create index search_occurrences_start_idx on search_occurrences (start_at)`.execute(db);
  for (const table of ['search_series', 'search_occurrences']) {
    await sql`alter table ${sql.table(table)} reset (toast_tuple_target)`.execute(db);
    await sql`alter table ${sql.table(table)} alter column doc set storage extended`.execute(db);
  }
}
