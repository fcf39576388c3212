import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxTestContext, type SandboxTestContext } from '../../../test/sandbox-helpers.js';
import { createFixtures, orderRequest, partnerHeaders, places, type Fixtures } from './booking.fixtures.js';
import { validationFailures } from '../../../test/openactive-validators.js';

/*
 * @openactive/data-model-validator over everything the Open Booking API answers (DECISIONS §9):
 * the test suite runs the same validator on every response, so zero failures here means no
 * validation failures there.
 */

let t: SandboxTestContext;
let gross: Fixtures;
let net: Fixtures;

beforeAll(async () => {
  t = await createSandboxTestContext();
  gross = await createFixtures(t.database.db, t.urls);
  net = await createFixtures(t.database.db, t.urls, { taxMode: 'https://openactive.io/TaxNet' });
});
afterAll(async () => {
  await t.close();
});

const API = '/api/openbooking';
const PATHS = { C1: 'order-quote-templates', C2: 'order-quotes', B: 'orders' } as const;

async function call(method: 'PUT' | 'GET' | 'PATCH' | 'DELETE' | 'POST', url: string, body?: unknown) {
  const res = await t.request({
    method,
    url: `${API}/${url}`,
    headers: partnerHeaders(),
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body ? res.json() : undefined };
}

async function expectValid(json: unknown, mode: string) {
  expect(await validationFailures(json, mode)).toEqual([]);
}

describe.each([
  ['ScheduledSession, TaxGross seller', () => gross, (f: Fixtures) => f.session()],
  ['ScheduledSession, TaxNet seller', () => net, (f: Fixtures) => f.session({ offers: [{ price_minor: 1000 }] })],
  ['Slot, TaxGross seller', () => gross, (f: Fixtures) => f.slot()],
  [
    'free ScheduledSession',
    () => gross,
    (f: Fixtures) => f.session({ offers: [{ price_minor: 0, open_booking_prepayment: null }] }),
  ],
])('%s', (_label, fixtures, opportunity) => {
  it('C1, C2, B, Order Status and the Orders feed item pass validation', async () => {
    const f = fixtures();
    const o = await opportunity(f);
    const uuid = randomUUID();
    const c1 = await call('PUT', `${PATHS.C1}/${uuid}`, orderRequest('C1', f.sellerUrl, places(o)));
    expect(c1.status).toBe(200);
    await expectValid(c1.body, 'C1Response');
    const c2 = await call('PUT', `${PATHS.C2}/${uuid}`, orderRequest('C2', f.sellerUrl, places(o)));
    expect(c2.status).toBe(200);
    await expectValid(c2.body, 'C2Response');
    const price = c2.body.totalPaymentDue.price as number;
    const bRequest = orderRequest('B', f.sellerUrl, places(o), {
      totalPaymentDue: { '@type': 'PriceSpecification', price, priceCurrency: 'GBP' },
      ...(price > 0 ? { payment: { '@type': 'Payment', identifier: 'pay-123', name: 'Card' } } : {}),
    });
    await expectValid(bRequest, 'BRequest');
    const b = await call('PUT', `${PATHS.B}/${uuid}`, bRequest);
    expect(b.status).toBe(201);
    await expectValid(b.body, 'BResponse');
    await expectValid((await call('GET', `orders/${uuid}`)).body, 'OrderStatus');

    const patch = {
      '@context': 'https://openactive.io/',
      '@type': 'Order',
      orderedItem: [
        {
          '@type': 'OrderItem',
          '@id': b.body.orderedItem[0]['@id'],
          orderItemStatus: 'https://openactive.io/CustomerCancelled',
        },
      ],
    };
    await expectValid(patch, 'OrderPatch');
    expect((await call('PATCH', `orders/${uuid}`, patch)).status).toBe(204);
    const feed = await call('GET', 'orders-rpde');
    const entry = feed.body.items.find((i: { id: string }) => i.id === uuid);
    await expectValid(entry.data, 'OrdersFeed');
  });
});

describe('responses with errors', () => {
  it('409 quotes and orders with item errors pass validation in their OrderItemError modes', async () => {
    const full = await gross.session({ capacity: 2, remaining: 0 });
    const ok = await gross.session();
    const lines = [...places(full), ...places(ok)];
    const c1 = await call('PUT', `${PATHS.C1}/${randomUUID()}`, orderRequest('C1', gross.sellerUrl, lines));
    expect(c1.status).toBe(409);
    await expectValid(c1.body, 'C1ResponseOrderItemError');
    const c2 = await call('PUT', `${PATHS.C2}/${randomUUID()}`, orderRequest('C2', gross.sellerUrl, lines));
    expect(c2.status).toBe(409);
    await expectValid(c2.body, 'C2ResponseOrderItemError');
    const b = await call(
      'PUT',
      `${PATHS.B}/${randomUUID()}`,
      orderRequest('B', gross.sellerUrl, lines, {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 7.5, priceCurrency: 'GBP' },
        payment: { '@type': 'Payment', identifier: 'p' },
      }),
    );
    expect(b.status).toBe(409);
    await expectValid(b.body, 'BResponseOrderItemError');
  });

  it('order-level errors are valid OpenBookingErrors', async () => {
    const session = await gross.session();
    const noBrokerName = orderRequest('C1', gross.sellerUrl, places(session), { broker: { '@type': 'Organization' } });
    const responses = [
      await call('PUT', `${PATHS.C1}/${randomUUID()}`, noBrokerName),
      await call('PUT', `${PATHS.C2}/${randomUUID()}`, {
        ...orderRequest('C2', gross.sellerUrl, places(session)),
        customer: undefined,
      }),
      await call('DELETE', `orders/${randomUUID()}`),
      await call('GET', 'no-such-endpoint'),
    ];
    expect(responses.map((r) => r.status)).toEqual([400, 400, 404, 404]);
    for (const r of responses) await expectValid(r.body, 'OpenBookingError');
  });
});
