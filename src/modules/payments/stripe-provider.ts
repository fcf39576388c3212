import Stripe from 'stripe';
import type { Logger } from 'pino';
import type { StripeConfig } from '../../config.js';
import { AppError } from '../../http/errors.js';
import {
  DECLINE_MESSAGES,
  type DeclineCode,
  type PaymentProvider,
  type PaymentSubject,
  type ProviderAuthorization,
} from './provider.js';

/*
 * Stripe provider: one PaymentIntent per payment, capture_method=manual (authorize now, capture
 * after the seller confirmed the booking). Every mutating call carries an idempotency key derived
 * from our ids, so a retry after a timeout or a crash replays Stripe's first answer instead of
 * charging twice.
 */

type StripeClient = InstanceType<typeof Stripe>;
type PaymentIntent = Awaited<ReturnType<StripeClient['paymentIntents']['retrieve']>>;

/** Stripe error / decline codes → ours (anything else that is a card error: card_declined). */
const STRIPE_CODES: Record<string, DeclineCode> = {
  insufficient_funds: 'insufficient_funds',
  expired_card: 'expired_card',
  incorrect_cvc: 'incorrect_cvc',
  invalid_cvc: 'incorrect_cvc',
  processing_error: 'processing_error',
  authentication_required: 'authentication_required',
  incorrect_number: 'invalid_card',
  invalid_number: 'invalid_card',
  invalid_expiry_month: 'invalid_card',
  invalid_expiry_year: 'invalid_card',
  invalid_account: 'invalid_card',
  card_not_supported: 'card_declined',
  generic_decline: 'card_declined',
  card_declined: 'card_declined',
};

export function declineCodeFromStripe(code: string | null | undefined, declineCode: string | null | undefined) {
  return (declineCode && STRIPE_CODES[declineCode]) || (code && STRIPE_CODES[code]) || 'card_declined';
}

function refundStatusOf(status: string | null): 'succeeded' | 'pending' | 'failed' {
  if (status === 'succeeded') return 'succeeded';
  return status === 'failed' || status === 'canceled' ? 'failed' : 'pending';
}

interface StripeErrorLike {
  type?: string;
  rawType?: string;
  code?: string;
  decline_code?: string;
  statusCode?: number;
  message?: string;
}

const isStripeError = (err: unknown): err is StripeErrorLike =>
  err instanceof Stripe.errors.StripeError || (typeof err === 'object' && err !== null && 'rawType' in err);

function clientFor(config: StripeConfig): StripeClient {
  const options: ConstructorParameters<typeof Stripe>[1] = {
    maxNetworkRetries: 2,
    timeout: 20_000,
    telemetry: false,
    appInfo: { name: 'activehub' },
  };
  if (config.apiBase) {
    const base = new URL(config.apiBase);
    options.host = base.hostname;
    options.protocol = base.protocol === 'http:' ? 'http' : 'https';
    options.port = base.port || (base.protocol === 'http:' ? 80 : 443);
  }
  return new Stripe(config.secretKey, options);
}

export function createStripeProvider(deps: { config: StripeConfig; log: Logger }): PaymentProvider {
  const stripe = clientFor(deps.config);

  /**
   * Stripe's answer to a request it refused as invalid (400: e.g. an amount below Stripe's
   * minimum) is a bad request; anything else leaves the outcome unknown (network, Stripe down,
   * our key refused) and may be retried with the same idempotency key.
   */
  const unavailable = (err: unknown, doing: string): AppError => {
    if (isStripeError(err) && err.statusCode === 400 && err.rawType === 'invalid_request_error') {
      deps.log.warn({ err, doing }, 'stripe refused the request');
      return new AppError(
        'BAD_REQUEST',
        `The payment provider refused the payment: ${err.message ?? 'invalid request'}`,
        {
          cause: err,
        },
      );
    }
    deps.log.warn({ err, doing }, 'stripe call failed');
    return new AppError(
      'SERVICE_UNAVAILABLE',
      'The payment provider could not be reached. Please try again in a moment.',
      { cause: err },
    );
  };

  async function intentFor(subject: PaymentSubject): Promise<PaymentIntent> {
    if (subject.providerReference) return stripe.paymentIntents.retrieve(subject.providerReference);
    return stripe.paymentIntents.create(
      {
        amount: subject.amount,
        currency: subject.currency.toLowerCase(),
        capture_method: 'manual',
        allowed_payment_method_types: ['card'],
        description: subject.description.slice(0, 1000),
        metadata: { ...subject.metadata, activehub_payment_id: subject.paymentId },
      },
      { idempotencyKey: `activehub:pi:${subject.paymentId}` },
    );
  }

  const cardOf = (intent: PaymentIntent) => {
    const pm = intent.payment_method;
    const card = pm && typeof pm === 'object' ? pm.card : null;
    return { cardBrand: card?.brand ?? null, cardLast4: card?.last4 ?? null };
  };

  const declined = (
    code: DeclineCode,
    providerReference: string | null,
    card: { cardBrand: string | null; cardLast4: string | null } = { cardBrand: null, cardLast4: null },
  ): ProviderAuthorization => ({ ok: false, code, message: DECLINE_MESSAGES[code], providerReference, ...card });

  /** What a PaymentIntent's state means for the authorization. */
  function outcomeOf(intent: PaymentIntent, subject: PaymentSubject): ProviderAuthorization {
    if (intent.status === 'requires_capture') {
      if (intent.amount !== subject.amount || intent.currency.toUpperCase() !== subject.currency) {
        throw new AppError('BAD_REQUEST', 'The PaymentIntent is for a different amount or currency.');
      }
      return { ok: true, providerReference: intent.id, ...cardOf(intent) };
    }
    if (intent.status === 'requires_action') return declined('authentication_required', intent.id, cardOf(intent));
    const lastError = intent.last_payment_error;
    if (intent.status === 'requires_payment_method' && lastError) {
      return declined(declineCodeFromStripe(lastError.code, lastError.decline_code), intent.id, cardOf(intent));
    }
    if (intent.status === 'canceled') throw new AppError('CONFLICT', 'This payment was cancelled.');
    throw new AppError('BAD_REQUEST', 'The payment has not been completed yet.');
  }

  return {
    name: 'stripe',

    async prepare(subject) {
      let intent: PaymentIntent;
      try {
        intent = await intentFor(subject);
      } catch (err) {
        throw unavailable(err, 'prepare');
      }
      if (!intent.client_secret) throw unavailable(new Error('PaymentIntent without client_secret'), 'prepare');
      return {
        form: {
          kind: 'stripe',
          publishableKey: deps.config.publishableKey,
          clientSecret: intent.client_secret,
          providerReference: intent.id,
        },
        providerReference: intent.id,
      };
    },

    async authorize(subject, input) {
      const reference = input.providerReference;
      if (reference?.startsWith('pm_')) {
        // Server-side confirmation with a PaymentMethod id (tests, saved cards).
        let intentId: string | null = subject.providerReference;
        try {
          intentId ??= (await intentFor(subject)).id;
          const intent = await stripe.paymentIntents.confirm(
            intentId,
            { payment_method: reference, expand: ['payment_method'] },
            { idempotencyKey: `activehub:confirm:${subject.paymentId}:${reference}` },
          );
          return outcomeOf(intent, subject);
        } catch (err) {
          if (err instanceof AppError) throw err;
          if (isStripeError(err) && err.rawType === 'card_error') {
            return declined(declineCodeFromStripe(err.code, err.decline_code), intentId);
          }
          if (isStripeError(err) && err.rawType === 'invalid_request_error' && err.code === 'resource_missing') {
            throw new AppError('BAD_REQUEST', 'The payment method is unknown to the payment provider.', { cause: err });
          }
          throw unavailable(err, 'authorize');
        }
      }
      if (reference?.startsWith('pi_')) {
        // Stripe Elements confirmed the PaymentIntent in the browser: check what it holds.
        if (subject.providerReference && reference !== subject.providerReference) {
          throw new AppError('BAD_REQUEST', 'The PaymentIntent does not belong to this payment.');
        }
        let intent: PaymentIntent;
        try {
          intent = await stripe.paymentIntents.retrieve(reference, { expand: ['payment_method'] });
        } catch (err) {
          if (isStripeError(err) && err.rawType === 'invalid_request_error' && err.code === 'resource_missing') {
            throw new AppError('BAD_REQUEST', 'The PaymentIntent is unknown to the payment provider.', { cause: err });
          }
          throw unavailable(err, 'authorize');
        }
        if (intent.metadata?.activehub_payment_id !== subject.paymentId) {
          throw new AppError('BAD_REQUEST', 'The PaymentIntent does not belong to this payment.');
        }
        return outcomeOf(intent, subject);
      }
      throw new AppError(
        'BAD_REQUEST',
        'A Stripe payment needs the PaymentIntent id (pi_…) or a PaymentMethod id (pm_…) as providerReference.',
      );
    },

    async capture(payment) {
      try {
        await stripe.paymentIntents.capture(
          payment.providerReference,
          {},
          { idempotencyKey: `activehub:capture:${payment.paymentId}` },
        );
      } catch (err) {
        if (isStripeError(err) && err.code === 'payment_intent_unexpected_state') {
          const intent = await stripe.paymentIntents.retrieve(payment.providerReference).catch((e: unknown) => {
            throw unavailable(e, 'capture');
          });
          if (intent.status === 'succeeded') return;
          throw new AppError('CONFLICT', `The payment cannot be captured: it is ${intent.status} at Stripe.`, {
            cause: err,
          });
        }
        throw unavailable(err, 'capture');
      }
    },

    async void(payment) {
      if (!payment.providerReference) return;
      try {
        await stripe.paymentIntents.cancel(
          payment.providerReference,
          {},
          { idempotencyKey: `activehub:void:${payment.paymentId}` },
        );
      } catch (err) {
        if (isStripeError(err) && err.code === 'payment_intent_unexpected_state') {
          const intent = await stripe.paymentIntents.retrieve(payment.providerReference).catch((e: unknown) => {
            throw unavailable(e, 'void');
          });
          if (intent.status === 'canceled') return;
          throw new AppError('CONFLICT', `The payment cannot be voided: it is ${intent.status} at Stripe.`, {
            cause: err,
          });
        }
        throw unavailable(err, 'void');
      }
    },

    async refund(input) {
      try {
        const refund = await stripe.refunds.create(
          {
            payment_intent: input.providerReference,
            amount: input.amount,
            metadata: {
              activehub_payment_id: input.paymentId,
              activehub_refund_id: input.refundId,
              ...(input.reason ? { reason: input.reason.slice(0, 500) } : {}),
            },
          },
          { idempotencyKey: `activehub:refund:${input.refundId}` },
        );
        return { providerRefundId: refund.id, status: refundStatusOf(refund.status) };
      } catch (err) {
        // Stripe refused the refund itself (e.g. already refunded): a definite answer.
        if (isStripeError(err) && (err.statusCode === 400 || err.statusCode === 402)) {
          return { providerRefundId: '', status: 'failed', failureMessage: err.message ?? 'Refund refused' };
        }
        throw unavailable(err, 'refund');
      }
    },

    async refundStatus(input) {
      let refund;
      try {
        refund = await stripe.refunds.retrieve(input.providerRefundId);
      } catch (err) {
        throw unavailable(err, 'refund status');
      }
      const status = refundStatusOf(refund.status);
      return {
        providerRefundId: refund.id,
        status,
        ...(status === 'failed' ? { failureMessage: `Stripe reports the refund ${refund.status ?? 'failed'}` } : {}),
      };
    },
  };
}
