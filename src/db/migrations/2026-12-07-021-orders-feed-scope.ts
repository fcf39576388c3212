import { sql, type Kysely } from 'kysely';

/*
 * A seller's Orders feed speaks only for its own publisher (issue 14, point 2). A feed row is now
 * one per publisher and (endpoint, credentials): two publishers that happen to share a booking
 * endpoint and credentials each read it for their own orders, and an item naming an order of
 * another publisher is a recorded fault, never an action. Faults are counted per feed and kind,
 * as the harvester counts catalog feed faults.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table seller_order_feeds drop constraint seller_order_feeds_feed_key_key`.execute(db);
  await sql`alter table seller_order_feeds add constraint seller_order_feeds_publisher_feed_key unique (publisher_id, feed_key)`.execute(
    db,
  );
  await sql`
    create table seller_order_feed_faults (
      feed_id integer not null references seller_order_feeds(id) on delete cascade,
      fault text not null,
      count bigint not null default 0,
      last_item_id text,
      last_message text,
      last_at timestamptz not null,
      primary key (feed_id, fault)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table seller_order_feed_faults`.execute(db);
  await sql`alter table seller_order_feeds drop constraint seller_order_feeds_publisher_feed_key`.execute(db);
  await sql`alter table seller_order_feeds add constraint seller_order_feeds_feed_key_key unique (feed_key)`.execute(
    db,
  );
}
