import type { Logger } from 'pino';
import type { Clock } from '../../lib/clock.js';
import type { OrdersService } from '../orders/index.js';
import type { Problem } from './checkout.tables.js';
import { isBookingError, type BookedOrder, type BookInput, type BookingPort, type PaymentsPort } from './ports.js';

/**
 * Durable job: one per pending order, written in the order's own transaction and run a while
 * later (openactive.md §1.8 "Rollback"). Normally it finds the order already decided and does
 * nothing; after a crash it finishes what pay() began.
 */
export const RECOVER_ORDER_JOB = 'checkout.recover-order';

export type RecoveryOutcome = 'done' | 'confirmed' | 'failed' | 'retry';

export interface RecoveryDeps {
  orders: OrdersService;
  booking: BookingPort;
  payments: PaymentsPort;
  clock: Clock;
  log: Logger;
  /** pending → confirmed + email + session (checkout.service). */
  finish: (orderId: string) => Promise<boolean>;
  failSession: (orderId: string, problem: Problem) => Promise<void>;
}

/** What the order record keeps of the seller's answer to B (the request and the recovery job alike). */
export function bookedDetails(booked: BookedOrder) {
  return {
    sellerOrderNumber: booked.orderNumber ?? null,
    sellerResponse: booked.raw,
    items: booked.items.map((i, position) => ({
      position,
      sellerOrderItemId: i.orderItemId,
      accessCode: i.accessCode ?? null,
    })),
  };
}

export function createOrderRecovery({ orders, booking, payments, clock, log, finish, failSession }: RecoveryDeps) {
  async function fail(orderId: string, paymentId: string | null, code: string, message: string, problem: Problem) {
    if (paymentId) await payments.void(paymentId);
    if (await orders.markFailed(orderId, { code, message })) await failSession(orderId, problem);
  }

  /**
   * Settles one pending order:
   * - never sent to the seller (`created`, `authorized`) → release the hold, failed;
   * - `booking` (B may or may not have happened) → re-issue the same B (idempotent by UUID):
   *   booked → capture and confirm; a definite refusal → void and fail; no answer → retry later;
   * - `booked` → capture and confirm.
   */
  async function recoverOrder(orderId: string, options: { minAgeMs?: number } = {}): Promise<RecoveryOutcome> {
    const order = await orders.findOrder(orderId);
    if (!order || order.status !== 'pending') return 'done';
    const minAgeMs = options.minAgeMs ?? 60_000;
    if (clock.now().getTime() - order.updated_at.getTime() < minAgeMs) return 'retry';

    if (order.stage === 'created' || order.stage === 'authorized') {
      await fail(order.id, order.payment_id, 'abandoned', 'The checkout stopped before the booking was made.', {
        code: 'seller_unavailable',
        message: 'Your booking could not be completed and you have not been charged. Please try again.',
      });
      return 'failed';
    }

    if (order.stage === 'booking') {
      if (!order.booking_request || order.publisher_id === null || !order.seller_id) {
        log.error({ orderId }, 'pending order without its booking request; cannot recover');
        return 'retry';
      }
      let booked;
      try {
        const target = await booking.targetFor(order.publisher_id, order.seller_id);
        booked = await booking.book({ ...(order.booking_request as Omit<BookInput, 'target'>), target });
      } catch (err) {
        if (isBookingError(err) && !err.retryable) {
          await fail(order.id, order.payment_id, err.problem.code, err.problem.message, {
            code: err.problem.code === 'full' ? 'full' : 'not_bookable',
            message: err.problem.message,
          });
          return 'failed';
        }
        await orders.noteRecoveryAttempt(order.id);
        log.warn({ err, orderId }, 'recovery: seller did not answer B; will retry');
        return 'retry';
      }
      await orders.markBooked(order.id, bookedDetails(booked));
    }

    // booked at the seller: take the money and confirm.
    try {
      if (order.payment_id) await payments.capture(order.payment_id);
    } catch (err) {
      await orders.noteRecoveryAttempt(order.id);
      log.error({ err, orderId }, 'recovery: capture failed; will retry');
      return 'retry';
    }
    return (await finish(order.id)) ? 'confirmed' : 'done';
  }

  return {
    recoverOrder,

    /** The job handler: throws while the order is unsettled, so pg-boss retries with backoff. */
    async handleJob(data: { orderId: string }): Promise<void> {
      const outcome = await recoverOrder(data.orderId);
      if (outcome === 'retry') throw new Error(`order ${data.orderId} not settled yet; retrying`);
    },

    /** Every order pending for longer than `olderThanMs` (tests, CLI, start-up sweep). */
    async runOnce(options: { olderThanMs?: number } = {}): Promise<Record<RecoveryOutcome, number>> {
      const olderThanMs = options.olderThanMs ?? 120_000;
      const counts: Record<RecoveryOutcome, number> = { done: 0, confirmed: 0, failed: 0, retry: 0 };
      const stuck = await orders.findStuckPending(new Date(clock.now().getTime() - olderThanMs));
      for (const { id } of stuck) {
        try {
          counts[await recoverOrder(id, { minAgeMs: olderThanMs })] += 1;
        } catch (err) {
          log.error({ err, orderId: id }, 'recovery failed');
          counts.retry += 1;
        }
      }
      return counts;
    },
  };
}

export type OrderRecovery = ReturnType<typeof createOrderRecovery>;
