import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../../test/helpers.js';
import type { Database } from '../../db/database.js';
import * as detailDoc from '../../db/migrations/2026-11-27-014-search-detail-doc.js';

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
