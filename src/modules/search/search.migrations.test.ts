import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../../test/helpers.js';
import type { Database } from '../../db/database.js';
import * as detailDoc from '../../db/migrations/2026-11-27-014-search-detail-doc.js';
import * as coveringGeo from '../../db/migrations/2026-11-27-015-search-covering-geo.js';
import * as pointBack from '../../db/migrations/2026-11-27-016-search-session-point-back.js';

/*
 * Migration 2026-11-27-014 on rows written before it: `detail` and `offers` move out of
 * `search_series.doc` into `detail_doc`, the document's other keys keep their order, and down
 * puts them back.
 */

let database: Database;
let db: Kysely<unknown>;

beforeAll(async () => {
  database = await openTestDatabase();
  db = database.db as unknown as Kysely<unknown>;
});
afterAll(async () => {
  await database?.close();
});

const OLD_DOC =
  '{"inheritHash":"h1","event":{"name":"Yoga","b":1,"a":2},"series":{"type":"SessionSeries"},' +
  '"detail":{"offers":[{"price":5}],"leader":{"name":"Ann"}},"aggregate":null,"place":{"key":"k","name":"Hall"},' +
  '"offers":[{"type":"Offer","price":5}]}';

async function insertSeries(oaId: string, doc: string) {
  await sql`insert into search_series (publisher_id, oa_id, kind, group_oa_id, identifier, attendance, activity_ids,
      activity_match_ids, activity_schemes, facility_type_ids, age_min, levels, accessibility_ids, amenities, hfs, tz,
      booking_ready, doc, updated_at)
    values (1, ${oaId}, 'SessionSeries', ${oaId}, ${oaId}, 'offline', '{}', '{}', '{}', '{}', 0, '{}', '{}', '{}', false,
      'Europe/London', false, ${doc}::json, now())`.execute(db);
}

const read = async (oaId: string) =>
  (
    await sql<{ doc: string; detail_doc: string | null }>`select doc::text as doc, detail_doc::text as detail_doc
      from search_series where oa_id = ${oaId}`.execute(db)
  ).rows[0]!;

describe('migration 2026-11-27-014 (search-only series document)', () => {
  it('moves detail and offers of existing rows to detail_doc, keeping the order of the rest, and back', async () => {
    await detailDoc.down(db);
    await insertSeries('old-1', OLD_DOC);
    await insertSeries('old-2', '{}');
    await detailDoc.up(db);
    const moved = await read('old-1');
    expect(Object.keys(JSON.parse(moved.doc) as object)).toEqual([
      'inheritHash',
      'event',
      'series',
      'aggregate',
      'place',
    ]);
    // Nested objects are copied as written (json, not jsonb: no reordering).
    expect(moved.doc).toContain('{"name":"Yoga","b":1,"a":2}');
    expect(JSON.parse(moved.detail_doc!)).toEqual({
      detail: { offers: [{ price: 5 }], leader: { name: 'Ann' } },
      offers: [{ type: 'Offer', price: 5 }],
    });
    expect(await read('old-2')).toEqual({ doc: '{}', detail_doc: '{}' });

    await detailDoc.down(db);
    const back = await sql<{ doc: string }>`select doc::text as doc from search_series where oa_id = 'old-1'`.execute(
      db,
    );
    expect(JSON.parse(back.rows[0]!.doc)).toEqual(JSON.parse(OLD_DOC));
    await detailDoc.up(db);
  });
});

describe('migrations 2026-11-27-015 and -016 (covering geo index, narrow one kept)', () => {
  it('fills open_starts_short on existing rows (at most 200 starts), in the row, and goes back down', async () => {
    await pointBack.down(db);
    await coveringGeo.down(db);
    await insertSeries('starts-3', '{}');
    await insertSeries('starts-201', '{}');
    await sql`update search_series set open_starts = array(
        select timestamptz '2026-03-01T00:00:00Z' + n * interval '1 hour' from generate_series(1, 3) n)
      where oa_id = 'starts-3'`.execute(db);
    await sql`update search_series set open_starts = array(
        select timestamptz '2026-03-01T00:00:00Z' + n * interval '1 hour' from generate_series(1, 201) n)
      where oa_id = 'starts-201'`.execute(db);
    await coveringGeo.up(db);
    await pointBack.up(db);
    const rows = await sql<{ oa_id: string; n: number | null; same: boolean | null }>`select oa_id,
        cardinality(open_starts_short) as n, open_starts_short = open_starts as same
      from search_series where oa_id in ('starts-3', 'starts-201') order by oa_id`.execute(db);
    expect(rows.rows).toEqual([
      { oa_id: 'starts-201', n: null, same: null },
      { oa_id: 'starts-3', n: 3, same: true },
    ]);
    const storage = await sql<{ attstorage: string }>`select attstorage from pg_attribute
      where attrelid = 'search_series'::regclass and attname = 'open_starts_short'`.execute(db);
    expect(storage.rows[0]!.attstorage).toBe('m');
    const indexes = await sql<{ indexname: string }>`select indexname from pg_indexes
      where tablename = 'search_series' and indexname in ('search_series_session_cover_idx', 'search_series_tz_idx',
        'search_series_session_point_idx') order by indexname`.execute(db);
    expect(indexes.rows.map((r) => r.indexname)).toEqual([
      'search_series_session_cover_idx',
      'search_series_session_point_idx',
      'search_series_tz_idx',
    ]);
    // Kept up to date as open_starts changes.
    await sql`update search_series set open_starts = open_starts[1:2] where oa_id = 'starts-201'`.execute(db);
    const after = await sql<{ n: number }>`select cardinality(open_starts_short) as n from search_series
      where oa_id = 'starts-201'`.execute(db);
    expect(after.rows[0]!.n).toBe(2);
  });
});
