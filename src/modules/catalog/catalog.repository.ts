import { sql, type Insertable, type Updateable } from 'kysely';
import type { Executor } from '../../db/database.js';
import type { CatalogEntitiesTable, FeedStatus, FeedsTable, PublishersTable } from '../../db/schema.js';

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

/** Adds a page's counters to the feed and moves its cursor, in the page's transaction. */
export function advanceFeed(
  db: Executor,
  id: number,
  page: {
    nextUrl: string;
    updated: number;
    deleted: number;
    at: Date;
    newestModified: string | null;
    status: FeedStatus;
    nextPollAt: Date;
    caughtUp: boolean;
  },
) {
  return db
    .updateTable('feeds')
    .set((eb) => ({
      next_url: page.nextUrl,
      pages: eb('pages', '+', 1),
      items_updated: eb('items_updated', '+', page.updated),
      items_deleted: eb('items_deleted', '+', page.deleted),
      last_page_at: page.at,
      status: page.status,
      next_poll_at: page.nextPollAt,
      consecutive_failures: 0,
      ...(page.caughtUp ? { caught_up_at: page.at } : {}),
      ...(page.newestModified !== null
        ? { newest_modified: page.newestModified, newest_modified_seen_at: page.at }
        : {}),
    }))
    .where('id', '=', id)
    .execute();
}

export function recordFeedFaults(
  db: Executor,
  feedId: number,
  faults: { fault: string; message: string; count: number }[],
  at: Date,
) {
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
        last_message: f.message.slice(0, 1000),
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

export function findItemStamps(db: Executor, feedId: number, itemIds: string[]) {
  if (itemIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('catalog_items')
    .select(['id', 'item_id', 'modified'])
    .where('feed_id', '=', feedId)
    .where('item_id', 'in', itemIds)
    .execute();
}

export function upsertItems(
  db: Executor,
  rows: {
    feed_id: number;
    publisher_id: number;
    item_id: string;
    kind: string;
    modified: string;
    data: string;
    harvested_at: Date;
  }[],
) {
  if (rows.length === 0) return Promise.resolve([]);
  return db
    .insertInto('catalog_items')
    .values(rows)
    .onConflict((oc) =>
      oc.columns(['feed_id', 'item_id']).doUpdateSet((eb) => ({
        kind: eb.ref('excluded.kind'),
        modified: eb.ref('excluded.modified'),
        data: eb.ref('excluded.data'),
        harvested_at: eb.ref('excluded.harvested_at'),
      })),
    )
    .returning(['id', 'item_id'])
    .execute();
}

export function deleteEntitiesOfItems(db: Executor, sourceItemIds: number[]) {
  if (sourceItemIds.length === 0) return Promise.resolve([]);
  return db
    .deleteFrom('catalog_entities')
    .where('source_item_id', 'in', sourceItemIds)
    .returning(['oa_id', 'type'])
    .execute();
}

export function deleteItems(db: Executor, ids: number[]) {
  if (ids.length === 0) return Promise.resolve();
  return db
    .deleteFrom('catalog_items')
    .where('id', 'in', ids)
    .execute()
    .then(() => undefined);
}

const ENTITY_CHUNK = 1000;

export async function upsertEntities(db: Executor, rows: Insertable<CatalogEntitiesTable>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ENTITY_CHUNK) {
    await db
      .insertInto('catalog_entities')
      .values(rows.slice(i, i + ENTITY_CHUNK))
      // The same object can be embedded in several items (one EventSeries in many
      // SessionSeries): the latest copy wins.
      .onConflict((oc) =>
        oc.columns(['publisher_id', 'oa_id']).doUpdateSet((eb) => {
          const cols = [
            'source_item_id',
            'type',
            'parent_oa_id',
            'name',
            'start_date',
            'end_date',
            'remaining_capacity',
            'maximum_capacity',
            'event_status',
            'attendance_mode',
            'latitude',
            'longitude',
            'location',
            'activity_ids',
            'activity_match_ids',
            'activities',
            'facility_type_ids',
            'organizer_id',
            'organizer_name',
            'organizer',
            'offers',
            'min_price',
            'age_min',
            'age_max',
            'gender_restriction',
            'levels',
            'accessibility_support',
            'event_schedule',
            'data',
            'modified',
          ] as const;
          return Object.fromEntries(cols.map((c) => [c, eb.ref(`excluded.${c}`)]));
        }),
      )
      .execute();
  }
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

export async function findLatestChangeSeq(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('catalog_changes')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .executeTakeFirst();
  return row?.seq === null || row?.seq === undefined ? 0 : Number(row.seq);
}

// ---- checkout lookups -------------------------------------------------------------------------

/** The entities with this OpenActive `@id`, with their publisher's booking endpoint (any publisher). */
export function findEntitiesByOaIdAnyPublisher(db: Executor, oaId: string) {
  return db
    .selectFrom('catalog_entities as e')
    .innerJoin('publishers as p', 'p.id', 'e.publisher_id')
    .selectAll('e')
    .select('p.booking_endpoint_url')
    .where('e.oa_id', '=', oaId)
    .orderBy('e.publisher_id')
    .execute();
}
