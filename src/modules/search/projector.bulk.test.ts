import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { startTestSandbox, type TestSandbox } from '../../../test/sandbox-fixture.js';
import { createVocabularies } from '../../lib/vocabularies.js';
import { createProjector } from './projector.js';

/*
 * The projector's two ways of filling the read model — an initial load of an empty read model
 * from the catalog's entities, and replaying the changes batch by batch (with the look-ahead
 * that leaves a series' sessions to their own later changes) — give the same rows, on the
 * sandbox's generated data harvested over HTTP.
 */

let t: TestContext;
let sandbox: TestSandbox;

beforeAll(async () => {
  sandbox = await startTestSandbox({ seed: 11, sessions: 300 });
  t = await createTestContext();
  await t.services.catalog.addPublisher({ datasetUrl: sandbox.datasetUrl });
  const harvested = await t.services.harvester.runOnce();
  expect(harvested.every((r) => r.caughtUp && !r.failed)).toBe(true);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
});

const projectorWith = (options: { bulkLoad: boolean; batchSize?: number }) =>
  createProjector({
    database: t.deps.database,
    catalog: t.services.catalog,
    vocab: createVocabularies(),
    clock: t.deps.clock,
    log: t.deps.log,
    ...options,
  });

async function reset(options: { keepRows?: boolean } = {}) {
  const db = t.deps.database.db;
  if (!options.keepRows) await sql`truncate search_occurrences, search_series restart identity`.execute(db);
  await sql`delete from search_projector_state`.execute(db);
}

/** The read model's rows, without ids and times of writing (occurrences name their series). */
async function readModel() {
  const db = t.deps.database.db;
  const series = await sql<{ row: string }>`select (to_jsonb(s) - 'id' - 'updated_at' - 'doc')::text
      || s.doc::text as row from search_series s order by s.publisher_id, s.oa_id`.execute(db);
  const occurrences = await sql<{ row: string }>`select (to_jsonb(o) - 'id' - 'series_id' - 'doc')::text
      || s.oa_id || o.doc::text as row
    from search_occurrences o join search_series s on s.id = o.series_id order by o.publisher_id, o.oa_id`.execute(db);
  return { series: series.rows.map((r) => r.row), occurrences: occurrences.rows.map((r) => r.row) };
}

const cursor = async () =>
  Number(
    (await sql<{ seq: string }>`select last_seq as seq from search_projector_state`.execute(t.deps.database.db)).rows[0]
      ?.seq ?? 0,
  );

describe('search projector: initial load and replayed changes', () => {
  it('gives the same rows loading an empty read model in bulk as replaying the changes in small batches', async () => {
    const latest = await t.services.catalog.latestChangeSeq();

    await reset();
    const bulk = await projectorWith({ bulkLoad: true }).runOnce();
    const loaded = await readModel();
    expect(loaded.series.length).toBeGreaterThan(10);
    expect(loaded.occurrences.length).toBeGreaterThan(200);
    expect(bulk.lastSeq).toBe(latest);
    expect(await cursor()).toBe(latest);
    // Pages of entities, not batches of changes.
    expect(bulk.batches).toBeLessThan(5);

    // Small batches put a series' sessions in later batches than the series: the look-ahead
    // leaves them to their own changes.
    await reset();
    const replayed = await projectorWith({ bulkLoad: false, batchSize: 40 }).runOnce();
    expect(replayed.batches).toBeGreaterThan(5);
    expect(await cursor()).toBe(latest);
    expect(await readModel()).toEqual(loaded);

    // Replaying over a full read model changes nothing either; the bulk path is only for an
    // empty one.
    await reset({ keepRows: true });
    const again = await projectorWith({ bulkLoad: true, batchSize: 1000 }).runOnce();
    expect(again.batches).toBe(Math.ceil(again.changes / 1000));
    expect(await readModel()).toEqual(loaded);
  }, 120_000);

  it('applies changes made after an initial load incrementally', async () => {
    await reset();
    const projector = projectorWith({ bulkLoad: true });
    await projector.runOnce();
    const before = await readModel();
    const { rows } = await sql<{ publisher_id: number; oa_id: string }>`select publisher_id, oa_id
      from search_occurrences order by id limit 1`.execute(t.deps.database.db);
    const { publisher_id: publisherId, oa_id: oaId } = rows[0]!;
    // A session deleted from the catalog after the load, as the harvester records it.
    await sql`delete from catalog_entities where publisher_id = ${publisherId} and oa_id = ${oaId}`.execute(
      t.deps.database.db,
    );
    await sql`insert into catalog_changes (publisher_id, oa_id, type, op) values
      (${publisherId}, ${oaId}, 'ScheduledSession', 'delete')`.execute(t.deps.database.db);
    const run = await projector.runOnce();
    expect(run).toMatchObject({ changes: 1, batches: 1 });
    const after = await readModel();
    expect(after.occurrences).toHaveLength(before.occurrences.length - 1);
    expect(after.occurrences.some((r) => r.includes(JSON.stringify(oaId)))).toBe(false);
  }, 60_000);
});
