import type { Insertable, Selectable, Updateable } from 'kysely';
import type { CheckoutExecutor, CheckoutSessionsTable, SessionState } from './checkout.tables.js';

export type SessionRow = Selectable<CheckoutSessionsTable>;

export function insertSession(db: CheckoutExecutor, row: Insertable<CheckoutSessionsTable>) {
  return db.insertInto('checkout_sessions').values(row).returningAll().executeTakeFirstOrThrow();
}

/** A session of this broker (another broker's id is simply not found). */
export function findSession(db: CheckoutExecutor, brokerId: number, id: string) {
  return db
    .selectFrom('checkout_sessions')
    .selectAll()
    .where('id', '=', id)
    .where('broker_id', '=', brokerId)
    .executeTakeFirst();
}

export function findSessionById(db: CheckoutExecutor, id: string) {
  return db.selectFrom('checkout_sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findSessionByOrder(db: CheckoutExecutor, orderUuid: string) {
  return db.selectFrom('checkout_sessions').selectAll().where('order_uuid', '=', orderUuid).executeTakeFirst();
}

/**
 * Updates the session only while it is in one of `from`: the state machine's compare-and-set.
 * Two pay() calls race on `pay → paying`; exactly one gets the row back.
 */
export function transition(
  db: CheckoutExecutor,
  id: string,
  from: SessionState[],
  changes: Updateable<CheckoutSessionsTable>,
) {
  return db
    .updateTable('checkout_sessions')
    .set(changes)
    .where('id', '=', id)
    .where('state', 'in', from)
    .returningAll()
    .executeTakeFirst();
}

export function updateSession(db: CheckoutExecutor, id: string, changes: Updateable<CheckoutSessionsTable>) {
  return db.updateTable('checkout_sessions').set(changes).where('id', '=', id).returningAll().executeTakeFirst();
}

/* Reads of shared tables checkout needs by id (the brokers and customers services look up by key/auth). */

export function findBrokerById(db: CheckoutExecutor, id: number) {
  return db.selectFrom('brokers').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findBrokerBySlug(db: CheckoutExecutor, slug: string) {
  return db.selectFrom('brokers').selectAll().where('slug', '=', slug).executeTakeFirst();
}

/** An active account of this broker (an erased or another broker's account is not found). */
export function findActiveCustomer(db: CheckoutExecutor, brokerId: number, identifier: string) {
  return db
    .selectFrom('customers')
    .select(['id', 'identifier', 'given_name', 'family_name', 'email', 'telephone'])
    .where('broker_id', '=', brokerId)
    .where('identifier', '=', identifier)
    .where('state', '=', 'active')
    .executeTakeFirst();
}
