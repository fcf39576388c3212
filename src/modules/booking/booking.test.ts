import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { validationFailures } from '../../../test/openactive-validators.js';
import { openTestSandboxDatabase, sharedVocab } from '../../../test/sandbox-helpers.js';
import { systemClock } from '../../lib/clock.js';
import { createHttpClient, type HttpClient } from '../../lib/http-client.js';
import { buildSandboxApp } from '../../sandbox/app.js';
import { createFixtures, type Fixtures } from '../../sandbox/booking/booking.fixtures.js';
import type { SandboxDatabase } from '../../sandbox/db/database.js';
import { sandboxUrls } from '../../sandbox/ids.js';
import {
  BookingError,
  createBookingService,
  type BookingService,
  type BookingTarget,
  type QuoteInput,
} from './index.js';
import { freePort } from '../../../test/net.js';

/*
 * The Open Booking API client against the bundled sandbox booking system, started on a real
 * local port and harvested into the catalog like any other publisher. Every request body the
 * client sends is recorded at the HTTP edge and checked with @openactive/data-model-validator.
 */

const ADMIN = 'admin-key-for-booking-tests-0123456789';
const CONFIRMED = 'https://openactive.io/OrderItemConfirmed';
const CANCELLED = 'https://openactive.io/CustomerCancelled';

let sandboxDb: SandboxDatabase;
let sandbox: FastifyInstance;
let t: TestContext;
let base: string;
let f: Fixtures;
let booking: BookingService;
let target: BookingTarget;
let publisherId: number;
const sent: { method: string; url: string; headers: Record<string, string>; body: unknown }[] = [];

type Opp = { id: number; url: string; offerUrls: string[] };
let paid: Opp;
let free: Opp;
let full: Opp;
let single: Opp;
let slot: Opp;
let noRefund: Opp;
let later: Opp;

/** deps.http with every request recorded on its way out (the process edge; nothing is faked). */
function recording(http: HttpClient): HttpClient {
  return {
    checkUrl: (url) => http.checkUrl(url),
    request(url, init = {}) {
      sent.push({
        method: init.method ?? 'GET',
        url,
        headers: { ...init.headers, ...init.credentials },
        body: init.body ? JSON.parse(init.body) : undefined,
      });
      return http.request(url, init);
    },
  };
}

beforeAll(async () => {
  sandboxDb = await openTestSandboxDatabase();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const urls = sandboxUrls(base);
  f = await createFixtures(sandboxDb.db, urls);
  paid = await f.session({ capacity: 20 });
  free = await f.session({ offers: [{ name: 'Free taster', price_minor: 0, open_booking_prepayment: null }] });
  full = await f.session({ capacity: 5, remaining: 0 });
  single = await f.session({ capacity: 1 });
  slot = await f.slot({ uses: 2, offers: [{ price_minor: 1200 }] });
  noRefund = await f.session({ offers: [{ allow_customer_cancellation_full_refund: false }] });
  later = await f.session({ start: new Date(Date.now() + 60 * 86_400_000) }); // bookable 28 days ahead only
  sandbox = await buildSandboxApp({ db: sandboxDb.db, urls, clock: systemClock, vocab: sharedVocab() });
  await sandbox.listen({ port, host: '127.0.0.1' });
  t = await createTestContext({ config: { adminApiKey: ADMIN } });
  const { publisher } = await t.services.catalog.addPublisher({ datasetUrl: `${base}/openactive` });
  publisherId = publisher.id;
  const results = await t.services.harvester.runOnce();
  expect(results.every((r) => !r.failed)).toBe(true);
  await t.services.booking.setCredentials({
    publisherId,
    headers: { 'X-OpenActive-Test-Client-Id': 'activehub' },
  });
  booking = createBookingService({
    database: t.deps.database,
    http: recording(createHttpClient({ userAgent: 'activehub-test', outbound: t.deps.outbound, retryBaseMs: 50 })),
    clock: systemClock,
    log: pino({ level: 'silent' }),
    catalog: t.services.catalog,
    secrets: t.deps.secrets,
  });
  target = await booking.targetFor(publisherId, f.sellerUrl);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
  await sandboxDb?.close();
});

const BROKER = { name: 'Acme Fitness', url: 'https://acme-fitness.example.com' };
const CUSTOMER = { email: 'louis@example.com', givenName: 'Louis', familyName: 'Wu' };

function input(o: Opp, uuid = randomUUID(), extra: Partial<QuoteInput> = {}): QuoteInput {
  return {
    target,
    mode: 'live',
    uuid,
    broker: BROKER,
    items: [
      {
        opportunityId: o.url,
        opportunityType: o.url.includes('/slots/') ? 'Slot' : 'ScheduledSession',
        offerId: o.offerUrls[0]!,
      },
    ],
    ...extra,
  };
}

async function sandboxOrders(uuid: string): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from orders where uuid = ${uuid}`.execute(sandboxDb.db);
  return r.rows[0]!.n;
}

async function remaining(o: Opp): Promise<number> {
  const r = await sql<{
    n: number;
  }>`select remaining_attendee_capacity as n from scheduled_sessions where id = ${o.id}`.execute(sandboxDb.db);
  return r.rows[0]!.n;
}

async function bookingError(promise: Promise<unknown>): Promise<BookingError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BookingError);
  return err as BookingError;
}

describe('catalog findOpportunity', () => {
  it('resolves a harvested session with its series, seller, location, offers and booking endpoint', async () => {
    const o = await t.services.catalog.findOpportunity(paid.url);
    expect(o).toMatchObject({
      publisherId,
      oaId: paid.url,
      type: 'ScheduledSession',
      name: 'Vinyasa Flow Yoga',
      remainingCapacity: 20,
      eventStatus: 'https://schema.org/EventScheduled',
      sellerId: f.sellerUrl,
      sellerName: 'Riverside Leisure',
      bookingEndpointUrl: `${base}/api/openbooking`,
      publisherMode: 'live',
      parent: { type: 'SessionSeries', name: 'Vinyasa Flow Yoga' },
    });
    expect(o!.startDate).toBeInstanceOf(Date);
    expect(o!.startDate.getTime()).toBeGreaterThan(Date.now());
    expect(o!.location).toMatchObject({ name: 'Riverside Leisure Centre' });
    expect(o!.offers.map((x) => x['@id'])).toEqual(paid.offerUrls);
    expect(o!.seller).toMatchObject({ '@id': f.sellerUrl, name: 'Riverside Leisure' });
  });

  it('resolves a Slot through its individual facility use to the facility use', async () => {
    const o = await t.services.catalog.findOpportunity(slot.url);
    expect(o).toMatchObject({
      type: 'Slot',
      remainingCapacity: 2,
      sellerId: f.sellerUrl,
      parent: { type: 'FacilityUse', name: 'Badminton Courts' },
    });
    expect(o!.offers.map((x) => x['@id'])).toEqual(slot.offerUrls);
    expect(o!.location).toMatchObject({ name: 'Riverside Leisure Centre' });
  });

  it('answers undefined for unknown ids and for things that are not occurrences', async () => {
    expect(
      await t.services.catalog.findOpportunity(`${base}/api/identifiers/scheduled-sessions/999999`),
    ).toBeUndefined();
    const series = (await t.services.catalog.findOpportunity(paid.url))!.parent!.oaId;
    expect(await t.services.catalog.findOpportunity(series)).toBeUndefined();
  });
});

describe('targets and credentials', () => {
  it('builds the target from the dataset site endpoint and the stored credentials', async () => {
    expect(await t.services.booking.targetFor(publisherId, f.sellerUrl)).toEqual({
      publisherId,
      mode: 'live',
      endpointUrl: `${base}/api/openbooking`,
      sellerId: f.sellerUrl,
      headers: { 'x-openactive-test-client-id': 'activehub' },
    });
  });

  it('prefers credentials stored for the seller over the publisher-wide ones; onlyIfMissing keeps existing ones', async () => {
    const other = `${base}/api/identifiers/sellers/424242`;
    await t.services.booking.setCredentials({
      publisherId,
      sellerId: other,
      headers: { Authorization: 'Bearer s3cret' },
    });
    await t.services.booking.setCredentials({
      publisherId,
      sellerId: other,
      headers: { Authorization: 'Bearer other' },
      onlyIfMissing: true,
    });
    expect((await t.services.booking.targetFor(publisherId, other)).headers).toEqual({
      authorization: 'Bearer s3cret',
    });
    expect((await t.services.booking.targetFor(publisherId, f.sellerUrl)).headers).toEqual({
      'x-openactive-test-client-id': 'activehub',
    });
  });

  it('reuses a target for targetCacheMs; new credentials apply at once, a new endpoint after that time', async () => {
    const { publisher } = await t.services.catalog.addPublisher({
      name: 'Cached target',
      feeds: [{ url: `${base}/feeds/cached`, kind: 'ScheduledSession' }],
    });
    const setEndpoint = (url: string) =>
      t.deps.database.db
        .updateTable('publishers')
        .set({ booking_endpoint_url: url })
        .where('id', '=', publisher.id)
        .execute();
    await setEndpoint('https://first.example.com/api/openbooking/');
    const service = (targetCacheMs: number) =>
      createBookingService({
        database: t.deps.database,
        http: createHttpClient({ userAgent: 'activehub-test', outbound: t.deps.outbound }),
        clock: systemClock,
        log: pino({ level: 'silent' }),
        catalog: t.services.catalog,
        secrets: t.deps.secrets,
        targetCacheMs,
      });
    const cached = service(300);
    // No credentials yet: refused, and the refusal is not kept.
    expect((await bookingError(cached.targetFor(publisher.id, f.sellerUrl))).problem.code).toBe('invalid_credentials');
    await cached.setCredentials({ publisherId: publisher.id, headers: { Authorization: 'Bearer one' } });
    const first = await cached.targetFor(publisher.id, f.sellerUrl);
    expect(first).toMatchObject({
      endpointUrl: 'https://first.example.com/api/openbooking',
      headers: { authorization: 'Bearer one' },
    });
    // What a caller does to its copy does not reach the next caller.
    first.headers.authorization = 'changed by a caller';
    await setEndpoint('https://second.example.com/api/openbooking');
    const within = await cached.targetFor(publisher.id, f.sellerUrl);
    expect(within).toMatchObject({
      endpointUrl: 'https://first.example.com/api/openbooking',
      headers: { authorization: 'Bearer one' },
    });
    // Credentials set through the service apply to the next call.
    await cached.setCredentials({ publisherId: publisher.id, headers: { Authorization: 'Bearer two' } });
    expect((await cached.targetFor(publisher.id, f.sellerUrl)).headers).toEqual({ authorization: 'Bearer two' });
    await setEndpoint('https://third.example.com/api/openbooking');
    await new Promise((r) => setTimeout(r, 350));
    expect((await cached.targetFor(publisher.id, f.sellerUrl)).endpointUrl).toBe(
      'https://third.example.com/api/openbooking',
    );
    // Without a cache every call reads the database.
    const uncached = service(0);
    await uncached.targetFor(publisher.id, f.sellerUrl);
    await setEndpoint('https://fourth.example.com/api/openbooking');
    expect((await uncached.targetFor(publisher.id, f.sellerUrl)).endpointUrl).toBe(
      'https://fourth.example.com/api/openbooking',
    );
  });

  it('unknown publisher → not_bookable; publisher without credentials → invalid_credentials', async () => {
    expect((await bookingError(t.services.booking.targetFor(999_999, f.sellerUrl))).problem.code).toBe('not_bookable');
    const { publisher } = await t.services.catalog.addPublisher({
      name: 'No credentials',
      feeds: [{ url: `${base}/feeds/none`, kind: 'ScheduledSession' }],
    });
    const err = await bookingError(t.services.booking.targetFor(publisher.id, f.sellerUrl));
    expect(err.problem.code).toBe('not_bookable'); // no booking endpoint known
    await t.deps.database.db
      .updateTable('publishers')
      .set({ booking_endpoint_url: `${base}/api/openbooking` })
      .where('id', '=', publisher.id)
      .execute();
    const err2 = await bookingError(t.services.booking.targetFor(publisher.id, f.sellerUrl));
    expect(err2.problem).toMatchObject({ code: 'invalid_credentials' });
    expect(err2.retryable).toBe(false);
  });

  it('rejects credential headers that would break or inject into requests', async () => {
    for (const headers of [
      {},
      { 'Content-Type': 'text/plain' },
      { 'Bad Name': 'x' },
      { 'X-Key': 'a\r\nX-Evil: 1' },
    ] as Record<string, string>[]) {
      await expect(t.services.booking.setCredentials({ publisherId, headers })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
    }
    await expect(
      t.services.booking.setCredentials({ publisherId, sellerId: 'not a url', headers: { a: 'b' } }),
    ).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      t.services.booking.setCredentials({ publisherId: 999_999, headers: { a: 'b' } }),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe('C1, C2 and B against the sandbox', () => {
  it('books a paid session: prices in minor units, a lease, a confirmed item; the seller has the order', async () => {
    const before = await remaining(paid);
    const uuid = randomUUID();
    const c1 = await booking.c1(input(paid, uuid));
    expect(c1).toMatchObject({ stage: 'C1', ok: true, totalPaymentDue: 750, currency: 'GBP' });
    expect(c1.items).toEqual([
      { opportunityId: paid.url, offerId: paid.offerUrls[0], price: 750, currency: 'GBP', errors: [] },
    ]);
    expect(c1.leaseExpires!.getTime()).toBeGreaterThan(Date.now());
    const c2 = await booking.c2(input(paid, uuid, { customer: CUSTOMER }));
    expect(c2).toMatchObject({ stage: 'C2', ok: true, totalPaymentDue: 750 });
    expect((c2.raw as { customer: unknown }).customer).toMatchObject({ email: CUSTOMER.email });

    const order = await booking.book({
      ...input(paid, uuid, { customer: CUSTOMER }),
      totalPaymentDue: c2.totalPaymentDue,
      payment: { identifier: 'pay_123', name: 'Card' },
    });
    expect(order).toMatchObject({ uuid, totalPaymentDue: 750, currency: 'GBP' });
    expect(order.items).toHaveLength(1);
    expect(order.items[0]).toMatchObject({
      opportunityId: paid.url,
      offerId: paid.offerUrls[0],
      price: 750,
      status: CONFIRMED,
    });
    expect(order.items[0]!.orderItemId).toMatch(
      new RegExp(`^${base}/api/openbooking/orders/${uuid}#/orderedItem/\\d+$`),
    );
    expect(await sandboxOrders(uuid)).toBe(1);
    expect(await remaining(paid)).toBe(before - 1);
    const b = sent.filter((s) => s.url.endsWith(`/orders/${uuid}`) && s.method === 'PUT').at(-1)!.body as Record<
      string,
      unknown
    >;
    expect(b.payment).toEqual({ '@type': 'Payment', identifier: 'pay_123', name: 'Card' });
    expect(b.totalPaymentDue).toEqual({ '@type': 'PriceSpecification', price: 7.5, priceCurrency: 'GBP' });
  });

  it('books a free session without payment, and a paid slot', async () => {
    const uuid = randomUUID();
    const c2 = await booking.c2(input(free, uuid, { customer: CUSTOMER }));
    expect(c2).toMatchObject({ ok: true, totalPaymentDue: 0 });
    const order = await booking.book({
      ...input(free, uuid, { customer: CUSTOMER }),
      totalPaymentDue: 0,
      payment: { identifier: 'never-sent' },
    });
    expect(order).toMatchObject({ totalPaymentDue: 0, items: [{ price: 0, status: CONFIRMED }] });
    const b = sent.filter((s) => s.url.endsWith(`/orders/${uuid}`)).at(-1)!.body as Record<string, unknown>;
    expect(b.payment).toBeUndefined();

    const slotUuid = randomUUID();
    const q = await booking.c2(input(slot, slotUuid, { customer: CUSTOMER }));
    expect(q).toMatchObject({ ok: true, totalPaymentDue: 1200 });
    const booked = await booking.book({
      ...input(slot, slotUuid, { customer: CUSTOMER }),
      totalPaymentDue: 1200,
      payment: { identifier: 'pay_slot' },
    });
    expect(booked.items[0]).toMatchObject({ opportunityId: slot.url, price: 1200, status: CONFIRMED });
  });

  it('B is idempotent: the same uuid and body return the same order, and the seller books once', async () => {
    const before = await remaining(paid);
    const uuid = randomUUID();
    const request = {
      ...input(paid, uuid, { customer: CUSTOMER }),
      totalPaymentDue: 750,
      payment: { identifier: 'pay_r' },
    };
    await booking.c2(input(paid, uuid, { customer: CUSTOMER }));
    const first = await booking.book(request);
    const again = await booking.book(request);
    expect(again.items.map((i) => i.orderItemId)).toEqual(first.items.map((i) => i.orderItemId));
    expect(again.totalPaymentDue).toBe(first.totalPaymentDue);
    expect(await sandboxOrders(uuid)).toBe(1);
    expect(await remaining(paid)).toBe(before - 1);

    // The same uuid with other details is another order: refused, and no retry can fix it.
    const err = await bookingError(
      booking.book({ ...request, customer: { ...CUSTOMER, email: 'someone@example.com' } }),
    );
    expect(err.problem).toMatchObject({ code: 'order_exists', openActiveType: 'OrderAlreadyExistsError' });
    expect(err.retryable).toBe(false);
    expect(await sandboxOrders(uuid)).toBe(1);
  });

  it('a full session is an item problem "full" at C1 and C2, not an exception', async () => {
    const uuid = randomUUID();
    const c1 = await booking.c1(input(full, uuid));
    expect(c1.ok).toBe(false);
    const c2 = await booking.c2(input(full, uuid, { customer: CUSTOMER }));
    expect(c2.ok).toBe(false);
    expect(c2.leaseExpires).toBeUndefined();
    expect(c2.items[0]!.errors).toEqual([
      { code: 'full', openActiveType: 'OpportunityIsFullError', message: 'Sorry, this activity is now full.' },
    ]);
  });

  it('the last place held by another lease: full at B, with the item problems', async () => {
    const holder = randomUUID();
    expect((await booking.c2(input(single, holder, { customer: CUSTOMER }))).ok).toBe(true);
    const other = randomUUID();
    const err = await bookingError(
      booking.book({
        ...input(single, other, { customer: CUSTOMER }),
        totalPaymentDue: 750,
        payment: { identifier: 'p' },
      }),
    );
    expect(err.problem.code).toBe('full');
    expect(err.status).toBe(409);
    expect(err.retryable).toBe(false);
    expect(err.itemProblems![0]![0]!.code).toBe('full');
    expect(await sandboxOrders(other)).toBe(0);
  });

  it('unknown opportunity and unknown offer are item problems', async () => {
    const unknownOpp = await booking.c1({
      ...input(paid),
      items: [
        {
          opportunityId: `${base}/api/identifiers/scheduled-sessions/999999`,
          opportunityType: 'ScheduledSession',
          offerId: paid.offerUrls[0]!,
        },
      ],
    });
    expect(unknownOpp.ok).toBe(false);
    expect(unknownOpp.items[0]!.errors[0]).toMatchObject({
      code: 'unknown_opportunity',
      openActiveType: 'UnknownOpportunityError',
    });
    const seriesId = paid.offerUrls[0]!.split('#')[0]!;
    const unknownOffer = await booking.c1({
      ...input(paid),
      items: [{ opportunityId: paid.url, opportunityType: 'ScheduledSession', offerId: `${seriesId}#/offers/999999` }],
    });
    expect(unknownOffer.items[0]!.errors[0]).toMatchObject({
      code: 'unknown_offer',
      openActiveType: 'UnknownOfferError',
    });
  });

  it('an offer not yet open for booking: not_within_window', async () => {
    const q = await booking.c1(input(later));
    expect(q.ok).toBe(false);
    expect(q.items[0]!.errors[0]).toMatchObject({
      code: 'not_within_window',
      openActiveType: 'OpportunityOfferPairNotBookableError',
    });
  });

  it('a wrong total at B is refused for good (400), and nothing is booked', async () => {
    const uuid = randomUUID();
    await booking.c2(input(paid, uuid, { customer: CUSTOMER }));
    const err = await bookingError(
      booking.book({
        ...input(paid, uuid, { customer: CUSTOMER }),
        totalPaymentDue: 100,
        payment: { identifier: 'p' },
      }),
    );
    expect(err.problem).toMatchObject({ code: 'seller_rejected', openActiveType: 'TotalPaymentDueMismatchError' });
    expect(err.status).toBe(400);
    expect(err.retryable).toBe(false);
    expect(await sandboxOrders(uuid)).toBe(0);
  });
});

describe('test mode is a world of its own (issue 14 point 3)', () => {
  it('C1, C2 and B of the other mode are refused before anything is sent to the seller', async () => {
    const before = sent.length;
    const uuid = randomUUID();
    for (const [mode, targetMode] of [
      ['test', 'live'],
      ['live', 'test'],
    ] as const) {
      const q = { ...input(paid, uuid), mode, target: { ...target, mode: targetMode } };
      for (const call of [booking.c1(q), booking.c2(q), booking.book({ ...q, totalPaymentDue: 0 })]) {
        const err = await bookingError(call);
        expect(err.problem.code).toBe('not_bookable');
        expect(err.retryable).toBe(false);
        expect(err.message).toMatch(mode === 'test' ? /live booking system/ : /test booking system/);
      }
    }
    expect(sent.length).toBe(before);
  });
});

describe('after B: Order Status, cancellation, deletion', () => {
  async function booked() {
    const uuid = randomUUID();
    await booking.c2(input(paid, uuid, { customer: CUSTOMER }));
    return booking.book({
      ...input(paid, uuid, { customer: CUSTOMER }),
      totalPaymentDue: 750,
      payment: { identifier: `pay_${uuid}` },
    });
  }

  it('getOrder returns the booked order; an unknown uuid is undefined', async () => {
    const order = await booked();
    const status = await booking.getOrder(target, order.uuid);
    expect(status).toMatchObject({ uuid: order.uuid, totalPaymentDue: 750, currency: 'GBP' });
    expect(status!.items).toEqual([
      expect.objectContaining({
        orderItemId: order.items[0]!.orderItemId,
        opportunityId: paid.url,
        offerId: paid.offerUrls[0],
        price: 750,
        status: CONFIRMED,
      }),
    ]);
    expect(await booking.getOrder(target, randomUUID())).toBeUndefined();
  });

  it('cancelItems cancels at the seller; getOrder then shows CustomerCancelled and nothing due', async () => {
    const order = await booked();
    const before = await remaining(paid);
    await booking.cancelItems(target, order.uuid, [order.items[0]!.orderItemId]);
    const status = await booking.getOrder(target, order.uuid);
    expect(status!.items[0]!.status).toBe(CANCELLED);
    expect(status!.totalPaymentDue).toBe(0);
    expect(await remaining(paid)).toBe(before + 1);
    await booking.cancelItems(target, order.uuid, [order.items[0]!.orderItemId]); // idempotent
    const err = await bookingError(
      booking.cancelItems(target, order.uuid, [`${base}/api/openbooking/orders/${order.uuid}#/orderedItem/99999999`]),
    );
    expect(err.retryable).toBe(false);
  });

  it("a refused cancellation carries the seller's customer-facing reason", async () => {
    const uuid = randomUUID();
    await booking.c2(input(noRefund, uuid, { customer: CUSTOMER }));
    const order = await booking.book({
      ...input(noRefund, uuid, { customer: CUSTOMER }),
      totalPaymentDue: 750,
      payment: { identifier: 'p_nr' },
    });
    const err = await bookingError(booking.cancelItems(target, uuid, [order.items[0]!.orderItemId]));
    expect(err.problem).toEqual({
      code: 'seller_rejected',
      openActiveType: 'CancellationNotPermittedError',
      message: 'This booking cannot be cancelled online; please contact the organiser.',
    });
    expect(err.retryable).toBe(false);
    expect((await booking.getOrder(target, uuid))!.items[0]!.status).toBe(CONFIRMED);
  });

  it('deleteOrder removes the order (and tolerates repeats and unknown orders)', async () => {
    const order = await booked();
    await booking.deleteOrder(target, order.uuid);
    expect(await booking.getOrder(target, order.uuid)).toBeUndefined();
    await booking.deleteOrder(target, order.uuid);
    await booking.deleteOrder(target, randomUUID());
  });
});

describe('failures of the seller or of our credentials', () => {
  it('seller down (closed port): BookingError seller_unavailable, retryable', async () => {
    const down = { ...target, endpointUrl: `http://127.0.0.1:${await freePort()}/api/openbooking` };
    for (const call of [
      () => booking.c1({ ...input(paid), target: down }),
      () => booking.book({ ...input(paid, randomUUID(), { customer: CUSTOMER }), target: down, totalPaymentDue: 750 }),
      () => booking.getOrder(down, randomUUID()),
    ]) {
      const err = await bookingError(call());
      expect(err.problem.code).toBe('seller_unavailable');
      expect(err.retryable).toBe(true);
      expect(err.problem.message).toMatch(/not responding/);
    }
  });

  it('a seller answering 503 or a non-JSON 502, or not answering in time: seller_unavailable, retryable', async () => {
    let calls = 0;
    const server = http.createServer((req, res) => {
      calls += 1;
      if (req.url?.includes('hang')) return; // never answers
      if (req.url?.includes('gateway')) {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
        return;
      }
      res
        .writeHead(503, { 'content-type': 'application/vnd.openactive.booking+json; version=1' })
        .end(JSON.stringify({ '@type': 'TemporarilyUnableToProduceOrderQuoteError', description: 'maintenance' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const at = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const quick = createBookingService({
      database: t.deps.database,
      http: createHttpClient({
        userAgent: 'activehub-test',
        outbound: t.deps.outbound,
        timeoutMs: 300,
        retryBaseMs: 10,
      }),
      clock: systemClock,
      log: pino({ level: 'silent' }),
      catalog: t.services.catalog,
      secrets: t.deps.secrets,
      retries: 1,
    });
    try {
      for (const path of ['busy', 'gateway', 'hang']) {
        const before = calls;
        const err = await bookingError(
          quick.c1({ ...input(paid), target: { ...target, endpointUrl: `${at}/${path}` } }),
        );
        expect(err.problem.code, path).toBe('seller_unavailable');
        expect(err.retryable, path).toBe(true);
        expect(calls - before, `${path}: one retry`).toBe(2);
        if (path === 'busy') expect(err.problem.openActiveType).toBe('TemporarilyUnableToProduceOrderQuoteError');
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('missing or unknown credentials: invalid_credentials, not retryable', async () => {
    for (const headers of [
      {},
      { 'x-openactive-test-client-id': 'nobody' },
      { authorization: 'Bearer wrong' },
    ] as Record<string, string>[]) {
      const err = await bookingError(booking.c1({ ...input(paid), target: { ...target, headers } }));
      expect(err.problem.code).toBe('invalid_credentials');
      expect(err.retryable).toBe(false);
      expect(err.status).toBe(401);
    }
  });

  it('a seller the credentials do not cover: not bookable', async () => {
    const err = await bookingError(
      booking.c1({ ...input(paid), target: { ...target, sellerId: `${base}/api/identifiers/sellers/999999` } }),
    );
    expect(err.problem).toMatchObject({ code: 'not_bookable', openActiveType: 'SellerNotFoundError' });
    expect(err.retryable).toBe(false);
  });
});

describe('admin API for credentials', () => {
  it('PUT stores credentials and never echoes header values; GET lists names only', async () => {
    const secret = 'Bearer do-not-echo-0123456789';
    const res = await t.request({
      method: 'PUT',
      url: `/admin/publishers/${publisherId}/booking-credentials`,
      key: ADMIN,
      payload: { sellerId: `${base}/api/identifiers/sellers/777`, headers: { Authorization: secret } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('do-not-echo');
    expect(res.json()).toMatchObject({
      publisherId,
      sellerId: `${base}/api/identifiers/sellers/777`,
      headerNames: ['authorization'],
    });
    const list = await t.request({
      method: 'GET',
      url: `/admin/publishers/${publisherId}/booking-credentials`,
      key: ADMIN,
    });
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain('do-not-echo');
    expect(list.body).not.toContain('"activehub"');
    expect(list.json().items.map((i: { sellerId: string | null }) => i.sellerId)).toContain(null);
    expect((await t.services.booking.targetFor(publisherId, `${base}/api/identifiers/sellers/777`)).headers).toEqual({
      authorization: secret,
    });
  });

  it('bad input is a 4xx in the error shape; the admin key is required', async () => {
    const url = `/admin/publishers/${publisherId}/booking-credentials`;
    const cases: [unknown, number][] = [
      [{ headers: {} }, 400],
      [{ headers: { 'X-Key': 'a\nb' } }, 400],
      [{ headers: { Host: 'evil' } }, 400],
      [{ headers: { a: 'b' }, extra: 1 }, 400],
      [{ sellerId: 'nope', headers: { a: 'b' } }, 400],
      [{ headers: 'x' }, 400],
    ];
    for (const [payload, status] of cases) {
      const res = await t.request({ method: 'PUT', url, key: ADMIN, payload: payload as object });
      expect(res.statusCode, JSON.stringify(payload)).toBe(status);
      expect(res.json()['@type']).toBe('BadRequestError');
    }
    const unknown = await t.request({
      method: 'PUT',
      url: '/admin/publishers/999999/booking-credentials',
      key: ADMIN,
      payload: { headers: { a: 'b' } },
    });
    expect(unknown.statusCode).toBe(404);
    expect((await t.request({ method: 'PUT', url, payload: { headers: { a: 'b' } } })).statusCode).toBe(401);
    const broker = await t.newBroker();
    const asBroker = await t.request({ method: 'PUT', url, key: broker.key, payload: { headers: { a: 'b' } } });
    expect(asBroker.statusCode).toBe(401);
    expect((await t.request({ method: 'GET', url, key: broker.key })).statusCode).toBe(401);
  });
});

describe('what we send', () => {
  it('uses the booking media type, and every body passes @openactive/data-model-validator', async () => {
    const modes: [RegExp, string, string][] = [
      [/\/order-quote-templates\/[^/]+$/, 'PUT', 'C1Request'],
      [/\/order-quotes\/[^/]+$/, 'PUT', 'C2Request'],
      [/\/orders\/[^/]+$/, 'PUT', 'BRequest'],
      [/\/orders\/[^/]+$/, 'PATCH', 'OrderPatch'],
    ];
    const seen = new Set<string>();
    for (const request of sent.filter((s) => s.body !== undefined && s.url.startsWith(base))) {
      const mode = modes.find(([re, method]) => re.test(request.url) && method === request.method)?.[2];
      expect(mode, `${request.method} ${request.url}`).toBeDefined();
      seen.add(mode!);
      expect(request.headers['content-type']).toBe('application/vnd.openactive.booking+json; version=1');
      expect(request.headers.accept).toBe('application/vnd.openactive.booking+json; version=1');
      expect(await validationFailures(request.body, mode!), `${mode} ${JSON.stringify(request.body)}`).toEqual([]);
    }
    expect([...seen].sort()).toEqual(['BRequest', 'C1Request', 'C2Request', 'OrderPatch']);
  });
});
