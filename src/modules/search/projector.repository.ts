import { sql, type Insertable } from 'kysely';
import type { SearchExecutor, SearchOccurrencesTable, SearchSeriesTable } from './search.tables.js';

/* Writes of the projector: the read model's rows and its cursor. */

const CHUNK = 500;

export async function findCursor(db: SearchExecutor, name: string): Promise<number> {
  const row = await db
    .selectFrom('search_projector_state')
    .select('last_seq')
    .where('name', '=', name)
    .executeTakeFirst();
  return row ? Number(row.last_seq) : 0;
}

export function saveCursor(db: SearchExecutor, name: string, seq: number, at: Date) {
  return db
    .insertInto('search_projector_state')
    .values({ name, last_seq: seq, updated_at: at })
    .onConflict((oc) => oc.column('name').doUpdateSet({ last_seq: seq, updated_at: at }))
    .execute();
}

const SERIES_COLUMNS = [
  'kind',
  'group_oa_id',
  'identifier',
  'place_key',
  'latitude',
  'longitude',
  'attendance',
  'activity_ids',
  'activity_match_ids',
  'activity_schemes',
  'facility_type_ids',
  'organizer_id',
  'organizer_name',
  'age_min',
  'age_max',
  'gender',
  'levels',
  'accessibility_ids',
  'special_requirement_ids',
  'leader_genders',
  'adult_channels',
  'junior_channels',
  'amenities',
  'wheelchair',
  'adult_price',
  'adult_member',
  'junior_price',
  'junior_member',
  'hfs',
  'place_class',
  'tz',
  'booking_ready',
  'doc',
  'detail_doc',
  'updated_at',
] as const;

export async function upsertSeries(db: SearchExecutor, rows: Insertable<SearchSeriesTable>[]) {
  const out: { id: number; oa_id: string }[] = [];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const done = await db
      .insertInto('search_series')
      .values(rows.slice(i, i + CHUNK))
      .onConflict((oc) =>
        oc
          .columns(['publisher_id', 'oa_id'])
          .doUpdateSet((eb) => Object.fromEntries(SERIES_COLUMNS.map((c) => [c, eb.ref(`excluded.${c}`)]))),
      )
      .returning(['id', 'oa_id'])
      .execute();
    out.push(...done.map((r) => ({ id: Number(r.id), oa_id: r.oa_id })));
  }
  return out;
}

export function deleteSeries(db: SearchExecutor, publisherId: number, oaIds: string[]) {
  if (oaIds.length === 0) return Promise.resolve();
  return db
    .deleteFrom('search_series')
    .where('publisher_id', '=', publisherId)
    .where('oa_id', 'in', oaIds)
    .execute()
    .then(() => undefined);
}

/** What an occurrence inherits from its series row. */
export async function findSeriesForOccurrences(db: SearchExecutor, publisherId: number, oaIds: string[]) {
  if (oaIds.length === 0) return [];
  const rows = await db
    .selectFrom('search_series')
    .select(['id', 'oa_id', 'tz', 'booking_ready', sql<unknown>`detail_doc->'offers'`.as('offers')])
    .where('publisher_id', '=', publisherId)
    .where('oa_id', 'in', oaIds)
    .execute();
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    offers: (Array.isArray(r.offers) ? r.offers : []) as Record<string, unknown>[],
  }));
}

/** The inherit hash of existing series rows (see SeriesDoc.inheritHash). */
export async function findInheritHashes(db: SearchExecutor, publisherId: number, oaIds: string[]) {
  if (oaIds.length === 0) return new Map<string, string | null>();
  const rows = await db
    .selectFrom('search_series')
    .select(['oa_id', sql<string | null>`doc->>'inheritHash'`.as('hash')])
    .where('publisher_id', '=', publisherId)
    .where('oa_id', 'in', oaIds)
    .execute();
  return new Map(rows.map((r) => [r.oa_id, r.hash]));
}

const OCCURRENCE_COLUMNS = [
  'series_id',
  'kind',
  'start_at',
  'end_at',
  'local_date',
  'local_minute',
  'iso_dow',
  'remaining',
  'maximum',
  'status',
  'bookable',
  'book_from_s',
  'book_until_s',
  'doc',
] as const;

/**
 * Upserts occurrence rows in one statement per 2,000 rows: they travel as one JSON document
 * (`json_populate_recordset` over the table's own row type), which PostgreSQL parses and plans
 * far more cheaply than thousands of bind parameters. A row equal to the stored one is not
 * rewritten (no new tuple, no index entries): a series' occurrences are re-projected with it, so
 * most of them arrive unchanged.
 */
export async function upsertOccurrences(db: SearchExecutor, rows: Insertable<SearchOccurrencesTable>[]) {
  const columns = ['publisher_id', 'oa_id', ...OCCURRENCE_COLUMNS];
  const list = sql.raw(columns.join(', '));
  const stored = sql.raw(columns.map((c) => (c === 'doc' ? 'o.doc::text' : `o.${c}`)).join(', '));
  const incoming = sql.raw(columns.map((c) => (c === 'doc' ? 'excluded.doc::text' : `excluded.${c}`)).join(', '));
  const updates = sql.raw(OCCURRENCE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', '));
  for (let i = 0; i < rows.length; i += 2000) {
    // `doc` is already JSON text: it goes into the document as it is.
    const json = `[${rows
      .slice(i, i + 2000)
      .map(({ doc, ...row }) => `${JSON.stringify(row).slice(0, -1)},"doc":${doc}}`)
      .join(',')}]`;
    await sql`insert into search_occurrences as o (${list})
      select ${list} from json_populate_recordset(null::search_occurrences, ${json}::json)
      on conflict (publisher_id, oa_id) do update set ${updates}
      where (${stored}) is distinct from (${incoming})`.execute(db);
  }
}

export function deleteOccurrences(db: SearchExecutor, publisherId: number, oaIds: string[]) {
  if (oaIds.length === 0) return Promise.resolve();
  return db
    .deleteFrom('search_occurrences')
    .where('publisher_id', '=', publisherId)
    .where('oa_id', 'in', oaIds)
    .execute()
    .then(() => undefined);
}

/** Archived occurrences (imin §1.4) are dropped from the read model. */
export async function deleteOccurrencesBefore(db: SearchExecutor, before: Date): Promise<number> {
  const r = await db.deleteFrom('search_occurrences').where('start_at', '<', before).returning('series_id').execute();
  await refreshOpenStarts(db, [...new Set(r.map((x) => Number(x.series_id)))]);
  return r.length;
}

/** The series rows now holding the given occurrences (before they change). */
export async function findOccurrenceSeriesIds(db: SearchExecutor, publisherId: number, oaIds: string[]) {
  if (oaIds.length === 0) return new Set<number>();
  const { rows } = await sql<{ series_id: string | number }>`select distinct series_id from search_occurrences
    where publisher_id = ${publisherId} and oa_id = any(${oaIds}::text[])`.execute(db);
  return new Set(rows.map((r) => Number(r.series_id)));
}

/**
 * Recomputes `open_starts` (the sorted starts of a series' open occurrences, migration
 * 2026-11-27-010) of the given series from their occurrence rows, in one statement that reads
 * each series' open occurrences from the partial `(series_id, start_at, id)` index; series whose
 * starts did not change are not rewritten.
 */
export async function refreshOpenStarts(db: SearchExecutor, seriesIds: number[]) {
  if (seriesIds.length === 0) return;
  await sql`update search_series s set open_starts = x.starts
    from (select i.id, coalesce((select array_agg(o.start_at order by o.start_at) from search_occurrences o
            where o.series_id = i.id and o.status not in ('EventCancelled', 'EventPostponed')), '{}') as starts
          from unnest(${seriesIds}::bigint[]) as i(id)) x
    where s.id = x.id and s.open_starts is distinct from x.starts`.execute(db);
}

/** Recomputes `open_starts` of every series (after an initial load), in one pass over the occurrences. */
export async function refreshAllOpenStarts(db: SearchExecutor) {
  await sql`update search_series s set open_starts = x.starts
    from (select series_id, array_agg(start_at order by start_at) as starts from search_occurrences
          where status not in ('EventCancelled', 'EventPostponed') group by series_id) x
    where s.id = x.series_id and s.open_starts is distinct from x.starts`.execute(db);
}

/** Whether the read model holds no rows at all (the projector may then load it in bulk). */
export async function isReadModelEmpty(db: SearchExecutor): Promise<boolean> {
  const { rows } = await sql<{ used: boolean }>`select exists (select 1 from search_series)
    or exists (select 1 from search_occurrences) as used`.execute(db);
  return !rows[0]?.used;
}

/** Planner statistics for a read-model table after a bulk load (autovacuum would come later). */
export async function analyzeReadModel(db: SearchExecutor, table: 'search_series' | 'search_occurrences') {
  await sql`analyze ${sql.table(table)}`.execute(db);
}

/**
 * After a bulk load: the series indexes rebuilt packed (the load grew them row by row, and
 * rewrote every row once more for `open_starts`; a GiST index grown so is larger than one built at
 * once, and the radius searches read its pages: at 1,000,000 sessions the covering geo index was
 * 27 MB built at once, 39 MB after 30,000 updates; a few seconds for the whole table), then
 * statistics, and visibility maps so searches can answer from the indexes alone (without them
 * every index-only scan visits the heap: at 1,000,000 sessions a search cost PostgreSQL 311 ms of
 * CPU before a vacuum and 43 ms after). Autovacuum would come to it later on a server, never on
 * PGlite. Not inside a transaction.
 */
export async function vacuumReadModel(db: SearchExecutor) {
  await sql`reindex table search_series`.execute(db);
  await sql`vacuum analyze search_series, search_occurrences`.execute(db);
}
