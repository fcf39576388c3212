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
}
