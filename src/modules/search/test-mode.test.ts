import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../../test/helpers.js';
import { CENTRE, createWorld, type World } from './search.fixtures.js';

/*
 * Search is open data: both modes see every publisher. Bookability is not: the checkout URL
 * (imin:checkoutUrlTemplate, "bookable iff present", imin-booking §1.3) appears only where the
 * calling key could book — a live key on live publishers' sessions and slots, a test key on test
 * publishers' (with a test-mode guest link). Issue 14 point 3.
 */

type Obj = Record<string, any>;

let t: TestContext;
let world: World;
let slug: string;
const keys = {} as Record<'live' | 'test', string>;

beforeAll(async () => {
  ({ t, world } = await createWorld());
  const broker = await t.newBroker({ products: ['search'] });
  slug = broker.slug;
  keys.live = broker.key;
  keys.test = (await t.services.brokers.createKey(slug, { mode: 'test', products: ['search'] })).key;
});
afterAll(async () => {
  await world?.server.stop();
  await t?.close();
});

const GEO = `${CENTRE.lat},${CENTRE.lng}`;
const enc = encodeURIComponent;
const URLS = () => [
  `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&limit=50`,
  `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&limit=50`,
  `/events-api/v2/scheduled-sessions/${enc(world.sessionId('yoga-central', 0))}`,
  `/facilities-api/v2/facility-uses?mode=upcoming-slots&geo[radial]=${GEO},10&startDate[gte]=2026-03-24T00:00:00Z`,
  `/facilities-api/v2/slots/${enc(world.id('slots/t-a'))}`,
];

async function read(mode: 'live' | 'test') {
  return Promise.all(
    URLS().map(async (url) => {
      const res = await t.request({ method: 'GET', url, key: keys[mode] });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
      return res.json<Obj>();
    }),
  );
}

const TEMPLATE = /,?"imin:checkoutUrlTemplate":"[^"]+"/g;
const templates = (bodies: Obj[]) => bodies.flatMap((b) => JSON.stringify(b).match(TEMPLATE) ?? []);
const strip = (bodies: Obj[]) => bodies.map((b) => JSON.parse(JSON.stringify(b).replace(TEMPLATE, '')) as Obj);

async function markPublisher(mode: 'live' | 'test') {
  const { publisher } = await t.services.catalog.addPublisher({ datasetUrl: `${world.server.base}/dataset`, mode });
  expect(publisher.mode).toBe(mode);
}

describe('search bookability per key mode and publisher mode', () => {
  it('a live publisher: checkout URLs for the live key only; the rest of the answers alike', async () => {
    await markPublisher('live');
    const [live, test] = [await read('live'), await read('test')];
    expect(strip(test)).toEqual(strip(live));
    expect(templates(live).length).toBeGreaterThan(4);
    expect(templates(test)).toEqual([]);
    for (const tpl of templates(live)) {
      expect(tpl).toMatch(
        new RegExp(`"http://activehub\\.test/checkout/${slug}/v1/(scheduled-sessions|slots)/[^"?]+"$`),
      );
    }
  });

  it('a test publisher: checkout URLs (test-mode guest links) for the test key only', async () => {
    await markPublisher('test');
    const [live, test] = [await read('live'), await read('test')];
    expect(strip(test)).toEqual(strip(live));
    expect(templates(live)).toEqual([]);
    expect(templates(test).length).toBeGreaterThan(4);
    for (const tpl of templates(test)) {
      expect(tpl).toMatch(
        new RegExp(`"http://activehub\\.test/checkout/${slug}/v1/(scheduled-sessions|slots)/[^"?]+\\?mode=test"$`),
      );
    }
  });

  it('back to live: the live key’s URLs return at once', async () => {
    await markPublisher('live');
    expect(templates(await read('live')).length).toBeGreaterThan(4);
    expect(templates(await read('test'))).toEqual([]);
  });
});
