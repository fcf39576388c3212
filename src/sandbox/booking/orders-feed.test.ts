import { randomUUID } from 'node:crypto';
import { FeedPageChecker } from '@openactive/rpde-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxTestContext, type SandboxTestContext } from '../../../test/sandbox-helpers.js';
import {
  BOOKING_MEDIA_TYPE,
  createFixtures,
  orderRequest,
  partnerHeaders,
  places,
  type Fixtures,
} from './booking.fixtures.js';

let t: SandboxTestContext;
let f: Fixtures;

beforeAll(async () => {
  t = await createSandboxTestContext();
  f = await createFixtures(t.database.db, t.urls);
});
afterAll(async () => {
  await t.close();
});

const API = '/api/openbooking';
const FREE = [{ price_minor: 0, open_booking_prepayment: null }];

async function book(partner: string, count = 1): Promise<{ uuid: string; body: Record<string, any> }> {
  const session = await f.session({ offers: FREE });
  const uuid = randomUUID();
  const res = await t.request({
    method: 'PUT',
    url: `${API}/orders/${uuid}`,
    headers: partnerHeaders(partner),
    payload: JSON.stringify(
      orderRequest('B', f.sellerUrl, places(session, count), {
        totalPaymentDue: { '@type': 'PriceSpecification', price: 0 },
      }),
    ),
  });
  expect(res.statusCode).toBe(201);
  return { uuid, body: res.json() };
}

const sellerCancel = (orderUrl: string) =>
  t.request({
    method: 'POST',
    url: `${API}/test-interface/actions`,
    headers: partnerHeaders(),
    payload: JSON.stringify({
      '@type': 'test:SellerRequestedCancellationSimulateAction',
      object: { '@type': 'Order', '@id': orderUrl },
    }),
  });

/** Walks a partner's Orders feed from the start, checking every page with the RPDE validator's rules. */
async function walk(partner: string, path = `${API}/orders-rpde`) {
  const checker = new FeedPageChecker();
  const items: Record<string, any>[] = [];
  let url = `${t.urls.base}${path}`;
  for (let page = 0; page < 50; page += 1) {
    const res = await t.request({
      method: 'GET',
      url: url.slice(t.urls.base.length),
      headers: partnerHeaders(partner),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(BOOKING_MEDIA_TYPE);
    expect(res.headers['cache-control']).toBe('no-store');
    const json = res.json();
    const failures = checker.validateRpdePage({
      url,
      json,
      pageIndex: page,
      contentType: res.headers['content-type'],
      cacheControl: res.headers['cache-control'],
      status: res.statusCode,
      isInitialHarvestComplete: false,
      isOrdersFeed: true,
    });
    expect(failures).toEqual([]);
    expect(json.license).toBeUndefined();
    items.push(...json.items);
    if (json.items.length === 0) {
      expect(json.next).toBe(url);
      return items;
    }
    url = json.next;
  }
  throw new Error('the feed did not end');
}

describe('orders-rpde', () => {
  it('leaves a new order out until it changes, then shows it with bare-URL orderedItem and no personal data', async () => {
    const order = await book('booking-partner-1', 2);
    expect((await walk('booking-partner-1')).find((i) => i.id === order.uuid)).toBeUndefined();

    expect((await sellerCancel(order.body['@id'])).statusCode).toBe(204);
    const entry = (await walk('booking-partner-1')).find((i) => i.id === order.uuid)!;
    expect(entry).toMatchObject({ state: 'updated', kind: 'Order', id: order.uuid });
    expect(Number.isInteger(entry.modified)).toBe(true);
    expect(entry.data).toMatchObject({
      '@context': 'https://openactive.io/',
      '@type': 'Order',
      '@id': order.body['@id'],
      identifier: order.uuid,
      totalPaymentDue: { price: 0 },
    });
    for (const key of ['customer', 'broker', 'brokerRole', 'seller', 'payment', 'bookingService']) {
      expect(entry.data[key]).toBeUndefined();
    }
    expect(entry.data.orderedItem).toHaveLength(2);
    for (const item of entry.data.orderedItem) {
      expect(item.orderItemStatus).toBe('https://openactive.io/SellerCancelled');
      expect(typeof item.orderedItem).toBe('string');
      expect(item['@id']).toMatch(/#\/orderedItem\/\d+$/);
    }
  });

  it('shows each partner only its own orders', async () => {
    const mine = await book('booking-partner-1');
    const theirs = await book('booking-partner-2');
    await sellerCancel(mine.body['@id']);
    const other = await t.request({
      method: 'POST',
      url: `${API}/test-interface/actions`,
      headers: partnerHeaders('booking-partner-2'),
      payload: JSON.stringify({
        '@type': 'test:AttendeeAttendedSimulateAction',
        object: { '@type': 'Order', '@id': theirs.body['@id'] },
      }),
    });
    expect(other.statusCode).toBe(204);
    const ids1 = (await walk('booking-partner-1')).map((i) => i.id);
    const ids2 = (await walk('booking-partner-2')).map((i) => i.id);
    expect(ids1).toContain(mine.uuid);
    expect(ids1).not.toContain(theirs.uuid);
    expect(ids2).toContain(theirs.uuid);
    expect(ids2).not.toContain(mine.uuid);
  });

  it('moves an updated order to the end and pages with limit', async () => {
    const a = await book('booking-partner-1');
    const b = await book('booking-partner-1');
    await sellerCancel(a.body['@id']);
    await sellerCancel(b.body['@id']);
    const notice = await t.request({
      method: 'POST',
      url: `${API}/test-interface/actions`,
      headers: partnerHeaders(),
      payload: JSON.stringify({
        '@type': 'test:CustomerNoticeSimulateAction',
        object: { '@type': 'Order', '@id': a.body['@id'] },
      }),
    });
    expect(notice.statusCode).toBe(204);
    const items = await walk('booking-partner-1', `${API}/orders-rpde?limit=1`);
    const ids = items.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.indexOf(a.uuid)).toBeGreaterThan(ids.indexOf(b.uuid));
    const modified = items.map((i) => i.modified as number);
    expect([...modified].sort((x, y) => x - y)).toEqual(modified);
    expect(items.find((i) => i.id === a.uuid)!.data.orderedItem[0].customerNotice).toMatch(/arrive/);
  });

  it('shows a deleted order as a tombstone', async () => {
    const order = await book('booking-partner-1');
    const del = await t.request({ method: 'DELETE', url: `${API}/orders/${order.uuid}`, headers: partnerHeaders() });
    expect(del.statusCode).toBe(204);
    const entry = (await walk('booking-partner-1')).find((i) => i.id === order.uuid);
    expect(entry).toEqual({ state: 'deleted', kind: 'Order', id: order.uuid, modified: expect.any(Number) });
  });

  it('deletes the orders of a deleted test dataset, as tombstones', async () => {
    const created = await t.request({
      method: 'POST',
      url: `${API}/test-interface/datasets/feed-test/opportunities`,
      headers: { 'content-type': BOOKING_MEDIA_TYPE },
      payload: JSON.stringify({
        '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
        '@type': 'ScheduledSession',
        superEvent: { '@type': 'SessionSeries', organizer: { '@type': 'Organization', '@id': f.sellerUrl } },
        'test:testOpenBookingFlow': 'https://openactive.io/test-interface#OpenBookingSimpleFlow',
        'test:testOpportunityCriteria': 'https://openactive.io/test-interface#TestOpportunityBookableFree',
      }),
    });
    expect(created.statusCode).toBe(201);
    const series = await t.database.db
      .selectFrom('scheduled_sessions')
      .innerJoin('offers', 'offers.session_series_id', 'scheduled_sessions.session_series_id')
      .select(['scheduled_sessions.session_series_id as seriesId', 'offers.id as offerId'])
      .where('scheduled_sessions.test_dataset', '=', 'feed-test')
      .executeTakeFirstOrThrow();
    const uuid = randomUUID();
    const booked = await t.request({
      method: 'PUT',
      url: `${API}/orders/${uuid}`,
      headers: partnerHeaders(),
      payload: JSON.stringify(
        orderRequest(
          'B',
          f.sellerUrl,
          [
            {
              orderedItem: created.json()['@id'],
              acceptedOffer: t.urls.offer(t.urls.sessionSeries(series.seriesId), series.offerId),
            },
          ],
          { totalPaymentDue: { '@type': 'PriceSpecification', price: 0 } },
        ),
      ),
    });
    expect(booked.statusCode).toBe(201);
    const deleted = await t.request({ method: 'DELETE', url: `${API}/test-interface/datasets/feed-test` });
    expect(deleted.statusCode).toBe(204);
    const entry = (await walk('booking-partner-1')).find((i) => i.id === uuid);
    expect(entry).toMatchObject({ state: 'deleted', kind: 'Order' });
    const status = await t.request({ method: 'GET', url: `${API}/orders/${uuid}`, headers: partnerHeaders() });
    expect(status.statusCode).toBe(404);
  });

  it('serves an order-proposals feed that is always at its end', async () => {
    expect(await walk('booking-partner-1', `${API}/order-proposals-rpde`)).toEqual([]);
  });

  it('refuses a malformed afterChangeNumber', async () => {
    const res = await t.request({
      method: 'GET',
      url: `${API}/orders-rpde?afterChangeNumber=abc`,
      headers: partnerHeaders(),
    });
    expect(res.statusCode).toBe(400);
  });
});
