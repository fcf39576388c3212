import { sql, type Kysely } from 'kysely';

/**
 * Booking (src/modules/booking): the booking-partner credentials activehub sends to a seller's
 * Open Booking API, per publisher and optionally per seller (`seller_id` null = every seller of
 * that publisher). `headers` are the HTTP headers to send (e.g. `Authorization`,
 * `X-OpenActive-Test-Client-Id`). One row per publisher+seller; a second, partial unique index
 * makes the publisher-wide row unique too (NULLs are distinct in a plain unique constraint).
 *
 * Also an index on `catalog_entities(oa_id)`: checkout looks opportunities up by their
 * OpenActive `@id` alone (catalog `findOpportunity`), which the (publisher_id, oa_id) key cannot
 * serve.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('booking_credentials')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('publisher_id', 'integer', (c) => c.notNull().references('publishers.id').onDelete('cascade'))
    .addColumn('seller_id', 'text')
    .addColumn('headers', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('booking_credentials_publisher_seller_key', ['publisher_id', 'seller_id'])
    .execute();
  await sql`create unique index booking_credentials_publisher_any_seller_key
    on booking_credentials (publisher_id) where seller_id is null`.execute(db);

  await db.schema.createIndex('catalog_entities_oa_id_idx').on('catalog_entities').column('oa_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('catalog_entities_oa_id_idx').ifExists().execute();
  await db.schema.dropTable('booking_credentials').ifExists().execute();
}
