import { createHash } from 'node:crypto';
import { AppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import {
  DECLINE_MESSAGES,
  type CardDetails,
  type DeclineCode,
  type PaymentProvider,
  type ProviderAuthorization,
} from './provider.js';

/*
 * The built-in sandbox provider: no money moves. Cards follow Stripe's test-card rules so a
 * checkout behaves as it will with Stripe in test mode. The "hold" is the payment row itself
 * (the service keeps its state in the database), so references are derived from our ids and
 * every call is naturally idempotent and survives restarts.
 */

/** Card numbers with a fixed outcome (Stripe's test cards). */
const TEST_CARDS: Record<string, DeclineCode | 'ok'> = {
  '4242424242424242': 'ok', // Visa
  '4000056655665556': 'ok', // Visa (debit)
  '5555555555554444': 'ok', // Mastercard
  '2223003122003222': 'ok', // Mastercard (2-series)
  '5200828282828210': 'ok', // Mastercard (debit)
  '378282246310005': 'ok', // American Express
  '371449635398431': 'ok', // American Express
  '6011111111111117': 'ok', // Discover
  '4000000000000002': 'card_declined',
  '4000000000009995': 'insufficient_funds',
  '4000000000009987': 'card_declined', // lost card
  '4000000000009979': 'card_declined', // stolen card
  '4000000000000069': 'expired_card',
  '4000000000000127': 'incorrect_cvc',
  '4000000000000119': 'processing_error',
  '4000002760003184': 'authentication_required',
  '4000008260003178': 'authentication_required',
};

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i += 1) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function cardBrand(digits: string): string {
  if (/^4/.test(digits)) return 'visa';
  if (/^(5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720)/.test(digits)) return 'mastercard';
  if (/^3[47]/.test(digits)) return 'amex';
  if (/^(6011|65|64[4-9])/.test(digits)) return 'discover';
  return 'unknown';
}

/** The outcome of a card under the sandbox rules; `now` decides expiry. */
export function sandboxCardOutcome(
  card: CardDetails,
  now: Date,
): { code: DeclineCode | 'ok'; brand: string | null; last4: string | null } {
  const number = typeof card.number === 'string' ? card.number.replace(/[\s-]/g, '') : '';
  if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) return { code: 'invalid_card', brand: null, last4: null };
  const brand = cardBrand(number);
  const last4 = number.slice(-4);
  const result = (code: DeclineCode | 'ok') => ({ code, brand, last4 });

  const month = card.expMonth;
  let year = card.expYear;
  if (!Number.isInteger(month) || month < 1 || month > 12 || !Number.isInteger(year)) return result('invalid_card');
  if (year >= 0 && year < 100) year += 2000;
  if (year < 2000 || year > 2100) return result('invalid_card');
  // A card is valid to the end of its expiry month.
  const currentYear = now.getUTCFullYear();
  const currentMonth = now.getUTCMonth() + 1;
  if (year < currentYear || (year === currentYear && month < currentMonth)) return result('expired_card');

  const cvcLength = brand === 'amex' ? 4 : 3;
  if (typeof card.cvc !== 'string' || !new RegExp(`^\\d{${cvcLength}}$`).test(card.cvc.trim())) {
    return result('incorrect_cvc');
  }
  // Any other valid number is declined, as Stripe's test mode does with real cards.
  return result(TEST_CARDS[number] ?? 'card_declined');
}

const digest = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 24);

export function createSandboxProvider(deps: { clock: Clock }): PaymentProvider {
  return {
    name: 'sandbox',

    async prepare() {
      return { form: { kind: 'card' }, providerReference: null };
    },

    async authorize(subject, input): Promise<ProviderAuthorization> {
      const providerReference = `sbx_${subject.paymentId.replace(/-/g, '')}`;
      if (!input.card || typeof input.card !== 'object') {
        throw new AppError('BAD_REQUEST', 'A sandbox payment needs card details.');
      }
      const outcome = sandboxCardOutcome(input.card, deps.clock.now());
      if (outcome.code === 'ok') {
        return { ok: true, providerReference, cardBrand: outcome.brand, cardLast4: outcome.last4 };
      }
      let message = DECLINE_MESSAGES[outcome.code];
      if (outcome.code === 'card_declined' && !(String(input.card.number).replace(/[\s-]/g, '') in TEST_CARDS)) {
        message = `${message} This is a test payment: use a test card such as 4242 4242 4242 4242.`;
      }
      return {
        ok: false,
        code: outcome.code,
        message,
        providerReference,
        cardBrand: outcome.brand,
        cardLast4: outcome.last4,
      };
    },

    async capture() {
      // The hold is the payment row; the service records the capture.
    },

    async void() {
      // Nothing is held anywhere else.
    },

    async refund(input) {
      return { providerRefundId: `sbxre_${digest(`${input.paymentId}:${input.refundId}`)}`, status: 'succeeded' };
    },

    async refundStatus(input) {
      // Sandbox refunds succeed at once.
      return { providerRefundId: input.providerRefundId, status: 'succeeded' };
    },
  };
}
