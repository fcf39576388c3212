import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { AppError } from '../../http/errors.js';
import { fixedClock } from '../../lib/clock.js';
import { createPaymentsService, type CardDetails, type PaymentsService } from './index.js';
import { paymentsDb } from './payments.tables.js';

/*
 * The payments service with the built-in sandbox provider, against the real database: Stripe's
 * test cards, bad input, idempotency (repeated and concurrent calls), the capture/void/refund
 * state rules and the refund ceiling.
 */

const clock = fixedClock(new Date('2026-11-27T10:00:00Z'));
let ctx: TestContext;
let payments: PaymentsService;
let brokerId: number;

beforeAll(async () => {
  ctx = await createTestContext({ clock });
  payments = ctx.services.payments;
  brokerId = (await ctx.newBroker()).brokerId;
});
afterAll(async () => {
  await ctx?.close();
});

const card = (number: string, extra: Partial<CardDetails> = {}): CardDetails => ({
  number,
  expMonth: 12,
  expYear: 2030,
  cvc: '123',
  ...extra,
});

function payment(amount = 1250, extra: { mode?: 'live' | 'test' } = {}) {
  return {
    paymentId: randomUUID(),
    brokerId,
    mode: extra.mode ?? ('live' as const),
    amount,
    currency: 'GBP',
    description: 'Yoga at Acme Leisure',
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

async function capturedPayment(amount = 1000) {
  const p = payment(amount);
  expect(await payments.authorize({ ...p, card: card('4242 4242 4242 4242') })).toEqual({
    ok: true,
    paymentId: p.paymentId,
  });
  await payments.capture(p.paymentId);
  return p;
}

describe('sandbox provider: Stripe test cards', () => {
  it.each([
    ['4242424242424242', 'visa'],
    ['4242 4242 4242 4242', 'visa'],
    ['5555-5555-5555-4444', 'mastercard'],
    ['378282246310005', 'amex'],
  ])('%s is authorized (%s), and only brand and last four digits are kept', async (number, brand) => {
    const p = payment();
    const result = await payments.authorize({ ...p, card: card(number, brand === 'amex' ? { cvc: '1234' } : {}) });
    expect(result).toEqual({ ok: true, paymentId: p.paymentId });
    const record = await payments.get(p.paymentId);
    expect(record).toMatchObject({
      id: p.paymentId,
      brokerId,
      provider: 'sandbox',
      amount: 1250,
      currency: 'GBP',
      status: 'authorized',
      refunded: 0,
      cardBrand: brand,
      cardLast4: number.slice(-4),
    });
    expect(record?.providerReference).toMatch(/^sbx_/);
    const row = await paymentsDb(ctx.deps.database.db)
      .selectFrom('payments')
      .selectAll()
      .where('id', '=', p.paymentId)
      .executeTakeFirstOrThrow();
    const digits = number.replace(/\D/g, '');
    expect(JSON.stringify(row)).not.toContain(digits);
    expect(JSON.stringify(row)).not.toContain(digits.slice(0, 12));
  });

  it.each([
    ['4000000000000002', 'card_declined', /declined/],
    ['4000 0000 0000 9995', 'insufficient_funds', /insufficient funds/],
    ['4000000000000069', 'expired_card', /expired/],
    ['4000000000000127', 'incorrect_cvc', /security code/],
    ['4000000000000119', 'processing_error', /error occurred/],
    ['4000002760003184', 'authentication_required', /confirm this payment/],
  ])('%s is declined with %s', async (number, code, message) => {
    const p = payment();
    const result = await payments.authorize({ ...p, card: card(number) });
    expect(result).toMatchObject({ ok: false, code });
    expect(result.ok === false && result.message).toMatch(message);
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'declined', declineCode: code });
  });

  it.each([
    ['a Luhn-invalid number', card('4242424242424241'), 'invalid_card'],
    ['too few digits', card('4242'), 'invalid_card'],
    ['letters in the number', card('4242abcd42424242'), 'invalid_card'],
    ['an empty number', card(''), 'invalid_card'],
    ['a past expiry month', card('4242424242424242', { expMonth: 10, expYear: 2026 }), 'expired_card'],
    ['a past expiry year (2 digits)', card('4242424242424242', { expMonth: 1, expYear: 25 }), 'expired_card'],
    ['month 13', card('4242424242424242', { expMonth: 13 }), 'invalid_card'],
    ['a fractional month', card('4242424242424242', { expMonth: 1.5 }), 'invalid_card'],
    ['a 2-digit CVC', card('4242424242424242', { cvc: '12' }), 'incorrect_cvc'],
    ['a 3-digit CVC on Amex', card('378282246310005', { cvc: '123' }), 'incorrect_cvc'],
    ['a real (non-test) card number', card('4111111111111111'), 'card_declined'],
  ])('%s is declined (%s)', async (_name, details, code) => {
    const p = payment();
    const result = await payments.authorize({ ...p, card: details });
    expect(result).toMatchObject({ ok: false, code });
  });

  it('a card expiring this month is still good', async () => {
    const p = payment();
    expect(await payments.authorize({ ...p, card: card('4242424242424242', { expMonth: 11, expYear: 2026 }) })).toEqual(
      { ok: true, paymentId: p.paymentId },
    );
  });

  it('a non-test card is told to use a test card', async () => {
    const result = await payments.authorize({ ...payment(), card: card('4111111111111111') });
    expect(result.ok === false && result.message).toMatch(/4242 4242 4242 4242/);
  });
});

describe('bad input', () => {
  it.each([
    ['a paymentId that is not a UUID', { paymentId: 'abc' }],
    ['a zero amount', { amount: 0 }],
    ['a fractional amount', { amount: 12.5 }],
    ['a negative amount', { amount: -100 }],
    ['an amount as a string', { amount: '100' as unknown as number }],
    ['a currency that is not ISO 4217', { currency: 'POUNDS' }],
    ['an unknown mode', { mode: 'demo' as 'live' }],
    ['a broker id of 0', { brokerId: 0 }],
  ])('authorize rejects %s with 400', async (_name, change) => {
    await expectAppError(
      payments.authorize({ ...payment(), ...change, card: card('4242424242424242') }),
      'BAD_REQUEST',
    );
  });

  it('a sandbox authorization without card details is a 400 and does not use up the payment id', async () => {
    const p = payment();
    await expectAppError(payments.authorize(p), 'BAD_REQUEST', /card/);
    expect(await payments.authorize({ ...p, card: card('4242424242424242') })).toMatchObject({ ok: true });
  });

  it('a payment id reused for another amount, currency or broker is a conflict', async () => {
    const p = payment();
    await payments.prepare(p);
    await expectAppError(payments.authorize({ ...p, amount: 999, card: card('4242424242424242') }), 'CONFLICT');
    await expectAppError(payments.prepare({ ...p, currency: 'EUR' }), 'CONFLICT');
    const other = await ctx.newBroker();
    await expectAppError(payments.prepare({ ...p, brokerId: other.brokerId }), 'CONFLICT');
    // The refused authorization held nothing (a claim left behind would make the next one wait).
    const row = await paymentsDb(ctx.deps.database.db)
      .selectFrom('payments')
      .select(['status', 'operation'])
      .where('id', '=', p.paymentId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'prepared', operation: null });
    expect(await payments.authorize({ ...p, card: card('4242424242424242') })).toMatchObject({ ok: true });
  });

  it('capture, void, refund of an unknown payment are 404; get answers undefined', async () => {
    const id = randomUUID();
    await expectAppError(payments.capture(id), 'NOT_FOUND');
    await expectAppError(payments.void(id), 'NOT_FOUND');
    await expectAppError(payments.refund({ paymentId: id, refundId: 'r1', amount: 1 }), 'NOT_FOUND');
    await expectAppError(payments.capture('not-a-uuid'), 'BAD_REQUEST');
    expect(await payments.get(id)).toBeUndefined();
    expect(await payments.get('not-a-uuid')).toBeUndefined();
  });

  it('refund input is checked', async () => {
    const p = await capturedPayment();
    await expectAppError(payments.refund({ paymentId: p.paymentId, refundId: '', amount: 1 }), 'BAD_REQUEST');
    await expectAppError(payments.refund({ paymentId: p.paymentId, refundId: 'x', amount: 0 }), 'BAD_REQUEST');
    await expectAppError(payments.refund({ paymentId: p.paymentId, refundId: 'x', amount: 1.5 }), 'BAD_REQUEST');
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: 'x'.repeat(201), amount: 1 }),
      'BAD_REQUEST',
    );
  });
});

describe('providers and prepare', () => {
  it('test mode always uses the sandbox; live mode the configured provider (sandbox by default)', async () => {
    expect(payments.providerFor('test')).toBe('sandbox');
    expect(payments.providerFor('live')).toBe('sandbox');
    const p = payment(500, { mode: 'test' });
    expect(await payments.prepare(p)).toEqual({ kind: 'card' });
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'prepared', provider: 'sandbox', mode: 'test' });
  });

  it('prepare is idempotent and authorize after prepare uses the same payment', async () => {
    const p = payment();
    expect(await payments.prepare(p)).toEqual({ kind: 'card' });
    expect(await payments.prepare(p)).toEqual({ kind: 'card' });
    expect(await payments.authorize({ ...p, card: card('4242424242424242') })).toMatchObject({ ok: true });
    const count = await paymentsDb(ctx.deps.database.db)
      .selectFrom('payments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('id', '=', p.paymentId)
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });
});

describe('idempotency and concurrency', () => {
  it('a second authorize returns the first outcome, even with another card', async () => {
    const ok = payment();
    expect(await payments.authorize({ ...ok, card: card('4242424242424242') })).toMatchObject({ ok: true });
    expect(await payments.authorize({ ...ok, card: card('4000000000000002') })).toMatchObject({ ok: true });

    const declined = payment();
    expect(await payments.authorize({ ...declined, card: card('4000000000009995') })).toMatchObject({
      ok: false,
      code: 'insufficient_funds',
    });
    expect(await payments.authorize({ ...declined, card: card('4242424242424242') })).toMatchObject({
      ok: false,
      code: 'insufficient_funds',
    });
  });

  it('concurrent authorize calls for one payment agree on one outcome', async () => {
    const p = payment();
    const cards = ['4242424242424242', '4000000000000002', '4242424242424242', '4000000000009995'];
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => payments.authorize({ ...p, card: card(cards[i % cards.length]!) })),
    );
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    const record = await payments.get(p.paymentId);
    expect(record?.status).toBe(results[0]!.ok ? 'authorized' : 'declined');
  });

  it('capture and void are idempotent, also when called concurrently', async () => {
    const a = payment();
    await payments.authorize({ ...a, card: card('4242424242424242') });
    await Promise.all([payments.capture(a.paymentId), payments.capture(a.paymentId), payments.capture(a.paymentId)]);
    await payments.capture(a.paymentId);
    expect(await payments.get(a.paymentId)).toMatchObject({ status: 'captured' });

    const b = payment();
    await payments.authorize({ ...b, card: card('4242424242424242') });
    await Promise.all([payments.void(b.paymentId), payments.void(b.paymentId), payments.void(b.paymentId)]);
    await payments.void(b.paymentId);
    expect(await payments.get(b.paymentId)).toMatchObject({ status: 'voided' });
  });

  it('capture racing void: exactly one wins, the other is a conflict', async () => {
    for (let i = 0; i < 3; i += 1) {
      const p = payment();
      await payments.authorize({ ...p, card: card('4242424242424242') });
      const outcomes = await Promise.allSettled([payments.capture(p.paymentId), payments.void(p.paymentId)]);
      const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
      expect(fulfilled).toHaveLength(1);
      const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toBeInstanceOf(AppError);
      expect((rejected.reason as AppError).code).toBe('CONFLICT');
      const status = (await payments.get(p.paymentId))?.status;
      expect(status).toBe(outcomes[0].status === 'fulfilled' ? 'captured' : 'voided');
    }
  });

  it('refund is idempotent per refundId, also when called concurrently', async () => {
    const p = await capturedPayment(1000);
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        payments.refund({ paymentId: p.paymentId, refundId: `rf-${p.paymentId}`, amount: 300 }),
      ),
    );
    for (const r of results) expect(r).toEqual({ refundId: `rf-${p.paymentId}`, status: 'succeeded' });
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'partially_refunded', refunded: 300 });
    expect(await payments.refund({ paymentId: p.paymentId, refundId: `rf-${p.paymentId}`, amount: 300 })).toEqual({
      refundId: `rf-${p.paymentId}`,
      status: 'succeeded',
    });
    expect(await payments.get(p.paymentId)).toMatchObject({ refunded: 300 });
    // The same refund id for another amount is not a repeat.
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `rf-${p.paymentId}`, amount: 200 }),
      'CONFLICT',
    );
  });

  it('concurrent refunds with different ids never exceed what was captured', async () => {
    const p = await capturedPayment(1000);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-${i}`, amount: 300 }),
      ),
    );
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    expect(ok).toHaveLength(3);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect((o.reason as AppError).code).toBe('BAD_REQUEST');
    }
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'partially_refunded', refunded: 900 });
    expect(
      await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-last`, amount: 100 }),
    ).toMatchObject({
      status: 'succeeded',
    });
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'refunded', refunded: 1000 });
  });
});

describe('state rules', () => {
  it('a refund larger than what was captured is rejected, and partial refunds add up to a full one', async () => {
    const p = await capturedPayment(1000);
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-a`, amount: 1001 }),
      'BAD_REQUEST',
      /1000/,
    );
    await payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-b`, amount: 400 });
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-c`, amount: 601 }),
      'BAD_REQUEST',
      /600/,
    );
    await payments.refund({
      paymentId: p.paymentId,
      refundId: `${p.paymentId}-d`,
      amount: 600,
      reason: 'Session cancelled',
    });
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'refunded', refunded: 1000 });
    await expectAppError(
      payments.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-e`, amount: 1 }),
      'BAD_REQUEST',
    );
  });

  it('void after capture, capture after void, refund before capture are errors', async () => {
    const captured = await capturedPayment();
    await expectAppError(payments.void(captured.paymentId), 'CONFLICT', /refund/);

    const voided = payment();
    await payments.authorize({ ...voided, card: card('4242424242424242') });
    await payments.void(voided.paymentId);
    await expectAppError(payments.capture(voided.paymentId), 'CONFLICT', /voided/);
    await expectAppError(
      payments.refund({ paymentId: voided.paymentId, refundId: `${voided.paymentId}-r`, amount: 1 }),
      'CONFLICT',
    );

    const authorized = payment();
    await payments.authorize({ ...authorized, card: card('4242424242424242') });
    await expectAppError(
      payments.refund({ paymentId: authorized.paymentId, refundId: `${authorized.paymentId}-r`, amount: 1 }),
      'CONFLICT',
      /void/,
    );
  });

  it('a declined payment cannot be captured; voiding it is a harmless no-op', async () => {
    const p = payment();
    await payments.authorize({ ...p, card: card('4000000000000002') });
    await expectAppError(payments.capture(p.paymentId), 'CONFLICT');
    await payments.void(p.paymentId);
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'declined' });
  });

  it('a prepared payment can be voided, after which it cannot be authorized', async () => {
    const p = payment();
    await payments.prepare(p);
    await payments.void(p.paymentId);
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'voided' });
    await expectAppError(payments.authorize({ ...p, card: card('4242424242424242') }), 'CONFLICT');
  });

  it('state lives in the database: a new service instance (a restart) carries on', async () => {
    const p = payment(2000);
    await payments.authorize({ ...p, card: card('4242424242424242') });
    const restarted = createPaymentsService({
      database: ctx.deps.database,
      clock,
      log: ctx.deps.log,
      config: { provider: 'sandbox', stripe: undefined },
    });
    expect(await restarted.authorize({ ...p, card: card('4000000000000002') })).toEqual({
      ok: true,
      paymentId: p.paymentId,
    });
    await restarted.capture(p.paymentId);
    expect(await restarted.refund({ paymentId: p.paymentId, refundId: `${p.paymentId}-1`, amount: 500 })).toMatchObject(
      {
        status: 'succeeded',
      },
    );
    expect(await payments.get(p.paymentId)).toMatchObject({ status: 'partially_refunded', refunded: 500 });
  });

  it('a provider call abandoned by a crashed caller is taken over once it is stale', async () => {
    const p = payment();
    await payments.prepare(p);
    // Simulate a caller that claimed the authorization and died before recording it.
    const db = paymentsDb(ctx.deps.database.db);
    await db
      .updateTable('payments')
      .set({ operation: 'authorize', operation_started_at: new Date(clock.now().getTime() - 120_000) })
      .where('id', '=', p.paymentId)
      .execute();
    expect(await payments.authorize({ ...p, card: card('4242424242424242') })).toMatchObject({ ok: true });
    const row = await db.selectFrom('payments').selectAll().where('id', '=', p.paymentId).executeTakeFirstOrThrow();
    expect(row.operation).toBeNull();
  });
});
