import { setTimeout as sleep } from 'node:timers/promises';
import type { Selectable, Updateable } from 'kysely';
import type { Logger } from 'pino';
import type { PaymentsConfig } from '../../config.js';
import type { Database } from '../../db/database.js';
import { AppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import * as repo from './payments.repository.js';
import { paymentsDb, type PaymentsTable, type PaymentStatus } from './payments.tables.js';
import type {
  CardDetails,
  DeclineCode,
  PaymentForm,
  PaymentProvider,
  PaymentSubject,
  ProviderAuthorization,
} from './provider.js';
import { createSandboxProvider } from './sandbox-provider.js';
import { createStripeProvider } from './stripe-provider.js';

export type AuthorizeResult =
  | { ok: true; paymentId: string }
  | { ok: false; code: DeclineCode; message: string /* safe to show to the customer */ };

export interface PaymentRecord {
  id: string;
  brokerId: number;
  provider: 'sandbox' | 'stripe';
  providerReference: string | null;
  amount: number;
  currency: string;
  status: PaymentStatus;
  refunded: number;
  createdAt: Date;
  updatedAt: Date;
  mode?: 'live' | 'test';
  cardBrand?: string | null;
  cardLast4?: string | null;
  declineCode?: DeclineCode | null;
}

interface PaymentInput {
  paymentId: string;
  brokerId: number;
  mode: 'live' | 'test';
  amount: number;
  currency: string;
  description: string;
  metadata?: Record<string, string>;
}

export interface PaymentsService {
  /** Which provider a checkout uses: test-mode brokers/keys always get the sandbox provider. */
  providerFor(mode: 'live' | 'test'): 'sandbox' | 'stripe';
  /** Before the payment page renders. Idempotent per paymentId (uuid minted by checkout). */
  prepare(input: PaymentInput): Promise<PaymentForm>;
  /**
   * Hold the money (manual capture). Idempotent per paymentId: a second call returns the first
   * outcome — a declined paymentId stays declined, so a new attempt needs a new paymentId.
   */
  authorize(
    input: PaymentInput & { card?: CardDetails; providerReference?: string /* Stripe PaymentIntent id */ },
  ): Promise<AuthorizeResult>;
  capture(paymentId: string): Promise<void>;
  void(paymentId: string): Promise<void>;
  /**
   * Idempotent per refundId; partial refunds allowed; never refunds more than captured. Asking
   * again about a pending refund asks the provider how it went.
   */
  refund(input: {
    paymentId: string;
    refundId: string;
    amount: number;
    reason?: string;
  }): Promise<{ refundId: string; status: 'succeeded' | 'pending' }>;
  get(paymentId: string): Promise<PaymentRecord | undefined>;
  /** These payments and their refunds, for a customer's data export (unknown ids left out). */
  exportPayments(paymentIds: string[]): Promise<object[]>;
}

type PaymentRow = Selectable<PaymentsTable>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A claimed provider call older than this is presumed abandoned (its caller crashed). */
const STALE_OPERATION_MS = 60_000;
/** How long a caller waits for a concurrent call on the same payment before giving up. */
const WAIT_FOR_OTHER_MS = 45_000;
const CAPTURED: PaymentStatus[] = ['captured', 'partially_refunded', 'refunded'];

function badRequest(path: string, message: string): AppError {
  return new AppError('BAD_REQUEST', `${path} ${message}.`, { fieldErrors: [{ path: `/${path}`, message }] });
}

function checkPaymentId(paymentId: unknown): string {
  if (typeof paymentId !== 'string' || !UUID.test(paymentId)) throw badRequest('paymentId', 'must be a UUID');
  return paymentId.toLowerCase();
}

function checkAmount(amount: unknown, path = 'amount'): number {
  if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1 || amount > 2_147_483_647) {
    throw badRequest(path, 'must be a positive whole number of minor units (e.g. pence)');
  }
  return amount;
}

function checkInput(input: PaymentInput) {
  if (typeof input !== 'object' || input === null) throw new AppError('BAD_REQUEST', 'Payment details are missing.');
  const paymentId = checkPaymentId(input.paymentId);
  if (!Number.isInteger(input.brokerId) || input.brokerId < 1) throw badRequest('brokerId', 'must be a broker id');
  if (input.mode !== 'live' && input.mode !== 'test') throw badRequest('mode', "must be 'live' or 'test'");
  const amount = checkAmount(input.amount);
  if (typeof input.currency !== 'string' || !/^[A-Za-z]{3}$/.test(input.currency)) {
    throw badRequest('currency', 'must be an ISO 4217 currency code such as GBP');
  }
  if (typeof input.description !== 'string') throw badRequest('description', 'must be a string');
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.metadata ?? {})) {
    if (typeof value !== 'string' || key.length > 40 || value.length > 500) {
      throw badRequest('metadata', 'must map keys of up to 40 characters to strings of up to 500');
    }
    metadata[key] = value;
  }
  if (Object.keys(metadata).length > 20) throw badRequest('metadata', 'must have at most 20 keys');
  return {
    paymentId,
    brokerId: input.brokerId,
    mode: input.mode,
    amount,
    currency: input.currency.toUpperCase(),
    description: input.description.slice(0, 1000),
    metadata,
  };
}

function toRecord(row: PaymentRow): PaymentRecord {
  return {
    id: row.id,
    brokerId: row.broker_id,
    provider: row.provider,
    providerReference: row.provider_reference,
    amount: row.amount,
    currency: row.currency,
    status: row.status,
    refunded: row.refunded,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    mode: row.mode,
    cardBrand: row.card_brand,
    cardLast4: row.card_last4,
    declineCode: row.decline_code as DeclineCode | null,
  };
}

const subjectOf = (row: PaymentRow): PaymentSubject => ({
  paymentId: row.id,
  amount: row.amount,
  currency: row.currency,
  description: row.description,
  metadata: row.metadata,
  providerReference: row.provider_reference,
});

/** The outcome of a payment whose authorization is settled; undefined while it is not. */
function settledAuthorization(row: PaymentRow): AuthorizeResult | undefined {
  if (row.status === 'declined') {
    return {
      ok: false,
      code: (row.decline_code ?? 'card_declined') as DeclineCode,
      message: row.decline_message ?? 'Your card was declined.',
    };
  }
  if (row.status === 'prepared') return undefined;
  if (row.authorized_at === null) throw new AppError('CONFLICT', 'This payment was cancelled before it was made.');
  return { ok: true, paymentId: row.id };
}

function refundStatus(refunded: number, amount: number): PaymentStatus {
  if (refunded === 0) return 'captured';
  return refunded >= amount ? 'refunded' : 'partially_refunded';
}

export function createPaymentsService(deps: {
  database: Database;
  clock: Clock;
  log: Logger;
  config: PaymentsConfig;
}): PaymentsService {
  const db = paymentsDb(deps.database.db);
  const sandbox = createSandboxProvider({ clock: deps.clock });
  if (deps.config.provider === 'stripe' && !deps.config.stripe) {
    throw new Error('The Stripe payment provider needs STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY');
  }
  const stripe = deps.config.stripe ? createStripeProvider({ config: deps.config.stripe, log: deps.log }) : undefined;

  function providerNamed(name: 'sandbox' | 'stripe'): PaymentProvider {
    if (name === 'sandbox') return sandbox;
    if (!stripe) {
      throw new AppError('SERVICE_UNAVAILABLE', 'Stripe payments are not configured on this server.');
    }
    return stripe;
  }

  const providerFor = (mode: 'live' | 'test'): 'sandbox' | 'stripe' =>
    mode === 'test' ? 'sandbox' : deps.config.provider;

  /** The payment's row, created on first use; the same id must always describe the same payment. */
  async function ensurePayment(input: PaymentInput): Promise<PaymentRow> {
    const p = checkInput(input);
    const now = deps.clock.now();
    const row =
      (await repo.insertOrFindPayment(db, {
        id: p.paymentId,
        broker_id: p.brokerId,
        mode: p.mode,
        provider: providerFor(p.mode),
        provider_reference: null,
        amount: p.amount,
        currency: p.currency,
        description: p.description,
        metadata: JSON.stringify(p.metadata),
        status: 'prepared',
        decline_code: null,
        decline_message: null,
        card_brand: null,
        card_last4: null,
        operation: null,
        operation_started_at: null,
        created_at: now,
        updated_at: now,
        authorized_at: null,
        captured_at: null,
        voided_at: null,
      })) ?? (await repo.findPayment(db, p.paymentId));
    if (!row) throw new Error(`payment ${p.paymentId} vanished`);
    checkSamePayment(row, p);
    return row;
  }

  /** The same id must always describe the same payment. */
  function checkSamePayment(row: PaymentRow, p: ReturnType<typeof checkInput>): void {
    if (row.broker_id !== p.brokerId || row.amount !== p.amount || row.currency !== p.currency || row.mode !== p.mode) {
      throw new AppError('CONFLICT', 'This payment id was already used for a different payment.');
    }
  }

  async function existing(paymentId: string): Promise<PaymentRow> {
    const row = await repo.findPayment(db, checkPaymentId(paymentId));
    if (!row) throw new AppError('NOT_FOUND', 'There is no payment with this id.');
    return row;
  }

  /**
   * Runs one claimed provider call for a payment: the first caller claims it, the others wait for
   * its outcome. `decide` looks at the payment and says: done (a value), proceed with a claim
   * from these statuses, or fail (it throws).
   */
  async function exclusively<T>(
    payment: string | PaymentRow,
    operation: 'authorize' | 'capture' | 'void',
    from: PaymentStatus[],
    decide: (row: PaymentRow) => { done: T } | 'claim',
    run: (row: PaymentRow, provider: PaymentProvider) => Promise<Updateable<PaymentsTable> & { status: PaymentStatus }>,
    options: {
      /** Checks a row claimed before it was read (throws to refuse it; the claim is released). */
      verify?: (row: PaymentRow) => void;
      /** Reads the row when a first claim did not land (default: the payment, or 404). */
      load?: () => Promise<PaymentRow>;
    } = {},
  ): Promise<T> {
    const waitUntil = Date.now() + WAIT_FOR_OTHER_MS;
    const paymentId = typeof payment === 'string' ? checkPaymentId(payment) : payment.id;
    // The row as last read or written (a row the caller just read or wrote is not read again).
    let known: PaymentRow | undefined = typeof payment === 'string' ? undefined : payment;
    // Without a row, claim first and read only if that fails: `decide` claims exactly from the
    // statuses in `from`, so a claim that lands is what it would have decided.
    let claimFirst = known === undefined;
    // The first read after a claim that did not land may be the caller's own (it may create the row).
    let load = options.load;
    for (;;) {
      if (!claimFirst) {
        const firstLoad = load;
        load = undefined;
        const row = known ?? (firstLoad ? await firstLoad() : await existing(paymentId));
        known = undefined;
        const decision = decide(row);
        if (decision !== 'claim') return decision.done;
      }
      const now = deps.clock.now();
      const claimed = await repo.claimOperation(
        db,
        paymentId,
        operation,
        from,
        now,
        new Date(now.getTime() - STALE_OPERATION_MS),
      );
      if (!claimed && claimFirst) {
        claimFirst = false;
        continue;
      }
      const unread = claimFirst;
      claimFirst = false;
      if (claimed) {
        const claim = { operation, startedAt: now };
        let changes: Updateable<PaymentsTable> & { status: PaymentStatus };
        try {
          if (unread) options.verify?.(claimed);
          changes = await run(claimed, providerNamed(claimed.provider));
        } catch (err) {
          await repo.releaseOperation(db, paymentId, claim);
          throw err;
        }
        // Our write landed: the row it returns holds the outcome. Else a takeover's did: read it.
        known = await repo.finishOperation(db, paymentId, claim, { ...changes, updated_at: deps.clock.now() });
        continue;
      }
      if (Date.now() > waitUntil) {
        throw new AppError('SERVICE_UNAVAILABLE', 'Another request for this payment is still in progress. Try again.');
      }
      await sleep(20);
    }
  }

  return {
    providerFor,

    async prepare(input) {
      const row = await ensurePayment(input);
      const { form, providerReference } = await providerNamed(row.provider).prepare(subjectOf(row));
      if (providerReference && row.provider_reference === null) {
        await repo.setProviderReference(db, row.id, providerReference, deps.clock.now());
      }
      return form;
    },

    async authorize(input) {
      const p = checkInput(input);
      const card = input.card;
      const providerReference = input.providerReference;
      if (
        providerReference !== undefined &&
        (typeof providerReference !== 'string' || providerReference.length > 255)
      ) {
        throw badRequest('providerReference', 'must be a provider reference string');
      }
      // The payment page prepared the payment, as a rule: claim it at once (one statement) and
      // check it is this payment; when that claim does not land, create or read it first.
      return exclusively(
        p.paymentId,
        'authorize',
        ['prepared'],
        (current) => {
          const settled = settledAuthorization(current);
          return settled ? { done: settled } : 'claim';
        },
        async (claimed, provider) => {
          const result: ProviderAuthorization = await provider.authorize(subjectOf(claimed), {
            card,
            providerReference,
          });
          const common = {
            provider_reference: result.providerReference ?? claimed.provider_reference,
            card_brand: result.cardBrand,
            card_last4: result.cardLast4,
          };
          if (result.ok) {
            deps.log.info({ paymentId: claimed.id, provider: provider.name }, 'payment authorized');
            return { ...common, status: 'authorized', authorized_at: deps.clock.now() };
          }
          deps.log.info({ paymentId: claimed.id, provider: provider.name, code: result.code }, 'payment declined');
          return { ...common, status: 'declined', decline_code: result.code, decline_message: result.message };
        },
        { verify: (claimed) => checkSamePayment(claimed, p), load: () => ensurePayment(input) },
      );
    },

    async capture(paymentId) {
      await exclusively(
        paymentId,
        'capture',
        ['authorized'],
        (row) => {
          if (CAPTURED.includes(row.status)) return { done: undefined };
          if (row.status === 'voided') throw new AppError('CONFLICT', 'A voided payment cannot be captured.');
          if (row.status !== 'authorized') {
            throw new AppError('CONFLICT', `Only an authorized payment can be captured (this one is ${row.status}).`);
          }
          return 'claim';
        },
        async (claimed, provider) => {
          await provider.capture({
            paymentId: claimed.id,
            providerReference: claimed.provider_reference ?? '',
            amount: claimed.amount,
          });
          return { status: 'captured', captured_at: deps.clock.now() };
        },
      );
    },

    async void(paymentId) {
      await exclusively(
        paymentId,
        'void',
        ['authorized', 'prepared'],
        (row) => {
          // A declined payment holds nothing: there is nothing to release.
          if (row.status === 'voided' || row.status === 'declined') return { done: undefined };
          if (CAPTURED.includes(row.status)) {
            throw new AppError('CONFLICT', 'A captured payment cannot be voided; refund it instead.');
          }
          return 'claim';
        },
        async (claimed, provider) => {
          await provider.void({ paymentId: claimed.id, providerReference: claimed.provider_reference });
          return { status: 'voided', voided_at: deps.clock.now() };
        },
      );
    },

    async refund(input) {
      const paymentId = checkPaymentId(input?.paymentId);
      const refundId = input.refundId;
      if (typeof refundId !== 'string' || refundId.length < 1 || refundId.length > 200) {
        throw badRequest('refundId', 'must be a string of 1 to 200 characters');
      }
      const amount = checkAmount(input.amount);
      const reason = typeof input.reason === 'string' ? input.reason.slice(0, 1000) : null;

      // Reserve the amount under the payment's row lock: concurrent refunds queue here, so
      // their sum can never pass what was captured.
      const refund = await db.transaction().execute(async (trx) => {
        const payment = await repo.lockPayment(trx, paymentId);
        if (!payment) throw new AppError('NOT_FOUND', 'There is no payment with this id.');
        const found = await repo.findRefund(trx, refundId);
        if (found) {
          if (found.payment_id !== paymentId || found.amount !== amount) {
            throw new AppError('CONFLICT', 'This refund id was already used for a different refund.');
          }
          return { refund: found, payment };
        }
        if (!CAPTURED.includes(payment.status)) {
          throw new AppError(
            'CONFLICT',
            payment.status === 'authorized'
              ? 'This payment is only authorized: void it instead of refunding.'
              : `Only a captured payment can be refunded (this one is ${payment.status}).`,
          );
        }
        const refundable = payment.amount - payment.refunded;
        if (amount > refundable) {
          throw badRequest('amount', `must not exceed the ${refundable} minor units still refundable`);
        }
        const now = deps.clock.now();
        const inserted = await repo.insertRefund(trx, {
          id: refundId,
          payment_id: paymentId,
          amount,
          reason,
          provider_refund_id: null,
          status: 'pending',
          failure_message: null,
          created_at: now,
          updated_at: now,
        });
        const refunded = payment.refunded + amount;
        await repo.setRefundTotal(trx, paymentId, refunded, refundStatus(refunded, payment.amount), now);
        return { refund: inserted, payment };
      });

      const row = refund.refund;
      if (row.status === 'succeeded') return { refundId, status: 'succeeded' };
      if (row.status === 'failed') {
        throw new AppError('CONFLICT', `The refund was refused by the payment provider: ${row.failure_message ?? ''}`);
      }
      // Pending: a provider that answered "pending" is asked how it went since; otherwise (first
      // call, or a call whose outcome was lost) the refund is made, deduped on the refund id.
      const payment = refund.payment;
      const provider = providerNamed(payment.provider);
      const result = row.provider_refund_id
        ? await provider.refundStatus({ providerRefundId: row.provider_refund_id })
        : await provider.refund({
            paymentId,
            providerReference: payment.provider_reference ?? '',
            refundId,
            amount,
            currency: payment.currency,
            reason,
          });
      const now = deps.clock.now();
      if (result.status === 'failed') {
        await db.transaction().execute(async (trx) => {
          const locked = await repo.lockPayment(trx, paymentId);
          const settled = await repo.settleRefund(trx, refundId, {
            status: 'failed',
            failure_message: result.failureMessage ?? null,
            updated_at: now,
          });
          if (settled && locked) {
            const refunded = locked.refunded - amount;
            await repo.setRefundTotal(trx, paymentId, refunded, refundStatus(refunded, locked.amount), now);
          }
        });
        const current = await repo.findRefund(db, refundId);
        if (current?.status === 'succeeded') return { refundId, status: 'succeeded' };
        throw new AppError(
          'CONFLICT',
          `The refund was refused by the payment provider: ${result.failureMessage ?? ''}`,
        );
      }
      if (result.status === 'pending' && row.provider_refund_id) return { refundId, status: 'pending' };
      await repo.settleRefund(db, refundId, {
        status: result.status,
        provider_refund_id: result.providerRefundId,
        updated_at: now,
      });
      deps.log.info({ paymentId, refundId, amount, status: result.status }, 'payment refunded');
      return { refundId, status: result.status };
    },

    async get(paymentId) {
      if (typeof paymentId !== 'string' || !UUID.test(paymentId)) return undefined;
      const row = await repo.findPayment(db, paymentId.toLowerCase());
      return row ? toRecord(row) : undefined;
    },

    async exportPayments(paymentIds) {
      const out: object[] = [];
      for (const id of paymentIds) {
        const row = UUID.test(id) ? await repo.findPayment(db, id.toLowerCase()) : undefined;
        if (!row) continue;
        const refunds = await repo.listRefunds(db, row.id);
        out.push({
          identifier: row.id,
          'activehub:provider': row.provider,
          'activehub:amount': row.amount,
          priceCurrency: row.currency,
          'activehub:status': row.status,
          'activehub:refunded': row.refunded,
          ...(row.card_brand ? { 'activehub:cardBrand': row.card_brand } : {}),
          ...(row.card_last4 ? { 'activehub:cardLast4': row.card_last4 } : {}),
          dateCreated: row.created_at.toISOString(),
          'activehub:refunds': refunds.map((r) => ({
            identifier: r.id,
            'activehub:amount': r.amount,
            'activehub:status': r.status,
            ...(r.reason ? { description: r.reason } : {}),
            dateCreated: r.created_at.toISOString(),
          })),
        });
      }
      return out;
    },
  };
}
