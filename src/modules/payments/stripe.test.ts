import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStripeServer, type StripeServer } from '../../../test/stripe-server.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { AppError } from '../../http/errors.js';
import { createPaymentsService, type PaymentsService } from './index.js';

/*
 * The Stripe provider end to end: the real `stripe` SDK over real HTTP against
 * test/stripe-server.ts, through the payments service on the real database.
 */

let stripe: StripeServer;
let ctx: TestContext;
let payments: PaymentsService;
let brokerId: number;

beforeAll(async () => {
  stripe = await startStripeServer();
  ctx = await createTestContext({
    config: {
      payments: {
        provider: 'stripe',
        stripe: { secretKey: stripe.secretKey, publishableKey: stripe.publishableKey, apiBase: stripe.url },
      },
    },
  });
  payments = ctx.services.payments;
  brokerId = (await ctx.newBroker()).brokerId;
});
afterAll(async () => {
  await ctx?.close();
  await stripe?.close();
});
beforeEach(() => {
  stripe.refundStatus = 'succeeded';
  stripe.dropResponses(0);
  stripe.failRequests(0);
});

function payment(amount = 1500) {
  return {
    paymentId: randomUUID(),
    brokerId,
    mode: 'live' as const,
    amount,
    currency: 'GBP',
    description: 'Swim session',
    metadata: { order: 'order-1' },
  };
}

async function expectAppError(promise: Promise<unknown>, code: string, message?: RegExp) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected an AppError').toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  if (message) expect((err as AppError).message).toMatch(message);
}

const requestsTo = (path: string) => stripe.requests.filter((r) => r.path === path);

async function authorized(pm = 'pm_card_visa', amount = 1500) {
  const p = payment(amount);
  expect(await payments.authorize({ ...p, providerReference: pm })).toEqual({ ok: true, paymentId: p.paymentId });
  const record = await payments.get(p.paymentId);
  return { p, intentId: record!.providerReference! };
}

describe('Stripe provider', () => {
  it('live mode uses Stripe, test mode still the sandbox (and never calls Stripe)', async () => {
    expect(payments.providerFor('live')).toBe('stripe');
    expect(payments.providerFor('test')).toBe('sandbox');
    const before = stripe.requests.length;
    const p = { ...payment(), mode: 'test' as const };
    expect(await payments.prepare(p)).toEqual({ kind: 'card' });
    const result = await payments.authorize({
      ...p,
      card: { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' },
    });
    expect(result).toEqual({ ok: true, paymentId: p.paymentId });
    expect((await payments.get(p.paymentId))?.provider).toBe('sandbox');
    expect(stripe.requests.length).toBe(before);
  });

  it('prepare creates one manual-capture PaymentIntent and returns what Stripe Elements needs', async () => {
    const p = payment(2350);
    const form = await payments.prepare(p);
    expect(form).toMatchObject({ kind: 'stripe', publishableKey: stripe.publishableKey });
    if (form.kind !== 'stripe') throw new Error('expected a Stripe form');
    const intent = stripe.intents.get(form.providerReference)!;
    expect(intent).toMatchObject({
      amount: 2350,
      currency: 'gbp',
      captureMethod: 'manual',
      status: 'requires_payment_method',
      clientSecret: form.clientSecret,
      metadata: { order: 'order-1', activehub_payment_id: p.paymentId },
    });
    const again = await payments.prepare(p);
    expect(again).toEqual(form);
    expect([...stripe.intents.values()].filter((i) => i.metadata.activehub_payment_id === p.paymentId)).toHaveLength(1);
    expect(await payments.get(p.paymentId)).toMatchObject({
      provider: 'stripe',
      providerReference: form.providerReference,
      status: 'prepared',
    });
  });

  it('authorize (pm_card_visa) → capture → partial and full refunds', async () => {
    const { p, intentId } = await authorized('pm_card_visa', 1500);
    expect(intentId).toMatch(/^pi_/);
    expect(stripe.intents.get(intentId)).toMatchObject({ status: 'requires_capture', amountCapturable: 1500 });
    expect(await payments.get(p.paymentId)).toMatchObject({
      status: 'authorized',
      cardBrand: 'visa',
      cardLast4: '4242',
    });

    await payments.capture(p.paymentId);
    expect(stripe.intents.get(intentId)).toMatchObject({ status: 'succeeded', amountReceived: 1500 });
    const captures = requestsTo(`/v1/payment_intents/${intentId}/capture`).length;
    await payments.capture(p.paymentId);
    expect(requestsTo(`/v1/payment_intents/${intentId}/capture`).length).toBe(captures);

    expect(await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-1`, amount: 500 })).toEqual({
      refundId: `${p.paymentId}-1`,
      status: 'succeeded',
    });
    expect(await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-1`, amount: 500 })).toEqual({
      refundId: `${p.paymentId}-1`,
      status: 'succeeded',
    });
    const refundsAtStripe = () => [...stripe.refunds.values()].filter((r) => r.paymentIntent === intentId);
    expect(refundsAtStripe()).toHaveLength(1);
    expect(refundsAtStripe()[0]).toMatchObject({
      amount: 500,
      metadata: { activehub_payment_id: p.paymentId, activehub_refund_id: `${p.paymentId}-1` },
    });
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-2`, amount: 1001 }),
      'BAD_REQUEST',
    );
    await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-3`, amount: 1000 });
    expect(refundsAtStripe().reduce((sum, r) => sum + r.amount, 0)).toBe(1500);
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'refunded', refunded: 1500 });
  });

  it.each([
    ['pm_card_chargeDeclined', 'card_declined'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card'],
    ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc'],
    ['pm_card_chargeDeclinedProcessingError', 'processing_error'],
    ['pm_card_authenticationRequired', 'authentication_required'],
  ])('%s is declined as %s; asking again returns the same outcome without calling Stripe', async (pm, code) => {
    const p = payment();
    const result = await payments.authorize({ ...p, providerReference: pm });
    expect(result).toMatchObject({ ok: false, code });
    expect(result.ok === false && result.message.length).toBeGreaterThan(10);
    const record = await payments.get(p.paymentId);
    expect(record).toMatchObject({ status: 'declined', declineCode: code });
    expect(record?.providerReference).toMatch(/^pi_/);
    const confirms = requestsTo(`/v1/payment_intents/${record!.providerReference}/confirm`).length;
    expect(await payments.authorize({ ...p, providerReference: 'pm_card_visa' })).toEqual(result);
    expect(requestsTo(`/v1/payment_intents/${record!.providerReference}/confirm`).length).toBe(confirms);
  });

  it('an unknown PaymentMethod is a 400 and leaves the payment open', async () => {
    const p = payment();
    await expectAppError(payments.authorize({ ...p, providerReference: 'pm_card_nonsense' }), 'BAD_REQUEST');
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'prepared' });
    expect(await payments.authorize({ ...p, providerReference: 'pm_card_visa' })).toMatchObject({ ok: true });
  });

  it('without a providerReference (or with a card) a Stripe authorization is a 400', async () => {
    await expectAppError(payments.authorize(payment()), 'BAD_REQUEST', /providerReference/);
    await expectAppError(
      payments.authorize({ ...payment(), card: { number: '4242424242424242', expMonth: 1, expYear: 2040, cvc: '1' } }),
      'BAD_REQUEST',
    );
  });
});

describe('Stripe Elements flow (PaymentIntent confirmed in the browser)', () => {
  it('authorize checks the PaymentIntent the browser confirmed', async () => {
    const p = payment(990);
    const form = await payments.prepare(p);
    if (form.kind !== 'stripe') throw new Error('expected a Stripe form');
    // Before the customer paid: not an outcome yet.
    await expectAppError(payments.authorize({ ...p, providerReference: form.providerReference }), 'BAD_REQUEST');
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'prepared' });

    const browser = await stripe.confirmAsBrowser(form.providerReference, 'pm_card_mastercard');
    expect(browser.status).toBe(200);
    expect(await payments.authorize({ ...p, providerReference: form.providerReference })).toEqual({
      ok: true,
      paymentId: p.paymentId,
    });
    expect(await payments.get(p.paymentId)).toMatchObject({
      status: 'authorized',
      cardBrand: 'mastercard',
      cardLast4: '4444',
    });
    await payments.capture(p.paymentId);
    expect(stripe.intents.get(form.providerReference)?.status).toBe('succeeded');
  });

  it('a decline in the browser is reported with its reason', async () => {
    const p = payment();
    const form = await payments.prepare(p);
    if (form.kind !== 'stripe') throw new Error('expected a Stripe form');
    const browser = await stripe.confirmAsBrowser(form.providerReference, 'pm_card_chargeDeclinedInsufficientFunds');
    expect(browser.status).toBe(402);
    expect(await payments.authorize({ ...p, providerReference: form.providerReference })).toMatchObject({
      ok: false,
      code: 'insufficient_funds',
    });
  });

  it("another payment's PaymentIntent is refused", async () => {
    const a = payment();
    const formA = await payments.prepare(a);
    if (formA.kind !== 'stripe') throw new Error('expected a Stripe form');
    await stripe.confirmAsBrowser(formA.providerReference, 'pm_card_visa');

    const b = payment();
    await payments.prepare(b);
    await expectAppError(payments.authorize({ ...b, providerReference: formA.providerReference }), 'BAD_REQUEST');
    // Without a prepare, the PaymentIntent's metadata still ties it to its own payment.
    await expectAppError(
      payments.authorize({ ...payment(), providerReference: formA.providerReference }),
      'BAD_REQUEST',
    );
    await expectAppError(payments.authorize({ ...payment(), providerReference: 'pi_doesnotexist' }), 'BAD_REQUEST');
  });
});

describe('Stripe: void, state errors, refusals', () => {
  it('void cancels the PaymentIntent; capture afterwards is a conflict', async () => {
    const { p, intentId } = await authorized();
    await Promise.all([payments.void(p.paymentId), payments.void(p.paymentId)]);
    expect(stripe.intents.get(intentId)?.status).toBe('canceled');
    expect(requestsTo(`/v1/payment_intents/${intentId}/cancel`)).toHaveLength(1);
    await payments.void(p.paymentId);
    await expectAppError(payments.capture(p.paymentId), 'CONFLICT');
  });

  it('void after capture is a conflict and Stripe is not asked', async () => {
    const { p, intentId } = await authorized();
    await payments.capture(p.paymentId);
    await expectAppError(payments.void(p.paymentId), 'CONFLICT');
    expect(requestsTo(`/v1/payment_intents/${intentId}/cancel`)).toHaveLength(0);
  });

  it('a refund Stripe refuses is a conflict and its amount is released', async () => {
    const { p, intentId } = await authorized('pm_card_visa', 800);
    await payments.capture(p.paymentId);
    // Refunded outside activehub (e.g. in Stripe's dashboard).
    stripe.intents.get(intentId)!.refunded = 800;
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-x`, amount: 100 }),
      'CONFLICT',
      /already been refunded/,
    );
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'captured', refunded: 0 });
    // Asking again gives the same answer.
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-x`, amount: 100 }),
      'CONFLICT',
    );
  });

  it('a pending refund is reported as pending (and counted)', async () => {
    const { p } = await authorized('pm_card_visa', 700);
    await payments.capture(p.paymentId);
    stripe.refundStatus = 'pending';
    const before = stripe.refunds.size;
    expect(await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-p`, amount: 700 })).toEqual({
      refundId: `${p.paymentId}-p`,
      status: 'pending',
    });
    expect(await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-p`, amount: 700 })).toMatchObject({
      status: 'pending',
    });
    expect(stripe.refunds.size).toBe(before + 1);
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'refunded', refunded: 700 });
    // The bank settles it: asking again picks that up.
    const atStripe = [...stripe.refunds.values()].find((r) => r.metadata.activehub_refund_id === `${p.paymentId}-p`)!;
    atStripe.status = 'succeeded';
    expect(await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-p`, amount: 700 })).toMatchObject({
      status: 'succeeded',
    });
    expect(stripe.refunds.size).toBe(before + 1);
  });

  it('a pending refund that later fails releases its amount', async () => {
    const { p } = await authorized('pm_card_visa', 700);
    await payments.capture(p.paymentId);
    stripe.refundStatus = 'pending';
    await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-f`, amount: 500 });
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'partially_refunded', refunded: 500 });
    [...stripe.refunds.values()].find((r) => r.metadata.activehub_refund_id === `${p.paymentId}-f`)!.status = 'failed';
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-f`, amount: 500 }),
      'CONFLICT',
    );
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'captured', refunded: 0 });
  });
});

describe('Stripe: idempotent retries over the wire', () => {
  it('a lost response is retried by the SDK with the same Idempotency-Key and replayed', async () => {
    const p = payment();
    const form = await payments.prepare(p);
    if (form.kind !== 'stripe') throw new Error('expected a Stripe form');
    stripe.dropResponses(1);
    expect(await payments.authorize({ ...p, providerReference: 'pm_card_visa' })).toMatchObject({ ok: true });
    const confirms = requestsTo(`/v1/payment_intents/${form.providerReference}/confirm`);
    expect(confirms).toHaveLength(2);
    expect(confirms[0]!.idempotencyKey).toBe(`activehub:confirm:${p.paymentId}:pm_card_visa`);
    expect(confirms[1]).toMatchObject({ idempotencyKey: confirms[0]!.idempotencyKey, replayed: true, status: 200 });

    stripe.dropResponses(1);
    await payments.capture(p.paymentId);
    const captures = requestsTo(`/v1/payment_intents/${form.providerReference}/capture`);
    expect(captures.map((c) => c.replayed)).toEqual([false, true]);

    stripe.dropResponses(1);
    await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-r`, amount: 100 });
    expect([...stripe.refunds.values()].filter((r) => r.paymentIntent === form.providerReference)).toHaveLength(1);
  });

  it('when Stripe stays unavailable the call fails as 503 and the payment can be authorized later', async () => {
    const p = payment();
    await payments.prepare(p);
    stripe.failRequests(10);
    await expectAppError(payments.authorize({ ...p, providerReference: 'pm_card_visa' }), 'SERVICE_UNAVAILABLE');
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'prepared' });
    stripe.failRequests(0);
    expect(await payments.authorize({ ...p, providerReference: 'pm_card_visa' })).toMatchObject({ ok: true });
  });

  it('a refund whose outcome is unknown stays reserved and completes when asked again', async () => {
    const { p, intentId } = await authorized('pm_card_visa', 600);
    await payments.capture(p.paymentId);
    stripe.failRequests(10);
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-u`, amount: 600 }),
      'SERVICE_UNAVAILABLE',
    );
    // The amount stays reserved: no other refund can take it meanwhile.
    expect(await payments.get(p.paymentId)).toMatchObject({ refunded: 600 });
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-v`, amount: 1 }),
      'BAD_REQUEST',
    );
    stripe.failRequests(0);
    expect(await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-u`, amount: 600 })).toEqual({
      refundId: `${p.paymentId}-u`,
      status: 'succeeded',
    });
    expect([...stripe.refunds.values()].filter((r) => r.paymentIntent === intentId)).toHaveLength(1);
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'refunded', refunded: 600 });
  });

  it('concurrent authorize calls make one confirmation at Stripe', async () => {
    const p = payment();
    const form = await payments.prepare(p);
    if (form.kind !== 'stripe') throw new Error('expected a Stripe form');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => payments.authorize({ ...p, providerReference: 'pm_card_visa' })),
    );
    for (const r of results) expect(r).toEqual({ ok: true, paymentId: p.paymentId });
    expect(requestsTo(`/v1/payment_intents/${form.providerReference}/confirm`)).toHaveLength(1);
  });

  it('concurrent prepare calls create one PaymentIntent', async () => {
    const p = payment();
    const forms = await Promise.all([payments.prepare(p), payments.prepare(p), payments.prepare(p)]);
    const references = new Set(forms.map((f) => (f.kind === 'stripe' ? f.providerReference : '')));
    expect(references.size).toBe(1);
    expect([...stripe.intents.values()].filter((i) => i.metadata.activehub_payment_id === p.paymentId)).toHaveLength(1);
  });

  it('a request Stripe refuses as invalid is a 400', async () => {
    await expectAppError(payments.prepare(payment(100_000_000)), 'BAD_REQUEST', /refused/);
  });

  it('a wrong secret key is a 503, not a decline', async () => {
    const wrong = createPaymentsService({
      database: ctx.deps.database,
      clock: ctx.deps.clock,
      log: ctx.deps.log,
      config: {
        provider: 'stripe',
        stripe: { secretKey: 'sk_test_wrongwrongwrong', publishableKey: stripe.publishableKey, apiBase: stripe.url },
      },
    });
    await expectAppError(wrong.prepare(payment()), 'SERVICE_UNAVAILABLE');
  });
});
