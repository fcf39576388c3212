import { sql, type Kysely } from 'kysely';

/*
 * Faster Orders API reads (issue 7 benchmark). The customer identifier of an order was read out
 * of its customer snapshot through an expression index, and PostgreSQL cannot answer a query
 * from an expression index alone: counting a customer's history and skipping to page 500
 * visited every order row. A stored generated column of the same value lets both be answered
 * from the index (index-only scans), and it follows the snapshot on its own, erasure included.
 *
 * The history's totalItems is read from a count kept per (broker, customer identifier) by a
 * trigger on orders, instead of counting the customer's orders on every page: a customer with
 * thousands of orders costs one row read, not thousands of index entries.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table orders
    add column customer_identifier text generated always as (customer->>'identifier') stored`.execute(db);
  await sql`drop index orders_history_idx`.execute(db);
  await sql`create index orders_history_idx on orders (broker_id, customer_identifier, created_at desc, id desc)
    where status in ('confirmed', 'cancelled')`.execute(db);

  await sql`
    create table customer_order_counts (
      broker_id integer not null,
      customer_identifier text not null,
      visible_orders integer not null check (visible_orders >= 0),
      primary key (broker_id, customer_identifier)
    )`.execute(db);
  // Each order counts once while it is visible (confirmed, or confirmed and then cancelled);
  // an update takes the old row's share away and adds the new row's, whatever changed.
  await sql`
    create function orders_keep_customer_counts() returns trigger language plpgsql as $$
    begin
      if tg_op in ('UPDATE', 'DELETE') and old.status in ('confirmed', 'cancelled')
         and old.customer_identifier is not null then
        update customer_order_counts set visible_orders = visible_orders - 1
          where broker_id = old.broker_id and customer_identifier = old.customer_identifier;
      end if;
      if tg_op in ('INSERT', 'UPDATE') and new.status in ('confirmed', 'cancelled')
         and new.customer_identifier is not null then
        insert into customer_order_counts as c (broker_id, customer_identifier, visible_orders)
          values (new.broker_id, new.customer_identifier, 1)
          on conflict (broker_id, customer_identifier) do update set visible_orders = c.visible_orders + 1;
      end if;
      return null;
    end $$`.execute(db);
  await sql`create trigger orders_keep_customer_counts after insert or delete or update of status, customer, broker_id
    on orders for each row execute function orders_keep_customer_counts()`.execute(db);
  await sql`
    insert into customer_order_counts (broker_id, customer_identifier, visible_orders)
    select broker_id, customer_identifier, count(*) from orders
      where status in ('confirmed', 'cancelled') and customer_identifier is not null
      group by broker_id, customer_identifier`.execute(db);
}
