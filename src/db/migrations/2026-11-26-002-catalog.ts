import { sql, type Kysely } from 'kysely';

/**
 * Catalog: publishers, their feeds (one resumable cursor each), faults seen per feed, the raw
 * items as received, and the normalised entities extracted from them (one raw item can hold
 * several OpenActive objects: a FacilityUse with embedded IndividualFacilityUses, a
 * SessionSeries with an embedded EventSeries or subEvents). `catalog_changes` is the outbox the
 * read models (search, firehose) follow.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('publishers')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('dataset_url', 'text', (c) => c.unique())
    .addColumn('publisher_name', 'text')
    .addColumn('publisher_url', 'text')
    .addColumn('license', 'text')
    .addColumn('url', 'text')
    .addColumn('description', 'text')
    .addColumn('logo_url', 'text')
    .addColumn('booking_endpoint_url', 'text')
    .addColumn('dataset', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('feeds')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('publisher_id', 'integer', (c) => c.notNull().references('publishers.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('next_url', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('harvesting')
        .check(sql`status in ('harvesting', 'caught_up', 'failing')`),
    )
    .addColumn('pages', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('items_updated', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('items_deleted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('last_page_at', 'timestamptz')
    .addColumn('caught_up_at', 'timestamptz')
    .addColumn('newest_modified', 'text')
    .addColumn('newest_modified_seen_at', 'timestamptz')
    .addColumn('consecutive_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('last_error_at', 'timestamptz')
    .addColumn('next_poll_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('feeds_publisher_url_key', ['publisher_id', 'url'])
    .execute();
  await db.schema.createIndex('feeds_next_poll_idx').on('feeds').column('next_poll_at').execute();

  await db.schema
    .createTable('feed_faults')
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id').onDelete('cascade'))
    .addColumn('fault', 'text', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull().defaultTo(1))
    .addColumn('first_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_at', 'timestamptz', (c) => c.notNull())
    .addColumn('last_message', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('feed_faults_pk', ['feed_id', 'fault'])
    .execute();

  await db.schema
    .createTable('catalog_items')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('feed_id', 'integer', (c) => c.notNull().references('feeds.id').onDelete('cascade'))
    .addColumn('publisher_id', 'integer', (c) => c.notNull())
    .addColumn('item_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('harvested_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('catalog_items_feed_item_key', ['feed_id', 'item_id'])
    .execute();

  await db.schema
    .createTable('catalog_entities')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('source_item_id', 'bigint', (c) => c.notNull().references('catalog_items.id').onDelete('cascade'))
    .addColumn('publisher_id', 'integer', (c) => c.notNull())
    .addColumn('oa_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('parent_oa_id', 'text')
    .addColumn('name', 'text')
    .addColumn('start_date', 'timestamptz')
    .addColumn('end_date', 'timestamptz')
    .addColumn('remaining_capacity', 'integer')
    .addColumn('maximum_capacity', 'integer')
    .addColumn('event_status', 'text')
    .addColumn('attendance_mode', 'text')
    .addColumn('latitude', 'double precision')
    .addColumn('longitude', 'double precision')
    .addColumn('location', 'jsonb')
    .addColumn('activity_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('activity_match_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('activities', 'jsonb')
    .addColumn('facility_type_ids', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('organizer_id', 'text')
    .addColumn('organizer_name', 'text')
    .addColumn('organizer', 'jsonb')
    .addColumn('offers', 'jsonb')
    .addColumn('min_price', 'numeric')
    .addColumn('age_min', 'integer')
    .addColumn('age_max', 'integer')
    .addColumn('gender_restriction', 'text')
    .addColumn('levels', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('accessibility_support', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn('event_schedule', 'jsonb')
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('modified', 'text', (c) => c.notNull())
    .addUniqueConstraint('catalog_entities_publisher_oa_key', ['publisher_id', 'oa_id'])
    .execute();
  await db.schema.createIndex('catalog_entities_source_idx').on('catalog_entities').column('source_item_id').execute();
  await db.schema
    .createIndex('catalog_entities_parent_idx')
    .on('catalog_entities')
    .columns(['publisher_id', 'parent_oa_id'])
    .execute();
  await db.schema
    .createIndex('catalog_entities_type_start_idx')
    .on('catalog_entities')
    .columns(['type', 'start_date'])
    .execute();

  await db.schema
    .createTable('catalog_changes')
    .addColumn('seq', 'bigserial', (c) => c.primaryKey())
    .addColumn('publisher_id', 'integer', (c) => c.notNull())
    .addColumn('oa_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('op', 'text', (c) => c.notNull().check(sql`op in ('upsert', 'delete')`))
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['catalog_changes', 'catalog_entities', 'catalog_items', 'feed_faults', 'feeds', 'publishers']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
