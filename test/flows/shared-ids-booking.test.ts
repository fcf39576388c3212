import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import { buildSandboxApp } from '../../src/sandbox/app.js';
import type { SandboxDatabase } from '../../src/sandbox/db/database.js';
import { ensureDataset } from '../../src/sandbox/generator/generate.js';
import { sandboxUrls, type SandboxUrls } from '../../src/sandbox/ids.js';
import { freePort } from '../net.js';
import { openTestSandboxDatabase, sharedVocab } from '../sandbox-helpers.js';
import {
  checkoutSessionBody,
  createAccount,
  startCheckoutWorld,
  TEST_CLIENT,
  type CheckoutWorld,
} from './checkout-fixture.js';

/*
 * Issue 15 point 5, the booking half: two booking systems publishing the same `@id`s, both
 * bookable. Publisher A is the checkout world's sandbox; publisher B is a second sandbox built
 * from the same seed whose identifiers are A's (the same `@id` URLs) but whose feeds and Open
 * Booking API are its own. A checkout naming B's data source must book at B's booking system and
 * leave A untouched, and the reverse.
 */

type Json = Record<string, any>;

const CARD_OK = { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' };
const MEDIA = 'application/vnd.openactive.booking+json; version=1';

let w: CheckoutWorld;
let bDb: SandboxDatabase;
let bApp: FastifyInstance;
let bUrls: SandboxUrls;
let bId: number;
let broker: { slug: string; key: string; brokerId: number };
let account: string;
let opp: { id: string; offers: string[] };

/** Creates the same test-interface opportunity at a sandbox; its @id. */
async function createAt(urls: SandboxUrls, sellerId: string): Promise<string> {
  const prefix = 'https://openactive.io/test-interface#';
  const res = await fetch(`${urls.openBookingBase}/test-interface/datasets/shared-ids/opportunities`, {
    method: 'POST',
    headers: { 'content-type': MEDIA },
    body: JSON.stringify({
      '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
      '@type': 'ScheduledSession',
      superEvent: { '@type': 'SessionSeries', organizer: { '@type': 'Organization', '@id': sellerId } },
      'test:testOpportunityCriteria': `${prefix}TestOpportunityBookable`,
      'test:testOpenBookingFlow': `${prefix}OpenBookingSimpleFlow`,
    }),
  });
  const data = (await res.json()) as Json;
  if (res.status !== 201) throw new Error(`test interface: ${res.status} ${JSON.stringify(data)}`);
  return data['@id'] as string;
}

async function orderAt(urls: SandboxUrls, uuid: string) {
  const res = await fetch(`${urls.openBookingBase}/orders/${uuid}`, { headers: { ...TEST_CLIENT, accept: MEDIA } });
  return res.status;
}

beforeAll(async () => {
  w = await startCheckoutWorld();
  // B: the same dataset (seed, size), A's identifiers, its own feeds and booking endpoint.
  bDb = await openTestSandboxDatabase();
  await ensureDataset(bDb.db, sharedVocab(), { seed: 5, sessions: 20, now: systemClock.now() });
  const port = await freePort();
  const own = sandboxUrls(`http://127.0.0.1:${port}`);
  bUrls = {
    ...sandboxUrls(w.base),
    openBookingBase: own.openBookingBase,
    datasetSite: own.datasetSite,
    feed: (path: string) => own.feed(path),
  };
  bApp = await buildSandboxApp({ db: bDb.db, urls: bUrls, clock: systemClock, vocab: sharedVocab() });
  await bApp.listen({ port, host: '127.0.0.1' });
  const { publisher } = await w.t.services.catalog.addPublisher({ datasetUrl: bUrls.datasetSite });
  bId = publisher.id;
  await w.t.services.booking.setCredentials({ publisherId: bId, sellerId: null, headers: TEST_CLIENT });

  const aId = await createAt(w.urls, w.urls.seller(1));
  const sameId = await createAt(bUrls, bUrls.seller(1));
  expect(sameId).toBe(aId);
  await w.harvest();
  const found = (await w.t.services.catalog.findOpportunity(aId, { publisherId: w.publisherId }))!;
  opp = { id: aId, offers: found.offers.map((o) => (o['@id'] ?? o.id) as string) };
  broker = await w.t.newBroker({ products: ['booking', 'checkout'] });
  account = await createAccount(w.t, broker.key, 'Louis');
}, 120_000);

afterAll(async () => {
  await bApp?.close();
  await bDb?.close();
  await w?.close();
});

async function bookNaming(dataSource: number | null) {
  const res = await w.t.request({
    method: 'POST',
    url: `/checkout/${broker.slug}/api/checkout-sessions`,
    key: broker.key,
    payload: checkoutSessionBody(account, [
      {
        type: 'OrderItem',
        orderedItem: {
          type: 'ScheduledSession',
          identifier: opp.id,
          ...(dataSource === null ? {} : { 'imin:dataSource': { type: 'WebAPI', identifier: String(dataSource) } }),
        },
        acceptedOffer: opp.offers[0],
      },
    ]),
  });
  return res;
}

async function pay(res: { headers: Record<string, unknown>; statusCode: number; body: string }) {
  expect(res.statusCode, res.body).toBe(201);
  const id = (res.headers.location as string).split('/').pop()!;
  let view = await w.t.services.checkout.submitDetails(broker.slug, id, { givenName: '', familyName: '', email: '' });
  expect(view.step, JSON.stringify(view.problem)).toBe('pay');
  view = await w.t.services.checkout.pay(broker.slug, id, { card: CARD_OK });
  expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
  const row = (await sql<Json>`select order_uuid from checkout_sessions where id = ${id}`.execute(w.t.deps.database.db))
    .rows[0]!;
  return row.order_uuid as string;
}

describe('booking an @id two booking systems publish', () => {
  it('unnamed: 409 naming both, nothing booked anywhere', async () => {
    const res = await bookNaming(null);
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().description).toContain(`"${w.publisherId}", "${bId}"`);
  });

  it('B named: booked at B’s booking system, not at A’s', async () => {
    const uuid = await pay(await bookNaming(bId));
    expect(await orderAt(bUrls, uuid)).toBe(200);
    expect(await orderAt(w.urls, uuid)).toBe(404);
  });

  it('A named: booked at A’s booking system, not at B’s', async () => {
    const uuid = await pay(await bookNaming(w.publisherId));
    expect(await orderAt(w.urls, uuid)).toBe(200);
    expect(await orderAt(bUrls, uuid)).toBe(404);
  });
});
