import { jsonArrayFrom } from 'kysely/helpers/postgres';
import { sql, type Insertable, type QueryCreator, type Selectable, type Updateable } from 'kysely';
import type { OrderItemsTable, OrdersDB, OrdersExecutor, OrdersTable, OrderStage } from './orders.tables.js';

/** An order and its items, in one statement (the items' order_id must be the order's id). */
export function insertOrderWithItems(
  db: OrdersExecutor,
  order: Insertable<OrdersTable>,
  items: Insertable<OrderItemsTable>[],
) {
  if (items.length === 0) return db.insertInto('orders').values(order).returningAll().executeTakeFirstOrThrow();
  return db
    .with('o', (qb) => qb.insertInto('orders').values(order).returningAll())
    .with('i', (qb) => qb.insertInto('order_items').values(items).returning('order_items.id'))
    .selectFrom('o')
    .selectAll()
    .executeTakeFirstOrThrow();
}

export function findOrder(db: OrdersExecutor, id: string) {
  return db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findItems(db: OrdersExecutor, orderId: string) {
  return db.selectFrom('order_items').selectAll().where('order_id', '=', orderId).orderBy('position').execute();
}

/**
 * The timestamp columns of order_items, which json_agg gives as text (a test compares this read
 * with findItems, so a new timestamp column missing here fails it).
 */
const ITEM_TIMESTAMPS = ['created_at', 'updated_at', 'start_date', 'cancelled_at', 'cancellation_requested_at'];

/** An order and its items (in position order) in one statement; undefined when there is no such order. */
export async function findOrderWithItems(db: OrdersExecutor, id: string) {
  const row = await db
    .selectFrom('orders as o')
    .selectAll('o')
    .select(
      sql<Record<string, unknown>[]>`coalesce((select json_agg(i order by i.position) from order_items i
        where i.order_id = o.id), '[]'::json)`.as('items_json'),
    )
    .where('o.id', '=', id)
    .executeTakeFirst();
  if (!row) return undefined;
  const { items_json, ...order } = row;
  return { order, items: itemsFromJson(items_json) };
}

/** Items read as JSON (json_agg) as a plain select of order_items has them: timestamps as Dates. */
function itemsFromJson(rows: Record<string, unknown>[]): Selectable<OrderItemsTable>[] {
  return rows.map((i) => {
    const item = { ...i };
    for (const column of ITEM_TIMESTAMPS) {
      if (typeof item[column] === 'string') item[column] = new Date(item[column]);
    }
    return item as unknown as Selectable<OrderItemsTable>;
  });
}

/** Moves a pending order on, only from the stages given (a state machine in one statement). */
export function updatePending(
  db: OrdersExecutor,
  id: string,
  fromStages: OrderStage[],
  changes: Updateable<OrdersTable>,
) {
  return db
    .updateTable('orders')
    .set(changes)
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('stage', 'in', fromStages)
    .returningAll()
    .executeTakeFirst();
}

const UNSETTLED: OrderStage[] = ['created', 'authorized', 'booking', 'booked'];

/** The order updated with `changes` if it is still pending and unsettled (the first step of a CTE). */
const moveUnsettled = (qb: QueryCreator<OrdersDB>, id: string, changes: Updateable<OrdersTable>) =>
  qb
    .updateTable('orders')
    .set(changes)
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('stage', 'in', UNSETTLED);

/**
 * A pending order settled (confirmed or failed) and all its items changed with it, in one
 * statement; false, and nothing written, when the order was no longer pending.
 */
export async function settlePending(
  db: OrdersExecutor,
  id: string,
  changes: Updateable<OrdersTable>,
  itemChanges: Updateable<OrderItemsTable>,
): Promise<boolean> {
  const row = await db
    .with('settled', (qb) => moveUnsettled(qb, id, changes).returning('id'))
    .with('items', (qb) =>
      qb
        .updateTable('order_items')
        .set(itemChanges)
        .where('order_id', 'in', (eb) => eb.selectFrom('settled').select('settled.id'))
        .returning('order_items.id'),
    )
    .selectFrom('settled')
    .select('settled.id')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * The seller's answer to B in one statement: the pending order moves to `booked` and its items
 * at the positions given get the seller's ids and access codes (positions the order lacks are
 * skipped). Answers the order and all its items as they now are (the caller confirms with them
 * without reading them again); undefined, and nothing written, when the order was no longer
 * pending.
 */
export async function markBooked(
  db: OrdersExecutor,
  id: string,
  changes: Updateable<OrdersTable>,
  items: { position: number; seller_order_item_id: string | null; access_code: string | null }[],
) {
  const now = changes.updated_at;
  const row = await db
    .with('booked', (qb) => moveUnsettled(qb, id, changes).returningAll())
    .with('items', (qb) =>
      qb
        .updateTable('order_items')
        .from(
          sql<{
            position: number;
            seller_order_item_id: string | null;
            access_code: string | null;
          }>`json_to_recordset(${JSON.stringify(items)}::json)`.as<'given'>(
            sql`given(position integer, seller_order_item_id text, access_code text)`,
          ),
        )
        .set((eb) => ({
          seller_order_item_id: eb.ref('given.seller_order_item_id'),
          access_code: eb.ref('given.access_code'),
          ...(now !== undefined ? { updated_at: now } : {}),
        }))
        .where('order_items.order_id', 'in', (eb) => eb.selectFrom('booked').select('booked.id'))
        .whereRef('order_items.position', '=', 'given.position')
        .returningAll('order_items'),
    )
    .selectFrom('booked')
    .selectAll('booked')
    .select(
      // The items as updated, and those B did not name as they were (this statement's snapshot).
      sql<Record<string, unknown>[]>`coalesce((select json_agg(x order by x.position) from (
        select * from items
        union all
        select i.* from order_items i where i.order_id = booked.id and i.id not in (select id from items)
      ) x), '[]'::json)`.as('items_json'),
    )
    .executeTakeFirst();
  if (!row) return undefined;
  const { items_json, ...order } = row;
  return { order, items: itemsFromJson(items_json) };
}

export function updateItemsOfOrder(db: OrdersExecutor, orderId: string, changes: Updateable<OrderItemsTable>) {
  return db.updateTable('order_items').set(changes).where('order_id', '=', orderId).execute();
}

export function deleteUnsentOrder(db: OrdersExecutor, id: string) {
  return db
    .deleteFrom('orders')
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('stage', 'in', ['created', 'authorized'])
    .returning('id')
    .executeTakeFirst();
}

/**
 * Pending orders left alone for `olderThanMs`, doubled per recovery attempt (at most
 * `maxDoublings` times), oldest first.
 */
export function findStuckPending(
  db: OrdersExecutor,
  now: Date,
  olderThanMs: number,
  maxDoublings: number,
  limit: number,
) {
  return db
    .selectFrom('orders')
    .select('id')
    .where('status', '=', 'pending')
    .where('updated_at', '<', new Date(now.getTime() - olderThanMs))
    .where(
      sql<boolean>`updated_at + ${olderThanMs}::float8 * power(2, least(recovery_attempts, ${maxDoublings}::int))
        * interval '1 millisecond' < ${now}::timestamptz`,
    )
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/** Orders a person bought or attends, with the documents that may carry their personal data. */
export function findOrderDocumentsOfPerson(db: OrdersExecutor, customerId: number) {
  return db
    .selectFrom('orders')
    .select(['id', 'seller_response', 'booking_request'])
    .where((eb) =>
      eb.or([
        eb('customer_id', '=', customerId),
        eb('id', 'in', eb.selectFrom('order_items').select('order_id').where('attendee_customer_id', '=', customerId)),
      ]),
    )
    .where((eb) => eb.or([eb('seller_response', 'is not', null), eb('booking_request', 'is not', null)]))
    .execute();
}

export function updateOrderDocuments(
  db: OrdersExecutor,
  id: string,
  documents: { seller_response: string | null; booking_request: string | null },
) {
  return db.updateTable('orders').set(documents).where('id', '=', id).execute();
}

/** Every order a person bought or attends, any status, with its items (the customer's data export). */
export function findOrdersOfPersonWithItems(db: OrdersExecutor, customerId: number) {
  return db
    .selectFrom('orders as o')
    .select([
      'o.id',
      'o.order_number',
      'o.status',
      'o.customer_id',
      'o.customer',
      'o.seller',
      'o.total_price',
      'o.currency',
      'o.payment_id',
      'o.created_at',
      'o.confirmed_at',
      'o.failed_at',
    ])
    .select((eb) =>
      jsonArrayFrom(
        eb
          .selectFrom('order_items as i')
          .select([
            'i.id',
            'i.opportunity',
            'i.offer',
            'i.price',
            'i.currency',
            'i.status',
            'i.attendee',
            'i.attendee_customer_id',
          ])
          .whereRef('i.order_id', '=', 'o.id')
          .orderBy('i.position'),
      ).as('items'),
    )
    .where((eb) =>
      eb.or([
        eb('o.customer_id', '=', customerId),
        eb(
          'o.id',
          'in',
          eb.selectFrom('order_items').select('order_id').where('attendee_customer_id', '=', customerId),
        ),
      ]),
    )
    .orderBy('o.created_at')
    .execute();
}
