import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { fixedClock } from '../../lib/clock.js';
import { ordersApiDb } from './orders-api.tables.js';
import { CANCELLABLE_OFFER, seedOrder } from './orders.fixtures.js';

/*
 * The Orders API over the real app and database (imin-booking §3): order history, order by id,
 * upcoming order items, customer cancellation of test-mode orders, receipts, isolation between
 * brokers, erasure placeholders. Orders are written through the orders service's own functions.
 */

const NOW = new Date('2026-06-10T12:00:00Z');
const clock = fixedClock(NOW);
let t: TestContext;

beforeAll(async () => {
  t = await createTestContext({ clock });
});
afterAll(async () => {
  await t?.close();
});

const DAY = 86_400_000;
type Json = Record<string, any>;

async function pdfText(buffer: Buffer): Promise<string> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const doc = await pdfjs.getDocument({ data: new Uint8Array(buffer), verbosity: 0 }).promise;
  let text = '';
  for (let p = 1; p <= doc.numPages; p += 1) {
    const page = await doc.getPage(p);
    const content = await page.getTextContent();
    text += content.items.map((i) => ('str' in i ? i.str : '')).join(' ') + '\n';
  }
  await doc.destroy();
  return text;
}

/** `count` confirmed orders for one customer, one a minute, oldest first. */
async function seedHistory(brokerId: number, identifier: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    clock.set(new Date(NOW.getTime() - (count - i) * 60_000));
    ids.push(
      (await seedOrder(t, { brokerId, identifier, items: [{ startDate: new Date(NOW.getTime() + (i + 1) * DAY) }] }))
        .id,
    );
  }
  clock.set(NOW);
  return ids;
}

describe('orders service reads', () => {
  it('findOrderWithItems reads what findOrder and findItems read, items in position order', async () => {
    const { brokerId } = await t.newBroker();
    const { id } = await seedOrder(t, {
      brokerId,
      identifier: 'reads-1',
      items: [
        { startDate: new Date(NOW.getTime() + DAY), attendee: { givenName: 'Ann', familyName: 'Lee' } },
        { startDate: new Date(NOW.getTime() + 2 * DAY), price: 0 },
        { startDate: new Date(NOW.getTime() + 3 * DAY) },
      ],
    });
    const both = await t.services.orders.findOrderWithItems(id);
    expect(both?.order).toEqual(await t.services.orders.findOrder(id));
    const items = await t.services.orders.findItems(id);
    expect(items.map((i) => i.position)).toEqual([0, 1, 2]);
    expect(both?.items).toEqual(items);
    expect(both?.items[0]?.created_at).toBeInstanceOf(Date);
    expect(await t.services.orders.findOrderWithItems('00000000-0000-4000-8000-000000000000')).toBeUndefined();
  });

  it('markBooked answers the order and every item as they now are, items B did not name unchanged', async () => {
    const { brokerId } = await t.newBroker();
    const id = randomUUID();
    const item = (i: number) => ({
      opportunityType: 'ScheduledSession',
      opportunityId: `https://seller.example/scheduled-sessions/mb-${i}`,
      opportunity: { name: `Swim ${i}`, startDate: new Date(NOW.getTime() + DAY).toISOString() },
      offerId: 'https://seller.example/offers/1',
      offer: {},
      price: 500,
      currency: 'GBP',
      attendee: null,
      attendeeCustomerId: null,
    });
    await t.services.orders.insertPendingOrder(t.deps.database.db, {
      id,
      brokerId,
      mode: 'live',
      customerId: null,
      customer: { givenName: 'Mark', familyName: 'Booked', email: 'mb@example.com' },
      checkoutSessionId: null,
      publisherId: null,
      sellerId: null,
      seller: null,
      broker: { type: 'Organization', name: 'B' },
      totalPrice: 1500,
      currency: 'GBP',
      paymentId: null,
      bookingTarget: null,
      bookingRequest: null,
      testMode: false,
      items: [item(0), item(1), item(2)],
    });
    const recorded = await t.services.orders.markBooked(id, {
      sellerOrderNumber: 'S-1',
      sellerResponse: { ok: true },
      items: [
        { position: 0, sellerOrderItemId: 'https://seller.example/oi/0', accessCode: 'AC0' },
        { position: 2, sellerOrderItemId: 'https://seller.example/oi/2', accessCode: null },
      ],
    });
    expect(recorded?.order).toMatchObject({ id, status: 'pending', stage: 'booked', seller_order_number: 'S-1' });
    expect(recorded?.items.map((i) => [i.position, i.seller_order_item_id, i.access_code])).toEqual([
      [0, 'https://seller.example/oi/0', 'AC0'],
      [1, null, null],
      [2, 'https://seller.example/oi/2', null],
    ]);
    // What it answers is what a read now finds.
    expect(recorded).toEqual(await t.services.orders.findOrderWithItems(id));
    // Not pending at that stage any more: nothing written, nothing answered.
    await t.services.orders.markConfirmed(t.deps.database.db, id);
    expect(await t.services.orders.markBooked(id, { sellerOrderNumber: 'S-2', items: [] })).toBeUndefined();
    expect((await t.services.orders.findOrder(id))?.seller_order_number).toBe('S-1');
  });

  it('findStuckPending: pending orders idle for the delay, doubled per recovery attempt up to 2^5, oldest first', async () => {
    const { brokerId } = await t.newBroker();
    const MIN = 60_000;
    const seed = async (minutesIdle: number, attempts: number, status = 'pending') => {
      const { id } = await seedOrder(t, {
        brokerId,
        identifier: 'stuck-1',
        items: [{ startDate: new Date(NOW.getTime() + DAY) }],
      });
      await sql`update orders set status = ${status}, stage = 'booking', recovery_attempts = ${attempts},
        updated_at = ${new Date(NOW.getTime() - minutesIdle * MIN)} where id = ${id}`.execute(t.deps.database.db);
      return id;
    };
    const due = [await seed(3, 0), await seed(5, 1), await seed(70, 9)];
    const notDue = [await seed(1, 0), await seed(3, 1), await seed(60, 9), await seed(300, 0, 'confirmed')];
    const found = (await t.services.orders.findStuckPending(NOW, 2 * MIN, 5)).map((r) => r.id);
    expect(found.filter((id) => [...due, ...notDue].includes(id))).toEqual([due[2], due[1], due[0]]);
    expect(await t.services.orders.findStuckPending(NOW, 2 * MIN, 5, 1)).toHaveLength(1);
  });
});

describe('order history (GET /api/v2/orders)', () => {
  it('pages newest first with a consistent view, empty beyond the last page', async () => {
    const { key, brokerId } = await t.newBroker();
    const ids = await seedHistory(brokerId, 'hist-1', 23);
    const newestFirst = [...ids].reverse();
    const base = 'http://activehub.test/api/v2/orders?customerIdentifier=hist-1&page=';

    const p1 = await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=hist-1', key });
    expect(p1.statusCode, p1.body).toBe(200);
    const b1 = p1.json<Json>();
    expect(b1).toMatchObject({
      type: 'imin:RestrictedCollection',
      '@context': ['https://openactive.io/', 'https://schema.imin.co/', 'https://openactive.io/ns-beta'],
      id: `${base}1`,
      'imin:totalItems': 23,
    });
    expect(b1.view).toEqual({
      id: `${base}1`,
      type: 'PartialCollectionView',
      first: `${base}1`,
      last: `${base}3`,
      next: `${base}2`,
      urlTemplate: `${base}{page}`,
      'imin:currentPage': 1,
      'imin:itemsPerPage': 10,
      'imin:totalPages': 3,
    });
    expect(b1['imin:item'].map((o: Json) => o.identifier)).toEqual(newestFirst.slice(0, 10));

    const p2 = (
      await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=hist-1&page=2', key })
    ).json<Json>();
    expect(p2.view.previous).toBe(`${base}1`);
    expect(p2.view.next).toBe(`${base}3`);
    expect(p2['imin:item'].map((o: Json) => o.identifier)).toEqual(newestFirst.slice(10, 20));

    const p3 = (
      await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=hist-1&page=3', key })
    ).json<Json>();
    expect(p3.view.next).toBeUndefined();
    expect(p3.view.previous).toBe(`${base}2`);
    expect(p3['imin:item'].map((o: Json) => o.identifier)).toEqual(newestFirst.slice(20));

    const p9 = await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=hist-1&page=9', key });
    expect(p9.statusCode).toBe(200);
    const b9 = p9.json<Json>();
    expect(b9['imin:item']).toEqual([]);
    expect(b9['imin:totalItems']).toBe(23);
    expect(b9.view).toMatchObject({
      'imin:currentPage': 9,
      'imin:totalPages': 3,
      last: `${base}3`,
      previous: `${base}3`,
    });
    expect(b9.view.next).toBeUndefined();
  });

  it('keeps totalItems equal to a fresh count through confirmation, cancellation, failure and deletion', async () => {
    const { key, brokerId } = await t.newBroker();
    const db = ordersApiDb(t.deps.database.db);
    const total = async (identifier: string) => {
      const res = await t.request({ method: 'GET', url: `/api/v2/orders?customerIdentifier=${identifier}`, key });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<Json>()['imin:totalItems'] as number;
    };
    const fresh = async (identifier: string) => {
      const row = await db
        .selectFrom('orders')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('broker_id', '=', brokerId)
        .where(sql<string>`customer->>'identifier'`, '=', identifier)
        .where('status', 'in', ['confirmed', 'cancelled'])
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };
    const start = new Date(NOW.getTime() + 5 * DAY);
    const a = await seedOrder(t, { brokerId, identifier: 'count-a', items: [{ startDate: start }] });
    const b = await seedOrder(t, { brokerId, identifier: 'count-a', items: [{ startDate: start }] });
    const pending = await seedOrder(t, {
      brokerId,
      identifier: 'count-a',
      items: [{ startDate: start }],
      confirm: false,
    });
    await seedOrder(t, { brokerId, identifier: 'count-b', items: [{ startDate: start }] });
    expect([await total('count-a'), await fresh('count-a')]).toEqual([2, 2]);
    // Cancelled orders stay in the history; a pending order that fails never enters it.
    await db.updateTable('orders').set({ status: 'cancelled' }).where('id', '=', a.id).execute();
    await db.updateTable('orders').set({ status: 'failed' }).where('id', '=', pending.id).execute();
    expect([await total('count-a'), await fresh('count-a')]).toEqual([2, 2]);
    // The snapshot names someone else (as erasure rewrites it): the order moves with it.
    await db
      .updateTable('orders')
      .set({
        customer: JSON.stringify({ givenName: 'B', familyName: 'B', email: 'b@example.org', identifier: 'count-b' }),
      })
      .where('id', '=', b.id)
      .execute();
    expect([await total('count-a'), await total('count-b')]).toEqual([await fresh('count-a'), await fresh('count-b')]);
    expect(await total('count-b')).toBe(2);
    await db.deleteFrom('orders').where('id', '=', b.id).execute();
    expect([await total('count-a'), await total('count-b')]).toEqual([1, 1]);
  });

  it('answers an empty first page for a customer without orders, and leaves out unfinished orders', async () => {
    const { key, brokerId } = await t.newBroker();
    await seedOrder(t, {
      brokerId,
      identifier: 'nobody-yet',
      items: [{ startDate: new Date(NOW.getTime() + DAY) }],
      confirm: false,
    });
    const res = await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=nobody-yet&page=1', key });
    expect(res.statusCode).toBe(200);
    const body = res.json<Json>();
    expect(body['imin:item']).toEqual([]);
    expect(body['imin:totalItems']).toBe(0);
    expect(body.view).toMatchObject({ 'imin:totalPages': 1, 'imin:currentPage': 1 });
    expect(body.view.next).toBeUndefined();
    expect(body.view.previous).toBeUndefined();
  });

  it('refuses bad parameters with 400', async () => {
    const { key } = await t.newBroker();
    for (const query of [
      '',
      'page=1',
      'customerIdentifier=a&page=0',
      'customerIdentifier=a&page=-1',
      'customerIdentifier=a&page=x',
      'customerIdentifier=a&sort=asc',
      'customerIdentifier=',
    ]) {
      expectError(await t.request({ method: 'GET', url: `/api/v2/orders?${query}`, key }), 400, 'BadRequestError');
      expectError(await t.request({ method: 'GET', url: `/api/v2/order-items?${query}`, key }), 400, 'BadRequestError');
    }
    expectError(
      await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=a' }),
      401,
      'UnauthenticatedError',
    );
    const search = await t.newBroker({ products: ['search'] });
    expectError(
      await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=a', key: search.key }),
      403,
      'ForbiddenError',
    );
  });
});

describe('order by id (GET /api/v2/orders/:id)', () => {
  it('returns the full Order', async () => {
    const { key, brokerId } = await t.newBroker();
    const { id, itemIds } = await seedOrder(t, {
      brokerId,
      identifier: 'louis-1',
      items: [
        { startDate: new Date(NOW.getTime() + 3 * DAY), attendee: { givenName: 'Louis', familyName: 'Wu' } },
        { startDate: new Date(NOW.getTime() + 2 * 3_600_000), price: 800 },
      ],
      sellerResponse: {
        '@type': 'Order',
        orderedItem: [
          {
            '@type': 'OrderItem',
            position: 0,
            orderedItem: {
              '@type': 'ScheduledSession',
              '@id': 'https://seller.example/scheduled-sessions/x',
              superEvent: {
                '@type': 'SessionSeries',
                name: 'Aqua Fit',
                location: {
                  '@type': 'Place',
                  name: 'Riverside Pool',
                  address: { '@type': 'PostalAddress', postalCode: 'M1 1AA' },
                },
              },
            },
            unitTaxSpecification: [
              { '@type': 'TaxChargeSpecification', name: 'VAT at 20%', price: 2.08, priceCurrency: 'GBP', rate: 0.2 },
            ],
          },
        ],
        totalPaymentTax: { '@type': 'PriceSpecification', price: 3.42, priceCurrency: 'GBP' },
      },
    });
    const res = await t.request({ method: 'GET', url: `/api/v2/orders/${id}`, key });
    expect(res.statusCode, res.body).toBe(200);
    const order = res.json<Json>();
    expect(order).toMatchObject({
      type: 'Order',
      '@context': ['https://openactive.io/', 'https://openactive.io/ns-beta'],
      id: `http://activehub.test/api/v2/orders/${id}`,
      identifier: id,
      totalPaymentDue: { type: 'PriceSpecification', price: 20.5, priceCurrency: 'GBP' },
      totalPaymentTax: { price: 3.42 },
      customer: {
        type: 'Person',
        givenName: 'Louis',
        familyName: 'Wu',
        email: 'louis@example.com',
        identifier: 'louis-1',
      },
      broker: { type: 'Organization', name: 'Acme Fitness' },
      seller: {
        type: 'Organization',
        id: 'https://seller.example/organizers/1',
        termsOfService: [
          { type: 'PrivacyPolicy', url: 'https://seller.example/privacy' },
          { type: 'TermsOfUse', url: 'https://seller.example/terms' },
        ],
      },
    });
    expect(order.confirmationNumber).toMatch(/^[A-Z0-9]{8}$/);
    expect(order.orderNumber).toBe(order.confirmationNumber);
    const [first, second] = order.orderedItem as [Json, Json];
    expect(first).toMatchObject({
      type: 'OrderItem',
      id: `http://activehub.test/api/v2/orders/${id}/order-items/${itemIds[0]}`,
      identifier: itemIds[0],
      orderItemStatus: 'https://openactive.io/OrderItemConfirmed',
      'imin:isPresentlyCancellable': true,
      attendee: { type: 'Person', givenName: 'Louis' },
      acceptedOffer: {
        type: 'Offer',
        id: CANCELLABLE_OFFER['@id'],
        price: 12.5,
        priceCurrency: 'GBP',
        latestCancellationBeforeStartDate: 'P1D',
      },
      unitTaxSpecification: [{ type: 'TaxChargeSpecification', price: 2.08, rate: 0.2 }],
      orderedItem: {
        type: 'ScheduledSession',
        identifier: expect.stringContaining('https://seller.example/scheduled-sessions/'),
        id: expect.stringMatching(
          /^http:\/\/activehub\.test\/events-api\/v2\/scheduled-sessions\/https%3A%2F%2Fseller/,
        ),
        superEvent: {
          type: 'SessionSeries',
          location: { type: 'Place', name: 'Riverside Pool' },
          organizer: { type: 'Organization', name: 'Riverside Leisure Trust' },
        },
      },
    });
    // Starts in 2 hours, cancellations close a day before: no longer cancellable.
    expect(second['imin:isPresentlyCancellable']).toBe(false);
    // Built from the catalog snapshot when the seller's response has no item for it.
    expect(second.orderedItem.superEvent.location).toEqual({
      type: 'Place',
      name: 'Riverside Leisure Centre',
      address: '1 River Road, Manchester, M1 1AA',
    });
    expect(order['imin:receipt']).toHaveLength(1);
    expect(order['imin:receipt'][0]).toMatchObject({
      type: 'Invoice',
      url: expect.stringMatching(/\/api\/v2\/receipts\/[A-Za-z0-9]+$/),
    });
  });

  it('orderedItem.superEvent.superEvent is the EventSeries with its name and organizer, in orders and order items', async () => {
    // imin-booking §3.2 / §3.4: "orderedItem": { "type": "ScheduledSession", …, "superEvent": {
    // "type": "SessionSeries", "location": {…}, "superEvent": { "type": "EventSeries",
    // "name": "test sss", "organizer": { "type": "Organization", "name": "kinetic-insight", … } } } }
    const { key, brokerId } = await t.newBroker();
    const { id } = await seedOrder(t, {
      brokerId,
      identifier: 'series-1',
      items: [
        { startDate: new Date(NOW.getTime() + 3 * DAY) },
        { startDate: new Date(NOW.getTime() + 4 * DAY) },
        { startDate: new Date(NOW.getTime() + 5 * DAY), name: 'Aqua Fit (Tuesday)', seriesName: 'Aqua Fit' },
        { startDate: new Date(NOW.getTime() + 6 * DAY), seriesName: 'Aqua Fit', eventSeriesName: 'Aqua Programme' },
      ],
      sellerResponse: {
        '@type': 'Order',
        orderedItem: [
          {
            '@type': 'OrderItem',
            position: 0,
            orderedItem: {
              '@type': 'ScheduledSession',
              superEvent: { '@type': 'SessionSeries', name: 'Seller Series' },
            },
          },
          {
            '@type': 'OrderItem',
            position: 1,
            orderedItem: {
              '@type': 'ScheduledSession',
              superEvent: {
                '@type': 'SessionSeries',
                name: 'Seller Series',
                superEvent: {
                  '@type': 'EventSeries',
                  name: 'Seller Event Series',
                  organizer: { '@type': 'Organization', name: 'Seller Club' },
                },
              },
            },
          },
        ],
      },
    });
    const trust = { type: 'Organization', name: 'Riverside Leisure Trust' };
    const expected = [
      { type: 'EventSeries', name: 'Seller Series', organizer: trust },
      { type: 'EventSeries', name: 'Seller Event Series', organizer: { type: 'Organization', name: 'Seller Club' } },
      { type: 'EventSeries', name: 'Aqua Fit', organizer: trust },
      { type: 'EventSeries', name: 'Aqua Programme', organizer: trust },
    ];
    const res = await t.request({ method: 'GET', url: `/api/v2/orders/${id}`, key });
    expect(res.statusCode, res.body).toBe(200);
    const fromOrder = (res.json<Json>().orderedItem as Json[]).map((i) => i.orderedItem.superEvent);
    expect(fromOrder.map((s) => s.type)).toEqual(Array(4).fill('SessionSeries'));
    expect(fromOrder.map((s) => s.superEvent)).toMatchObject(expected);
    const upcoming = await t.request({ method: 'GET', url: '/api/v2/order-items?customerIdentifier=series-1', key });
    expect(upcoming.statusCode, upcoming.body).toBe(200);
    expect(
      (upcoming.json<Json>()['imin:item'] as Json[]).map((i) => i.orderedItem.superEvent.superEvent),
    ).toMatchObject(expected);
  });

  it('answers UnknownOrderError for unknown ids, unfinished orders and malformed ids', async () => {
    const { key, brokerId } = await t.newBroker();
    const pending = await seedOrder(t, {
      brokerId,
      identifier: 'x',
      items: [{ startDate: new Date(NOW.getTime() + DAY) }],
      confirm: false,
    });
    for (const id of [pending.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      expectError(await t.request({ method: 'GET', url: `/api/v2/orders/${id}`, key }), 404, 'UnknownOrderError');
    }
  });
});

describe('upcoming order items (GET /api/v2/order-items)', () => {
  it('lists future confirmed items soonest first, with cancellability worked out now', async () => {
    const { key, brokerId } = await t.newBroker();
    const soon = new Date(NOW.getTime() + 5 * 3_600_000);
    await seedOrder(t, {
      brokerId,
      identifier: 'up-1',
      items: [
        { name: 'Later', startDate: new Date(NOW.getTime() + 4 * DAY) },
        { name: 'Past', startDate: new Date(NOW.getTime() - DAY) },
      ],
    });
    await seedOrder(t, { brokerId, identifier: 'up-1', items: [{ name: 'Soon', startDate: soon }] });
    await seedOrder(t, {
      brokerId,
      identifier: 'up-1',
      items: [
        { name: 'Not refundable', startDate: new Date(NOW.getTime() + 2 * DAY), offer: { '@id': 'o2', name: 'Saver' } },
      ],
    });
    await seedOrder(t, { brokerId, identifier: 'someone-else', items: [{ startDate: new Date(NOW.getTime() + DAY) }] });

    const res = await t.request({ method: 'GET', url: '/api/v2/order-items?customerIdentifier=up-1', key });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json<Json>();
    expect(body['imin:totalItems']).toBe(3);
    expect(body.id).toBe('http://activehub.test/api/v2/order-items?customerIdentifier=up-1&page=1');
    const items = body['imin:item'] as Json[];
    expect(items.map((i) => i.orderedItem.name)).toEqual(['Soon', 'Not refundable', 'Later']);
    expect(items.map((i) => i['imin:isPresentlyCancellable'])).toEqual([false, false, true]);
    expect(items[0]!.id).toMatch(
      /^http:\/\/activehub\.test\/api\/v2\/orders\/[0-9a-f-]{36}\/order-items\/[A-Za-z0-9]+$/,
    );

    // Time moves on: the later item's window closes a day before it starts.
    clock.set(new Date(NOW.getTime() + 3 * DAY + 60_000));
    const later = (
      await t.request({ method: 'GET', url: '/api/v2/order-items?customerIdentifier=up-1', key })
    ).json<Json>();
    expect(later['imin:item'].map((i: Json) => [i.orderedItem.name, i['imin:isPresentlyCancellable']])).toEqual([
      ['Later', false],
    ]);
    clock.set(NOW);
  });
});

describe('customer cancellation of a test-mode order, refunds and receipts', () => {
  it('cancels, refunds once through the payment provider, emails, and issues a new receipt', async () => {
    const { key, brokerId } = await t.newBroker({ mode: 'test' });
    const paymentId = crypto.randomUUID();
    const auth = await t.services.payments.authorize({
      paymentId,
      brokerId,
      mode: 'test',
      amount: 2050,
      currency: 'GBP',
      description: 'test order',
      card: { number: '4242424242424242', expMonth: 12, expYear: 2030, cvc: '123' },
    });
    expect(auth.ok).toBe(true);
    await t.services.payments.capture(paymentId);
    const { id, itemIds } = await seedOrder(t, {
      brokerId,
      identifier: 'cancel-1',
      testMode: true,
      mode: 'test',
      paymentId,
      customer: { givenName: 'Louis', familyName: 'Wu', email: 'louis.cancel@example.com' },
      items: [
        { startDate: new Date(NOW.getTime() + 3 * DAY) },
        { startDate: new Date(NOW.getTime() + 3 * DAY), price: 800 },
      ],
    });
    const url = `/api/v2/orders/${id}`;
    const itemUrl = `http://activehub.test${url}/order-items/${itemIds[0]}`;
    const body = {
      '@context': 'https://openactive.io/',
      '@type': 'Order',
      orderedItem: [
        { '@type': 'OrderItem', '@id': itemUrl, orderItemStatus: 'https://openactive.io/CustomerCancelled' },
      ],
    };

    const before = (await t.request({ method: 'GET', url, key })).json<Json>();
    const firstReceipt = before['imin:receipt'][0].url.split('/').pop() as string;

    const res = await t.request({ method: 'PATCH', url, key, payload: body });
    expect(res.statusCode, res.body).toBe(204);
    expect(res.body).toBe('');
    expect(await t.deps.jobs.runDue('orders.refund')).toBe(1);

    const after = (await t.request({ method: 'GET', url, key })).json<Json>();
    expect(after.orderedItem[0].orderItemStatus).toBe('https://openactive.io/CustomerCancelled');
    expect(after.orderedItem[0]['imin:isPresentlyCancellable']).toBe(false);
    expect(after.orderedItem[1].orderItemStatus).toBe('https://openactive.io/OrderItemConfirmed');
    expect(after.totalPaymentDue.price).toBe(8);
    expect(after['activehub:refund']).toEqual([
      expect.objectContaining({
        identifier: `refund-item-${itemIds[0]}`,
        amount: expect.objectContaining({ price: 12.5 }),
        status: 'succeeded',
      }),
    ]);
    const payment = await t.services.payments.get(paymentId);
    expect(payment).toMatchObject({ refunded: 1250, status: 'partially_refunded' });

    // Sent again (a retry): the same success, no second refund.
    expect((await t.request({ method: 'PATCH', url, key, payload: body })).statusCode).toBe(204);
    expect(await t.deps.jobs.runDue('orders.refund')).toBe(0);
    expect((await t.services.payments.get(paymentId))?.refunded).toBe(1250);

    const emails = await t.services.mailer.list({ to: 'louis.cancel@example.com' });
    expect(emails.filter((e) => e.kind === 'refund')).toHaveLength(1);
    expect(emails.find((e) => e.kind === 'refund')?.subject).toContain('£12.50');

    // Receipts: the new one first; the PDF shows the amounts.
    const receipts = after['imin:receipt'] as [Json, Json];
    expect(receipts).toHaveLength(2);
    expect(receipts[1].url).toContain(firstReceipt);
    expect(new Date(receipts[0].dateCreated).getTime()).toBeGreaterThanOrEqual(
      new Date(receipts[1].dateCreated).getTime(),
    );
    const pdf = await t.request({ method: 'GET', url: new URL(receipts[0].url).pathname, key });
    expect(pdf.statusCode).toBe(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    const text = await pdfText(pdf.rawPayload);
    expect(text).toContain('Riverside Leisure Trust');
    expect(text).toContain('Acme Fitness');
    expect(text).toContain('Paid: £20.50');
    expect(text).toContain('-£12.50');
    expect(text).toContain('Order total now: £8.00');
    expect(text).toContain('Cancelled by the customer');
    const original = await pdfText(
      (await t.request({ method: 'GET', url: `/api/v2/receipts/${firstReceipt}`, key })).rawPayload,
    );
    expect(original).toContain('Order total now: £20.50');
    expect(original).not.toContain('Refund');

    // Another broker sees none of it.
    const other = await t.newBroker({ mode: 'test' });
    expectError(await t.request({ method: 'GET', url, key: other.key }), 404, 'UnknownOrderError');
    expectError(await t.request({ method: 'PATCH', url, key: other.key, payload: body }), 404, 'UnknownOrderError');
    for (const r of receipts) {
      expectError(
        await t.request({ method: 'GET', url: new URL(r.url).pathname, key: other.key }),
        404,
        'NotFoundError',
      );
    }
    const theirs = (
      await t.request({ method: 'GET', url: '/api/v2/orders?customerIdentifier=cancel-1', key: other.key })
    ).json<Json>();
    expect(theirs['imin:totalItems']).toBe(0);
    const theirItems = (
      await t.request({ method: 'GET', url: '/api/v2/order-items?customerIdentifier=cancel-1', key: other.key })
    ).json<Json>();
    expect(theirItems['imin:totalItems']).toBe(0);
  });

  it('refuses cancellations in OpenActive terms', async () => {
    const { key, brokerId } = await t.newBroker({ mode: 'test' });
    const { id, itemIds } = await seedOrder(t, {
      brokerId,
      identifier: 'cancel-2',
      testMode: true,
      mode: 'test',
      items: [
        { startDate: new Date(NOW.getTime() + 3 * DAY) },
        { startDate: new Date(NOW.getTime() + 3_600_000) },
        {
          startDate: new Date(NOW.getTime() + 3 * DAY),
          offer: { '@id': 'o3', name: 'Saver', allowCustomerCancellationFullRefund: false },
        },
      ],
    });
    const other = await seedOrder(t, {
      brokerId,
      identifier: 'cancel-2',
      testMode: true,
      mode: 'test',
      items: [{ startDate: new Date(NOW.getTime() + 3 * DAY) }],
    });
    const url = `/api/v2/orders/${id}`;
    const item = (itemId: string, extra: Json = {}) => ({
      '@type': 'OrderItem',
      '@id': `http://activehub.test${url}/order-items/${itemId}`,
      orderItemStatus: 'https://openactive.io/CustomerCancelled',
      ...extra,
    });
    const patch = (payload: unknown) => t.request({ method: 'PATCH', url, key, payload: payload as Json });

    expectError(
      await patch({ '@type': 'Order', orderedItem: [item(itemIds[0]!)], customer: {} }),
      400,
      'PatchContainsExcessivePropertiesError',
    );
    expectError(
      await patch({ '@type': 'Order', orderedItem: [item(itemIds[0]!, { attendee: {} })] }),
      400,
      'PatchContainsExcessivePropertiesError',
    );
    expectError(
      await patch({
        '@type': 'Order',
        orderedItem: [item(itemIds[0]!, { orderItemStatus: 'https://openactive.io/SellerCancelled' })],
      }),
      400,
      'PatchNotAllowedOnPropertyError',
    );
    expectError(
      await patch({ '@type': 'Order', orderedItem: [item('NoSuchItem1')] }),
      400,
      'OrderItemNotWithinOrderError',
    );
    expectError(
      await patch({
        '@type': 'Order',
        orderedItem: [
          {
            ...item(other.itemIds[0]!),
            '@id': `http://activehub.test/api/v2/orders/${other.id}/order-items/${other.itemIds[0]}`,
          },
        ],
      }),
      400,
      'OrderItemNotWithinOrderError',
    );
    expectError(await patch({ '@type': 'Order', orderedItem: [] }), 400, 'BadRequestError');
    expectError(await patch({ '@type': 'Order' }), 400, 'BadRequestError');
    expectError(await patch([1, 2]), 400, 'BadRequestError');
    // Inside the window (starts in an hour) and an offer without refunds: not cancellable; atomic.
    expectError(
      await patch({ '@type': 'Order', orderedItem: [item(itemIds[0]!), item(itemIds[1]!)] }),
      400,
      'CancellationNotPermittedError',
    );
    expectError(
      await patch({ '@type': 'Order', orderedItem: [item(itemIds[2]!)] }),
      400,
      'CancellationNotPermittedError',
    );
    const order = (await t.request({ method: 'GET', url, key })).json<Json>();
    expect(order.orderedItem.map((i: Json) => i.orderItemStatus)).toEqual(
      Array(3).fill('https://openactive.io/OrderItemConfirmed'),
    );
    expectError(
      await t.request({
        method: 'PATCH',
        url: '/api/v2/orders/00000000-0000-4000-8000-000000000000',
        key,
        payload: { orderedItem: [item(itemIds[0]!)] },
      }),
      404,
      'UnknownOrderError',
    );
    // The bare identifier is accepted too; a free item (no payment) still completes.
    expect(
      (
        await patch({
          '@type': 'Order',
          orderedItem: [{ id: itemIds[0], orderItemStatus: 'https://openactive.io/CustomerCancelled' }],
        })
      ).statusCode,
    ).toBe(204);
  });
});

describe('erasure', () => {
  it('shows the placeholders in the orders of an erased customer', async () => {
    const { key, brokerId } = await t.newBroker();
    const created = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key,
      payload: { email: 'erase.me@example.org', givenName: 'Erasmus', familyName: 'Forgetful' },
    });
    expect(created.statusCode).toBe(201);
    const identifier: string = created.json<Json>().identifier;
    const row = await t.deps.database.db
      .selectFrom('customers')
      .select('id')
      .where('identifier', '=', identifier)
      .executeTakeFirstOrThrow();
    const { id } = await seedOrder(t, {
      brokerId,
      identifier,
      customerId: row.id,
      customer: { givenName: 'Erasmus', familyName: 'Forgetful', email: 'erase.me@example.org' },
      items: [
        {
          startDate: new Date(NOW.getTime() + 3 * DAY),
          attendee: { givenName: 'Erasmus', familyName: 'Forgetful' },
          attendeeCustomerId: row.id,
        },
      ],
    });
    expect(
      (await t.request({ method: 'DELETE', url: `/api/v2/customer-accounts/${identifier}`, key })).statusCode,
    ).toBe(202);
    await t.deps.jobs.runDue('customers.erase');
    const order = await t.request({ method: 'GET', url: `/api/v2/orders/${id}`, key });
    expect(order.statusCode).toBe(200);
    const text = order.body;
    expect(text).not.toContain('Erasmus');
    expect(text).not.toContain('erase.me@example.org');
    expect(order.json<Json>().customer).toMatchObject({
      givenName: 'Deleted',
      familyName: 'Customer',
      email: `deleted-${identifier}@invalid`,
    });
    expect(order.json<Json>().orderedItem[0].attendee).toMatchObject({ givenName: 'Deleted', familyName: 'Customer' });
    const history = await t.request({ method: 'GET', url: `/api/v2/orders?customerIdentifier=${identifier}`, key });
    expect(history.json<Json>()['imin:totalItems']).toBe(1);
    expect(history.body).not.toContain('Erasmus');
    const receipt = new URL(order.json<Json>()['imin:receipt'][0].url).pathname;
    const pdf = await pdfText((await t.request({ method: 'GET', url: receipt, key })).rawPayload);
    expect(pdf).toContain('Deleted Customer');
    expect(pdf).not.toContain('Erasmus');
  });
});
