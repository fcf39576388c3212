import { sql, type Kysely } from 'kysely';

/**
 * Search read model (src/modules/search): one row per bookable-opportunity parent
 * (SessionSeries, FacilityUse, IndividualFacilityUse) with inheritance resolved and every
 * filter pre-computed, one row per occurrence (ScheduledSession, Slot) with its start in UTC
 * and in local time, and the projector's cursor over `catalog_changes`. Geo search is a
 * latitude/longitude box on a plain btree plus haversine in SQL, so it runs on PGlite and
 * Postgres alike (no PostGIS).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('search_series')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('publisher_id', 'integer', (c) => c.notNull())
    .addColumn('oa_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('group_oa_id', 'text', (c) => c.notNull())
    .addColumn('identifier', 'text', (c) => c.notNull())
    .addColumn('place_key', 'text')
    .addColumn('latitude', 'double precision')
    .addColumn('longitude', 'double precision')
    .addColumn('attendance', 'text', (c) => c.notNull())
    .addColumn('activity_ids', sql`text[]`, (c) => c.notNull())
    .addColumn('activity_match_ids', sql`text[]`, (c) => c.notNull())
    .addColumn('activity_schemes', sql`text[]`, (c) => c.notNull())
    .addColumn('facility_type_ids', sql`text[]`, (c) => c.notNull())
    .addColumn('organizer_id', 'text')
    .addColumn('organizer_name', 'text')
    .addColumn('age_min', 'integer', (c) => c.notNull())
    .addColumn('age_max', 'integer')
    .addColumn('gender', 'text')
    .addColumn('levels', sql`text[]`, (c) => c.notNull())
    .addColumn('accessibility_ids', sql`text[]`, (c) => c.notNull())
    .addColumn('amenities', sql`text[]`, (c) => c.notNull())
    .addColumn('wheelchair', 'boolean')
    .addColumn('adult_price', 'double precision')
    .addColumn('adult_member', 'boolean')
    .addColumn('junior_price', 'double precision')
    .addColumn('junior_member', 'boolean')
    .addColumn('hfs', 'boolean', (c) => c.notNull())
    .addColumn('place_class', 'text')
    .addColumn('tz', 'text', (c) => c.notNull())
    .addColumn('booking_ready', 'boolean', (c) => c.notNull())
    .addColumn('doc', 'json', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('search_series_publisher_oa_key', ['publisher_id', 'oa_id'])
    .execute();
  await db.schema.createIndex('search_series_identifier_idx').on('search_series').column('identifier').execute();
  await db.schema
    .createIndex('search_series_geo_idx')
    .on('search_series')
    .columns(['kind', 'latitude', 'longitude'])
    .execute();
  await db.schema
    .createIndex('search_series_activity_idx')
    .on('search_series')
    .using('gin')
    .column('activity_match_ids')
    .execute();

  await db.schema
    .createTable('search_occurrences')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('publisher_id', 'integer', (c) => c.notNull())
    .addColumn('oa_id', 'text', (c) => c.notNull())
    .addColumn('series_id', 'bigint', (c) => c.notNull().references('search_series.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('start_at', 'timestamptz', (c) => c.notNull())
    .addColumn('end_at', 'timestamptz')
    .addColumn('local_date', 'date', (c) => c.notNull())
    .addColumn('local_minute', 'smallint', (c) => c.notNull())
    .addColumn('iso_dow', 'smallint', (c) => c.notNull())
    .addColumn('remaining', 'integer')
    .addColumn('maximum', 'integer')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('bookable', 'boolean', (c) => c.notNull())
    .addColumn('book_from_s', 'integer')
    .addColumn('book_until_s', 'integer')
    .addColumn('doc', 'json', (c) => c.notNull())
    .addUniqueConstraint('search_occurrences_publisher_oa_key', ['publisher_id', 'oa_id'])
    .execute();
  await db.schema
    .createIndex('search_occurrences_series_start_idx')
    .on('search_occurrences')
    .columns(['series_id', 'start_at'])
    .execute();
  await db.schema.createIndex('search_occurrences_start_idx').on('search_occurrences').column('start_at').execute();
  await db.schema.createIndex('search_occurrences_oa_idx').on('search_occurrences').column('oa_id').execute();

  await db.schema
    .createTable('search_projector_state')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('last_seq', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['search_projector_state', 'search_occurrences', 'search_series']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
