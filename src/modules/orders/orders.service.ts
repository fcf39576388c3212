import type { Database, Executor } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import { randomAlphanumeric } from '../../lib/ids.js';
import type { ErasureHook } from '../customers/index.js';
import * as repo from './orders.repository.js';
import { withoutPersonalData } from './personal-data.js';
import { ordersDb, type CustomerSnapshot, type OrderStage } from './orders.tables.js';

export const ORDER_ITEM_CONFIRMED = 'https://openactive.io/OrderItemConfirmed';
/** Item status while the order is not yet confirmed (not an OpenActive value; never published). */
export const ORDER_ITEM_PENDING = 'activehub:Pending';
export const ORDER_ITEM_FAILED = 'activehub:Failed';

export interface PendingOrderInput {
  id: string;
  brokerId: number;
  /** The mode of the key (or guest link) the order was made with. */
  mode: 'live' | 'test';
  customerId: number | null;
  customer: CustomerSnapshot;
  checkoutSessionId: string | null;
  publisherId: number | null;
  sellerId: string | null;
  seller: Record<string, unknown> | null;
  broker: Record<string, unknown>;
  totalPrice: number;
  currency: string;
  paymentId: string | null;
  bookingTarget: Record<string, unknown> | null;
  bookingRequest: Record<string, unknown> | null;
  testMode: boolean;
  items: {
    opportunityType: string;
    opportunityId: string;
    opportunity: Record<string, unknown>;
    offerId: string;
    offer: Record<string, unknown>;
    price: number;
    currency: string;
    attendee: { givenName: string; familyName: string; email?: string | null; identifier?: string | null } | null;
    attendeeCustomerId: number | null;
  }[];
}

export interface ConfirmInput {
  sellerOrderNumber?: string | null | undefined;
  sellerResponse?: unknown;
  /** Per position: the seller's OrderItem @id and access data. */
  items?: { position: number; sellerOrderItemId: string | null; accessCode?: string | null | undefined }[];
}

/** A short booking reference shown to customers: no 0/O or 1/I/L to misread. */
function orderNumber(): string {
  const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
  const raw = randomAlphanumeric(16);
  let out = '';
  for (let i = 0; i < 8; i += 1) out += alphabet[raw.charCodeAt(i) % alphabet.length];
  return out;
}

/**
 * The order record: written `pending` before the seller is asked to book (B), then confirmed or
 * failed. Every transition is conditional on the current status/stage, so concurrent callers
 * (a request and the recovery job) can never both confirm or both fail an order.
 */
export function createOrdersService({ database, clock }: { database: Database; clock: Clock }) {
  const db = ordersDb(database.db);

  async function insertPendingOrder(executor: Executor, input: PendingOrderInput) {
    const x = ordersDb(executor);
    const now = clock.now();
    // One statement: the order and its items.
    return repo.insertOrderWithItems(
      x,
      {
        id: input.id,
        broker_id: input.brokerId,
        mode: input.mode,
        customer_id: input.customerId,
        customer: JSON.stringify(input.customer),
        status: 'pending',
        stage: 'created',
        checkout_session_id: input.checkoutSessionId,
        publisher_id: input.publisherId,
        seller_id: input.sellerId,
        seller: input.seller ? JSON.stringify(input.seller) : null,
        broker: JSON.stringify(input.broker),
        total_price: input.totalPrice,
        currency: input.currency,
        payment_id: input.paymentId,
        order_number: orderNumber(),
        booking_target: input.bookingTarget ? JSON.stringify(input.bookingTarget) : null,
        booking_request: input.bookingRequest ? JSON.stringify(input.bookingRequest) : null,
        test_mode: input.testMode,
        created_at: now,
        updated_at: now,
      },
      input.items.map((item, position) => ({
        id: randomAlphanumeric(10),
        order_id: input.id,
        position,
        opportunity_type: item.opportunityType,
        opportunity_id: item.opportunityId,
        opportunity: JSON.stringify(item.opportunity),
        offer_id: item.offerId,
        offer: JSON.stringify(item.offer),
        price: item.price,
        currency: item.currency,
        attendee: item.attendee ? JSON.stringify(item.attendee) : null,
        attendee_customer_id: item.attendeeCustomerId,
        status: ORDER_ITEM_PENDING,
        created_at: now,
        updated_at: now,
      })),
    );
  }

  return {
    insertPendingOrder,

    /** Moves a pending order from one of `from` to `to`; false when it was not in those stages. */
    async advance(id: string, from: OrderStage[], to: OrderStage, executor: Executor = database.db): Promise<boolean> {
      const row = await repo.updatePending(ordersDb(executor), id, from, { stage: to, updated_at: clock.now() });
      return row !== undefined;
    },

    /**
     * Records what the seller answered to B (stage `booked`): the order and its items as they now
     * are, or undefined when the order was no longer pending.
     */
    async markBooked(id: string, input: ConfirmInput, executor: Executor = database.db) {
      const x = ordersDb(executor);
      const now = clock.now();
      // One statement: the order, then its items by position (only when the order moved).
      return repo.markBooked(
        x,
        id,
        {
          stage: 'booked',
          seller_order_number: input.sellerOrderNumber ?? null,
          seller_response: input.sellerResponse === undefined ? null : JSON.stringify(input.sellerResponse),
          updated_at: now,
        },
        (input.items ?? []).map((given) => ({
          position: given.position,
          seller_order_item_id: given.sellerOrderItemId,
          access_code: given.accessCode ?? null,
        })),
      );
    },

    /**
     * pending → confirmed, items OrderItemConfirmed. Run it in the transaction that also enqueues
     * the confirmation email: false (and nothing written) when someone else already decided.
     */
    async markConfirmed(executor: Executor, id: string): Promise<boolean> {
      const x = ordersDb(executor);
      const now = clock.now();
      return repo.settlePending(
        x,
        id,
        { status: 'confirmed', stage: 'complete', confirmed_at: now, updated_at: now },
        { status: ORDER_ITEM_CONFIRMED, updated_at: now },
      );
    },

    /** pending → failed; false when the order was no longer pending. */
    async markFailed(
      id: string,
      failure: { code: string; message: string },
      executor: Executor = database.db,
    ): Promise<boolean> {
      const x = ordersDb(executor);
      const now = clock.now();
      return repo.settlePending(
        x,
        id,
        { status: 'failed', stage: 'failed', failure: JSON.stringify(failure), failed_at: now, updated_at: now },
        { status: ORDER_ITEM_FAILED, updated_at: now },
      );
    },

    /** Removes a pending order that was never sent to the seller (e.g. the card was declined). */
    async discardUnsent(id: string): Promise<boolean> {
      return (await repo.deleteUnsentOrder(db, id)) !== undefined;
    },

    async noteRecoveryAttempt(id: string): Promise<void> {
      await db
        .updateTable('orders')
        .set((eb) => ({ recovery_attempts: eb('recovery_attempts', '+', 1), updated_at: clock.now() }))
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .execute();
    },

    findOrder: (id: string) => repo.findOrder(db, id),
    findItems: (orderId: string) => repo.findItems(db, orderId),
    /** An order with its items, read in one statement. */
    findOrderWithItems: (id: string) => repo.findOrderWithItems(db, id),
    /** Pending orders due for recovery (see repo.findStuckPending). */
    findStuckPending: (now: Date, olderThanMs: number, maxDoublings: number, limit = 100) =>
      repo.findStuckPending(db, now, olderThanMs, maxDoublings, limit),

    /**
     * The customer's orders for their data export: every order they bought (any status) and the
     * items of others' orders they attend (those orders' buyer and other attendees left out).
     */
    async exportCustomer(customerId: number) {
      const orders = await repo.findOrdersOfPersonWithItems(db, customerId);
      return orders.map((o) => {
        const buyer = o.customer_id === customerId;
        const items = o.items.filter((i) => buyer || i.attendee_customer_id === customerId);
        return {
          identifier: o.id,
          orderNumber: o.order_number,
          'activehub:status': o.status,
          ...(buyer ? { customer: o.customer, 'activehub:totalPrice': o.total_price, priceCurrency: o.currency } : {}),
          ...(buyer && o.payment_id ? { 'activehub:paymentId': o.payment_id } : {}),
          seller: o.seller,
          'activehub:created': o.created_at.toISOString(),
          ...(o.confirmed_at ? { 'activehub:confirmed': o.confirmed_at.toISOString() } : {}),
          ...(o.failed_at ? { 'activehub:failed': o.failed_at.toISOString() } : {}),
          orderedItem: items.map((i) => ({
            identifier: i.id,
            orderedItem: i.opportunity,
            acceptedOffer: i.offer,
            'activehub:price': i.price,
            priceCurrency: i.currency,
            orderItemStatus: i.status,
            ...(i.attendee ? { attendee: i.attendee } : {}),
          })),
        };
      });
    },

    /**
     * Customers' erasure hook: orders stay, their personal data is replaced (DECISIONS §4) — the
     * customer snapshot, attendees, and every Person in the seller's response to B and in the B
     * request (the seller's echo holds the customer's email, names and telephone; issue 14).
     */
    eraseCustomer: (async (trx, customer) => {
      const x = ordersDb(trx);
      const person = {
        givenName: 'Deleted',
        familyName: 'Customer',
        email: customer.placeholderEmail,
        identifier: customer.identifier,
      };
      const placeholder = JSON.stringify(person);
      // The B request we keep for recovery repeats the customer; settled orders no longer need it,
      // and a pending one is re-sent with the placeholder.
      await x.updateTable('orders').set({ customer: placeholder }).where('customer_id', '=', customer.id).execute();
      await x
        .updateTable('orders')
        .set({ booking_request: null })
        .where('customer_id', '=', customer.id)
        .where('status', '<>', 'pending')
        .execute();
      await x
        .updateTable('order_items')
        .set({ attendee: placeholder })
        .where('attendee_customer_id', '=', customer.id)
        .execute();
      // Orders they bought or attend: the seller's documents lose every Person in them.
      for (const order of await repo.findOrderDocumentsOfPerson(x, customer.id)) {
        await repo.updateOrderDocuments(x, order.id, {
          seller_response:
            order.seller_response === null ? null : JSON.stringify(withoutPersonalData(order.seller_response, person)),
          booking_request:
            order.booking_request === null ? null : JSON.stringify(withoutPersonalData(order.booking_request, person)),
        });
      }
    }) satisfies ErasureHook,
  };
}

export type OrdersService = ReturnType<typeof createOrdersService>;
