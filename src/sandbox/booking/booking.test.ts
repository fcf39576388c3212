import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxTestContext, type SandboxTestContext } from '../../../test/sandbox-helpers.js';
import { fixedClock } from '../../lib/clock.js';
import {
  BOOKING_MEDIA_TYPE,
  createFixtures,
  CUSTOMER,
  orderRequest,
  partnerHeaders,
  places,
  type Fixtures,
  type LineSpec,
} from './booking.fixtures.js';
import { createBookingService } from './booking.service.js';

const DAY = 86_400_000;
const API = '/api/openbooking';
const clock = fixedClock(new Date(Math.floor(Date.now() / 1000) * 1000));

let t: SandboxTestContext;
let gross: Fixtures;
let net: Fixtures;

beforeAll(async () => {
  t = await createSandboxTestContext({ clock });
  gross = await createFixtures(t.database.db, t.urls, { now: clock.now() });
  net = await createFixtures(t.database.db, t.urls, { taxMode: 'https://openactive.io/TaxNet', now: clock.now() });
});
afterAll(async () => {
  await t.close();
});

type Stage = 'C1' | 'C2' | 'B';
const PATHS: Record<Stage, string> = { C1: 'order-quote-templates', C2: 'order-quotes', B: 'orders' };

async function put(stage: Stage, uuid: string, body: unknown, headers = partnerHeaders()) {
  const res = await t.request({
    method: 'PUT',
    url: `${API}/${PATHS[stage]}/${uuid}`,
    headers,
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

/** C1, C2 then B for `lines`, paying as the quote says; returns B's response. */
async function bookLines(f: Fixtures, lines: LineSpec[], uuid = randomUUID()) {
  const c2 = await put('C2', uuid, orderRequest('C2', f.sellerUrl, lines));
  expect(c2.status).toBe(200);
  const due = c2.body.totalPaymentDue;
  const b = await put(
    'B',
    uuid,
    orderRequest('B', f.sellerUrl, lines, {
      totalPaymentDue: { '@type': 'PriceSpecification', price: due.price, priceCurrency: 'GBP' },
      ...(due.price > 0 ? { payment: { '@type': 'Payment', identifier: `pay-${uuid}` } } : {}),
    }),
  );
  return { uuid, ...b };
}

async function remainingOf(opportunity: { id: number; url: string }): Promise<number> {
  if (opportunity.url.includes('/slots/')) {
    const row = await t.database.db
      .selectFrom('slots')
      .select('remaining_uses')
      .where('id', '=', opportunity.id)
      .executeTakeFirstOrThrow();
    return row.remaining_uses;
  }
  const row = await t.database.db
    .selectFrom('scheduled_sessions')
    .select('remaining_attendee_capacity')
    .where('id', '=', opportunity.id)
    .executeTakeFirstOrThrow();
  return row.remaining_attendee_capacity;
}

const errorTypes = (item: { error?: { '@type': string }[] }) => (item.error ?? []).map((e) => e['@type']);

describe('booking partner authentication', () => {
  it('refuses a request without credentials with a 401 OpenActive error in the booking media type', async () => {
    const res = await t.request({ method: 'GET', url: `${API}/orders-rpde` });
    expect(res.statusCode).toBe(401);
    expect(res.headers['content-type']).toBe(BOOKING_MEDIA_TYPE);
    expect(res.json()).toMatchObject({
      '@context': 'https://openactive.io/',
      '@type': 'InvalidAuthorizationDetailsError',
    });
  });

  it('refuses an unknown test client id', async () => {
    const res = await t.request({ method: 'GET', url: `${API}/orders-rpde`, headers: partnerHeaders('nobody') });
    expect(res.statusCode).toBe(401);
    expect(res.json()['@type']).toBe('InvalidAPITokenError');
  });

  it('accepts a configured partner secret as a bearer token, and only that secret', async () => {
    const service = createBookingService({ db: t.database.db, urls: t.urls, clock });
    await service.savePartner('acme-broker', 'Acme', 'correct-horse-battery-staple');
    const good = await t.request({
      method: 'GET',
      url: `${API}/orders-rpde`,
      headers: { authorization: 'Bearer correct-horse-battery-staple' },
    });
    expect(good.statusCode).toBe(200);
    const bad = await t.request({
      method: 'GET',
      url: `${API}/orders-rpde`,
      headers: { authorization: 'Bearer wrong' },
    });
    expect(bad.statusCode).toBe(401);
    expect(bad.json()['@type']).toBe('InvalidAPITokenError');
  });
});

describe('C1 and C2', () => {
  it('quotes a session at C1 with a lease, gross tax and the capacity the feed shows', async () => {
    const session = await gross.session({ capacity: 8 });
    const uuid = randomUUID();
    const c1 = await put('C1', uuid, orderRequest('C1', gross.sellerUrl, places(session)));
    expect(c1.status).toBe(200);
    expect(c1.headers['content-type']).toBe(BOOKING_MEDIA_TYPE);
    expect(c1.body).toMatchObject({
      '@type': 'OrderQuote',
      '@id': `${t.urls.openBookingBase}/order-quotes/${uuid}`,
      orderRequiresApproval: false,
      seller: { '@id': gross.sellerUrl, taxMode: 'https://openactive.io/TaxGross' },
      totalPaymentDue: { price: 7.5, priceCurrency: 'GBP', openBookingPrepayment: 'https://openactive.io/Required' },
      totalPaymentTax: [{ price: 1.25, rate: 0.2 }],
    });
    // The seller's terms do not say; responses must (data-models Terms.requiresExplicitConsent).
    expect(c1.body.seller.termsOfService[0].requiresExplicitConsent).toBe(false);
    const item = c1.body.orderedItem[0];
    expect(item['@id']).toBeUndefined();
    expect(item.orderItemStatus).toBeUndefined();
    expect(item.orderedItem).toMatchObject({ '@id': session.url, remainingAttendeeCapacity: 8 });
    expect(item.acceptedOffer).toMatchObject({ '@id': session.offerUrls[0], price: 7.5 });
    expect(item.acceptedOffer.openBookingFlowRequirement).toBeUndefined();
    expect(Date.parse(c1.body.lease.leaseExpires)).toBeGreaterThan(clock.now().getTime());
    // The lease holds the place: the feed now shows one fewer.
    expect(await remainingOf(session)).toBe(7);
  });

  it('adds VAT on top for a TaxNet seller and reflects the customer at C2', async () => {
    const session = await net.session({ offers: [{ price_minor: 1000 }] });
    const c2 = await put('C2', randomUUID(), orderRequest('C2', net.sellerUrl, places(session, 2)));
    expect(c2.status).toBe(200);
    expect(c2.body.customer).toEqual(CUSTOMER);
    expect(c2.body.orderedItem[0].unitTaxSpecification).toEqual([
      { '@type': 'TaxChargeSpecification', name: 'VAT at 20%', price: 2, priceCurrency: 'GBP', rate: 0.2 },
    ]);
    expect(c2.body.totalPaymentDue.price).toBe(24);
    expect(c2.body.totalPaymentTax[0].price).toBe(4);
  });

  it('quotes a slot with remainingUses', async () => {
    const slot = await gross.slot();
    const c1 = await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(slot)));
    expect(c1.status).toBe(200);
    expect(c1.body.orderedItem[0].orderedItem).toMatchObject({ '@type': 'Slot', '@id': slot.url, remainingUses: 1 });
    expect(c1.body.orderedItem[0].orderedItem.facilityUse['@type']).toBe('IndividualFacilityUse');
    expect(await remainingOf(slot)).toBe(0);
  });

  it.each([
    ['no broker name', { broker: { '@type': 'Organization' } }, 400, 'IncompleteBrokerDetailsError'],
    ['no broker role', { brokerRole: undefined }, 400, 'IncompleteBrokerDetailsError'],
    [
      'a customer without email',
      { customer: { '@type': 'Person', givenName: 'Ann' } },
      400,
      'IncompleteCustomerDetailsError',
    ],
    ['no customer', { customer: undefined }, 400, 'IncompleteCustomerDetailsError'],
    ['an unknown seller', { seller: 'http://sandbox.test/api/identifiers/sellers/999' }, 500, 'SellerNotFoundError'],
    ['the wrong @type', { '@type': 'Order' }, 500, 'UnexpectedOrderTypeError'],
  ])('answers C2 with %s with an order-level error', async (_label, change, status, type) => {
    const session = await gross.session();
    const res = await put('C2', randomUUID(), { ...orderRequest('C2', gross.sellerUrl, places(session)), ...change });
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ '@context': 'https://openactive.io/', '@type': type, statusCode: status });
    expect(await remainingOf(session)).toBe(10);
  });

  it('refuses test credentials that act for another seller', async () => {
    const session = await gross.session();
    const res = await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(session)), {
      ...partnerHeaders(),
      'x-openactive-test-seller-id': net.sellerUrl,
    });
    expect(res.status).toBe(401);
    expect(res.body['@type']).toBe('InvalidAuthorizationDetailsError');
  });

  it('puts item errors on the items they concern, answers 409 and takes no lease', async () => {
    const good = await gross.session();
    const full = await gross.session({ capacity: 4, remaining: 0 });
    const other = await gross.session();
    const cancelled = await gross.session({ eventStatus: 'https://schema.org/EventCancelled' });
    const early = await gross.session({ start: new Date(clock.now().getTime() + 60 * DAY) });
    const foreign = await net.session();
    const lines: LineSpec[] = [
      { orderedItem: good.url, acceptedOffer: good.offerUrls[0] },
      { orderedItem: good.url },
      { acceptedOffer: good.offerUrls[0] },
      { orderedItem: full.url, acceptedOffer: full.offerUrls[0] },
      { orderedItem: `${t.urls.base}/api/identifiers/scheduled-sessions/99999`, acceptedOffer: good.offerUrls[0] },
      { orderedItem: 'https://elsewhere.example.com/sessions/1', acceptedOffer: good.offerUrls[0] },
      { orderedItem: good.url, acceptedOffer: other.offerUrls[0] },
      { orderedItem: cancelled.url, acceptedOffer: cancelled.offerUrls[0] },
      { orderedItem: early.url, acceptedOffer: early.offerUrls[0] },
      { orderedItem: foreign.url, acceptedOffer: foreign.offerUrls[0] },
    ];
    const c1 = await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, lines));
    expect(c1.status).toBe(409);
    expect(c1.body['@type']).toBe('OrderQuote');
    expect(c1.body.lease).toBeUndefined();
    const byPosition = (p: number) => c1.body.orderedItem.find((i: { position: number }) => i.position === p);
    expect(errorTypes(byPosition(0))).toEqual([]);
    expect(errorTypes(byPosition(1))).toEqual(['IncompleteOrderItemError']);
    expect(errorTypes(byPosition(2))).toEqual(['IncompleteOrderItemError']);
    expect(errorTypes(byPosition(3))).toEqual(['OpportunityIsFullError']);
    expect(byPosition(3).orderedItem.remainingAttendeeCapacity).toBe(0);
    expect(errorTypes(byPosition(4))).toEqual(['UnknownOpportunityError']);
    expect(errorTypes(byPosition(5))).toEqual(['InvalidOpportunityOrOfferIdError']);
    expect(errorTypes(byPosition(6))).toEqual(['UnknownOfferError']);
    expect(errorTypes(byPosition(7))).toEqual(['OpportunityOfferPairNotBookableError']);
    expect(errorTypes(byPosition(8))).toEqual(['OpportunityOfferPairNotBookableError']);
    expect(errorTypes(byPosition(9))).toEqual(['SellerMismatchError']);
    // Only the bookable item is charged.
    expect(c1.body.totalPaymentDue.price).toBe(7.5);
    expect(await remainingOf(good)).toBe(10);
  });

  it('asks for attendee details where the offer needs them and checks them from C2 on', async () => {
    const session = await gross.session({
      offers: [{ open_booking_flow_requirement: ['https://openactive.io/OpenBookingAttendeeDetails'] }],
    });
    const c1 = await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(session)));
    expect(c1.status).toBe(200);
    expect(c1.body.orderedItem[0].attendeeDetailsRequired).toEqual([
      'https://schema.org/givenName',
      'https://schema.org/familyName',
      'https://schema.org/email',
    ]);
    const without = await put('C2', randomUUID(), orderRequest('C2', gross.sellerUrl, places(session)));
    expect(without.status).toBe(409);
    expect(errorTypes(without.body.orderedItem[0])).toEqual(['IncompleteAttendeeDetailsError']);
    const attendee = { '@type': 'Person', givenName: 'Fred', familyName: 'Bloggs', email: 'fred@example.com' };
    const withDetails = await put(
      'C2',
      randomUUID(),
      orderRequest('C2', gross.sellerUrl, [{ ...places(session)[0], attendee }]),
    );
    expect(withDetails.status).toBe(200);
    expect(withDetails.body.orderedItem[0].attendee).toEqual(attendee);
  });
});

describe('anonymous and named leasing', () => {
  it('tells leases held by others from missing capacity, and shows capacity net of only other orders', async () => {
    const session = await gross.session({ capacity: 5 });
    const first = randomUUID();
    const a = await put('C1', first, orderRequest('C1', gross.sellerUrl, places(session, 3)));
    expect(a.status).toBe(200);
    expect(
      a.body.orderedItem.map(
        (i: { orderedItem: { remainingAttendeeCapacity: number } }) => i.orderedItem.remainingAttendeeCapacity,
      ),
    ).toEqual([5, 5, 5]);
    expect(await remainingOf(session)).toBe(2);

    const b = await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(session, 10)));
    expect(b.status).toBe(409);
    const errors = b.body.orderedItem.map((i: { error?: { '@type': string }[] }) => i.error?.[0]?.['@type']);
    expect(errors.filter((e: unknown) => e === undefined)).toHaveLength(2);
    expect(errors.filter((e: unknown) => e === 'OpportunityCapacityIsReservedByLeaseError')).toHaveLength(3);
    expect(errors.filter((e: unknown) => e === 'OpportunityHasInsufficientCapacityError')).toHaveLength(5);
    expect(b.body.orderedItem[0].orderedItem.remainingAttendeeCapacity).toBe(2);
    expect(await remainingOf(session)).toBe(2);

    // Amending the first quote replaces its lease; deleting it gives everything back.
    const amended = await put('C2', first, orderRequest('C2', gross.sellerUrl, places(session, 1)));
    expect(amended.status).toBe(200);
    expect(await remainingOf(session)).toBe(4);
    for (let i = 0; i < 2; i += 1) {
      const del = await t.request({ method: 'DELETE', url: `${API}/order-quotes/${first}`, headers: partnerHeaders() });
      expect(del.statusCode).toBe(204);
    }
    expect(await remainingOf(session)).toBe(5);
  });

  it('reserves a single-use slot from other customers while leased', async () => {
    const slot = await gross.slot();
    expect((await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(slot)))).status).toBe(200);
    const other = await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(slot)));
    expect(other.status).toBe(409);
    expect(errorTypes(other.body.orderedItem[0])).toEqual(['OpportunityCapacityIsReservedByLeaseError']);
    expect(other.body.orderedItem[0].orderedItem.remainingUses).toBe(0);
  });

  it('gives back the spaces of an expired lease', async () => {
    const session = await gross.session({ capacity: 2 });
    expect((await put('C1', randomUUID(), orderRequest('C1', gross.sellerUrl, places(session, 2)))).status).toBe(200);
    expect(await remainingOf(session)).toBe(0);
    clock.advance(16 * 60_000);
    try {
      const service = createBookingService({ db: t.database.db, urls: t.urls, clock });
      expect(await service.sweepExpiredLeases()).toBeGreaterThanOrEqual(1);
      expect(await remainingOf(session)).toBe(2);
    } finally {
      clock.advance(-16 * 60_000);
    }
  });

  it('answers DELETE of an unknown quote with 204', async () => {
    const res = await t.request({
      method: 'DELETE',
      url: `${API}/order-quotes/${randomUUID()}`,
      headers: partnerHeaders(),
    });
    expect(res.statusCode).toBe(204);
  });
});

describe('B', () => {
  it('books after C2: 201, Location, confirmed items with @id, and the lease becomes the booking', async () => {
    const session = await gross.session({ capacity: 6 });
    const b = await bookLines(gross, places(session, 2));
    expect(b.status).toBe(201);
    expect(b.headers.location).toBe(`${t.urls.openBookingBase}/orders/${b.uuid}`);
    expect(b.body).toMatchObject({
      '@type': 'Order',
      '@id': `${t.urls.openBookingBase}/orders/${b.uuid}`,
      identifier: b.uuid,
      customer: CUSTOMER,
      payment: { identifier: `pay-${b.uuid}` },
      totalPaymentDue: { price: 15 },
    });
    for (const item of b.body.orderedItem) {
      expect(item['@id']).toMatch(new RegExp(`^${t.urls.openBookingBase}/orders/${b.uuid}#/orderedItem/[0-9]+$`));
      expect(item.orderItemStatus).toBe('https://openactive.io/OrderItemConfirmed');
      expect(item.orderedItem.remainingAttendeeCapacity).toBe(4);
    }
    expect(await remainingOf(session)).toBe(4);
    const leases = await t.database.db.selectFrom('leases').selectAll().where('order_uuid', '=', b.uuid).execute();
    expect(leases).toEqual([]);
  });

  it('books without C1/C2 when the capacity is there', async () => {
    const session = await gross.session({ capacity: 3, offers: [{ price_minor: 0, open_booking_prepayment: null }] });
    const uuid = randomUUID();
    const b = await put(
      'B',
      uuid,
      orderRequest('B', gross.sellerUrl, places(session), {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 0 },
      }),
    );
    expect(b.status).toBe(201);
    expect(b.body.totalPaymentDue).toEqual({ '@type': 'PriceSpecification', price: 0, priceCurrency: 'GBP' });
    expect(await remainingOf(session)).toBe(2);
  });

  it('replays the same B with the same response and refuses a different body for the same UUID', async () => {
    const session = await gross.session();
    const first = await bookLines(gross, places(session));
    const again = await put(
      'B',
      first.uuid,
      orderRequest('B', gross.sellerUrl, places(session), {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 7.5, priceCurrency: 'GBP' },
        payment: { '@type': 'Payment', identifier: `pay-${first.uuid}` },
      }),
    );
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await remainingOf(session)).toBe(9);

    const different = await put(
      'B',
      first.uuid,
      orderRequest('B', gross.sellerUrl, places(session, 2), {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 15, priceCurrency: 'GBP' },
        payment: { '@type': 'Payment', identifier: 'other' },
      }),
    );
    expect(different.status).toBe(500);
    expect(different.body['@type']).toBe('OrderAlreadyExistsError');
    const quote = await put('C1', first.uuid, orderRequest('C1', gross.sellerUrl, places(session)));
    expect(quote.status).toBe(500);
    expect(quote.body['@type']).toBe('OrderAlreadyExistsError');
  });

  it.each([
    [
      'a free order with payment',
      0,
      null,
      { payment: { '@type': 'Payment', identifier: 'x' } },
      'UnnecessaryPaymentDetailsError',
    ],
    [
      'a free order with a non-zero total',
      0,
      null,
      { totalPaymentDue: { '@type': 'PriceSpecification', price: 1, priceCurrency: 'GBP' } },
      'TotalPaymentDueMismatchError',
    ],
    [
      'a paid order with the wrong total',
      750,
      'https://openactive.io/Required',
      { totalPaymentDue: { '@type': 'PriceSpecification', price: 8.5, priceCurrency: 'GBP' } },
      'TotalPaymentDueMismatchError',
    ],
    [
      'a paid order without payment',
      750,
      'https://openactive.io/Required',
      { payment: undefined },
      'MissingPaymentDetailsError',
    ],
    [
      'a payment without identifier',
      750,
      'https://openactive.io/Required',
      { payment: { '@type': 'Payment', name: 'Card' } },
      'IncompletePaymentDetailsError',
    ],
    [
      'payment for an order paid at the venue',
      750,
      'https://openactive.io/Unavailable',
      { payment: { '@type': 'Payment', identifier: 'x' } },
      'UnnecessaryPaymentDetailsError',
    ],
  ])('refuses %s and keeps the lease', async (_label, price, prepayment, change, type) => {
    const session = await gross.session({
      capacity: 4,
      offers: [{ price_minor: price, open_booking_prepayment: prepayment }],
    });
    const uuid = randomUUID();
    const c2 = await put('C2', uuid, orderRequest('C2', gross.sellerUrl, places(session)));
    expect(c2.status).toBe(200);
    const body = orderRequest('B', gross.sellerUrl, places(session), {
      totalPaymentDue: { '@type': 'PriceSpecification', price: price / 100, priceCurrency: 'GBP' },
      ...(price > 0 ? { payment: { '@type': 'Payment', identifier: 'pay-1' } } : {}),
      ...change,
    });
    const b = await put('B', uuid, body);
    expect(b.status).toBe(400);
    expect(b.body['@type']).toBe(type);
    expect(await remainingOf(session)).toBe(3);
  });

  it('takes a paid order without payment when prepayment is optional, and omits prepayment for free orders', async () => {
    const optional = await gross.session({ offers: [{ open_booking_prepayment: 'https://openactive.io/Optional' }] });
    const uuid = randomUUID();
    const c2 = await put('C2', uuid, orderRequest('C2', gross.sellerUrl, places(optional)));
    expect(c2.body.totalPaymentDue.openBookingPrepayment).toBe('https://openactive.io/Optional');
    const b = await put(
      'B',
      uuid,
      orderRequest('B', gross.sellerUrl, places(optional), {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 7.5, priceCurrency: 'GBP' },
      }),
    );
    expect(b.status).toBe(201);

    const free = await gross.session({ offers: [{ price_minor: 0, open_booking_prepayment: null }] });
    const freeB = await bookLines(gross, places(free));
    expect(freeB.status).toBe(201);
    expect(freeB.body.totalPaymentDue.openBookingPrepayment).toBeUndefined();
    expect(freeB.body.payment).toBeUndefined();
  });

  it('answers B with unbookable items with 409 and the Order carrying per-item errors, keeping the lease', async () => {
    const session = await gross.session({ capacity: 3 });
    const uuid = randomUUID();
    expect((await put('C2', uuid, orderRequest('C2', gross.sellerUrl, places(session)))).status).toBe(200);
    const b = await put(
      'B',
      uuid,
      orderRequest('B', gross.sellerUrl, [...places(session), { orderedItem: session.url }], {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 7.5, priceCurrency: 'GBP' },
        payment: { '@type': 'Payment', identifier: 'p' },
      }),
    );
    expect(b.status).toBe(409);
    expect(b.body['@type']).toBe('Order');
    expect(errorTypes(b.body.orderedItem[0])).toEqual([]);
    expect(errorTypes(b.body.orderedItem[1])).toEqual(['IncompleteOrderItemError']);
    expect(await remainingOf(session)).toBe(2);
    const order = await t.database.db.selectFrom('orders').selectAll().where('uuid', '=', uuid).executeTakeFirst();
    expect(order).toBeUndefined();
  });
});

describe('customer cancellation (PATCH)', () => {
  const patch = (uuid: string, body: unknown, headers = partnerHeaders()) =>
    t.request({ method: 'PATCH', url: `${API}/orders/${uuid}`, headers, payload: JSON.stringify(body) });
  const cancellation = (ids: string[], status = 'https://openactive.io/CustomerCancelled') => ({
    '@context': 'https://openactive.io/',
    '@type': 'Order',
    orderedItem: ids.map((id) => ({ '@type': 'OrderItem', '@id': id, orderItemStatus: status })),
  });

  it('cancels items, gives their places back, and repeats idempotently', async () => {
    const session = await gross.session({ capacity: 5 });
    const b = await bookLines(gross, places(session, 2));
    const [first] = b.body.orderedItem as { '@id': string }[];
    const res = await patch(b.uuid, cancellation([first!['@id']]));
    expect(res.statusCode).toBe(204);
    expect(await remainingOf(session)).toBe(4);
    expect((await patch(b.uuid, cancellation([first!['@id']]))).statusCode).toBe(204);
    expect(await remainingOf(session)).toBe(4);
    const status = await t.request({ method: 'GET', url: `${API}/orders/${b.uuid}`, headers: partnerHeaders() });
    expect(status.json().orderedItem.map((i: { orderItemStatus: string }) => i.orderItemStatus)).toEqual([
      'https://openactive.io/CustomerCancelled',
      'https://openactive.io/OrderItemConfirmed',
    ]);
    expect(status.json().totalPaymentDue.price).toBe(7.5);
  });

  it('is atomic: one item that may not be cancelled stops the whole request', async () => {
    const cancellable = await gross.session();
    const fixed = await gross.session({ offers: [{ allow_customer_cancellation_full_refund: false }] });
    const b = await bookLines(gross, [...places(cancellable), ...places(fixed)]);
    const ids = (b.body.orderedItem as { '@id': string }[]).map((i) => i['@id']);
    const res = await patch(b.uuid, cancellation(ids));
    expect(res.statusCode).toBe(400);
    expect(res.json()['@type']).toBe('CancellationNotPermittedError');
    expect(await remainingOf(cancellable)).toBe(9);
    expect((await patch(b.uuid, cancellation([ids[0]!]))).statusCode).toBe(204);
  });

  it('refuses cancellation after latestCancellationBeforeStartDate', async () => {
    const session = await gross.session({ start: new Date(clock.now().getTime() + 2 * DAY) });
    const b = await bookLines(gross, places(session));
    clock.advance(DAY + 60_000);
    try {
      const res = await patch(b.uuid, cancellation([b.body.orderedItem[0]['@id']]));
      expect(res.statusCode).toBe(400);
      expect(res.json()['@type']).toBe('CancellationNotPermittedError');
    } finally {
      clock.advance(-(DAY + 60_000));
    }
  });

  it('checks item ids before looking the order up (OrderItemIdInvalidError, OrderItemNotWithinOrderError)', async () => {
    const session = await gross.session();
    const b = await bookLines(gross, places(session));
    const itemId = b.body.orderedItem[0]['@id'] as string;
    const invalid = await patch(b.uuid, cancellation([`${itemId}-0-`]));
    expect(invalid.statusCode).toBe(500);
    expect(invalid.json()['@type']).toBe('OrderItemIdInvalidError');
    const elsewhere = await patch(randomUUID(), cancellation([itemId]));
    expect(elsewhere.statusCode).toBe(500);
    expect(elsewhere.json()['@type']).toBe('OrderItemNotWithinOrderError');
    const unknown = randomUUID();
    const missing = await patch(unknown, cancellation([`${t.urls.openBookingBase}/orders/${unknown}#/orderedItem/1`]));
    expect(missing.statusCode).toBe(404);
    expect(missing.json()['@type']).toBe('UnknownOrderError');
  });

  it('only lets orderItemStatus be set to CustomerCancelled', async () => {
    const session = await gross.session();
    const b = await bookLines(gross, places(session));
    const itemId = b.body.orderedItem[0]['@id'] as string;
    const excessive = await patch(b.uuid, { ...cancellation([itemId]), '@id': 'excessiveField' });
    expect(excessive.statusCode).toBe(400);
    expect(excessive.json()['@type']).toBe('PatchContainsExcessivePropertiesError');
    const notAllowed = await patch(b.uuid, cancellation([itemId], 'https://openactive.io/OrderItemConfirmed'));
    expect(notAllowed.statusCode).toBe(400);
    expect(notAllowed.json()['@type']).toBe('PatchNotAllowedOnPropertyError');
    expect(await remainingOf(session)).toBe(9);
  });

  it("refuses another partner's order as unknown", async () => {
    const session = await gross.session();
    const b = await bookLines(gross, places(session));
    const res = await patch(b.uuid, cancellation([b.body.orderedItem[0]['@id']]), partnerHeaders('booking-partner-2'));
    expect(res.statusCode).toBe(404);
    expect(res.json()['@type']).toBe('UnknownOrderError');
  });
});

describe('Order Deletion and Order Status', () => {
  it('deletes an order (204 twice), gives its places back and never reuses the UUID', async () => {
    const session = await gross.session({ capacity: 4 });
    const b = await bookLines(gross, places(session, 2));
    expect(await remainingOf(session)).toBe(2);
    for (let i = 0; i < 2; i += 1) {
      const res = await t.request({ method: 'DELETE', url: `${API}/orders/${b.uuid}`, headers: partnerHeaders() });
      expect(res.statusCode).toBe(204);
    }
    expect(await remainingOf(session)).toBe(4);
    const status = await t.request({ method: 'GET', url: `${API}/orders/${b.uuid}`, headers: partnerHeaders() });
    expect(status.statusCode).toBe(404);
    const rebook = await put('C1', b.uuid, orderRequest('C1', gross.sellerUrl, places(session)));
    expect(rebook.body['@type']).toBe('OrderAlreadyExistsError');
  });

  it('answers DELETE of an unknown order with 404 UnknownOrderError', async () => {
    const res = await t.request({ method: 'DELETE', url: `${API}/orders/${randomUUID()}`, headers: partnerHeaders() });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe(BOOKING_MEDIA_TYPE);
    expect(res.json()['@type']).toBe('UnknownOrderError');
  });

  it("returns the order's current state, to its own partner only", async () => {
    const session = await gross.session();
    const b = await bookLines(gross, places(session));
    const own = await t.request({ method: 'GET', url: `${API}/orders/${b.uuid}`, headers: partnerHeaders() });
    expect(own.statusCode).toBe(200);
    expect(own.json()).toMatchObject({ '@type': 'Order', identifier: b.uuid, customer: CUSTOMER });
    const other = await t.request({
      method: 'GET',
      url: `${API}/orders/${b.uuid}`,
      headers: partnerHeaders('booking-partner-2'),
    });
    expect(other.statusCode).toBe(404);
  });

  it('answers a malformed UUID with 400', async () => {
    const res = await t.request({ method: 'GET', url: `${API}/orders/not-a-uuid`, headers: partnerHeaders() });
    expect(res.statusCode).toBe(400);
  });
});

describe('test interface actions', () => {
  const action = (type: string, orderUrl: string, headers: Record<string, string> = partnerHeaders()) =>
    t.request({
      method: 'POST',
      url: `${API}/test-interface/actions`,
      headers,
      payload: JSON.stringify({
        '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
        '@type': type,
        object: { '@type': 'Order', '@id': orderUrl },
      }),
    });
  const statuses = async (uuid: string) =>
    (await t.request({ method: 'GET', url: `${API}/orders/${uuid}`, headers: partnerHeaders() }))
      .json()
      .orderedItem.map((i: { orderItemStatus: string }) => i.orderItemStatus);

  it('cancels every item for the seller and gives the places back', async () => {
    const session = await gross.session({ capacity: 3 });
    const b = await bookLines(gross, places(session, 2));
    const res = await action('test:SellerRequestedCancellationSimulateAction', b.body['@id']);
    expect(res.statusCode).toBe(204);
    expect(await statuses(b.uuid)).toEqual([
      'https://openactive.io/SellerCancelled',
      'https://openactive.io/SellerCancelled',
    ]);
    expect(await remainingOf(session)).toBe(3);
  });

  it('records a cancellation message, attendance and customer notices', async () => {
    const session = await gross.session();
    const withMessage = await bookLines(gross, places(session));
    expect(
      (await action('test:SellerRequestedCancellationWithMessageSimulateAction', withMessage.body['@id'])).statusCode,
    ).toBe(204);
    const cancelled = await t.request({
      method: 'GET',
      url: `${API}/orders/${withMessage.uuid}`,
      headers: partnerHeaders(),
    });
    expect(cancelled.json().orderedItem[0].cancellationMessage).toMatch(/cancelled/);

    const attended = await bookLines(gross, places(session));
    expect((await action('test:AttendeeAttendedSimulateAction', attended.body['@id'])).statusCode).toBe(204);
    expect(await statuses(attended.uuid)).toEqual(['https://openactive.io/AttendeeAttended']);
    const absent = await bookLines(gross, places(session));
    expect((await action('test:AttendeeAbsentSimulateAction', absent.body['@id'])).statusCode).toBe(204);
    expect(await statuses(absent.uuid)).toEqual(['https://openactive.io/AttendeeAbsent']);

    const noticed = await bookLines(gross, places(session));
    expect((await action('test:CustomerNoticeSimulateAction', noticed.body['@id'])).statusCode).toBe(204);
    const withNotice = await t.request({
      method: 'GET',
      url: `${API}/orders/${noticed.uuid}`,
      headers: partnerHeaders(),
    });
    expect(withNotice.json().orderedItem[0].customerNotice).toMatch(/arrive/);
  });

  it('refuses unsupported actions, unknown orders and other partners', async () => {
    const session = await gross.session();
    const b = await bookLines(gross, places(session));
    const unsupported = await action('test:ReplacementSimulateAction', b.body['@id']);
    expect(unsupported.statusCode).toBe(400);
    const unknown = await action(
      'test:SellerRequestedCancellationSimulateAction',
      `${t.urls.openBookingBase}/orders/${randomUUID()}`,
    );
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()['@type']).toBe('UnknownOrderError');
    const other = await action(
      'test:SellerRequestedCancellationSimulateAction',
      b.body['@id'],
      partnerHeaders('booking-partner-2'),
    );
    expect(other.statusCode).toBe(404);
    expect(await statuses(b.uuid)).toEqual(['https://openactive.io/OrderItemConfirmed']);
  });
});
