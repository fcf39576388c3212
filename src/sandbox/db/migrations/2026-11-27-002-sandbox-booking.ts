import { sql, type Kysely } from 'kysely';

/**
 * The Open Booking API side of the sandbox: booking partners (credentials), orders and their
 * items, leases, and the Orders feed's change sequence. Types in src/sandbox/booking/booking.tables.ts.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table booking_partners (
      id text primary key check (id ~ '^[A-Za-z0-9._-]{1,100}$'),
      name text not null,
      secret_hash text unique,
      created_at timestamptz not null default now()
    )`.execute(db);
  // The two partners the test suite acts as (openactive.md §6.2) and activehub itself.
  await sql`
    insert into booking_partners (id, name) values
      ('booking-partner-1', 'Test booking partner 1'),
      ('booking-partner-2', 'Test booking partner 2'),
      ('activehub', 'activehub')`.execute(db);

  // Change numbers for the Orders feed (RPDE "incrementing unique change number" ordering).
  // Writers take the sandbox feed-write advisory lock before nextval, so numbers commit in order.
  await sql`create sequence orders_feed_seq`.execute(db);

  await sql`
    create table orders (
      partner_id text not null references booking_partners(id),
      uuid uuid not null,
      seller_id integer not null references sellers(id),
      state text not null check (state in ('confirmed', 'deleted')),
      broker_role text not null,
      tax_calculation_excluded boolean not null,
      price_currency text not null,
      request_hash text not null,
      response jsonb not null,
      feed_modified bigint unique,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null,
      primary key (partner_id, uuid)
    )`.execute(db);
  await sql`create index orders_feed_idx on orders (partner_id, feed_modified) where feed_modified is not null`.execute(
    db,
  );

  await sql`
    create table order_items (
      id serial primary key,
      partner_id text not null,
      order_uuid uuid not null,
      position integer not null,
      opportunity_type text not null check (opportunity_type in ('ScheduledSession', 'Slot')),
      opportunity_id integer not null,
      opportunity_url text not null,
      offer_id integer not null,
      start_date timestamptz not null,
      status text not null,
      payable_minor integer not null check (payable_minor >= 0),
      tax_minor integer not null check (tax_minor >= 0),
      accepted_offer jsonb not null,
      ordered_item jsonb not null,
      cancellation_message text,
      customer_notice text,
      updated_at timestamptz not null,
      foreign key (partner_id, order_uuid) references orders (partner_id, uuid)
    )`.execute(db);
  await sql`create index order_items_order_idx on order_items (partner_id, order_uuid)`.execute(db);
  await sql`create index order_items_opportunity_idx on order_items (opportunity_type, opportunity_id)`.execute(db);

  await sql`
    create table leases (
      id serial primary key,
      partner_id text not null references booking_partners(id),
      order_uuid uuid not null,
      opportunity_type text not null check (opportunity_type in ('ScheduledSession', 'Slot')),
      opportunity_id integer not null,
      places integer not null check (places > 0),
      expires_at timestamptz not null,
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index leases_order_idx on leases (partner_id, order_uuid)`.execute(db);
  await sql`create index leases_opportunity_idx on leases (opportunity_type, opportunity_id)`.execute(db);
  await sql`create index leases_expiry_idx on leases (expires_at)`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('The sandbox database is disposable: delete it and regenerate instead of migrating down.');
}
