import type { Insertable, Updateable } from 'kysely';
import type { OrderItemsTable, OrdersExecutor, OrdersTable, OrderStage } from './orders.tables.js';

export function insertOrder(db: OrdersExecutor, order: Insertable<OrdersTable>) {
  return db.insertInto('orders').values(order).returningAll().executeTakeFirstOrThrow();
}

export async function insertItems(db: OrdersExecutor, items: Insertable<OrderItemsTable>[]) {
  if (items.length === 0) return;
  await db.insertInto('order_items').values(items).execute();
}

export function findOrder(db: OrdersExecutor, id: string) {
  return db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findBrokerOrder(db: OrdersExecutor, brokerId: number, id: string) {
  return db.selectFrom('orders').selectAll().where('id', '=', id).where('broker_id', '=', brokerId).executeTakeFirst();
}

export function findItems(db: OrdersExecutor, orderId: string) {
  return db.selectFrom('order_items').selectAll().where('order_id', '=', orderId).orderBy('position').execute();
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

export function updateItem(db: OrdersExecutor, id: string, changes: Updateable<OrderItemsTable>) {
  return db.updateTable('order_items').set(changes).where('id', '=', id).execute();
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

export function findStuckPending(db: OrdersExecutor, updatedBefore: Date, limit: number) {
  return db
    .selectFrom('orders')
    .select('id')
    .where('status', '=', 'pending')
    .where('updated_at', '<', updatedBefore)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

export function listBrokerOrders(db: OrdersExecutor, brokerId: number, limit: number) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('broker_id', '=', brokerId)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
}
