import { sql, type Insertable, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { SandboxDB } from '../db/schema.js';
import type { LeasesTable, OrderItemsTable, OrdersTable } from './booking.tables.js';

/** Thin queries over the booking tables; executor first, so each runs in the caller's transaction. */

export type BookingExecutor = Kysely<SandboxDB> | Transaction<SandboxDB>;
export type OrderRow = Selectable<OrdersTable>;
export type OrderItemRow = Selectable<OrderItemsTable>;
export type LeaseRow = Selectable<LeasesTable>;

export async function findPartnerById(db: BookingExecutor, id: string) {
  return db.selectFrom('booking_partners').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

export async function findPartnerBySecretHash(db: BookingExecutor, secretHash: string) {
  return db
    .selectFrom('booking_partners')
    .select(['id', 'name'])
    .where('secret_hash', '=', secretHash)
    .executeTakeFirst();
}

export async function upsertPartner(db: BookingExecutor, id: string, name: string, secretHash: string | null) {
  await db
    .insertInto('booking_partners')
    .values({ id, name, secret_hash: secretHash })
    .onConflict((oc) => oc.column('id').doUpdateSet({ name, secret_hash: secretHash }))
    .execute();
}

export async function findOrder(db: BookingExecutor, partnerId: string, uuid: string): Promise<OrderRow | undefined> {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('uuid', '=', uuid)
    .executeTakeFirst();
}

/** Test-interface actions name an order by `@id` only; without credentials any partner's order matches. */
export async function findOrdersByUuid(db: BookingExecutor, uuid: string): Promise<OrderRow[]> {
  return db.selectFrom('orders').selectAll().where('uuid', '=', uuid).execute();
}

export async function insertOrder(db: BookingExecutor, row: Insertable<OrdersTable>): Promise<void> {
  await db.insertInto('orders').values(row).execute();
}

export async function setOrderResponse(db: BookingExecutor, partnerId: string, uuid: string, response: object) {
  await db
    .updateTable('orders')
    .set({ response: JSON.stringify(response) })
    .where('partner_id', '=', partnerId)
    .where('uuid', '=', uuid)
    .execute();
}

/**
 * Moves the order to the end of its partner's Orders feed. The caller must hold the sandbox
 * feed-write lock, so change numbers commit in the order they are taken (openactive.md §2.6).
 */
export async function bumpOrderInFeed(
  db: BookingExecutor,
  partnerId: string,
  uuid: string,
  now: Date,
  state?: 'deleted',
): Promise<void> {
  await db
    .updateTable('orders')
    .set({ feed_modified: sql<number>`nextval('orders_feed_seq')`, updated_at: now, ...(state ? { state } : {}) })
    .where('partner_id', '=', partnerId)
    .where('uuid', '=', uuid)
    .execute();
}

export async function insertOrderItems(
  db: BookingExecutor,
  rows: Insertable<OrderItemsTable>[],
): Promise<OrderItemRow[]> {
  return db.insertInto('order_items').values(rows).returningAll().execute();
}

export async function findOrderItems(db: BookingExecutor, partnerId: string, uuids: string[]): Promise<OrderItemRow[]> {
  if (uuids.length === 0) return [];
  return db
    .selectFrom('order_items')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('order_uuid', 'in', uuids)
    .orderBy('id')
    .execute();
}

export async function updateOrderItems(
  db: BookingExecutor,
  ids: number[],
  changes: { status?: string; cancellation_message?: string | null; customer_notice?: string | null },
  now: Date,
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('order_items')
    .set({ ...changes, updated_at: now })
    .where('id', 'in', ids)
    .execute();
}

/** One page of a partner's Orders feed: rows after `afterChangeNumber`, in change order. */
export async function findOrdersFeedPage(
  db: BookingExecutor,
  partnerId: string,
  afterChangeNumber: number,
  limit: number,
): Promise<OrderRow[]> {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('feed_modified', 'is not', null)
    .where('feed_modified', '>', afterChangeNumber)
    .orderBy('feed_modified')
    .limit(limit)
    .execute();
}

export async function findLeasesForOrder(db: BookingExecutor, partnerId: string, uuid: string): Promise<LeaseRow[]> {
  return db
    .selectFrom('leases')
    .selectAll()
    .where('partner_id', '=', partnerId)
    .where('order_uuid', '=', uuid)
    .execute();
}

export async function deleteLeases(db: BookingExecutor, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom('leases').where('id', 'in', ids).execute();
}

export async function findExpiredLeases(db: BookingExecutor, now: Date, limit: number): Promise<LeaseRow[]> {
  return db.selectFrom('leases').selectAll().where('expires_at', '<=', now).orderBy('id').limit(limit).execute();
}

/** Spaces held by every current lease on one opportunity (the caller has already dropped its own). */
export async function sumLeasedPlaces(
  db: BookingExecutor,
  opportunityType: 'ScheduledSession' | 'Slot',
  opportunityId: number,
): Promise<number> {
  const row = await db
    .selectFrom('leases')
    .select(sql<number>`coalesce(sum(places), 0)::int`.as('places'))
    .where('opportunity_type', '=', opportunityType)
    .where('opportunity_id', '=', opportunityId)
    .executeTakeFirst();
  return row?.places ?? 0;
}

export async function insertLeases(db: BookingExecutor, rows: Insertable<LeasesTable>[]): Promise<void> {
  if (rows.length === 0) return;
  await db.insertInto('leases').values(rows).execute();
}

/** Live orders with an item for an opportunity the test interface created in `testDataset`. */
export async function findOrdersOfTestDataset(
  db: BookingExecutor,
  testDataset: string,
): Promise<{ partner_id: string; uuid: string }[]> {
  return db
    .selectFrom('orders')
    .select(['orders.partner_id', 'orders.uuid'])
    .where('orders.state', '=', 'confirmed')
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('order_items')
          .leftJoin('scheduled_sessions', (join) =>
            join
              .on('order_items.opportunity_type', '=', 'ScheduledSession')
              .onRef('scheduled_sessions.id', '=', 'order_items.opportunity_id'),
          )
          .leftJoin('slots', (join) =>
            join.on('order_items.opportunity_type', '=', 'Slot').onRef('slots.id', '=', 'order_items.opportunity_id'),
          )
          .select('order_items.id')
          .whereRef('order_items.partner_id', '=', 'orders.partner_id')
          .whereRef('order_items.order_uuid', '=', 'orders.uuid')
          .where((eb) =>
            eb.or([
              eb('scheduled_sessions.test_dataset', '=', testDataset),
              eb('slots.test_dataset', '=', testDataset),
            ]),
          ),
      ),
    )
    .execute();
}

/** Leases on opportunities of a test dataset. */
export async function deleteLeasesOfTestDataset(db: BookingExecutor, testDataset: string): Promise<void> {
  await db
    .deleteFrom('leases')
    .where((eb) =>
      eb.or([
        eb.and([
          eb('opportunity_type', '=', 'ScheduledSession'),
          eb(
            'opportunity_id',
            'in',
            eb.selectFrom('scheduled_sessions').select('id').where('test_dataset', '=', testDataset),
          ),
        ]),
        eb.and([
          eb('opportunity_type', '=', 'Slot'),
          eb('opportunity_id', 'in', eb.selectFrom('slots').select('id').where('test_dataset', '=', testDataset)),
        ]),
      ]),
    )
    .execute();
}
