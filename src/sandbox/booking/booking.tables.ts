import type { ColumnType, Generated } from 'kysely';

/*
 * The booking side's tables in the sandbox database (migration 2026-11-27-002). Snake_case
 * columns, like the rest of the sandbox schema.
 *
 *   booking_partners ─┬─< orders ─< order_items
 *                     └─< leases
 *
 * A UUID names one OrderQuote/Order per booking partner (Open Booking API: UUIDs are unique
 * only per credential, openactive.md §1.13). Quotes are not stored: a quote's only lasting
 * effect is its lease. Orders are stored from B on and never removed; Order Deletion marks them
 * `deleted` (the Orders feed shows a tombstone and the UUID can never be reused, §1.14).
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T = Record<string, unknown>> = ColumnType<T, string | T, string | T>;

export interface BookingPartnersTable {
  /** The credential's client id, e.g. `booking-partner-1`; also the test-header value. */
  id: string;
  name: string;
  /** sha256 (hex) of the partner's bearer secret; null = header authentication only. */
  secret_hash: string | null;
  created_at: Generated<Date>;
}

export type OrderState = 'confirmed' | 'deleted';

export interface OrdersTable {
  partner_id: string;
  uuid: string;
  seller_id: number;
  state: OrderState;
  broker_role: string;
  tax_calculation_excluded: boolean;
  price_currency: string;
  /** sha256 of the canonical B request body: a replay with the same body gets `response` back. */
  request_hash: string;
  /** The 201 body B returned, replayed verbatim on an idempotent retry (§1.14). */
  response: Json;
  /**
   * Position in this partner's Orders feed (a change number from `orders_feed_seq`); null until
   * the order first changes after B, since a new Order is not in the feed (§1.12).
   */
  feed_modified: number | null;
  created_at: Generated<Date>;
  updated_at: Timestamp;
}

export interface OrderItemsTable {
  /** Also the item's number in its `@id`: `{order @id}#/orderedItem/{id}`. */
  id: Generated<number>;
  partner_id: string;
  order_uuid: string;
  position: number;
  opportunity_type: 'ScheduledSession' | 'Slot';
  opportunity_id: number;
  /** The opportunity's `@id` (bare URL in the Orders feed). */
  opportunity_url: string;
  offer_id: number;
  start_date: Timestamp;
  /** Full `https://openactive.io/…` OrderItemStatus URL. */
  status: string;
  /** What the customer pays for this item, tax included (minor units). */
  payable_minor: number;
  tax_minor: number;
  /** The Offer snapshot returned as `acceptedOffer` (decides cancellation rights later). */
  accepted_offer: Json;
  /** The opportunity as returned in B (`orderedItem`), for Order Status responses. */
  ordered_item: Json;
  cancellation_message: string | null;
  customer_notice: string | null;
  updated_at: Timestamp;
}

export interface LeasesTable {
  id: Generated<number>;
  partner_id: string;
  order_uuid: string;
  opportunity_type: 'ScheduledSession' | 'Slot';
  opportunity_id: number;
  /** Spaces held (the order may name the same opportunity several times). */
  places: number;
  expires_at: Timestamp;
  created_at: Generated<Date>;
}

export interface BookingTables {
  booking_partners: BookingPartnersTable;
  orders: OrdersTable;
  order_items: OrderItemsTable;
  leases: LeasesTable;
}
