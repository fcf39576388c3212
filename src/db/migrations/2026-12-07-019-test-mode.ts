import { sql, type Kysely } from 'kysely';

/*
 * Test mode as a separate world (issue 14 point 3), as Stripe's is: customer accounts, orders
 * (with their items, refunds and receipts), checkout sessions and idempotent responses belong to
 * the mode of the key that made them, and every broker-scoped read filters on (broker, mode).
 * Publishers get a mode too: a test key books only test publishers' sellers, a live key only live
 * publishers'.
 *
 * Existing rows are live, except orders made through a test key's checkout session (the session
 * kept the key's mode): those are test orders. The orders read paths stay one statement on one
 * index each: the mode joins the broker at the front of the history and upcoming indexes, and the
 * per-customer count is kept per mode.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const mode = sql`text not null default 'live' check (mode in ('live', 'test'))`;
  await sql`alter table publishers add column mode ${mode}`.execute(db);
  await sql`alter table customers add column mode ${mode}`.execute(db);
  await sql`alter table orders add column mode ${mode}`.execute(db);
  await sql`update orders o set mode = s.mode from checkout_sessions s
    where s.order_uuid = o.id and s.mode = 'test'`.execute(db);

  // Idempotency keys are per broker and mode: a test key can never be served a live response.
  await sql`alter table idempotency_keys add column mode ${mode}`.execute(db);
  await sql`alter table idempotency_keys drop constraint idempotency_keys_pk`.execute(db);
  await sql`alter table idempotency_keys add constraint idempotency_keys_pk primary key (broker_id, mode, key)`.execute(
    db,
  );

  // Order history: (broker, mode, customer) then newest first, answered from the index alone.
  await sql`drop index orders_history_idx`.execute(db);
  await sql`create index orders_history_idx on orders (broker_id, mode, customer_identifier, created_at desc, id desc)
    where status in ('confirmed', 'cancelled')`.execute(db);

  // Upcoming items: a copy of the order's mode beside its broker and customer, filled by the
  // trigger that fills the others (an order's mode never changes).
  await sql`alter table order_items add column order_mode text`.execute(db);
  await sql`update order_items i set order_mode = o.mode from orders o where o.id = i.order_id`.execute(db);
  await sql`
    create or replace function order_items_fill_read_columns() returns trigger language plpgsql as $$
    begin
      new.start_date := (new.opportunity->>'startDate')::timestamptz;
      if tg_op = 'INSERT' then
        select o.broker_id, o.mode, o.customer->>'identifier'
          into new.order_broker_id, new.order_mode, new.order_customer_identifier
          from orders o where o.id = new.order_id;
      end if;
      return new;
    end $$`.execute(db);
  await sql`drop index order_items_upcoming_idx`.execute(db);
  await sql`create index order_items_upcoming_idx
    on order_items (order_broker_id, order_mode, order_customer_identifier, start_date, id)
    where status = 'https://openactive.io/OrderItemConfirmed'`.execute(db);

  // The history's totalItems, counted per (broker, mode, customer identifier).
  await sql`alter table customer_order_counts add column mode ${mode}`.execute(db);
  await sql`alter table customer_order_counts drop constraint customer_order_counts_pkey`.execute(db);
  await sql`delete from customer_order_counts`.execute(db);
  await sql`alter table customer_order_counts add primary key (broker_id, mode, customer_identifier)`.execute(db);
  await sql`
    create or replace function orders_keep_customer_counts() returns trigger language plpgsql as $$
    begin
      if tg_op in ('UPDATE', 'DELETE') and old.status in ('confirmed', 'cancelled')
         and old.customer_identifier is not null then
        update customer_order_counts set visible_orders = visible_orders - 1
          where broker_id = old.broker_id and mode = old.mode and customer_identifier = old.customer_identifier;
      end if;
      if tg_op in ('INSERT', 'UPDATE') and new.status in ('confirmed', 'cancelled')
         and new.customer_identifier is not null then
        insert into customer_order_counts as c (broker_id, mode, customer_identifier, visible_orders)
          values (new.broker_id, new.mode, new.customer_identifier, 1)
          on conflict (broker_id, mode, customer_identifier) do update set visible_orders = c.visible_orders + 1;
      end if;
      return null;
    end $$`.execute(db);
  await sql`drop trigger orders_keep_customer_counts on orders`.execute(db);
  await sql`create trigger orders_keep_customer_counts after insert or delete or update of status, customer, broker_id, mode
    on orders for each row execute function orders_keep_customer_counts()`.execute(db);
  await sql`
    insert into customer_order_counts (broker_id, mode, customer_identifier, visible_orders)
    select broker_id, mode, customer_identifier, count(*) from orders
      where status in ('confirmed', 'cancelled') and customer_identifier is not null
      group by broker_id, mode, customer_identifier`.execute(db);
}
