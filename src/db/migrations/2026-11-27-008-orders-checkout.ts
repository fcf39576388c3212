import { sql, type Kysely } from 'kysely';

/*
 * Orders (the record of a booking made through activehub; issue 7 exposes them) and checkout
 * sessions (issue 6). An order's id is the OpenActive Order UUID, minted and written before B is
 * sent to the seller, so a crash after B can always be repaired by re-issuing the same B.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table orders (
      id uuid primary key,
      broker_id integer not null references brokers(id) on delete cascade,
      customer_id bigint references customers(id) on delete set null,
      customer jsonb not null,
      status text not null default 'pending'
        check (status in ('pending', 'confirmed', 'failed', 'cancelled')),
      stage text not null default 'created'
        check (stage in ('created', 'authorized', 'booking', 'booked', 'complete', 'failed')),
      checkout_session_id text,
      publisher_id integer,
      seller_id text,
      seller jsonb,
      broker jsonb not null,
      total_price integer not null check (total_price >= 0),
      currency text not null,
      payment_id uuid,
      order_number text not null unique,
      seller_order_number text,
      booking_target jsonb,
      booking_request jsonb,
      seller_response jsonb,
      test_mode boolean not null default false,
      failure jsonb,
      recovery_attempts integer not null default 0,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      confirmed_at timestamptz,
      failed_at timestamptz
    )`.execute(db);
  await sql`create index orders_broker_created_idx on orders (broker_id, created_at desc)`.execute(db);
  await sql`create index orders_customer_idx on orders (customer_id, created_at desc) where customer_id is not null`.execute(
    db,
  );
  await sql`create index orders_pending_idx on orders (updated_at) where status = 'pending'`.execute(db);

  await sql`
    create table order_items (
      id text primary key,
      order_id uuid not null references orders(id) on delete cascade,
      position integer not null,
      opportunity_type text not null,
      opportunity_id text not null,
      opportunity jsonb not null,
      offer_id text not null,
      offer jsonb not null,
      price integer not null check (price >= 0),
      currency text not null,
      attendee jsonb,
      attendee_customer_id bigint references customers(id) on delete set null,
      status text not null,
      seller_order_item_id text,
      access_code text,
      access_pass jsonb,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (order_id, position)
    )`.execute(db);
  await sql`create index order_items_opportunity_idx on order_items (opportunity_id)`.execute(db);
  await sql`create index order_items_attendee_idx on order_items (attendee_customer_id) where attendee_customer_id is not null`.execute(
    db,
  );

  await sql`
    create table checkout_sessions (
      id text primary key,
      broker_id integer not null references brokers(id) on delete cascade,
      api_key_id integer references api_keys(id) on delete set null,
      mode text not null check (mode in ('live', 'test')),
      kind text not null check (kind in ('authenticated', 'group', 'standalone', 'guest')),
      test_mode boolean not null default false,
      request jsonb,
      response jsonb,
      customer_id bigint references customers(id) on delete set null,
      customer jsonb,
      is_member boolean not null default false,
      opportunity jsonb not null,
      offer_id text,
      items jsonb,
      quote jsonb,
      navigation_links jsonb not null default '[]',
      state text not null default 'choose'
        check (state in ('choose', 'details', 'pay', 'paying', 'confirmed', 'failed')),
      problem jsonb,
      order_uuid uuid not null unique,
      payment_id uuid,
      order_id uuid references orders(id) on delete set null,
      expires_at timestamptz not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index checkout_sessions_broker_idx on checkout_sessions (broker_id, created_at desc)`.execute(db);

  await ordersApiTables(db);
}

/*
 * ---- Orders API (issue 7): read indexes, the sellers' view from their Orders feeds, refunds,
 * receipts and the feed cursors. Self-contained: only adds to the tables above. ----
 */
async function ordersApiTables(db: Kysely<unknown>): Promise<void> {
  // Order history (imin-booking §3.1): a customer's completed orders, newest first. The customer
  // is named by the identifier kept in the order's customer snapshot (accounts and inline Persons).
  await sql`create index orders_history_idx on orders (broker_id, (customer->>'identifier'), created_at desc, id desc)
    where status in ('confirmed', 'cancelled')`.execute(db);
  // What the seller's Orders feed last said about the order (openactive.md §1.12).
  await sql`alter table orders
    add column seller_total_due integer,
    add column seller_total_tax integer,
    add column seller_feed_modified text,
    add column seller_updated_at timestamptz`.execute(db);

  // Upcoming order items (§3.4) are read by customer and start: copies of the order's broker
  // and customer identifier and the opportunity's start, filled by a trigger so the writer of
  // order_items needs to know nothing about them.
  await sql`alter table order_items
    add column order_broker_id integer,
    add column order_customer_identifier text,
    add column start_date timestamptz,
    add column cancellation_message text,
    add column customer_notice text,
    add column unit_tax jsonb,
    add column cancelled_at timestamptz,
    add column cancellation_requested_at timestamptz`.execute(db);
  await sql`
    create function order_items_fill_read_columns() returns trigger language plpgsql as $$
    begin
      new.start_date := (new.opportunity->>'startDate')::timestamptz;
      if tg_op = 'INSERT' then
        select o.broker_id, o.customer->>'identifier' into new.order_broker_id, new.order_customer_identifier
          from orders o where o.id = new.order_id;
      end if;
      return new;
    end $$`.execute(db);
  await sql`create trigger order_items_fill_read_columns before insert or update of opportunity on order_items
    for each row execute function order_items_fill_read_columns()`.execute(db);
  await sql`create index order_items_upcoming_idx on order_items (order_broker_id, order_customer_identifier, start_date, id)
    where status = 'https://openactive.io/OrderItemConfirmed'`.execute(db);
  await sql`create index order_items_seller_item_idx on order_items (seller_order_item_id)
    where seller_order_item_id is not null`.execute(db);

  // One row per refund we owe: the id is derived from what caused it, so a cause re-read from
  // a feed can never insert a second one (openactive.md §1.11).
  await sql`
    create table order_refunds (
      id text primary key,
      order_id uuid not null references orders(id) on delete cascade,
      order_item_id text references order_items(id) on delete cascade,
      amount integer not null check (amount >= 0),
      currency text not null,
      reason text not null,
      status text not null default 'queued'
        check (status in ('queued', 'succeeded', 'pending', 'failed', 'not_needed')),
      payment_id uuid,
      error text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index order_refunds_order_idx on order_refunds (order_id, created_at)`.execute(db);

  // Receipts (imin-booking §3.5): one when the order is confirmed and a new one after every
  // change of money; the snapshot holds amounts and statuses, never personal data (names are
  // read from the order when the PDF is made, so erasure reaches them).
  await sql`
    create table order_receipts (
      id text primary key,
      order_id uuid not null references orders(id) on delete cascade,
      broker_id integer not null references brokers(id) on delete cascade,
      sequence integer not null,
      reason text not null,
      snapshot jsonb not null,
      created_at timestamptz not null default now(),
      unique (order_id, sequence)
    )`.execute(db);

  // The sellers' Orders feeds we read: one per booking endpoint and booking-partner credential.
  await sql`
    create table seller_order_feeds (
      id serial primary key,
      feed_key text not null unique,
      publisher_id integer not null,
      seller_id text not null,
      endpoint_url text not null,
      next_url text,
      items_applied bigint not null default 0,
      failures integer not null default 0,
      last_error text,
      next_poll_at timestamptz not null default now(),
      last_success_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now()
    )`.execute(db);
}
