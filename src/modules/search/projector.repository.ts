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
    .select(['id', 'oa_id', 'tz', 'booking_ready', sql<unknown>`doc->'offers'`.as('offers')])
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

export async function upsertOccurrences(db: SearchExecutor, rows: Insertable<SearchOccurrencesTable>[]) {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await db
      .insertInto('search_occurrences')
      .values(rows.slice(i, i + CHUNK))
      .onConflict((oc) =>
        oc
          .columns(['publisher_id', 'oa_id'])
          .doUpdateSet((eb) => Object.fromEntries(OCCURRENCE_COLUMNS.map((c) => [c, eb.ref(`excluded.${c}`)]))),
      )
      .execute();
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
  const ids = new Set<number>();
  for (let i = 0; i < oaIds.length; i += CHUNK) {
    const rows = await db
      .selectFrom('search_occurrences')
      .select('series_id')
      .distinct()
      .where('publisher_id', '=', publisherId)
      .where('oa_id', 'in', oaIds.slice(i, i + CHUNK))
      .execute();
    rows.forEach((r) => ids.add(Number(r.series_id)));
  }
  return ids;
}

/**
 * Recomputes `open_starts` (the sorted starts of a series' open occurrences, migration
 * 2026-11-27-010) of the given series from their occurrence rows.
 */
export async function refreshOpenStarts(db: SearchExecutor, seriesIds: number[]) {
  for (let i = 0; i < seriesIds.length; i += CHUNK) {
    await sql`update search_series s set open_starts = coalesce((select array_agg(o.start_at order by o.start_at)
        from search_occurrences o where o.series_id = s.id and o.status not in ('EventCancelled', 'EventPostponed')), '{}')
      where s.id = any(${seriesIds.slice(i, i + CHUNK)}::bigint[])`.execute(db);
  }
}
