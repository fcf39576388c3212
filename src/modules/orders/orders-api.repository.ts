import type { Insertable, Selectable, Updateable } from 'kysely';
import { jsonArrayFrom, jsonObjectFrom } from 'kysely/helpers/postgres';
import type { Tenant } from '../brokers/index.js';
import type {
  OrderReceiptsTable,
  OrderRefundsTable,
  OrdersApiExecutor,
  OrdersApiTables,
  SellerOrderFeedsTable,
} from './orders-api.tables.js';

/*
 * The Orders API's queries (imin-booking §3): one function per query, executor first. Orders a
 * customer can see are the completed ones (confirmed, or confirmed and later cancelled), of the
 * calling key's broker and mode (`Tenant`).
 */

type OrderUpdate = Updateable<OrdersApiTables['orders']>;
type ItemUpdate = Updateable<OrdersApiTables['order_items']>;

export const VISIBLE_STATUSES = ['confirmed', 'cancelled'] as const;
export const ITEM_CONFIRMED = 'https://openactive.io/OrderItemConfirmed';

/** How many orders a customer's history holds (a count the database keeps: migrations 009, 019). */
export async function countCustomerOrders(db: OrdersApiExecutor, tenant: Tenant, identifier: string) {
  const row = await db
    .selectFrom('customer_order_counts')
    .select('visible_orders')
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('customer_identifier', '=', identifier)
    .executeTakeFirst();
  return row?.visible_orders ?? 0;
}

/*
 * Reads that bring an order's items, refunds and receipts with it in one statement (as JSON
 * arrays the database builds), for the Orders API's answers. JSON carries timestamps as text:
 * `revive` turns them back into Dates, so the rows are the same as the tables' own reads.
 */

const ITEM_TIMESTAMPS = ['created_at', 'updated_at', 'start_date', 'cancelled_at', 'cancellation_requested_at'];
const REFUND_TIMESTAMPS = ['created_at', 'updated_at'];
const RECEIPT_TIMESTAMPS = ['created_at'];
const ORDER_TIMESTAMPS = ['created_at', 'updated_at', 'confirmed_at', 'failed_at', 'seller_updated_at'];

function revive<T>(row: T, keys: string[]): T {
  const r = row as Record<string, unknown>;
  for (const key of keys) if (typeof r[key] === 'string') r[key] = new Date(r[key]);
  return row;
}

function withParts(db: OrdersApiExecutor) {
  return db
    .selectFrom('orders')
    .selectAll('orders')
    .select((eb) => [
      jsonArrayFrom(
        eb
          .selectFrom('order_items')
          .selectAll('order_items')
          .whereRef('order_items.order_id', '=', 'orders.id')
          .orderBy('order_items.position'),
      ).as('items'),
      jsonArrayFrom(
        eb
          .selectFrom('order_refunds')
          .selectAll('order_refunds')
          .whereRef('order_refunds.order_id', '=', 'orders.id')
          .orderBy('order_refunds.created_at')
          .orderBy('order_refunds.id'),
      ).as('refunds'),
      jsonArrayFrom(
        eb
          .selectFrom('order_receipts')
          .select([
            'order_receipts.id',
            'order_receipts.order_id',
            'order_receipts.sequence',
            'order_receipts.reason',
            'order_receipts.created_at',
          ])
          .whereRef('order_receipts.order_id', '=', 'orders.id')
          .orderBy('order_receipts.sequence', 'desc'),
      ).as('receipts'),
    ]);
}

type WithPartsRow = Awaited<ReturnType<ReturnType<typeof withParts>['execute']>>[number];

type Row<T extends keyof OrdersApiTables> = Selectable<OrdersApiTables[T]>;

function reviveParts(rows: WithPartsRow[]) {
  return rows.map((row) => ({
    ...row,
    items: row.items.map((item) => revive(item, ITEM_TIMESTAMPS) as unknown as Row<'order_items'>),
    refunds: row.refunds.map((refund) => revive(refund, REFUND_TIMESTAMPS) as unknown as Row<'order_refunds'>),
    receipts: row.receipts.map(
      (receipt) =>
        revive(receipt, RECEIPT_TIMESTAMPS) as unknown as Pick<
          Row<'order_receipts'>,
          'id' | 'order_id' | 'sequence' | 'reason' | 'created_at'
        >,
    ),
  }));
}

/**
 * One page of a customer's order history, newest first (§3.1), each order with its parts. The
 * page's ids are found in the history index alone (skipping `offset` entries there, not `offset`
 * order rows), then only the page's orders are read.
 */
export async function findCustomerOrdersWithParts(
  db: OrdersApiExecutor,
  tenant: Tenant,
  identifier: string,
  limit: number,
  offset: number,
) {
  const page = db
    .selectFrom('orders')
    .select(['id', 'created_at'])
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('customer_identifier', '=', identifier)
    .where('status', 'in', VISIBLE_STATUSES)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .offset(offset);
  return reviveParts(
    await withParts(db)
      .innerJoin(page.as('page'), 'page.id', 'orders.id')
      .orderBy('page.created_at', 'desc')
      .orderBy('page.id', 'desc')
      .execute(),
  );
}

/** One completed order of the broker, in the key's mode, with its parts. */
export async function findVisibleOrderWithParts(db: OrdersApiExecutor, tenant: Tenant, id: string) {
  const rows = await withParts(db)
    .where('orders.id', '=', id)
    .where('orders.broker_id', '=', tenant.brokerId)
    .where('orders.mode', '=', tenant.mode)
    .where('orders.status', 'in', VISIBLE_STATUSES)
    .execute();
  return reviveParts(rows)[0];
}

export function findVisibleOrder(db: OrdersApiExecutor, tenant: Tenant, id: string) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', id)
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('status', 'in', VISIBLE_STATUSES)
    .executeTakeFirst();
}

export function lockOrder(db: OrdersApiExecutor, id: string) {
  return db.selectFrom('orders').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** The order, locked, only when it was booked with `publisherId` (a feed speaks for its publisher only). */
export function lockPublisherOrder(db: OrdersApiExecutor, id: string, publisherId: number) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('id', '=', id)
    .where('publisher_id', '=', publisherId)
    .forUpdate()
    .executeTakeFirst();
}

export function findItemsOfOrders(db: OrdersApiExecutor, orderIds: string[]) {
  if (orderIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('order_items')
    .selectAll()
    .where('order_id', 'in', orderIds)
    .orderBy('order_id')
    .orderBy('position')
    .execute();
}

export function findReceiptsOfOrders(db: OrdersApiExecutor, orderIds: string[]) {
  if (orderIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('order_receipts')
    .select(['id', 'order_id', 'sequence', 'reason', 'created_at'])
    .where('order_id', 'in', orderIds)
    .orderBy('order_id')
    .orderBy('sequence', 'desc')
    .execute();
}

export function findRefundsOfOrders(db: OrdersApiExecutor, orderIds: string[]) {
  if (orderIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('order_refunds')
    .selectAll()
    .where('order_id', 'in', orderIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

const upcoming = (db: OrdersApiExecutor, tenant: Tenant, identifier: string, now: Date) =>
  db
    .selectFrom('order_items')
    .where('order_broker_id', '=', tenant.brokerId)
    .where('order_mode', '=', tenant.mode)
    .where('order_customer_identifier', '=', identifier)
    .where('status', '=', ITEM_CONFIRMED)
    .where('start_date', '>', now);

export async function countUpcomingItems(db: OrdersApiExecutor, tenant: Tenant, identifier: string, now: Date) {
  const row = await upcoming(db, tenant, identifier, now)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** One page of a customer's upcoming order items, soonest first (§3.4), each with its order. */
export async function findUpcomingItems(
  db: OrdersApiExecutor,
  tenant: Tenant,
  identifier: string,
  now: Date,
  limit: number,
  offset: number,
) {
  const rows = await upcoming(db, tenant, identifier, now)
    .selectAll('order_items')
    .select((eb) =>
      jsonObjectFrom(eb.selectFrom('orders').selectAll('orders').whereRef('orders.id', '=', 'order_items.order_id')).as(
        'order',
      ),
    )
    .orderBy('start_date')
    .orderBy('id')
    .limit(limit)
    .offset(offset)
    .execute();
  return rows.map(({ order, ...item }) => ({
    ...item,
    order: order ? (revive(order, ORDER_TIMESTAMPS) as unknown as Row<'orders'>) : null,
  }));
}

export function findOrdersByIds(db: OrdersApiExecutor, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('orders').selectAll().where('id', 'in', ids).execute();
}

export function updateOrder(db: OrdersApiExecutor, id: string, changes: OrderUpdate) {
  return db.updateTable('orders').set(changes).where('id', '=', id).execute();
}

export function updateOrderItem(db: OrdersApiExecutor, id: string, changes: ItemUpdate) {
  return db.updateTable('order_items').set(changes).where('id', '=', id).execute();
}

/** Inserts a refund unless one with the same id exists; true when this call inserted it. */
export async function insertRefundOnce(db: OrdersApiExecutor, refund: Insertable<OrderRefundsTable>) {
  const row = await db
    .insertInto('order_refunds')
    .values(refund)
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export function findRefund(db: OrdersApiExecutor, id: string) {
  return db.selectFrom('order_refunds').selectAll().where('id', '=', id).executeTakeFirst();
}

export function updateRefund(db: OrdersApiExecutor, id: string, changes: Updateable<OrderRefundsTable>) {
  return db.updateTable('order_refunds').set(changes).where('id', '=', id).execute();
}

export async function nextReceiptSequence(db: OrdersApiExecutor, orderId: string) {
  const row = await db
    .selectFrom('order_receipts')
    .select((eb) => eb.fn.max('sequence').as('max'))
    .where('order_id', '=', orderId)
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

export function insertReceipt(db: OrdersApiExecutor, receipt: Insertable<OrderReceiptsTable>) {
  return db
    .insertInto('order_receipts')
    .values(receipt)
    .onConflict((oc) => oc.columns(['order_id', 'sequence']).doNothing())
    .returning('id')
    .executeTakeFirst();
}

export function findBrokerReceipt(db: OrdersApiExecutor, brokerId: number, id: string) {
  return db
    .selectFrom('order_receipts')
    .selectAll()
    .where('id', '=', id)
    .where('broker_id', '=', brokerId)
    .executeTakeFirst();
}

/** Completed orders without their first receipt yet (issued by the orders-feed job). */
export function findOrdersWithoutReceipt(db: OrdersApiExecutor, limit: number) {
  return db
    .selectFrom('orders')
    .select('id')
    .where('status', 'in', VISIBLE_STATUSES)
    .where((eb) =>
      eb.not(
        eb.exists(eb.selectFrom('order_receipts').select('id').whereRef('order_receipts.order_id', '=', 'orders.id')),
      ),
    )
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

/** The (publisher, seller) pairs orders were booked with: each needs its seller's Orders feed. */
export function findBookedSellers(db: OrdersApiExecutor) {
  return db
    .selectFrom('orders')
    .select(['publisher_id', 'seller_id'])
    .distinct()
    .where('booking_target', 'is not', null)
    .where('publisher_id', 'is not', null)
    .where('seller_id', 'is not', null)
    .where('test_mode', '=', false)
    .execute();
}

export function upsertFeed(db: OrdersApiExecutor, feed: Insertable<SellerOrderFeedsTable>) {
  return db
    .insertInto('seller_order_feeds')
    .values(feed)
    .onConflict((oc) => oc.columns(['publisher_id', 'feed_key']).doNothing())
    .returning('id')
    .executeTakeFirst();
}

export function findFeeds(db: OrdersApiExecutor) {
  return db.selectFrom('seller_order_feeds').selectAll().orderBy('id').execute();
}

export function lockFeed(db: OrdersApiExecutor, id: number) {
  return db.selectFrom('seller_order_feeds').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export function updateFeed(db: OrdersApiExecutor, id: number, changes: Updateable<SellerOrderFeedsTable>) {
  return db.updateTable('seller_order_feeds').set(changes).where('id', '=', id).execute();
}

export interface FeedFault {
  fault: string;
  itemId: string | null;
  message: string;
  count: number;
}

/** Adds to the feed's fault counts, one row per kind keeping the latest item and message. */
export async function recordFeedFaults(db: OrdersApiExecutor, feedId: number, faults: FeedFault[], at: Date) {
  if (faults.length === 0) return;
  await db
    .insertInto('seller_order_feed_faults')
    .values(
      faults.map((f) => ({
        feed_id: feedId,
        fault: f.fault,
        count: f.count,
        last_item_id: f.itemId === null ? null : f.itemId.slice(0, 500),
        last_message: f.message.slice(0, 1000),
        last_at: at,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['feed_id', 'fault']).doUpdateSet((eb) => ({
        count: eb('seller_order_feed_faults.count', '+', eb.ref('excluded.count')),
        last_item_id: eb.ref('excluded.last_item_id'),
        last_message: eb.ref('excluded.last_message'),
        last_at: eb.ref('excluded.last_at'),
      })),
    )
    .execute();
}

/** Every Orders feed with its fault counts (operators). */
export function findFeedsWithFaults(db: OrdersApiExecutor) {
  return db
    .selectFrom('seller_order_feeds as f')
    .selectAll('f')
    .select((eb) =>
      jsonArrayFrom(
        eb
          .selectFrom('seller_order_feed_faults as x')
          .select(['x.fault', 'x.count', 'x.last_item_id', 'x.last_message', 'x.last_at'])
          .whereRef('x.feed_id', '=', 'f.id')
          .orderBy('x.fault'),
      ).as('faults'),
    )
    .orderBy('f.id')
    .execute();
}

/** The broker's branding and sender for the refund email (read-only, as checkout reads it). */
export function findBrokerBranding(db: OrdersApiExecutor, brokerId: number) {
  return db
    .selectFrom('brokers')
    .select(['name', 'url', 'logo_url', 'primary_color', 'contact_email', 'terms_url', 'email_from'])
    .where('id', '=', brokerId)
    .executeTakeFirst();
}
