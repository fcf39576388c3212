import { sql, type Insertable, type RawBuilder, type Selectable, type Updateable } from 'kysely';
import type { Executor } from '../../db/database.js';
import type { CatalogEntitiesTable, FeedStatus, FeedsTable, Mode, PublishersTable } from '../../db/schema.js';
import { repairText, truncateText } from '../../lib/untrusted-json.js';

// ---- publishers -------------------------------------------------------------------------

export function insertPublisher(db: Executor, publisher: Insertable<PublishersTable>) {
  return db.insertInto('publishers').values(publisher).returningAll().executeTakeFirstOrThrow();
}

export function updatePublisher(db: Executor, id: number, changes: Updateable<PublishersTable>) {
  return db.updateTable('publishers').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
}

export function findPublisherById(db: Executor, id: number) {
  return db.selectFrom('publishers').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findPublisherByDatasetUrl(db: Executor, url: string) {
  return db.selectFrom('publishers').selectAll().where('dataset_url', '=', url).executeTakeFirst();
}

export function listPublishers(db: Executor) {
  return db.selectFrom('publishers').selectAll().orderBy('id').execute();
}

/** Every publisher's mode (a small table: the search's map of who is bookable by which key). */
export function listPublisherModes(db: Executor) {
  return db.selectFrom('publishers').select(['id', 'mode']).execute();
}

export function deletePublisher(db: Executor, id: number) {
  return db.deleteFrom('publishers').where('id', '=', id).returning('id').executeTakeFirst();
}

// ---- feeds --------------------------------------------------------------------------------

export function insertFeed(
  db: Executor,
  feed: { publisher_id: number; url: string; kind: string; next_poll_at: Date },
) {
  return db
    .insertInto('feeds')
    .values({ ...feed, next_url: feed.url })
    .onConflict((oc) => oc.columns(['publisher_id', 'url']).doUpdateSet({ kind: feed.kind }))
    .returningAll()
    .executeTakeFirstOrThrow();
}

export function findFeedById(db: Executor, id: number) {
  return db.selectFrom('feeds').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listFeeds(db: Executor, publisherId?: number) {
  let q = db.selectFrom('feeds').selectAll().orderBy('id');
  if (publisherId !== undefined) q = q.where('publisher_id', '=', publisherId);
  return q.execute();
}

export function listDueFeedIds(db: Executor, now: Date) {
  return db.selectFrom('feeds').select('id').where('next_poll_at', '<=', now).orderBy('next_poll_at').execute();
}

export function updateFeed(db: Executor, id: number, changes: Updateable<FeedsTable>) {
  return db.updateTable('feeds').set(changes).where('id', '=', id).execute();
}

/** A fault message fit for a text column: NUL and unpaired surrogates replaced, ≤ 1,000 characters. */
const storableMessage = (message: string) => truncateText(repairText(message), 1000);

export function recordFeedFaults(db: Executor, feedId: number, faults: FaultCount[], at: Date) {
  if (faults.length === 0) return Promise.resolve();
  return db
    .insertInto('feed_faults')
    .values(
      faults.map((f) => ({
        feed_id: feedId,
        fault: f.fault,
        count: f.count,
        first_at: at,
        last_at: at,
        last_message: storableMessage(f.message),
      })),
    )
    .onConflict((oc) =>
      oc.columns(['feed_id', 'fault']).doUpdateSet((eb) => ({
        count: sql`feed_faults.count + ${eb.ref('excluded.count')}`,
        last_at: eb.ref('excluded.last_at'),
        last_message: eb.ref('excluded.last_message'),
      })),
    )
    .execute()
    .then(() => undefined);
}

export function listFeedFaults(db: Executor, feedIds: number[]) {
  if (feedIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('feed_faults')
    .selectAll()
    .where('feed_id', 'in', feedIds)
    .orderBy('feed_id')
    .orderBy('fault')
    .execute();
}

// ---- items and entities ---------------------------------------------------------------------
//
// A harvested page is written with one statement: the rows travel as one JSON document per
// table (unpacked by json_to_recordset), which costs the database far less to parse and plan
// than thousands of bind parameters, and costs one round trip instead of one per table.

/** A JSON array of ids/strings for `in (select json_array_elements_text(...))`. */
const jsonList = (values: readonly (string | number)[]) => JSON.stringify(values);

/** Stored id and `modified` of the page's items that the catalog already holds. */
export async function findItemStamps(db: Executor, feedId: number, itemIds: string[]) {
  if (itemIds.length === 0) return [];
  const { rows } = await sql<{ id: number; item_id: string; modified: string }>`
    select id, item_id, modified from catalog_items
    where feed_id = ${feedId} and item_id in (select json_array_elements_text(${jsonList(itemIds)}::json))`.execute(db);
  return rows;
}

/** One normalised entity as written: `data` is left out when it is its item's own data. */
export interface EntityRecord {
  /** The feed item the entity was extracted from. */
  item_id: string;
  oa_id: string;
  type: string;
  parent_oa_id: string | null;
  name: string | null;
  start_date: Date | null;
  end_date: Date | null;
  remaining_capacity: number | null;
  maximum_capacity: number | null;
  event_status: string | null;
  attendance_mode: string | null;
  latitude: number | null;
  longitude: number | null;
  location: Record<string, unknown> | null;
  activity_ids: string[];
  activity_match_ids: string[];
  activities: Record<string, unknown>[] | null;
  facility_type_ids: string[];
  organizer_id: string | null;
  organizer_name: string | null;
  organizer: Record<string, unknown> | null;
  offers: Record<string, unknown>[] | null;
  min_price: number | null;
  age_min: number | null;
  age_max: number | null;
  gender_restriction: string | null;
  levels: string[];
  accessibility_support: string[];
  event_schedule: Record<string, unknown>[] | null;
  data?: Record<string, unknown>;
  modified: string;
}

/**
 * A record without its null values and empty arrays, which json_to_recordset reads back as null
 * (and `writePage` turns into empty arrays): most entities fill few of the columns, and every
 * field left out is one the database need not parse.
 */
function compactRecord(record: EntityRecord): Partial<EntityRecord> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) {
    if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out;
}

/** catalog_entities columns written from an EntityRecord, with their SQL types. */
const ENTITY_COLUMNS = [
  ['oa_id', 'text'],
  ['type', 'text'],
  ['parent_oa_id', 'text'],
  ['name', 'text'],
  ['start_date', 'timestamptz'],
  ['end_date', 'timestamptz'],
  ['remaining_capacity', 'integer'],
  ['maximum_capacity', 'integer'],
  ['event_status', 'text'],
  ['attendance_mode', 'text'],
  ['latitude', 'double precision'],
  ['longitude', 'double precision'],
  ['location', 'jsonb'],
  ['activity_ids', 'text[]'],
  ['activity_match_ids', 'text[]'],
  ['activities', 'jsonb'],
  ['facility_type_ids', 'text[]'],
  ['organizer_id', 'text'],
  ['organizer_name', 'text'],
  ['organizer', 'jsonb'],
  ['offers', 'jsonb'],
  ['min_price', 'numeric'],
  ['age_min', 'integer'],
  ['age_max', 'integer'],
  ['gender_restriction', 'text'],
  ['levels', 'text[]'],
  ['accessibility_support', 'text[]'],
  ['event_schedule', 'jsonb'],
  ['modified', 'text'],
] as const;
const ENTITY_RECORD = sql.raw(
  ['item_id text', 'data jsonb', ...ENTITY_COLUMNS.map(([c, t]) => `${c} ${t}`)].join(', '),
);
const ENTITY_TARGET = sql.raw(ENTITY_COLUMNS.map(([c]) => c).join(', '));
// Arrays left out of a record (see `compactRecord`) are empty.
const ENTITY_SOURCE = sql.raw(
  ENTITY_COLUMNS.map(([c, t]) => (t === 'text[]' ? `coalesce(e.${c}, '{}')` : `e.${c}`)).join(', '),
);
const ENTITY_UPDATE = sql.raw(
  ['source_item_id', 'data', ...ENTITY_COLUMNS.map(([c]) => c)]
    .filter((c) => c !== 'oa_id')
    .map((c) => `${c} = excluded.${c}`)
    .join(', '),
);

/** How a page moves its feed on: the counters, the cursor and the feed's state after it. */
export interface FeedAdvance {
  nextUrl: string;
  updated: number;
  deleted: number;
  newestModified: string | null;
  status: FeedStatus;
  nextPollAt: Date;
  caughtUp: boolean;
}

/** A fault kind seen `count` times, with a message naming (some of) the items. */
export interface FaultCount {
  fault: string;
  message: string;
  count: number;
}

export interface PageWrite {
  feedId: number;
  publisherId: number;
  at: Date;
  /** Items to insert or replace (all newer than what is stored). */
  items: { item_id: string; kind: string; modified: string; data: Record<string, unknown> }[];
  /** Every entity of `items`, one per `oa_id`. */
  entities: EntityRecord[];
  /** Stored ids of the replaced items: their entities that `entities` no longer hold are deleted. */
  replacedItemIds: number[];
  /** Stored ids of items removed by tombstones: they and their entities are deleted. */
  deletedItemIds: number[];
  /** With it, the feed's cursor and counters move in the same statement. */
  advance?: FeedAdvance;
  /** Faults to count against the feed in the same statement. */
  faults?: FaultCount[];
}

/**
 * Applies one page in one statement (hence one transaction): items upserted, their entities
 * upserted and the ones they no longer hold deleted, tombstoned items deleted with their
 * entities, a `catalog_changes` row for every entity written or deleted, and (with `advance`)
 * the feed's faults, counters and cursor. The sub-statements touch disjoint rows: an entity
 * the page writes is never also deleted by it (a tombstone's entity that another item of the
 * page still holds is taken over by that item rather than deleted and re-created).
 * Returns the feed row after the page (`undefined` if the feed has been removed meanwhile; then
 * nothing is written).
 */
export async function writePage(db: Executor, w: PageWrite): Promise<Selectable<FeedsTable> | undefined> {
  const at = sql`${w.at}::timestamptz`;
  const feedId = sql`${w.feedId}::integer`;
  const publisherId = sql`${w.publisherId}::integer`;
  const ctes: RawBuilder<unknown>[] = [sql`feed as (select id from feeds where id = ${feedId})`];
  const changes: RawBuilder<unknown>[] = [];
  const keptOaIds =
    w.entities.length > 0
      ? sql`and oa_id not in (select json_array_elements_text(${jsonList(w.entities.map((e) => e.oa_id))}::json))`
      : sql``;

  if (w.deletedItemIds.length > 0) {
    const ids = sql`(select json_array_elements_text(${jsonList(w.deletedItemIds)}::json)::bigint)`;
    ctes.push(
      sql`tomb_entities as (
        delete from catalog_entities where source_item_id in ${ids} ${keptOaIds} returning oa_id, type)`,
      sql`tomb_items as (delete from catalog_items where id in ${ids})`,
    );
    changes.push(sql`select oa_id, type, 'delete' as op from tomb_entities`);
  }
  if (w.items.length > 0) {
    ctes.push(
      sql`items as (
        insert into catalog_items (feed_id, publisher_id, item_id, kind, modified, data, harvested_at)
        select ${feedId}, ${publisherId}, i.item_id, i.kind, i.modified, i.data, ${at}
        from json_to_recordset(${JSON.stringify(w.items)}::json) as i(item_id text, kind text, modified text, data jsonb)
        where exists (select 1 from feed)
        on conflict (feed_id, item_id) do update set
          kind = excluded.kind, modified = excluded.modified, data = excluded.data, harvested_at = excluded.harvested_at
        returning id, item_id, data)`,
      sql`ents as (
        insert into catalog_entities (source_item_id, publisher_id, data, ${ENTITY_TARGET})
        select i.id, ${publisherId}, coalesce(e.data, i.data), ${ENTITY_SOURCE}
        from json_to_recordset(${JSON.stringify(w.entities.map(compactRecord))}::json) as e(${ENTITY_RECORD})
        join items i on i.item_id = e.item_id
        on conflict (publisher_id, oa_id) do update set ${ENTITY_UPDATE}
        returning oa_id, type)`,
    );
    changes.push(sql`select oa_id, type, 'upsert' as op from ents`);
  }
  if (w.replacedItemIds.length > 0) {
    ctes.push(
      sql`gone as (
        delete from catalog_entities
        where source_item_id in (select json_array_elements_text(${jsonList(w.replacedItemIds)}::json)::bigint)
          ${keptOaIds}
        returning oa_id, type)`,
    );
    changes.push(sql`select oa_id, type, 'delete' as op from gone`);
  }
  if (changes.length > 0) {
    ctes.push(
      sql`changes as (
        insert into catalog_changes (publisher_id, oa_id, type, op, at)
        select ${publisherId}, c.oa_id, c.type, c.op, ${at} from (${sql.join(changes, sql` union all `)}) c)`,
    );
  }

  const a = w.advance;
  if (w.faults && w.faults.length > 0) {
    const faults = w.faults.map((f) => ({ fault: f.fault, count: f.count, message: storableMessage(f.message) }));
    ctes.push(
      sql`faults as (
        insert into feed_faults (feed_id, fault, count, first_at, last_at, last_message)
        select feed.id, f.fault, f.count, ${at}, ${at}, f.message
        from feed, json_to_recordset(${JSON.stringify(faults)}::json) as f(fault text, count bigint, message text)
        on conflict (feed_id, fault) do update set
          count = feed_faults.count + excluded.count, last_at = excluded.last_at, last_message = excluded.last_message)`,
    );
  }
  const main = a
    ? sql`update feeds set
        next_url = ${a.nextUrl},
        pages = pages + 1,
        items_updated = items_updated + ${a.updated}::bigint,
        items_deleted = items_deleted + ${a.deleted}::bigint,
        last_page_at = ${at},
        status = ${a.status},
        next_poll_at = ${a.nextPollAt}::timestamptz,
        consecutive_failures = 0
        ${a.caughtUp ? sql`, caught_up_at = ${at}` : sql``}
        ${a.newestModified !== null ? sql`, newest_modified = ${a.newestModified}, newest_modified_seen_at = ${at}` : sql``}
      where id = ${feedId}
      returning *`
    : sql`select * from feeds where id = ${feedId}`;
  const { rows } = await sql<Selectable<FeedsTable>>`with ${sql.join(ctes)} ${main}`.execute(db);
  return rows[0];
}

export function insertChanges(
  db: Executor,
  rows: { publisher_id: number; oa_id: string; type: string; op: 'upsert' | 'delete'; at: Date }[],
) {
  if (rows.length === 0) return Promise.resolve();
  return db
    .insertInto('catalog_changes')
    .values(rows)
    .execute()
    .then(() => undefined);
}

export function countEntitiesByType(db: Executor, publisherId: number) {
  return db
    .selectFrom('catalog_entities')
    .select(['type', (eb) => eb.fn.countAll<number>().as('count')])
    .where('publisher_id', '=', publisherId)
    .groupBy('type')
    .execute();
}

export function findEntity(db: Executor, publisherId: number, oaId: string) {
  return db
    .selectFrom('catalog_entities')
    .selectAll()
    .where('publisher_id', '=', publisherId)
    .where('oa_id', '=', oaId)
    .executeTakeFirst();
}

export function listChangesAfter(db: Executor, afterSeq: number, limit: number) {
  return db.selectFrom('catalog_changes').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}

// ---- reads for the read models (search, firehose) -------------------------------------------

export function findEntitiesByOaIds(db: Executor, publisherId: number, oaIds: string[]) {
  if (oaIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('catalog_entities')
    .selectAll()
    .where('publisher_id', '=', publisherId)
    .where('oa_id', 'in', oaIds)
    .execute();
}

/** Children of the given parents; occurrences that started before `startsFrom` are left out. */
export function listChildEntities(db: Executor, publisherId: number, parentOaIds: string[], startsFrom?: Date) {
  if (parentOaIds.length === 0) return Promise.resolve([]);
  let q = db
    .selectFrom('catalog_entities')
    .selectAll()
    .where('publisher_id', '=', publisherId)
    .where('parent_oa_id', 'in', parentOaIds);
  if (startsFrom) q = q.where((eb) => eb.or([eb('start_date', 'is', null), eb('start_date', '>=', startsFrom)]));
  return q.execute();
}

/**
 * Entities of the given types with ids in `(afterId, upToId]`, in id order: a read model's
 * initial load pages through the catalog by id range, so each page costs the same whatever the
 * catalog's size (with a LIMIT instead, the planner may intersect the type index with every id
 * above `afterId` for each page).
 */
export function listEntitiesInIdRange(db: Executor, types: string[], afterId: number, upToId: number) {
  return db
    .selectFrom('catalog_entities')
    .selectAll()
    .where('id', '>', afterId)
    .where('id', '<=', upToId)
    .where('type', 'in', types)
    .orderBy('id')
    .execute();
}

/** The highest value of an ever-growing key so far (0 when the table is empty). */
async function highest(db: Executor, table: 'catalog_entities' | 'catalog_changes', column: 'id' | 'seq') {
  const { rows } = await sql<{ top: string | number | null }>`select max(${sql.ref(column)}) as top
    from ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.top ?? 0);
}

/** The highest entity id so far (0 when there is none). */
export const findLatestEntityId = (db: Executor): Promise<number> => highest(db, 'catalog_entities', 'id');

/**
 * Which of the given entities have a change in `(afterSeq, upToSeq]`: a read model catching up
 * leaves them to be projected with that change rather than twice.
 */
export async function findChangedBetween(
  db: Executor,
  publisherId: number,
  oaIds: string[],
  afterSeq: number,
  upToSeq: number,
): Promise<Set<string>> {
  if (oaIds.length === 0 || upToSeq <= afterSeq) return new Set();
  const { rows } = await sql<{ oa_id: string }>`select distinct oa_id from catalog_changes
    where seq > ${afterSeq} and seq <= ${upToSeq} and publisher_id = ${publisherId}
      and oa_id = any(${oaIds}::text[])`.execute(db);
  return new Set(rows.map((r) => r.oa_id));
}

/**
 * The changes up to `upTo`, and how many sequence numbers below it have none (their transaction
 * rolled back, or has not committed yet).
 */
export async function countChangesUpTo(db: Executor, upTo: number): Promise<{ changes: number; gaps: number }> {
  const row = await db
    .selectFrom('catalog_changes')
    .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('seq').as('first')])
    .where('seq', '<=', upTo)
    .executeTakeFirst();
  if (!row || row.first === null) return { changes: 0, gaps: 0 };
  const changes = Number(row.n);
  return { changes, gaps: upTo - Number(row.first) + 1 - changes };
}

/** The sequence number of the latest change so far (0 when there is none). */
export const findLatestChangeSeq = (db: Executor): Promise<number> => highest(db, 'catalog_changes', 'seq');

// ---- checkout lookups -------------------------------------------------------------------------

/**
 * A bookable occurrence (ScheduledSession or Slot with a start) by its OpenActive `@id`, with its
 * publisher's booking endpoint and mode, followed by its ancestors nearest first (at most
 * `maxAncestors`, none twice): one statement. If several publishers publish the id, the first of
 * the mode asked for wins (a test checkout resolves within the test world first), else the first.
 */
/** The publishers (and their modes) holding a bookable occurrence with this `@id`. */
export async function findOccurrenceHolders(db: Executor, oaId: string) {
  const r = await sql<{ publisher_id: number; mode: Mode }>`
    select e.publisher_id, p.mode from catalog_entities e join publishers p on p.id = e.publisher_id
    where e.oa_id = ${oaId} and e.type in ('ScheduledSession', 'Slot') and e.start_date is not null
    order by e.publisher_id limit 20`.execute(db);
  return r.rows;
}

/** One publisher's occurrence by its `@id`, with its parents (its own publisher's only). */
export async function findOccurrenceWithAncestors(
  db: Executor,
  publisherId: number,
  oaId: string,
  maxAncestors: number,
) {
  const r = await sql<
    Selectable<CatalogEntitiesTable> & {
      booking_endpoint_url: string | null;
      publisher_mode: Mode;
      depth: number;
      seen: string[];
    }
  >`
    with recursive chain as (
      (select e.*, p.booking_endpoint_url, p.mode as publisher_mode, 0 as depth, array[]::text[] as seen
        from catalog_entities e join publishers p on p.id = e.publisher_id
        where e.publisher_id = ${publisherId} and e.oa_id = ${oaId}
          and e.type in ('ScheduledSession', 'Slot') and e.start_date is not null)
      union all
      select c.*, null::text, null::text, chain.depth + 1, chain.seen || c.oa_id
        from chain join catalog_entities c on c.publisher_id = chain.publisher_id and c.oa_id = chain.parent_oa_id
        where chain.depth < ${maxAncestors}::int and not (c.oa_id = any(chain.seen))
    )
    select * from chain order by depth`.execute(db);
  if (r.rows.length === 0) return undefined;
  const [row, ...ancestors] = r.rows.map(({ seen: _seen, depth: _depth, ...entity }) => entity);
  return {
    row: row!,
    ancestors: ancestors.map(({ booking_endpoint_url: _url, publisher_mode: _mode, ...entity }) => entity),
  };
}
