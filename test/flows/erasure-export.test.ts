import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findValues } from '../db-scan.js';
import { SEND_EMAIL_JOB } from '../../src/modules/notifications/index.js';
import { checkoutSessionBody, orderItemFor, startCheckoutWorld, type CheckoutWorld } from './checkout-fixture.js';

/*
 * A customer's data, end to end against the sandbox booking system (issue 14, point 8): an
 * account, a paid booking through checkout (the seller's response to B echoes the customer's
 * details), the confirmation email. The export holds all of it — account, orders, payments,
 * emails, checkout sessions — and after DELETE no personal value is left in any column of any
 * table of ours, the seller's echo included.
 */

type Json = Record<string, any>;
const CARD_OK = { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' };

// Values that occur nowhere else, so finding one anywhere in the database means it leaked.
const distinctive = {
  givenName: 'Ottoline',
  familyName: 'Quarrendon',
  email: 'ottoline.q.export@example.org',
  telephone: '07700 900321',
};

let w: CheckoutWorld;
let broker: { slug: string; key: string; brokerId: number };

beforeAll(async () => {
  w = await startCheckoutWorld();
  broker = await w.t.newBroker({ products: ['booking', 'checkout'] });
}, 120_000);
afterAll(async () => {
  await w?.close();
});

describe('export and erasure reach every copy of a customer’s data', () => {
  it('exports the orders, payments, emails and checkout sessions; erases them all, the seller’s echo too', async () => {
    const created = await w.t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: broker.key,
      payload: { ...distinctive, 'imin:is13OrOver': true },
    });
    expect(created.statusCode, created.body).toBe(201);
    const id: string = created.json<Json>().identifier;

    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    const res = await w.t.request({
      method: 'POST',
      url: `/checkout/${broker.slug}/api/checkout-sessions`,
      key: broker.key,
      payload: checkoutSessionBody(id, [orderItemFor(opp)]),
    });
    expect(res.statusCode, res.body).toBe(201);
    const sessionId = (res.headers.location as string).split('/').pop()!;
    const checkout = w.t.services.checkout;
    await checkout.submitDetails(broker.slug, sessionId, { givenName: '', familyName: '', email: '' });
    const view = await checkout.pay(broker.slug, sessionId, { card: CARD_OK });
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    const orderId = view.order!.id;
    expect(await w.t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBeGreaterThanOrEqual(1);

    // The seller's echo holds the customer: the copy erasure must reach.
    const order = (await w.t.services.orders.findOrder(orderId))!;
    expect(JSON.stringify(order.seller_response)).toContain(distinctive.email);

    const exported = await w.t.request({
      method: 'GET',
      url: `/api/v2/customer-accounts/${id}/export`,
      key: broker.key,
    });
    expect(exported.statusCode, exported.body).toBe(200);
    const data = exported.json<Json>();
    expect(data.customerAccount.customer).toMatchObject({ email: distinctive.email, telephone: distinctive.telephone });
    expect(data['activehub:orders']).toEqual([
      expect.objectContaining({
        identifier: orderId,
        'activehub:status': 'confirmed',
        customer: expect.objectContaining({ email: distinctive.email }),
        orderedItem: [expect.objectContaining({ orderItemStatus: 'https://openactive.io/OrderItemConfirmed' })],
      }),
    ]);
    expect(data['activehub:payments']).toEqual([
      expect.objectContaining({
        identifier: order.payment_id,
        'activehub:status': 'captured',
        'activehub:amount': order.total_price,
        'activehub:cardLast4': '4242',
      }),
    ]);
    expect(data['activehub:emails']).toEqual([
      expect.objectContaining({
        'activehub:kind': 'order-confirmation',
        'activehub:orderId': orderId,
        recipient: expect.stringContaining(distinctive.email),
        text: expect.stringContaining(distinctive.givenName),
      }),
    ]);
    expect(data['activehub:checkoutSessions']).toEqual([
      expect.objectContaining({
        identifier: sessionId,
        'activehub:state': 'confirmed',
        'activehub:orderId': orderId,
      }),
    ]);
    // Another broker's key: the same 404 as an unknown account.
    const other = await w.t.newBroker({ products: ['booking'] });
    expect(
      (await w.t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}/export`, key: other.key })).statusCode,
    ).toBe(404);

    // Before erasure the scan sees every value, so its silence afterwards means something.
    const before = await findValues(w.t.deps.database, distinctive);
    for (const name of Object.keys(distinctive))
      expect(
        before.some((f) => f.startsWith(`${name} in `)),
        name,
      ).toBe(true);
    expect(before.some((f) => f.startsWith('email in public.orders'))).toBe(true);

    expect(
      (await w.t.request({ method: 'DELETE', url: `/api/v2/customer-accounts/${id}`, key: broker.key })).statusCode,
    ).toBe(202);
    expect(await w.t.deps.jobs.runDue('customers.erase')).toBe(1);
    expect(await findValues(w.t.deps.database, distinctive)).toEqual([]);

    // The order stays, anonymised, and still reads as an order (its items, tax and total from the echo).
    const after = (await w.t.services.orders.findOrder(orderId))!;
    expect(after.status).toBe('confirmed');
    expect(JSON.stringify(after.seller_response)).toContain(`deleted-${id}@invalid`);
    expect((after.seller_response as Json).orderedItem).toHaveLength(1);
  });
});
