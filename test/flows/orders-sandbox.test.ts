import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkoutSessionBody,
  createAccount,
  orderItemFor,
  startCheckoutWorld,
  TEST_CLIENT,
  type CheckoutWorld,
} from './checkout-fixture.js';

/*
 * Louis's last step, against the bundled sandbox booking system over real HTTP: orders booked
 * through the checkout (authenticated, paid by card), then his upcoming items, order history and
 * order; a customer cancellation sent to the seller; a seller cancellation made through the
 * sandbox's test interface; both picked up from the seller's Orders feed, each refunded once and
 * emailed; the feed re-read from its start changes nothing.
 */

type Json = Record<string, any>;
const MEDIA = 'application/vnd.openactive.booking+json; version=1';

let w: CheckoutWorld;
let broker: { slug: string; key: string; brokerId: number };
let louis: string;
let cancellable: { id: string; offers: string[] };

beforeAll(async () => {
  w = await startCheckoutWorld({ credentialsSellerId: 1 });
  cancellable = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableCancellable');
  broker = await w.t.newBroker({ products: ['booking', 'checkout'] });
  louis = await createAccount(w.t, broker.key, 'Louis', 'louis.orders@example.com');
}, 120_000);

afterAll(async () => {
  await w?.close();
});

/** Books `opportunity` for Louis through the checkout API and pages' service; returns the order id. */
async function book(opportunity: { id: string; offers: string[] }): Promise<string> {
  const res = await w.t.request({
    method: 'POST',
    url: `/checkout/${broker.slug}/api/checkout-sessions`,
    key: broker.key,
    payload: checkoutSessionBody(louis, [orderItemFor(opportunity)]),
  });
  expect(res.statusCode, res.body).toBe(201);
  const sessionId = (res.headers.location as string).split('/').pop()!;
  const checkout = w.t.services.checkout;
  let view = await checkout.view(broker.slug, sessionId);
  if (view.step === 'details')
    view = await checkout.submitDetails(broker.slug, sessionId, { givenName: '', familyName: '', email: '' });
  expect(view.step, JSON.stringify(view.problem)).toBe('pay');
  view = await checkout.pay(broker.slug, sessionId, {
    card: { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' },
  });
  expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
  return view.order!.id;
}

async function refundEmails(): Promise<number> {
  return (await w.t.services.mailer.list({ to: 'louis.orders@example.com' })).filter((e) => e.kind === 'refund').length;
}

async function getOrder(id: string): Promise<Json> {
  const res = await w.t.request({ method: 'GET', url: `/api/v2/orders/${id}`, key: broker.key });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Json>();
}

async function simulate(action: string, orderUuid: string): Promise<void> {
  const res = await fetch(`${w.urls.openBookingBase}/test-interface/actions`, {
    method: 'POST',
    headers: { 'content-type': MEDIA, ...TEST_CLIENT },
    body: JSON.stringify({
      '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
      '@type': `test:${action}`,
      object: { '@type': 'Order', '@id': `${w.urls.openBookingBase}/orders/${orderUuid}` },
    }),
  });
  expect(res.status, await res.text()).toBe(204);
}

describe('orders booked through checkout, kept true by the seller’s Orders feed', () => {
  it('customer cancellation: PATCH → seller CustomerCancelled → feed → one refund, one email, a new receipt', async () => {
    const orderId = await book(cancellable);
    const items = await w.t.request({
      method: 'GET',
      url: `/api/v2/order-items?customerIdentifier=${louis}`,
      key: broker.key,
    });
    expect(items.statusCode, items.body).toBe(200);
    const upcoming = items.json<Json>()['imin:item'] as Json[];
    const item = upcoming.find((i) => (i.id as string).includes(orderId));
    expect(item).toMatchObject({
      orderItemStatus: 'https://openactive.io/OrderItemConfirmed',
      'imin:isPresentlyCancellable': true,
    });
    expect(item!.orderedItem).toMatchObject({ type: 'ScheduledSession', identifier: cancellable.id });
    const history = (
      await w.t.request({ method: 'GET', url: `/api/v2/orders?customerIdentifier=${louis}`, key: broker.key })
    ).json<Json>();
    expect(history['imin:item'].map((o: Json) => o.identifier)).toContain(orderId);

    const order = await getOrder(orderId);
    expect(order.orderedItem[0].orderedItem.superEvent).toMatchObject({ type: 'SessionSeries' });
    // imin-booking §3.2: the SessionSeries' superEvent is the EventSeries, with name and organizer.
    expect(order.orderedItem[0].orderedItem.superEvent.superEvent).toMatchObject({
      type: 'EventSeries',
      name: expect.stringMatching(/\S/),
      organizer: { type: 'Organization', name: expect.stringMatching(/\S/) },
    });
    expect(order['imin:receipt']).toHaveLength(1);
    const paid = order.totalPaymentDue.price as number;
    expect(paid).toBeGreaterThan(0);
    const paymentId = (await w.t.services.orders.findOrder(orderId))!.payment_id!;

    const patch = await w.t.request({
      method: 'PATCH',
      url: `/api/v2/orders/${orderId}`,
      key: broker.key,
      payload: {
        '@context': 'https://openactive.io/',
        '@type': 'Order',
        orderedItem: [
          { '@type': 'OrderItem', '@id': item!.id, orderItemStatus: 'https://openactive.io/CustomerCancelled' },
        ],
      },
    });
    expect(patch.statusCode, patch.body).toBe(204);
    const atSeller = await w.sellerOrder(orderId);
    expect(atSeller!.orderedItem[0].orderItemStatus).toBe('https://openactive.io/CustomerCancelled');
    expect((await getOrder(orderId)).orderedItem[0].orderItemStatus).toBe('https://openactive.io/CustomerCancelled');

    // The refund follows the seller's Orders feed (openactive.md §1.11).
    const emailsBefore = await refundEmails();
    const runs = await w.t.services.ordersFeed.runOnce();
    expect(
      runs.every((r) => r.caughtUp && !r.error),
      JSON.stringify(runs),
    ).toBe(true);
    expect(await w.t.deps.jobs.runDue('orders.refund')).toBe(1);
    expect(await w.t.services.payments.get(paymentId)).toMatchObject({
      refunded: Math.round(paid * 100),
      status: 'refunded',
    });
    expect(await refundEmails()).toBe(emailsBefore + 1);
    const after = await getOrder(orderId);
    expect(after.totalPaymentDue.price).toBe(0);
    expect(after['imin:receipt']).toHaveLength(2);
    expect(after['activehub:refund']).toEqual([expect.objectContaining({ status: 'succeeded' })]);
  });

  it('seller cancellation through the test interface is picked up from the feed, refunded once and emailed', async () => {
    const orderId = await book(cancellable);
    const paymentId = (await w.t.services.orders.findOrder(orderId))!.payment_id!;
    await simulate('SellerRequestedCancellationWithMessageSimulateAction', orderId);
    const emailsBefore = await refundEmails();
    await w.t.services.ordersFeed.runOnce();
    expect(await w.t.deps.jobs.runDue('orders.refund')).toBe(1);
    const order = await getOrder(orderId);
    expect(order.orderedItem[0]).toMatchObject({
      orderItemStatus: 'https://openactive.io/SellerCancelled',
      'imin:isPresentlyCancellable': false,
      cancellationMessage: expect.stringContaining('instructor is unwell'),
    });
    const payment = await w.t.services.payments.get(paymentId);
    expect(payment?.status).toBe('refunded');
    expect(payment?.refunded).toBe(payment?.amount);
    expect(await refundEmails()).toBe(emailsBefore + 1);
    const email = (await w.t.services.mailer.list({ to: 'louis.orders@example.com' })).find((e) => e.kind === 'refund');
    expect(email?.text ?? '').toContain('instructor is unwell');
    // No longer an upcoming item.
    const upcoming = (
      await w.t.request({ method: 'GET', url: `/api/v2/order-items?customerIdentifier=${louis}`, key: broker.key })
    ).json<Json>();
    expect(upcoming['imin:item'].some((i: Json) => (i.id as string).includes(orderId))).toBe(false);
  });

  it('attendance is recorded without a refund; the feed read again from its start refunds nothing twice', async () => {
    const orderId = await book(cancellable);
    await simulate('AttendeeAttendedSimulateAction', orderId);
    await w.t.services.ordersFeed.runOnce();
    expect(await w.t.deps.jobs.runDue('orders.refund')).toBe(0);
    expect((await getOrder(orderId)).orderedItem[0].orderItemStatus).toBe('https://openactive.io/AttendeeAttended');

    const refunds = async () =>
      (
        await w.t.deps.database.db
          .selectFrom('payment_refunds' as never)
          .selectAll()
          .execute()
      ).length;
    const before = { refunds: await refunds(), emails: await refundEmails() };
    await w.t.services.ordersFeed.resetFeeds();
    const runs = await w.t.services.ordersFeed.runOnce();
    expect(runs.reduce((n, r) => n + r.items, 0)).toBeGreaterThanOrEqual(3);
    expect(await w.t.deps.jobs.runDue('orders.refund')).toBe(0);
    expect({ refunds: await refunds(), emails: await refundEmails() }).toEqual(before);
  });

  it('another broker gets 404 for these orders, their items and receipts', async () => {
    const other = await w.t.newBroker({ products: ['booking'] });
    const orders = (
      await w.t.request({ method: 'GET', url: `/api/v2/orders?customerIdentifier=${louis}`, key: broker.key })
    ).json<Json>()['imin:item'] as Json[];
    expect(orders.length).toBeGreaterThanOrEqual(3);
    for (const order of orders) {
      expect(
        (await w.t.request({ method: 'GET', url: `/api/v2/orders/${order.identifier}`, key: other.key })).statusCode,
      ).toBe(404);
      const cancel = await w.t.request({
        method: 'PATCH',
        url: `/api/v2/orders/${order.identifier}`,
        key: other.key,
        payload: {
          orderedItem: [{ '@id': order.orderedItem[0].id, orderItemStatus: 'https://openactive.io/CustomerCancelled' }],
        },
      });
      expect(cancel.statusCode).toBe(404);
      for (const r of order['imin:receipt'] as Json[]) {
        expect((await w.t.request({ method: 'GET', url: new URL(r.url).pathname, key: other.key })).statusCode).toBe(
          404,
        );
      }
    }
    const theirs = await w.t.request({
      method: 'GET',
      url: `/api/v2/order-items?customerIdentifier=${louis}`,
      key: other.key,
    });
    expect(theirs.json<Json>()['imin:totalItems']).toBe(0);
  });
});
