import { sql } from 'kysely';
import type { Insertable, Selectable, Updateable } from 'kysely';
import type { BrokersTable } from '../../db/schema.js';
import type { Tenant } from '../brokers/index.js';
import type { CheckoutExecutor, CheckoutSessionsTable, SessionState } from './checkout.tables.js';

export type SessionRow = Selectable<CheckoutSessionsTable>;
export type BrokerRow = Selectable<BrokersTable>;

/** Every column of `brokers` (a Record, so the compiler notices a column added to the table). */
const BROKER_COLUMNS: Record<keyof BrokerRow, true> = {
  id: true,
  slug: true,
  name: true,
  url: true,
  logo_url: true,
  background_image_url: true,
  primary_color: true,
  secondary_color: true,
  contact_email: true,
  terms_url: true,
  email_from: true,
  checkout_host: true,
  webhook_url: true,
  webhook_api_key: true,
  created_at: true,
};
const brokerColumns = Object.keys(BROKER_COLUMNS) as (keyof BrokerRow)[];

export function insertSession(db: CheckoutExecutor, row: Insertable<CheckoutSessionsTable>) {
  return db.insertInto('checkout_sessions').values(row).returningAll().executeTakeFirstOrThrow();
}

/** A session of this broker and mode (another broker's or mode's id is simply not found). */
export function findSession(db: CheckoutExecutor, tenant: Tenant, id: string) {
  return db
    .selectFrom('checkout_sessions')
    .selectAll()
    .where('id', '=', id)
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .executeTakeFirst();
}

/**
 * The broker with this slug and its session with this id, in one round trip (every step of the
 * hosted checkout starts here). Undefined when there is no such broker; `session` undefined when
 * the broker has no such session (another broker's session is not found, like an unknown one).
 */
export async function findBrokerAndSession(
  db: CheckoutExecutor,
  slug: string,
  id: string,
): Promise<{ broker: BrokerRow; session: SessionRow | undefined } | undefined> {
  const row = await db
    .selectFrom('brokers as b')
    .leftJoin('checkout_sessions as s', (join) => join.onRef('s.broker_id', '=', 'b.id').on('s.id', '=', id))
    .selectAll('s')
    .select(brokerColumns.map((c) => `b.${c} as broker__${c}` as const))
    .where('b.slug', '=', slug)
    .executeTakeFirst();
  if (!row) return undefined;
  const broker = {} as Record<string, unknown>;
  const session = {} as Record<string, unknown>;
  for (const [key, value] of Object.entries(row)) {
    if (key.startsWith('broker__')) broker[key.slice('broker__'.length)] = value;
    else session[key] = value;
  }
  return {
    broker: broker as BrokerRow,
    session: session.id === null || session.id === undefined ? undefined : (session as SessionRow),
  };
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

/** Sessions claimed for payment (`paying`) and untouched since `before`, oldest first (partial index). */
export function findStuckPaying(db: CheckoutExecutor, before: Date, limit: number) {
  return db
    .selectFrom('checkout_sessions')
    .select(['id', 'order_uuid', 'payment_id', 'updated_at'])
    .where('state', '=', 'paying')
    .where('updated_at', '<', before)
    .orderBy('updated_at')
    .limit(limit)
    .execute();
}

/** Moves a stuck `paying` session on, only if it is as it was found (`updatedAt`); true if it did. */
export async function releaseStuckPaying(
  db: CheckoutExecutor,
  id: string,
  updatedAt: Date,
  changes: Updateable<CheckoutSessionsTable>,
): Promise<boolean> {
  const r = await db
    .updateTable('checkout_sessions')
    .set(changes)
    .where('id', '=', id)
    .where('state', '=', 'paying')
    // Dates come back to JS in ms; a stamp written by now() has µs.
    .where(sql`date_trunc('milliseconds', updated_at)`, '=', updatedAt)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
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

/** An active account of this broker and mode (an erased, another broker's or mode's account is not found). */
export function findActiveCustomer(db: CheckoutExecutor, tenant: Tenant, identifier: string) {
  return db
    .selectFrom('customers')
    .select(['id', 'identifier', 'given_name', 'family_name', 'email', 'telephone'])
    .where('broker_id', '=', tenant.brokerId)
    .where('mode', '=', tenant.mode)
    .where('identifier', '=', identifier)
    .where('state', '=', 'active')
    .executeTakeFirst();
}
