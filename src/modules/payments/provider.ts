/*
 * What a payment provider does for the payments service. Every call is keyed by our ids
 * (paymentId, refundId) so that repeating it — after a crash, a timeout or a concurrent
 * caller — has the effect of one call. The service owns the payment's state in the database;
 * providers only talk to whoever holds the money.
 */

export interface CardDetails {
  number: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}

/** What the payment page must render to collect a payment method. */
export type PaymentForm =
  | { kind: 'card' } // sandbox: plain card fields posted to our server
  | { kind: 'stripe'; publishableKey: string; clientSecret: string; providerReference: string }; // Stripe Elements

export type DeclineCode =
  | 'card_declined'
  | 'insufficient_funds'
  | 'expired_card'
  | 'incorrect_cvc'
  | 'processing_error'
  | 'authentication_required'
  | 'invalid_card';

/** Customer-safe wording of each decline (shown on the payment page). */
export const DECLINE_MESSAGES: Record<DeclineCode, string> = {
  card_declined: 'Your card was declined. Please use a different card.',
  insufficient_funds: 'Your card has insufficient funds. Please use a different card.',
  expired_card: 'Your card has expired. Please check the expiry date or use a different card.',
  incorrect_cvc: "Your card's security code is incorrect. Please check it and try again.",
  processing_error: 'An error occurred while processing your card. Please try again in a moment.',
  authentication_required: 'Your bank needs you to confirm this payment. Please try again and complete the check.',
  invalid_card: 'Your card number is not valid. Please check it and try again.',
};

export interface PaymentSubject {
  paymentId: string;
  amount: number;
  /** ISO 4217, upper case. */
  currency: string;
  description: string;
  metadata: Record<string, string>;
  /** The provider reference already recorded for this payment (e.g. from prepare). */
  providerReference: string | null;
}

export type ProviderAuthorization =
  | { ok: true; providerReference: string; cardBrand: string | null; cardLast4: string | null }
  | {
      ok: false;
      code: DeclineCode;
      message: string;
      providerReference: string | null;
      cardBrand: string | null;
      cardLast4: string | null;
    };

export interface ProviderRefund {
  providerRefundId: string;
  status: 'succeeded' | 'pending' | 'failed';
  failureMessage?: string;
}

export interface PaymentProvider {
  readonly name: 'sandbox' | 'stripe';
  /** Before the payment page renders; may create the provider-side payment (its reference is kept). */
  prepare(subject: PaymentSubject): Promise<{ form: PaymentForm; providerReference: string | null }>;
  /**
   * Hold the money. Declines are results, not errors; errors mean "outcome unknown, try again"
   * or bad input (AppError).
   */
  authorize(
    subject: PaymentSubject,
    input: { card?: CardDetails | undefined; providerReference?: string | undefined },
  ): Promise<ProviderAuthorization>;
  capture(payment: { paymentId: string; providerReference: string; amount: number }): Promise<void>;
  /** Release the hold (or cancel a payment never authorized). */
  void(payment: { paymentId: string; providerReference: string | null }): Promise<void>;
  refund(input: {
    paymentId: string;
    providerReference: string;
    refundId: string;
    amount: number;
    currency: string;
    reason: string | null;
  }): Promise<ProviderRefund>;
  /** How a refund the provider reported as pending went since. */
  refundStatus(input: { providerRefundId: string }): Promise<ProviderRefund>;
}
