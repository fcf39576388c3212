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
  /**
   * Checkout sessions claimed for payment and untouched for `olderThanMs` (oldest first): a
   * crash between the claim and the pending order's insert leaves one with no order at all.
   */
  stuckSessions: (
    olderThanMs: number,
    limit: number,
  ) => Promise<{ id: string; orderId: string; paymentId: string | null; updatedAt: Date }[]>;
  /** Gives an orderless stuck session back to the customer (`pay`, a new payment id, a message). */
  releaseSession: (session: { id: string; updatedAt: Date }, problem: Problem) => Promise<boolean>;
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

/** What a customer whose payment step was interrupted before anything happened is told. */
export const INTERRUPTED: Problem = {
  code: 'interrupted',
  message: 'Your payment was interrupted before anything was booked, and you have not been charged. Please try again.',
};

export function createOrderRecovery({
  orders,
  booking,
  payments,
  clock,
  log,
  finish,
  failSession,
  stuckSessions,
  releaseSession,
}: RecoveryDeps) {
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

  /**
   * Sessions left `paying` with no order (a crash after the claim, before the pending order was
   * written; or after an unsent order was discarded): nothing was sent to the seller, so the
   * session goes back to the payment step, and a hold made under its payment id is released.
   * Sessions with an order are the order's to settle (recoverOrder → finish / failSession).
   */
  async function releaseStuckSessions(olderThanMs: number): Promise<number> {
    let released = 0;
    for (const s of await stuckSessions(olderThanMs, 100)) {
      if (await orders.findOrder(s.orderId)) continue;
      if (s.paymentId) {
        await payments.void(s.paymentId).catch((err: unknown) => {
          log.warn({ err, sessionId: s.id }, 'recovery: could not release the hold of an interrupted payment');
        });
      }
      if (await releaseSession(s, INTERRUPTED)) {
        released += 1;
        log.warn(
          { sessionId: s.id, orderId: s.orderId },
          'recovery: interrupted payment step given back to the customer',
        );
      }
    }
    return released;
  }

  return {
    recoverOrder,

    /** The job handler: throws while the order is unsettled, so pg-boss retries with backoff. */
    async handleJob(data: { orderId: string }): Promise<void> {
      const outcome = await recoverOrder(data.orderId);
      if (outcome === 'retry') throw new Error(`order ${data.orderId} not settled yet; retrying`);
    },

    /**
     * Whether some order is due for recovery, or some session was left paying without an order
     * (the scheduler's tick: one indexed query each; orders are looked up only for sessions found).
     */
    async due(olderThanMs: number): Promise<boolean> {
      if ((await orders.findStuckPending(clock.now(), olderThanMs, MAX_BACKOFF_DOUBLINGS, 1)).length > 0) return true;
      for (const s of await stuckSessions(olderThanMs, 20)) {
        if (!(await orders.findOrder(s.orderId))) return true;
      }
      return false;
    },

    releaseStuckSessions,

    async runOnce(options: { olderThanMs?: number } = {}): Promise<Record<RecoveryOutcome | 'released', number>> {
      const olderThanMs = options.olderThanMs ?? 120_000;
      const counts: Record<RecoveryOutcome | 'released', number> = {
        done: 0,
        confirmed: 0,
        failed: 0,
        retry: 0,
        released: 0,
      };
      const stuck = await orders.findStuckPending(clock.now(), olderThanMs, MAX_BACKOFF_DOUBLINGS);
      for (const { id } of stuck) {
        try {
          counts[await recoverOrder(id, { minAgeMs: olderThanMs })] += 1;
        } catch (err) {
          log.error({ err, orderId: id }, 'recovery failed');
          counts.retry += 1;
        }
      }
      counts.released = await releaseStuckSessions(olderThanMs);
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
  // A quarter of the wait, at most 30 s: an order is settled within about 1.25× the wait.
  tickMs = Math.min(30_000, Math.max(250, olderThanMs / 4)),
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
      return (await jobs.sendUnlessBusy(RECOVER_ORDERS_JOB, [{ singletonKey: 'recovery', data: { olderThanMs } }])) > 0;
    },
    { intervalMs: tickMs, log, what: 'order recovery scheduling' },
  );
  return { ...ticker, tick: async (): Promise<boolean> => (await ticker.tick()) ?? false };
}
