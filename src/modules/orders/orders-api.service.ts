import type { Logger } from 'pino';
import type { Database, Executor } from '../../db/database.js';
import { AppError, isAppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import { randomAlphanumeric } from '../../lib/ids.js';
import type { Jobs } from '../../lib/jobs.js';
import type { AuthContext } from '../brokers/index.js';
import { isBookingError, type BookingTarget } from '../booking/index.js';
import { renderRefundEmail, type OutgoingEmail } from '../notifications/index.js';
import { isPresentlyCancellable, ORDER_ITEM_CONFIRMED, readCancellationBody } from './cancellation.js';
import * as repo from './orders-api.repository.js';
import { ordersApiDb, type OrdersApiExecutor } from './orders-api.tables.js';
import {
  CANCELLED_STATUSES,
  CUSTOMER_CANCELLED,
  formatMoney,
  isObj,
  ITEMS_PER_PAGE,
  orderUrl,
  receiptSnapshot,
  renderCollection,
  renderOrder,
  renderOrderItem,
  SELLER_CANCELLED,
  taxLinesOf,
  type ItemRow,
  type OrderRow,
  type RefundRow,
} from './orders.render.js';
import { renderReceiptPdf } from './receipts.js';

type ReceiptListRow = Awaited<ReturnType<typeof repo.findReceiptsOfOrders>>[number];
type OrderWithParts = Awaited<ReturnType<typeof repo.findCustomerOrdersWithParts>>[number];

/*
 * The Orders API (imin-booking §3): order history, order by id, upcoming order items, customer
 * cancellation, receipts; and what the sellers' Orders feeds tell us (openactive.md §1.11–1.12):
 * statuses, totals, and the refund, email and receipt every cancellation causes.
 */

export const REFUND_JOB = 'orders.refund';

/** What the Orders API needs from booking, payments and notifications (their index contracts). */
export interface OrdersApiPorts {
  booking: {
    targetFor(publisherId: number, sellerId: string): Promise<BookingTarget>;
    cancelItems(target: BookingTarget, uuid: string, orderItemIds: string[]): Promise<void>;
  };
  payments: {
    refund(input: {
      paymentId: string;
      refundId: string;
      amount: number;
      reason?: string;
    }): Promise<{ refundId: string; status: 'succeeded' | 'pending' }>;
  };
  mailer: {
    enqueue(executor: Executor, email: OutgoingEmail): Promise<{ id: string }>;
    senderFor(broker: { name: string; emailFrom?: string | null }): string;
  };
}

export interface OrdersApiDeps extends OrdersApiPorts {
  database: Database;
  clock: Clock;
  jobs: Jobs;
  log: Logger;
  publicBaseUrl: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RECEIPT_ID = /^[A-Za-z0-9]{1,64}$/;

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);
const toMinor = (price: unknown): number | null => {
  const n = typeof price === 'number' ? price : typeof price === 'string' ? Number(price) : NaN;
  return Number.isFinite(n) ? Math.round(n * 100) : null;
};

/** A refund id derived from its cause: re-reading the cause can never mint a second refund. */
export const itemRefundId = (itemId: string) => `refund-item-${itemId}`;
const totalRefundId = (orderId: string, due: number) => `refund-total-${orderId}-${due}`;

export interface SellerOrderUpdate {
  /** The Orders feed item's `data` (an Order, partial by item: openactive.md §1.12). */
  data: Record<string, unknown>;
  modified: string | null;
}

export type ApplyOutcome = 'applied' | 'unchanged' | 'unknown_order' | 'not_completed';

export function createOrdersApi(deps: OrdersApiDeps) {
  const { clock, log } = deps;
  const db = ordersApiDb(deps.database.db);
  const urls = { base: deps.publicBaseUrl };

  const cancellableNow = (order: OrderRow, now: Date) => (item: ItemRow) =>
    isPresentlyCancellable(
      {
        status: item.status,
        startDate: item.start_date ?? str(item.opportunity.startDate),
        offer: item.offer,
        testMode: order.test_mode,
        timeZone: str(item.opportunity.scheduleTimezone),
      },
      now,
    );

  function checkPage(page: number | undefined): number {
    return page ?? 1;
  }

  async function requireOrder(x: OrdersApiExecutor, auth: AuthContext, id: string): Promise<OrderRow> {
    // Another broker's order, or one of the other mode, answers exactly like an unknown one
    // (DECISIONS §2; test mode is a world of its own).
    const order = UUID.test(id) ? await repo.findVisibleOrder(x, auth, id.toLowerCase()) : undefined;
    if (!order) throw new AppError('UNKNOWN_ORDER', `There is no order ${id.slice(0, 100)}.`);
    return order;
  }

  /** The first receipt of each completed order, issued when first needed (as booked). */
  async function ensureFirstReceipts(orders: OrderRow[], items: ItemRow[], have: ReceiptListRow[]) {
    const missing = orders.filter((o) => !have.some((r) => r.order_id === o.id));
    for (const order of missing) {
      await repo.insertReceipt(db, {
        id: randomAlphanumeric(12),
        order_id: order.id,
        broker_id: order.broker_id,
        sequence: 1,
        reason: 'order',
        snapshot: JSON.stringify(
          receiptSnapshot(
            order,
            items.filter((i) => i.order_id === order.id),
            [],
            { asBooked: true },
          ),
        ),
        created_at: order.confirmed_at ?? order.created_at,
      });
    }
    return missing.length
      ? repo.findReceiptsOfOrders(
          db,
          orders.map((o) => o.id),
        )
      : have;
  }

  /** Orders read with their items, refunds and receipts, as the Orders API shows them. */
  async function renderOrders(rows: OrderWithParts[]) {
    if (rows.length === 0) return [];
    const orders: OrderRow[] = rows.map(({ items: _i, refunds: _r, receipts: _c, ...order }) => order);
    const items = rows.flatMap((r) => r.items);
    const receipts = await ensureFirstReceipts(
      orders,
      items,
      rows.flatMap((r) => r.receipts),
    );
    const now = clock.now();
    return rows.map((row, i) =>
      renderOrder(
        urls,
        orders[i]!,
        row.items,
        receipts.filter((r) => r.order_id === row.id),
        row.refunds,
        cancellableNow(orders[i]!, now),
      ),
    );
  }

  /** Issues the next receipt of an order (and the first, as booked, if it had none yet). */
  async function issueReceipt(x: OrdersApiExecutor, order: OrderRow, reason: 'refund' | 'change', now: Date) {
    const items = await repo.findItemsOfOrders(x, [order.id]);
    const refunds = await repo.findRefundsOfOrders(x, [order.id]);
    let sequence = await repo.nextReceiptSequence(x, order.id);
    if (sequence === 1) {
      await repo.insertReceipt(x, {
        id: randomAlphanumeric(12),
        order_id: order.id,
        broker_id: order.broker_id,
        sequence: 1,
        reason: 'order',
        snapshot: JSON.stringify(receiptSnapshot(order, items, [], { asBooked: true })),
        created_at: order.confirmed_at ?? order.created_at,
      });
      sequence = 2;
    }
    await repo.insertReceipt(x, {
      id: randomAlphanumeric(12),
      order_id: order.id,
      broker_id: order.broker_id,
      sequence,
      reason,
      snapshot: JSON.stringify(receiptSnapshot(order, items, refunds, { asBooked: false })),
      created_at: now,
    });
  }

  async function refundEmail(trx: Executor, order: OrderRow, cancelled: ItemRow[], refunds: RefundRow[]) {
    const x = ordersApiDb(trx);
    const to = order.customer.email;
    // Erased customers keep a placeholder address in a reserved domain: nothing to send.
    if (!to || /@invalid$|\.invalid$/i.test(to)) return;
    const broker = await repo.findBrokerBranding(x, order.broker_id);
    if (!broker) return;
    const seller = isObj(order.seller) ? order.seller : {};
    const first = cancelled[0]?.opportunity ?? {};
    const total = refunds.reduce((sum, r) => sum + r.amount, 0);
    const bySeller = cancelled.some((i) => i.status === SELLER_CANCELLED);
    const message = cancelled.map((i) => i.cancellation_message).find((m) => m);
    const rendered = renderRefundEmail({
      broker: {
        name: broker.name,
        url: broker.url,
        logoUrl: broker.logo_url,
        primaryColor: broker.primary_color,
        contactEmail: broker.contact_email,
        termsUrl: broker.terms_url,
      },
      customer: { givenName: order.customer.givenName, familyName: order.customer.familyName, email: to },
      orderNumber: order.order_number,
      items: cancelled.map((i) => ({
        name: str(i.opportunity.name) ?? 'Booking',
        startDate: str(i.opportunity.startDate) ?? '',
        endDate: str(i.opportunity.endDate),
        attendeeName: i.attendee ? `${i.attendee.givenName} ${i.attendee.familyName}` : null,
        amountText: formatMoney(refunds.find((r) => r.order_item_id === i.id)?.amount ?? 0, i.currency),
      })),
      refundTotalText: formatMoney(total, order.currency),
      reason: bySeller
        ? (message ?? 'The organiser has cancelled this activity.')
        : 'Your cancellation has been confirmed by the organiser.',
      seller: {
        name: str(seller.name) ?? str(first.sellerName) ?? 'The organiser',
        termsUrl: str(first.sellerTermsUrl),
        email: str(seller.email),
        telephone: str(seller.telephone),
      },
      testMode: order.test_mode || order.mode === 'test',
    });
    await deps.mailer.enqueue(trx, {
      brokerId: order.broker_id,
      customerId: order.customer_id,
      orderId: order.id,
      kind: 'refund',
      from: deps.mailer.senderFor({ name: broker.name, emailFrom: broker.email_from }),
      to,
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
    });
  }

  /**
   * Refunds owed for the order as it now stands, each recorded once under an id derived from its
   * cause: one per cancelled item (its price), and one for any further drop of the seller's total
   * (openactive.md §1.11: refund = payment − previous refunds − new total). New refunds are
   * queued as jobs in the caller's transaction; the refund email and a new receipt follow.
   */
  async function settle(trx: Executor, order: OrderRow, now: Date): Promise<number> {
    const x = ordersApiDb(trx);
    const items = await repo.findItemsOfOrders(x, [order.id]);
    const existing = await repo.findRefundsOfOrders(x, [order.id]);
    let refunded = existing.filter((r) => r.status !== 'failed').reduce((s, r) => s + r.amount, 0);
    const created: RefundRow[] = [];
    const newlyCancelled: ItemRow[] = [];
    const add = async (id: string, itemId: string | null, amount: number, reason: string) => {
      const status = amount > 0 && order.payment_id ? 'queued' : 'not_needed';
      const row = {
        id,
        order_id: order.id,
        order_item_id: itemId,
        amount,
        currency: order.currency,
        reason,
        status,
        payment_id: order.payment_id,
        error: null,
        created_at: now,
        updated_at: now,
      } as const;
      if (!(await repo.insertRefundOnce(x, row))) return false;
      created.push(row);
      refunded += amount;
      if (status === 'queued') await deps.jobs.send(REFUND_JOB, { refundId: id }, { executor: trx });
      return true;
    };
    for (const item of items) {
      if (!CANCELLED_STATUSES.has(item.status)) continue;
      const amount = Math.max(0, Math.min(item.price, order.total_price - refunded));
      const reason = item.status === SELLER_CANCELLED ? 'Cancelled by the organiser' : 'Cancelled by the customer';
      if (await add(itemRefundId(item.id), item.id, amount, reason)) newlyCancelled.push(item);
    }
    if (order.seller_total_due !== null) {
      const excess = order.total_price - refunded - order.seller_total_due;
      if (excess > 0)
        await add(totalRefundId(order.id, order.seller_total_due), null, excess, 'Price reduced by the organiser');
    }
    if (created.length === 0) return 0;
    if (order.status === 'confirmed' && items.every((i) => CANCELLED_STATUSES.has(i.status))) {
      await repo.updateOrder(x, order.id, { status: 'cancelled', updated_at: now });
    }
    await issueReceipt(x, order, 'refund', now);
    await refundEmail(trx, order, newlyCancelled, created);
    return created.length;
  }

  /**
   * Applies one Orders-feed entry to our copy (openactive.md §1.12): each listed item's status,
   * messages and tax replace ours whole; the totals replace ours. Cancellation is final, so a
   * stale entry can never revive a cancelled item. Runs in the caller's transaction. A feed
   * speaks for its own publisher only: an order booked with another publisher is, to this feed,
   * an unknown order (issue 14: a hostile feed must never cancel or refund another seller's order).
   */
  async function applySellerOrder(
    trx: Executor,
    scope: { publisherId: number },
    orderId: string,
    update: SellerOrderUpdate,
  ): Promise<ApplyOutcome> {
    const x = ordersApiDb(trx);
    const order = await repo.lockPublisherOrder(x, orderId, scope.publisherId);
    if (!order) return 'unknown_order';
    if (order.status !== 'confirmed' && order.status !== 'cancelled') return 'not_completed';
    const now = clock.now();
    const data = update.data;
    const sellerItems = Array.isArray(data.orderedItem) ? data.orderedItem.filter(isObj) : [];
    const bySellerId = new Map(sellerItems.map((i) => [str(i['@id']) ?? str(i.id), i]));
    const items = await repo.findItemsOfOrders(x, [order.id]);
    let changed = false;
    for (const item of items) {
      const s = item.seller_order_item_id ? bySellerId.get(item.seller_order_item_id) : undefined;
      if (!s) continue;
      const status = str(s.orderItemStatus);
      const keepCancelled = CANCELLED_STATUSES.has(item.status);
      const nextStatus = status && !keepCancelled ? status : item.status;
      const tax = taxLinesOf(s.unitTaxSpecification, item.currency);
      const changes = {
        status: nextStatus,
        cancellation_message: str(s.cancellationMessage),
        customer_notice: str(s.customerNotice),
        unit_tax: tax.length ? JSON.stringify(tax) : null,
        ...(CANCELLED_STATUSES.has(nextStatus) && !item.cancelled_at ? { cancelled_at: now } : {}),
        updated_at: now,
      };
      changed ||= nextStatus !== item.status || changes.cancellation_message !== item.cancellation_message;
      await repo.updateOrderItem(x, item.id, changes);
    }
    const due = isObj(data.totalPaymentDue) ? toMinor(data.totalPaymentDue.price) : null;
    const tax = isObj(data.totalPaymentTax) ? toMinor(data.totalPaymentTax.price) : null;
    // The total only ever stays or falls (§1.11); a rise is the seller's error, not a charge.
    const nextDue = due === null ? order.seller_total_due : Math.min(due, order.seller_total_due ?? due);
    await repo.updateOrder(x, order.id, {
      seller_total_due: nextDue,
      seller_total_tax: tax,
      seller_feed_modified: update.modified,
      seller_updated_at: now,
      updated_at: now,
    });
    const refunds = await settle(trx, { ...order, seller_total_due: nextDue, seller_total_tax: tax }, now);
    return changed || refunds > 0 ? 'applied' : 'unchanged';
  }

  return {
    applySellerOrder,

    /**
     * Makes sure the job queue is installed. Call before a transaction that applies seller
     * changes: starting it inside one would wait for the connection the transaction holds (PGlite).
     */
    ready: () => deps.jobs.start(),

    async listOrders(auth: AuthContext, identifier: string, pageParam?: number) {
      const page = checkPage(pageParam);
      const [total, orders] = await Promise.all([
        repo.countCustomerOrders(db, auth, identifier),
        repo.findCustomerOrdersWithParts(db, auth, identifier, ITEMS_PER_PAGE, (page - 1) * ITEMS_PER_PAGE),
      ]);
      return renderCollection(`${urls.base}/api/v2/orders`, identifier, { page, total }, await renderOrders(orders));
    },

    async getOrder(auth: AuthContext, id: string) {
      // Another broker's order, or one of the other mode, answers exactly like an unknown one.
      const order = UUID.test(id) ? await repo.findVisibleOrderWithParts(db, auth, id.toLowerCase()) : undefined;
      if (!order) throw new AppError('UNKNOWN_ORDER', `There is no order ${id.slice(0, 100)}.`);
      const [rendered] = await renderOrders([order]);
      return rendered!;
    },

    async listUpcomingItems(auth: AuthContext, identifier: string, pageParam?: number) {
      const page = checkPage(pageParam);
      const now = clock.now();
      const [total, items] = await Promise.all([
        repo.countUpcomingItems(db, auth, identifier, now),
        repo.findUpcomingItems(db, auth, identifier, now, ITEMS_PER_PAGE, (page - 1) * ITEMS_PER_PAGE),
      ]);
      const rendered = items.flatMap(({ order, ...item }) => {
        if (!order) return [];
        return [
          {
            '@context': ['https://openactive.io/', 'https://openactive.io/ns-beta'],
            ...renderOrderItem(urls, order, item, cancellableNow(order, now)(item), { withOrderLink: true }),
          },
        ];
      });
      return renderCollection(`${urls.base}/api/v2/order-items`, identifier, { page, total }, rendered);
    },

    /**
     * Customer cancellation (§3.3): checked here, then sent to the seller (Open Booking API U);
     * the items are CustomerCancelled once the seller accepts. The refund follows the seller's
     * Orders feed; a test-mode order has no seller and is settled at once.
     */
    async cancel(auth: AuthContext, id: string, body: unknown): Promise<void> {
      const order = await requireOrder(db, auth, id);
      const itemIds = readCancellationBody(body, orderUrl(urls, order.id));
      const items = await repo.findItemsOfOrders(db, [order.id]);
      const now = clock.now();
      const chosen: ItemRow[] = [];
      for (const itemId of new Set(itemIds)) {
        const item = items.find((i) => i.id === itemId);
        if (!item) throw new AppError('UNKNOWN_ORDER_ITEM', `Order ${order.id} has no item ${itemId.slice(0, 100)}.`);
        chosen.push(item);
      }
      const toCancel = chosen.filter((i) => i.status !== CUSTOMER_CANCELLED);
      for (const item of toCancel) {
        if (!cancellableNow(order, now)(item)) {
          throw new AppError(
            'CANCELLATION_NOT_PERMITTED',
            item.status === SELLER_CANCELLED
              ? `Item ${item.id} was already cancelled by the organiser.`
              : item.status !== ORDER_ITEM_CONFIRMED
                ? `Item ${item.id} can no longer be cancelled.`
                : `Item ${item.id} cannot be cancelled now: its offer does not allow it, or its cancellation window has closed.`,
          );
        }
      }
      // Idempotent: items already cancelled by the customer are a success (openactive.md §1.11).
      if (toCancel.length === 0) return;
      const local = order.booking_target === null || order.publisher_id === null || order.seller_id === null;
      if (!local) {
        const sellerIds = toCancel.map((i) => i.seller_order_item_id);
        if (sellerIds.some((s) => !s)) {
          throw new AppError(
            'SERVICE_UNAVAILABLE',
            'This booking is still being confirmed by the organiser; try again shortly.',
          );
        }
        try {
          const target = await deps.booking.targetFor(order.publisher_id!, order.seller_id!);
          await deps.booking.cancelItems(target, order.id, sellerIds as string[]);
        } catch (err) {
          if (!isBookingError(err)) throw err;
          log.warn({ orderId: order.id, problem: err.problem, status: err.status }, 'seller refused a cancellation');
          if (err.problem.openActiveType === 'CancellationNotPermittedError') {
            throw new AppError('CANCELLATION_NOT_PERMITTED', err.problem.message);
          }
          if (err.retryable) {
            throw new AppError(
              'SERVICE_UNAVAILABLE',
              "The organiser's booking system did not answer; nothing was cancelled. Try again shortly.",
            );
          }
          throw new AppError(
            'CANCELLATION_NOT_PERMITTED',
            `The organiser did not accept the cancellation: ${err.problem.message}`,
          );
        }
      }
      await deps.jobs.start();
      await deps.database.db.transaction().execute(async (trx) => {
        const x = ordersApiDb(trx);
        const locked = await repo.lockOrder(x, order.id);
        if (!locked) return;
        for (const item of toCancel) {
          await repo.updateOrderItem(x, item.id, {
            status: CUSTOMER_CANCELLED,
            cancellation_requested_at: now,
            cancelled_at: now,
            updated_at: now,
          });
        }
        if (local) await settle(trx, locked, now);
      });
    },

    /** The receipt as a PDF (§3.5); another broker's (or mode's) receipt answers like an unknown one. */
    async getReceiptPdf(auth: AuthContext, id: string): Promise<{ pdf: Buffer; filename: string }> {
      const receipt = RECEIPT_ID.test(id) ? await repo.findBrokerReceipt(db, auth.brokerId, id) : undefined;
      if (!receipt) throw new AppError('NOT_FOUND', `There is no receipt ${id.slice(0, 100)}.`);
      const order = await repo.findVisibleOrder(db, auth, receipt.order_id);
      if (!order) throw new AppError('NOT_FOUND', `There is no receipt ${id.slice(0, 100)}.`);
      const items = await repo.findItemsOfOrders(db, [order.id]);
      const attendees: Record<string, string> = {};
      for (const i of items) if (i.attendee) attendees[i.id] = `${i.attendee.givenName} ${i.attendee.familyName}`;
      const pdf = await renderReceiptPdf({
        receiptNumber: `${receipt.snapshot.orderNumber}-${receipt.sequence}`,
        issuedAt: receipt.created_at,
        reason: receipt.reason,
        snapshot: receipt.snapshot,
        customer: {
          name: `${order.customer.givenName} ${order.customer.familyName}`,
          email: order.customer.email || null,
        },
        attendees,
      });
      return { pdf, filename: `receipt-${receipt.snapshot.orderNumber}-${receipt.sequence}.pdf` };
    },

    /** Job handler: makes one queued refund with the payment provider (idempotent per refund id). */
    async runRefund(refundId: string): Promise<void> {
      const refund = await repo.findRefund(db, refundId);
      if (!refund || refund.status === 'succeeded' || refund.status === 'not_needed' || refund.status === 'failed')
        return;
      if (!refund.payment_id || refund.amount === 0) {
        await repo.updateRefund(db, refund.id, { status: 'not_needed', updated_at: clock.now() });
        return;
      }
      try {
        const result = await deps.payments.refund({
          paymentId: refund.payment_id,
          refundId: refund.id,
          amount: refund.amount,
          reason: refund.reason,
        });
        await repo.updateRefund(db, refund.id, { status: result.status, error: null, updated_at: clock.now() });
      } catch (err) {
        // A refund the provider can never make (nothing captured, already fully refunded) is
        // recorded and logged for an operator; anything else is retried by the job queue.
        if (isAppError(err) && ['BAD_REQUEST', 'CONFLICT', 'NOT_FOUND'].includes(err.code)) {
          log.error({ refundId, orderId: refund.order_id, err: err.message }, 'refund cannot be made');
          await repo.updateRefund(db, refund.id, {
            status: 'failed',
            error: err.message.slice(0, 500),
            updated_at: clock.now(),
          });
          return;
        }
        throw err;
      }
    },

    /** Issues the first receipt of completed orders that have none yet (run by the feed job). */
    async issueMissingReceipts(limit = 100): Promise<number> {
      const rows = await repo.findOrdersWithoutReceipt(db, limit);
      if (rows.length === 0) return 0;
      const orders = await repo.findOrdersByIds(
        db,
        rows.map((r) => r.id),
      );
      const items = await repo.findItemsOfOrders(
        db,
        rows.map((r) => r.id),
      );
      await ensureFirstReceipts(orders, items, []);
      return rows.length;
    },
  };
}

export type OrdersApi = ReturnType<typeof createOrdersApi>;
