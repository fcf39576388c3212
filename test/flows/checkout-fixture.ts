import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../../src/lib/clock.js';
import { buildSandboxApp } from '../../src/sandbox/app.js';
import type { SandboxDatabase } from '../../src/sandbox/db/database.js';
import { ensureDataset } from '../../src/sandbox/generator/generate.js';
import { sandboxUrls, type SandboxUrls } from '../../src/sandbox/ids.js';
import { createTestContext, type TestContext } from '../helpers.js';
import { openTestSandboxDatabase, sharedVocab } from '../sandbox-helpers.js';
import { freePort } from '../net.js';

/*
 * The checkout flow tests' world: the bundled sandbox booking system listening on a real port,
 * registered with activehub as a publisher (dataset site → feeds + Open Booking endpoint) and
 * harvested over HTTP, with booking-partner credentials for it. Opportunities with known
 * properties come from the sandbox's test interface (openactive.md §6.4).
 */

type Json = Record<string, any>;

export interface CheckoutWorld {
  t: TestContext;
  sandbox: FastifyInstance;
  sandboxDb: SandboxDatabase;
  urls: SandboxUrls;
  base: string;
  publisherId: number;
  /**
   * Creates an opportunity matching a test-interface criteria and harvests it; returns its @id
   * and the ids of its offers as activehub's catalog knows them.
   */
  createOpportunity(
    type: 'ScheduledSession' | 'Slot',
    criteria: string,
    sellerId?: number,
  ): Promise<{ id: string; offers: string[] }>;
  /** Harvests whatever changed in the sandbox into activehub's catalog. */
  harvest(): Promise<void>;
  /** The sandbox's Order Status for a UUID (as activehub's booking partner), or undefined. */
  sellerOrder(uuid: string): Promise<Json | undefined>;
  /** The sandbox's remaining capacity of a ScheduledSession. */
  remaining(sessionId: string): Promise<number>;
  close(): Promise<void>;
}

export const TEST_CLIENT = { 'X-OpenActive-Test-Client-Id': 'activehub' };

/** Creates a customer account through the API, as a broker's server would; its identifier. */
export async function createAccount(
  t: TestContext,
  key: string,
  givenName: string,
  email = `${givenName.toLowerCase()}@example.com`,
): Promise<string> {
  const res = await t.request({
    method: 'POST',
    url: '/api/v2/customer-accounts',
    key,
    payload: { email, givenName, familyName: 'Wu' },
  });
  if (res.statusCode !== 201) throw new Error(`the account was not created: ${res.statusCode} ${res.body}`);
  return res.json<Json>().identifier as string;
}

/** An OrderItem for one place of a ScheduledSession at its first offer. */
export const orderItemFor = (opportunity: { id: string; offers: string[] }): Json => ({
  type: 'OrderItem',
  orderedItem: { type: 'ScheduledSession', identifier: opportunity.id },
  acceptedOffer: opportunity.offers[0],
});

/** The imin:CheckoutSession a broker's server posts to `{checkoutBaseUrl}/api/checkout-sessions`. */
export const checkoutSessionBody = (customer: unknown, orderedItem: Json[], extra: Json = {}): Json => ({
  '@context': ['https://openactive.io/', 'https://imin.co/'],
  type: 'imin:CheckoutSession',
  'imin:initialOrder': { type: 'OrderQuote', customer, orderedItem },
  ...extra,
});
const MEDIA = 'application/vnd.openactive.booking+json; version=1';

export async function startCheckoutWorld(
  options: { clock?: Clock; credentialsSellerId?: number; sessions?: number; bookingTargetCacheMs?: number } = {},
): Promise<CheckoutWorld> {
  const sandboxDb = await openTestSandboxDatabase();
  await ensureDataset(sandboxDb.db, sharedVocab(), {
    seed: 5,
    sessions: options.sessions ?? 20,
    now: systemClock.now(),
  });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const urls = sandboxUrls(base);
  const sandbox = await buildSandboxApp({ db: sandboxDb.db, urls, clock: systemClock, vocab: sharedVocab() });
  await sandbox.listen({ port, host: '127.0.0.1' });
  const t = await createTestContext({
    ...(options.clock ? { clock: options.clock } : {}),
    config: {
      harvest: { enabled: false, pollIntervalMs: 0, concurrency: 4, registerSandbox: false, datasetUrls: [] },
      ...(options.bookingTargetCacheMs !== undefined ? { bookingTargetCacheMs: options.bookingTargetCacheMs } : {}),
    },
  });
  const { publisher } = await t.services.catalog.addPublisher({ datasetUrl: urls.datasetSite });
  await t.services.booking.setCredentials({
    publisherId: publisher.id,
    sellerId: options.credentialsSellerId === undefined ? null : urls.seller(options.credentialsSellerId),
    headers: TEST_CLIENT,
  });

  const world: CheckoutWorld = {
    t,
    sandbox,
    sandboxDb,
    urls,
    base,
    publisherId: publisher.id,
    async createOpportunity(type, criteria, sellerId = 1) {
      const organization = { '@type': 'Organization', '@id': urls.seller(sellerId) };
      const prefix = 'https://openactive.io/test-interface#';
      const body = {
        '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
        '@type': type,
        ...(type === 'ScheduledSession'
          ? { superEvent: { '@type': 'SessionSeries', organizer: organization } }
          : { facilityUse: { '@type': 'IndividualFacilityUse', provider: organization } }),
        'test:testOpportunityCriteria': `${prefix}${criteria}`,
        'test:testOpenBookingFlow': `${prefix}OpenBookingSimpleFlow`,
      };
      const res = await fetch(`${urls.openBookingBase}/test-interface/datasets/checkout-tests/opportunities`, {
        method: 'POST',
        headers: { 'content-type': MEDIA },
        body: JSON.stringify(body),
      });
      const data = (await res.json()) as Json;
      if (res.status !== 201) throw new Error(`test interface: ${res.status} ${JSON.stringify(data)}`);
      const id = data['@id'] as string;
      await world.harvest();
      const found = await t.services.catalog.findOpportunity(id, { publisherId: publisher.id });
      if (!found) throw new Error(`${id} was not harvested`);
      return { id, offers: found.offers.map((o) => (o['@id'] ?? o.id) as string) };
    },
    async harvest() {
      const results = await t.services.harvester.runOnce();
      if (results.some((r) => r.failed)) throw new Error(`harvest failed: ${JSON.stringify(results)}`);
    },
    async sellerOrder(uuid) {
      const res = await fetch(`${urls.openBookingBase}/orders/${uuid}`, { headers: { ...TEST_CLIENT, accept: MEDIA } });
      if (res.status === 404) return undefined;
      return (await res.json()) as Json;
    },
    async remaining(sessionId) {
      const id = Number(/\/scheduled-sessions\/(\d+)$/.exec(sessionId)![1]);
      const row = await sandboxDb.db
        .selectFrom('scheduled_sessions')
        .select('remaining_attendee_capacity')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return row.remaining_attendee_capacity;
    },
    async close() {
      await t.close();
      await sandbox.close();
      await sandboxDb.close();
    },
  };
  await world.harvest();
  return world;
}
