import type { Logger } from 'pino';
import type { Clock } from '../../lib/clock.js';
import type { Jobs } from '../../lib/jobs.js';
import { createTicker } from '../../lib/ticker.js';
import type { OrdersService } from '../orders/index.js';
import type { Problem } from './checkout.tables.js';
import { isBookingError, type BookedOrder, type BookInput, type BookingPort, type PaymentsPort } from './ports.js';

/**
 * Recovery (openactive.md §1.8 "Rollback"): a pending order is its own durable record — it is
 * written, in one statement, before anything is sent to the seller — and a sweep settles every
 * pending order left alone for a while, finishing what pay() began after a crash. The sweep is a
 * singleton job (RECOVER_ORDERS_JOB), sent by the recovery scheduler when some order is due: one
 * query every tick however many checkouts there are, instead of a job per order.
 */
export const RECOVER_ORDERS_JOB = 'checkout.recover-orders';

/**
 * The per-order job of earlier versions (one written with each order). New orders get none; the
 * handler stays so that jobs queued before an upgrade still run.
 */
export const RECOVER_ORDER_JOB = 'checkout.recover-order';

/** Each failed attempt doubles the wait before the next, up to 2^5 times the first. */
export const MAX_BACKOFF_DOUBLINGS = 5;

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
    // Backoff: the seller (or the payment provider) failed `recovery_attempts` times already.
    const minAgeMs = (options.minAgeMs ?? 60_000) * 2 ** Math.min(order.recovery_attempts, MAX_BACKOFF_DOUBLINGS);
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
        // Counted like a failed attempt: the sweep comes back to it less and less often.
        await orders.noteRecoveryAttempt(order.id);
        return 'retry';
      }
      let booked;
      try {
        const target = await booking.targetFor(order.publisher_id, order.seller_id);
        // The order's own mode, whatever the stored request says (earlier versions stored none):
        // the booking client refuses B to a publisher of the other mode.
        booked = await booking.book({
          ...(order.booking_request as Omit<BookInput, 'target' | 'mode'>),
          mode: order.mode,
          target,
        });
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

    /** Whether some order is due for recovery (one indexed query: the scheduler's tick). */
    async due(olderThanMs: number): Promise<boolean> {
      return (await orders.findStuckPending(clock.now(), olderThanMs, MAX_BACKOFF_DOUBLINGS, 1)).length > 0;
    },

    /**
     * The sweep: every order pending for longer than `olderThanMs` (doubled per failed attempt),
     * oldest first, at most 100 a run (the next run takes the rest).
     */
    async runOnce(options: { olderThanMs?: number } = {}): Promise<Record<RecoveryOutcome, number>> {
      const olderThanMs = options.olderThanMs ?? 120_000;
      const counts: Record<RecoveryOutcome, number> = { done: 0, confirmed: 0, failed: 0, retry: 0 };
      const stuck = await orders.findStuckPending(clock.now(), olderThanMs, MAX_BACKOFF_DOUBLINGS);
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

/**
 * Sends the recovery sweep (RECOVER_ORDERS_JOB, one at a time across processes) when some order
 * is due; checks every `tickMs`.
 */
export function createRecoveryScheduler({
  recovery,
  jobs,
  log,
  olderThanMs,
  tickMs = 30_000,
}: {
  recovery: OrderRecovery;
  jobs: Jobs;
  log: Logger;
  olderThanMs: number;
  tickMs?: number;
}) {
  const ticker = createTicker(
    async () => {
      if (!(await recovery.due(olderThanMs))) return false;
      return (await jobs.send(RECOVER_ORDERS_JOB, { olderThanMs }, { singletonKey: 'recovery' })) !== null;
    },
    { intervalMs: tickMs, log, what: 'order recovery scheduling' },
  );
  return { ...ticker, tick: async (): Promise<boolean> => (await ticker.tick()) ?? false };
}
