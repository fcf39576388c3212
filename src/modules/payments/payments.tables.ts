import type { ColumnType, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';

/*
 * Types of the payments tables (migration 2026-11-27-005-payments). They live with the module
 * that owns the tables; `paymentsDb` widens the shared Kysely instance with them.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type PaymentStatus =
  'prepared' | 'authorized' | 'declined' | 'captured' | 'voided' | 'refunded' | 'partially_refunded';

export interface PaymentsTable {
  id: string;
  broker_id: number;
  mode: 'live' | 'test';
  provider: 'sandbox' | 'stripe';
  provider_reference: string | null;
  amount: number;
  currency: string;
  description: string;
  metadata: Json<Record<string, string>>;
  status: PaymentStatus;
  refunded: ColumnType<number, number | undefined, number>;
  decline_code: string | null;
  decline_message: string | null;
  card_brand: string | null;
  card_last4: string | null;
  /** A provider call in flight (claimed by one caller); null when none. */
  operation: 'authorize' | 'capture' | 'void' | null;
  operation_started_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  authorized_at: Timestamp | null;
  captured_at: Timestamp | null;
  voided_at: Timestamp | null;
}

export interface PaymentRefundsTable {
  id: string;
  payment_id: string;
  amount: number;
  reason: string | null;
  provider_refund_id: string | null;
  status: 'pending' | 'succeeded' | 'failed';
  failure_message: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type PaymentsTables = {
  payments: PaymentsTable;
  payment_refunds: PaymentRefundsTable;
};

export type PaymentsDB = DB & PaymentsTables;
export type PaymentsExecutor = Kysely<PaymentsDB> | Transaction<PaymentsDB>;

export function paymentsDb(db: Kysely<DB>): Kysely<PaymentsDB> {
  return db.withTables<PaymentsTables>();
}
