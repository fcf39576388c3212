import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';

/*
 * Types of the orders tables (migration 2026-11-27-008-orders-checkout). `ordersDb` widens the
 * shared Kysely instance with them (the module owns its tables; src/db/schema.ts stays shared).
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type OrderStatus = 'pending' | 'confirmed' | 'failed' | 'cancelled';
/**
 * Where a pending order is in the booking sequence (openactive.md §1.8): `created` and
 * `authorized` have never been sent to the seller; `booking` may or may not have been booked
 * there; `booked` was booked but is not yet captured and confirmed.
 */
export type OrderStage = 'created' | 'authorized' | 'booking' | 'booked' | 'complete' | 'failed';

/** Who the order is for, as they were at the time of booking. */
export interface CustomerSnapshot {
  givenName: string;
  familyName: string;
  email: string;
  telephone?: string | null;
  /** The customer account identifier, or the broker's own id for an inline Person. */
  identifier?: string | null;
}

export interface OrdersTable {
  id: string;
  broker_id: number;
  /** The world of the key that made it (migration 019): only keys of this mode see it. */
  mode: 'live' | 'test';
  customer_id: number | null;
  customer: Json<CustomerSnapshot>;
  status: Generated<OrderStatus>;
  stage: Generated<OrderStage>;
  checkout_session_id: string | null;
  publisher_id: number | null;
  seller_id: string | null;
  seller: Json<Record<string, unknown>> | null;
  broker: Json<Record<string, unknown>>;
  total_price: number;
  currency: string;
  payment_id: string | null;
  order_number: string;
  seller_order_number: string | null;
  booking_target: Json<Record<string, unknown>> | null;
  booking_request: Json<Record<string, unknown>> | null;
  seller_response: Json<unknown> | null;
  /** imin's testing mode (test items: nothing booked, no payment), whatever the key's mode. */
  test_mode: Generated<boolean>;
  failure: Json<{ code: string; message: string }> | null;
  recovery_attempts: Generated<number>;
  created_at: Timestamp;
  updated_at: Timestamp;
  confirmed_at: Timestamp | null;
  failed_at: Timestamp | null;
}

export interface OrderItemsTable {
  id: string;
  order_id: string;
  position: number;
  opportunity_type: string;
  opportunity_id: string;
  opportunity: Json<Record<string, unknown>>;
  offer_id: string;
  offer: Json<Record<string, unknown>>;
  price: number;
  currency: string;
  attendee: Json<{ givenName: string; familyName: string; email?: string | null; identifier?: string | null }> | null;
  attendee_customer_id: number | null;
  status: string;
  seller_order_item_id: string | null;
  access_code: string | null;
  access_pass: Json<unknown[]> | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// A type alias (not an interface) so it satisfies withTables' record constraint.
export type OrdersTables = {
  orders: OrdersTable;
  order_items: OrderItemsTable;
};

export type OrdersDB = DB & OrdersTables;
export type OrdersExecutor = Kysely<OrdersDB> | Transaction<OrdersDB>;

export function ordersDb<T extends Kysely<DB> | Transaction<DB>>(db: T): OrdersExecutor {
  return (db as Kysely<DB>).withTables<OrdersTables>();
}
