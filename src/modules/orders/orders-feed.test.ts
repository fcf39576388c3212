import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import { seedOrder } from './orders.fixtures.js';

/*
 * The sellers' Orders feeds speak for their own publisher only (issue 14, point 2): two
 * publishers, each a real HTTP server with a dataset site, a booking endpoint and an Orders feed
 * (test/rpde-server.ts), each with a confirmed order of its own. B's feed names A's order as
 * cancelled by the seller; A's order must not change, and B's feed records the fault.
 */

type Json = Record<string, any>;
let t: TestContext;
const servers: RpdeTestServer[] = [];

beforeAll(async () => {
  t = await createTestContext();
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  await t?.close();
});

/** A publisher whose booking endpoint is `<base>/feeds`, so its Orders feed is the test feed `orders-rpde`. */
async function publisher(name: string) {
  const server = await new RpdeTestServer().start();
  servers.push(server);
  const datasetUrl = server.publishDataset(
    name,
    { SessionSeries: 'series' },
    { bookingEndpoint: `${server.base}/feeds` },
  );
  server.feed('orders-rpde');
  const { publisher: row } = await t.services.catalog.addPublisher({ datasetUrl });
  await t.services.booking.setCredentials({ publisherId: row.id, sellerId: null, headers: { 'X-Key': name } });
  return {
    server,
    id: row.id,
    publisherId: row.id,
    sellerId: `${server.base}/sellers/1`,
    endpointUrl: `${server.base}/feeds`,
  };
}

/** The feed entry of a seller that cancelled every item of `orderId` (seller item ids as given). */
function cancelledEntry(orderId: string, sellerItemIds: string[]): Json {
  return {
    '@context': 'https://openactive.io/',
    '@type': 'Order',
    identifier: orderId,
    orderedItem: sellerItemIds.map((id) => ({
      '@type': 'OrderItem',
      '@id': id,
      orderItemStatus: 'https://openactive.io/SellerCancelled',
      cancellationMessage: 'Cancelled by the seller',
    })),
    totalPaymentDue: { '@type': 'PriceSpecification', price: 0, priceCurrency: 'GBP' },
  };
}

describe("sellers' Orders feeds are scoped to their publisher", () => {
  it("another publisher's feed cannot cancel an order: the item is a recorded fault, never an action", async () => {
    const a = await publisher('Publisher A');
    const b = await publisher('Publisher B');
    const { brokerId } = await t.newBroker();
    const start = new Date(Date.now() + 7 * 86_400_000);
    const ours = await seedOrder(t, { brokerId, identifier: 'louis', seller: a, items: [{ startDate: start }] });
    await seedOrder(t, { brokerId, identifier: 'louis', seller: b, items: [{ startDate: start }] });
    const sellerItemIds = (await t.services.orders.findItems(ours.id)).map((i) => i.seller_order_item_id!);

    b.server.put('orders-rpde', { id: ours.id, kind: 'Order', data: cancelledEntry(ours.id, sellerItemIds) });
    await t.services.ordersFeed.runOnce();
    expect(b.server.requests).toBeGreaterThan(0);

    const items = await t.services.orders.findItems(ours.id);
    expect(items.map((i) => i.status)).toEqual(['https://openactive.io/OrderItemConfirmed']);
    expect((await t.services.orders.findOrder(ours.id))?.status).toBe('confirmed');
    expect(await t.deps.jobs.runDue('orders.refund')).toBe(0);
    expect((await t.services.mailer.list({ to: 'louis@example.com' })).filter((e) => e.kind === 'refund')).toEqual([]);

    const feeds = await t.services.ordersFeed.feedHealth();
    expect(feeds.find((f) => f.publisherId === b.id)?.faults).toEqual([
      expect.objectContaining({ fault: 'unknown_order', count: 1, lastItemId: ours.id }),
    ]);

    // The order's own publisher still speaks for it.
    a.server.put('orders-rpde', { id: ours.id, kind: 'Order', data: cancelledEntry(ours.id, sellerItemIds) });
    await t.services.ordersFeed.runOnce();
    expect((await t.services.orders.findItems(ours.id)).map((i) => i.status)).toEqual([
      'https://openactive.io/SellerCancelled',
    ]);
    const aFeed = (await t.services.ordersFeed.feedHealth()).find((f) => f.publisherId === a.id);
    expect(aFeed?.itemsApplied).toBe(1);
    expect(aFeed?.faults ?? []).toEqual([]);
  });

  it('two publishers sharing one endpoint and credentials each read it for their own orders', async () => {
    const shared = await publisher('Publisher C');
    // D declares C's booking endpoint as its own, with the same credentials.
    const { publisher: d } = await t.services.catalog.addPublisher({
      name: 'Publisher D',
      feeds: [{ url: `${shared.server.base}/feeds/d-series`, kind: 'SessionSeries' }],
    });
    await t.deps.database.db
      .updateTable('publishers' as never)
      .set({ booking_endpoint_url: shared.endpointUrl } as never)
      .where('id' as never, '=', d.id as never)
      .execute();
    await t.services.booking.setCredentials({ publisherId: d.id, sellerId: null, headers: { 'X-Key': 'Publisher C' } });
    const { brokerId } = await t.newBroker();
    const start = new Date(Date.now() + 7 * 86_400_000);
    const cOrder = await seedOrder(t, { brokerId, identifier: 'c', seller: shared, items: [{ startDate: start }] });
    const dOrder = await seedOrder(t, {
      brokerId,
      identifier: 'd',
      seller: { ...shared, publisherId: d.id },
      items: [{ startDate: start }],
    });
    for (const o of [cOrder, dOrder]) {
      const ids = (await t.services.orders.findItems(o.id)).map((i) => i.seller_order_item_id!);
      shared.server.put('orders-rpde', { id: o.id, kind: 'Order', data: cancelledEntry(o.id, ids) });
    }
    await t.services.ordersFeed.runOnce();
    for (const o of [cOrder, dOrder]) {
      expect((await t.services.orders.findItems(o.id)).map((i) => i.status)).toEqual([
        'https://openactive.io/SellerCancelled',
      ]);
    }
    const feeds = (await t.services.ordersFeed.feedHealth()).filter((f) => f.endpointUrl === shared.endpointUrl);
    expect(feeds.map((f) => f.publisherId).sort()).toEqual([shared.id, d.id].sort());
    // Each feed saw the other publisher's entry and ignored it.
    for (const f of feeds) expect(f.faults).toEqual([expect.objectContaining({ fault: 'unknown_order', count: 1 })]);
  });
});
