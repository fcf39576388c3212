import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../http-assertions.js';
import {
  checkoutSessionBody,
  createAccount,
  orderItemFor,
  startCheckoutWorld,
  type CheckoutWorld,
} from './checkout-fixture.js';

/*
 * Which booking systems a key may book (issue 14 point 3): a test key books only test
 * publishers' sellers (or in imin's testing mode, where nothing is booked), a live key only live
 * publishers'. Checked where checkout resolves the opportunity (API and guest link alike) and
 * again where B is sent (pay, and recovery re-sending B). The bundled sandbox over real HTTP
 * plays both kinds of publisher: registered again with another mode, it becomes the other kind.
 */

type Json = Record<string, any>;

const CARD_OK = { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' };

let w: CheckoutWorld;
let slug: string;
let brokerId: number;
const keys = {} as Record<'live' | 'test', string>;
const accounts = {} as Record<'live' | 'test', string>;

const api = () => `/checkout/${slug}/api/checkout-sessions`;

async function markPublisher(mode: 'live' | 'test'): Promise<void> {
  const { publisher } = await w.t.services.catalog.addPublisher({ datasetUrl: w.urls.datasetSite, mode });
  expect(publisher).toMatchObject({ id: w.publisherId, mode });
}

/** The sandbox's own orders: what was booked at the seller. */
async function sellerOrderCount(): Promise<number> {
  const row = await w.sandboxDb.db
    .selectFrom('orders')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function paymentsOfBroker(): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from payments where broker_id = ${brokerId}`.execute(w.t.deps.database.db);
  return rows[0]!.n;
}

async function post(mode: 'live' | 'test', opportunity: { id: string; offers: string[] }) {
  return w.t.request({
    method: 'POST',
    url: api(),
    key: keys[mode],
    payload: checkoutSessionBody(accounts[mode], [orderItemFor(opportunity)]),
  });
}

const guest = (opportunity: { id: string }, query = '') =>
  w.t.request({
    method: 'GET',
    url: `/checkout/${slug}/v1/scheduled-sessions/${encodeURIComponent(opportunity.id)}${query}`,
  });

async function sessionRow(id: string): Promise<Json> {
  const { rows } = await sql<Json>`select * from checkout_sessions where id = ${id}`.execute(w.t.deps.database.db);
  return rows[0]!;
}

/** C1 (choose), C2 (details) and pay through the hosted checkout's service; the view after pay. */
async function payFor(sessionId: string) {
  const checkout = w.t.services.checkout;
  let view = await checkout.view(slug, sessionId);
  if (view.step === 'details') {
    view = await checkout.submitDetails(slug, sessionId, { givenName: '', familyName: '', email: '' });
  }
  expect(view.step, JSON.stringify(view.problem)).toBe('pay');
  return checkout.pay(slug, sessionId, { card: CARD_OK });
}

beforeAll(async () => {
  w = await startCheckoutWorld();
  const broker = await w.t.newBroker({ products: ['booking', 'checkout'] });
  slug = broker.slug;
  brokerId = broker.brokerId;
  keys.live = broker.key;
  keys.test = (await w.t.services.brokers.createKey(slug, { mode: 'test', products: ['booking', 'checkout'] })).key;
  accounts.live = await createAccount(w.t, keys.live, 'Lola');
  accounts.test = await createAccount(w.t, keys.test, 'Tess');
}, 120_000);

afterAll(async () => {
  await w?.close();
});

describe('a live publisher (a real booking system)', () => {
  it('refuses a test key: 400 with the reason, nothing booked at the seller, no payment', async () => {
    await markPublisher('live');
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    const [remaining, sellerOrders, payments] = [
      await w.remaining(opp.id),
      await sellerOrderCount(),
      await paymentsOfBroker(),
    ];

    const body = expectError(await post('test', opp), 400, 'OpportunityOfferPairNotBookableError');
    expect(body.description).toMatch(/test key/i);
    expect(body.description).toMatch(/live booking system/i);
    // The guest link in test mode likewise: the not-bookable page, no session.
    const page = await guest(opp, '?mode=test');
    expect(page.statusCode).toBe(409);
    expect(page.body).toContain('cannot be booked online');

    expect(await w.remaining(opp.id)).toBe(remaining);
    expect(await sellerOrderCount()).toBe(sellerOrders);
    expect(await paymentsOfBroker()).toBe(payments);
  });

  it('books with a live key (and a live guest link)', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    const before = await w.remaining(opp.id);
    const res = await post('live', opp);
    expect(res.statusCode, res.body).toBe(201);
    const view = await payFor((res.headers.location as string).split('/').pop()!);
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    expect(await w.remaining(opp.id)).toBe(before - 1);
    const order = (await w.t.services.orders.findOrder(view.order!.id))!;
    expect(order).toMatchObject({ mode: 'live', test_mode: false });
    expect(await w.t.services.payments.get(order.payment_id!)).toMatchObject({ mode: 'live', status: 'captured' });

    const page = await guest(opp);
    expect(page.statusCode, page.body).toBe(303);
    const sessionId = (page.headers.location as string).split('/').pop()!;
    expect(await sessionRow(sessionId)).toMatchObject({ mode: 'live', kind: 'guest' });
  });
});

describe('a test publisher (a test booking system)', () => {
  it('books with a test key: at the seller, paid with the sandbox provider in test mode', async () => {
    await markPublisher('test');
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    const before = await w.remaining(opp.id);
    const res = await post('test', opp);
    expect(res.statusCode, res.body).toBe(201);
    const view = await payFor((res.headers.location as string).split('/').pop()!);
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    expect(view.testMode).toBe(true);
    expect(await w.remaining(opp.id)).toBe(before - 1);
    expect((await w.sellerOrder(view.order!.id))?.['@type']).toBe('Order');
    const order = (await w.t.services.orders.findOrder(view.order!.id))!;
    expect(order).toMatchObject({ mode: 'test', test_mode: false, status: 'confirmed' });
    expect(await w.t.services.payments.get(order.payment_id!)).toMatchObject({
      mode: 'test',
      provider: 'sandbox',
      status: 'captured',
    });
    // The confirmation email says it was a test booking.
    const email = (await w.t.services.mailer.list({ to: 'tess@example.com' })).find((e) => e.orderId === order.id);
    expect(email?.subject).toMatch(/^\[TEST\]/);

    // The guest link of a test key's search result starts a test-mode session.
    const page = await guest(opp, '?mode=test');
    expect(page.statusCode, page.body).toBe(303);
    expect(await sessionRow((page.headers.location as string).split('/').pop()!)).toMatchObject({
      mode: 'test',
      kind: 'guest',
    });
  });

  it('refuses a live key and a live guest link: nothing booked, no payment', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    const [remaining, sellerOrders, payments] = [
      await w.remaining(opp.id),
      await sellerOrderCount(),
      await paymentsOfBroker(),
    ];
    const body = expectError(await post('live', opp), 400, 'OpportunityOfferPairNotBookableError');
    expect(body.description).toMatch(/test booking system/i);
    expect(body.description).toMatch(/live key/i);
    const page = await guest(opp);
    expect(page.statusCode).toBe(409);
    expect(page.body).toContain('cannot be booked online');
    expect(await w.remaining(opp.id)).toBe(remaining);
    expect(await sellerOrderCount()).toBe(sellerOrders);
    expect(await paymentsOfBroker()).toBe(payments);
  });

  it('imin testing values with a test key: testing mode as before (no payment, nothing booked)', async () => {
    const sellerOrders = await sellerOrderCount();
    const res = await w.t.request({
      method: 'POST',
      url: api(),
      key: keys.test,
      payload: checkoutSessionBody(accounts.test, [
        {
          type: 'OrderItem',
          orderedItem: { type: 'ScheduledSession', identifier: 'test-item-ScheduledSession-paid' },
          acceptedOffer: 'test-offer-adult-guest',
        },
      ]),
    });
    expect(res.statusCode, res.body).toBe(201);
    const view = await payFor((res.headers.location as string).split('/').pop()!);
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    expect(await w.t.services.orders.findOrder(view.order!.id)).toMatchObject({
      mode: 'test',
      test_mode: true,
      payment_id: null,
    });
    expect(await sellerOrderCount()).toBe(sellerOrders);
  });
});

describe('the guard where B is sent', () => {
  it('pay refuses a test session whose publisher became live since: nothing booked, no money held', async () => {
    await markPublisher('test');
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    const res = await post('test', opp);
    expect(res.statusCode, res.body).toBe(201);
    const sessionId = (res.headers.location as string).split('/').pop()!;
    await w.t.services.checkout.submitDetails(slug, sessionId, { givenName: '', familyName: '', email: '' });
    const before = await w.remaining(opp.id);
    const sellerOrders = await sellerOrderCount();

    await markPublisher('live');
    const view = await w.t.services.checkout.pay(slug, sessionId, { card: CARD_OK });
    expect(view.step).toBe('failed');
    expect(view.problem?.code).toBe('not_bookable');
    expect(await w.remaining(opp.id)).toBe(before);
    expect(await sellerOrderCount()).toBe(sellerOrders);
    const s = await sessionRow(sessionId);
    expect(await w.t.services.orders.findOrder(s.order_uuid as string)).toBeUndefined();
    const held = s.payment_id ? await w.t.services.payments.get(s.payment_id as string) : undefined;
    expect(['authorized', 'captured']).not.toContain(held?.status);
  });

  it('recovery does not re-send B for a test order to a publisher that became live: the order fails, nothing booked', async () => {
    await markPublisher('test');
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableFree');
    const found = (await w.t.services.catalog.findOpportunity(opp.id))!;
    const orderId = crypto.randomUUID();
    // The B that pay() had written with the pending order (after a C2 for the same UUID) when
    // the process stopped: recovery would re-send it.
    const target = await w.t.services.booking.targetFor(w.publisherId, found.sellerId!);
    const request = {
      uuid: orderId,
      items: [{ opportunityId: opp.id, opportunityType: 'ScheduledSession' as const, offerId: opp.offers[0]! }],
      customer: { email: 'tess@example.com', givenName: 'Tess', familyName: 'Wu' },
      broker: { name: 'Test broker' },
    };
    const quote = await w.t.services.booking.c2({ ...request, mode: 'test', target });
    expect(quote.ok).toBe(true);
    await w.t.services.orders.insertPendingOrder(w.t.deps.database.db, {
      id: orderId,
      brokerId,
      mode: 'test',
      customerId: null,
      customer: { givenName: 'Tess', familyName: 'Wu', email: 'tess@example.com' },
      checkoutSessionId: null,
      publisherId: w.publisherId,
      sellerId: found.sellerId,
      seller: found.seller,
      broker: { type: 'Organization', name: 'Test broker' },
      totalPrice: 0,
      currency: 'GBP',
      paymentId: null,
      bookingTarget: { publisherId: w.publisherId, endpointUrl: target.endpointUrl, sellerId: found.sellerId },
      // As an earlier version stored it, without the mode: recovery takes the order's.
      bookingRequest: { ...request, totalPaymentDue: quote.totalPaymentDue },
      testMode: false,
      items: [],
    });
    await w.t.services.orders.advance(orderId, ['created'], 'booking');
    const sellerOrders = await sellerOrderCount();

    await markPublisher('live');
    expect(await w.t.services.checkout.recovery.recoverOrder(orderId, { minAgeMs: 0 })).toBe('failed');
    expect(await w.t.services.orders.findOrder(orderId)).toMatchObject({ status: 'failed' });
    expect(await w.sellerOrder(orderId)).toBeUndefined();
    expect(await sellerOrderCount()).toBe(sellerOrders);
  });
});
