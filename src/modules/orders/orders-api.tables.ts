import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { OrderItemsTable, OrdersTable } from './orders.tables.js';

/*
 * Types of what the Orders API adds to the orders tables (the `ordersApiTables` block of
 * migration 2026-11-27-008): the sellers' view from their Orders feeds, refunds, receipts and
 * the feed cursors. `ordersApiDb` widens the shared Kysely instance with all of them.
 */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface OrderSellerColumns {
  seller_total_due: number | null;
  seller_total_tax: number | null;
  seller_feed_modified: string | null;
  seller_updated_at: Timestamp | null;
}

/** A tax line as the seller reported it (OpenActive TaxChargeSpecification), in minor units. */
export interface TaxLine {
  name: string | null;
  rate: number | null;
  amount: number;
  currency: string;
}

export interface OrderItemApiColumns {
  order_broker_id: ColumnType<number | null, never, never>;
  order_customer_identifier: ColumnType<string | null, never, never>;
  start_date: ColumnType<Date | null, never, never>;
  cancellation_message: string | null;
  customer_notice: string | null;
  unit_tax: Json<TaxLine[]> | null;
  cancelled_at: Timestamp | null;
  cancellation_requested_at: Timestamp | null;
}

export type RefundStatus = 'queued' | 'succeeded' | 'pending' | 'failed' | 'not_needed';

export interface OrderRefundsTable {
  id: string;
  order_id: string;
  order_item_id: string | null;
  amount: number;
  currency: string;
  reason: string;
  status: Generated<RefundStatus>;
  payment_id: string | null;
  error: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** What a receipt shows, fixed when it is issued (no personal data: see the migration). */
export interface ReceiptSnapshot {
  orderNumber: string;
  currency: string;
  seller: { name: string; id: string | null; url: string | null; email: string | null; taxId: string | null };
  broker: { name: string; url: string | null };
  items: {
    id: string;
    name: string;
    startDate: string | null;
    offerName: string | null;
    price: number;
    status: string;
    tax: TaxLine[];
  }[];
  /** What the customer paid at booking (minor units). */
  paid: number;
  paymentReference: string | null;
  /** Tax as the seller reports it for the current total (null: the seller reports none). */
  totalTax: number | null;
  /** What the order costs now, after cancellations. */
  totalDue: number;
  refunds: { id: string; amount: number; reason: string; date: string }[];
  refunded: number;
  testMode: boolean;
}

export interface OrderReceiptsTable {
  id: string;
  order_id: string;
  broker_id: number;
  sequence: number;
  reason: string;
  snapshot: Json<ReceiptSnapshot>;
  created_at: Timestamp;
}

export interface SellerOrderFeedsTable {
  id: Generated<number>;
  feed_key: string;
  publisher_id: number;
  seller_id: string;
  endpoint_url: string;
  next_url: string | null;
  items_applied: Generated<number>;
  failures: Generated<number>;
  last_error: string | null;
  next_poll_at: Timestamp;
  last_success_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

// A type alias (not an interface) so it satisfies withTables' record constraint.
export type OrdersApiTables = {
  orders: OrdersTable & OrderSellerColumns;
  order_items: OrderItemsTable & OrderItemApiColumns;
  order_refunds: OrderRefundsTable;
  order_receipts: OrderReceiptsTable;
  seller_order_feeds: SellerOrderFeedsTable;
};

export type OrdersApiDB = DB & OrdersApiTables;
export type OrdersApiExecutor = Kysely<OrdersApiDB> | Transaction<OrdersApiDB>;

export function ordersApiDb<T extends Kysely<DB> | Transaction<DB>>(db: T): OrdersApiExecutor {
  return (db as Kysely<DB>).withTables<OrdersApiTables>();
}
