import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { startTestSandbox, type TestSandbox } from '../../../test/sandbox-fixture.js';
import { INDIVIDUAL_FACILITY_USE_SHAPE, validatorFailures } from './search.fixtures.js';

/*
 * The documented example requests (imin-search-firehose §3–§5), with their parameters pointed
 * at the bundled sandbox's generated UK data, harvested over HTTP and projected: every answer
 * has the documented shape and its items pass the OpenActive validator.
 */

type Obj = Record<string, any>;

let t: TestContext;
let sandbox: TestSandbox;
let key: string;
let providerId: number;

beforeAll(async () => {
  sandbox = await startTestSandbox({ seed: 7, sessions: 400 });
  t = await createTestContext();
  const { publisher } = await t.services.catalog.addPublisher({ datasetUrl: sandbox.datasetUrl });
  providerId = publisher.id;
  const harvested = await t.services.harvester.runOnce();
  expect(harvested.every((r) => r.caughtUp && !r.failed)).toBe(true);
  await t.services.projector.runOnce();
  key = (await t.newBroker({ products: ['search'] })).key;
}, 120_000);

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
});

// The sandbox's venues are spread over UK cities: a 1,000 km circle round London takes them all.
const UK = '51.5074,-0.1278,1000';

async function ok(url: string): Promise<Obj> {
  const res = await t.request({ method: 'GET', url, key });
  expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
  const body = res.json<Obj>();
  expect(body).toMatchObject({
    '@context': expect.arrayContaining(['https://openactive.io/']),
    type: 'imin:RestrictedCollection',
    'imin:totalItems': expect.any(Number),
    view: {
      type: 'PartialCollectionView',
      first: expect.any(String),
      last: expect.any(String),
      urlTemplate: expect.stringContaining('page={page}'),
      'imin:currentPage': expect.any(Number),
      'imin:itemsPerPage': expect.any(Number),
      'imin:totalPages': expect.any(Number),
    },
    'imin:item': expect.any(Array),
  });
  expect(JSON.stringify(body)).not.toMatch(/:null|:\[\]/);
  return body;
}

async function byId(id: string): Promise<Obj> {
  const res = await t.request({ method: 'GET', url: id.replace('http://activehub.test', ''), key });
  expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
  return res.json<Obj>();
}

/** Validates the first items (the validator takes about half a second for a large item). */
async function validate(items: Obj[], options: { summary: boolean; allow?: RegExp[] }) {
  for (const item of items.slice(0, 2)) expect(await validatorFailures(item, options)).toEqual([]);
}

describe('documented example requests against the sandbox data', () => {
  it('has data to search', async () => {
    const body = await ok(`/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${UK}&limit=50`);
    expect(body['imin:totalItems']).toBeGreaterThan(10);
  });

  it('Events API: upcoming sessions for an activity, with the activity and place filters', async () => {
    const yoga = encodeURIComponent('https://openactive.io/activity-list#bf1a5e00-cdcf-465d-8c5a-6f57040b7f7e');
    const byId = await ok(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${UK}&limit=50&activityId=${yoga}`,
    );
    const byLabel = await ok(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${UK}&limit=50&activityPrefLabel=Yoga`,
    );
    expect(byLabel['imin:totalItems']).toBe(byId['imin:totalItems']);
    const all = await ok(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${UK}&limit=50`);
    const items = all['imin:item'] as Obj[];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) {
      expect(item).toMatchObject({
        type: 'EventSeries',
        id: expect.stringMatching(/\/events-api\/v2\/event-series\/[\w-]+$/),
        'imin:dataSource': { type: 'WebAPI', identifier: String(providerId) },
        subEvent: [{ type: 'SessionSeries', subEvent: [{ type: 'ScheduledSession', startDate: expect.any(String) }] }],
      });
    }
    const starts = items.map((i) => Date.parse(i.subEvent[0].subEvent[0].startDate as string));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
    expect(JSON.stringify(all)).toContain('imin:checkoutUrlTemplate');
    await validate(items, { summary: true });
  });

  it('Events API: discovery and price modes, time of day, virtual sessions and map places', async () => {
    for (const mode of ['discovery-geo', 'discovery-price-asc', 'discovery-price-desc']) {
      const body = await ok(`/events-api/v2/event-series?mode=${mode}&geo[radial]=${UK}&limit=20`);
      expect(body['imin:item'].length).toBeGreaterThan(0);
      if (mode === 'discovery-price-asc') await validate(body['imin:item'] as Obj[], { summary: true });
    }
    const morning = await ok(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${UK}&limit=10&startTime[gte]=08:30&startTime[lte]=10:00&page=1`,
    );
    for (const i of morning['imin:item'] as Obj[]) {
      const local = new Date(i.subEvent[0].subEvent[0].startDate as string).toLocaleTimeString('en-GB', {
        timeZone: 'Europe/London',
        hour: '2-digit',
        minute: '2-digit',
      });
      expect(local >= '08:30' && local <= '10:00').toBe(true);
    }
    const virtual = await ok(
      `/events-api/v2/event-series?mode=upcoming-sessions&isVirtual=true&limit=50&startDate[gte]=${new Date().toISOString().slice(0, 19)}Z`,
    );
    for (const i of virtual['imin:item'] as Obj[]) {
      expect(i.eventAttendanceMode).toMatch(/(Online|Mixed)EventAttendanceMode$/);
    }
    const places = await ok(`/events-api/v2/places?geo[radial]=${UK}&limit=50`);
    const first = places['imin:item'][0] as Obj;
    expect(first).toMatchObject({
      type: 'Place',
      geo: { type: 'GeoCoordinates', 'imin:distanceFromGeoQueryCenter': { unitCode: 'KMT' } },
      'imin:event': { type: 'imin:RestrictedCollection', 'imin:totalItems': expect.any(Number) },
    });
  });

  it('Facilities API: discovery-geo and upcoming-slots as documented, and both By-ID forms', async () => {
    const discovery = await ok(
      `/facilities-api/v2/facility-uses?geo[radial]=${UK}&mode=discovery-geo&limit=50&page=1&providerId=${providerId}`,
    );
    const uses = discovery['imin:item'] as Obj[];
    expect(uses.length).toBeGreaterThan(0);
    expect(uses.every((u) => u.type === 'FacilityUse' && u.event === undefined)).toBe(true);
    await validate(uses, { summary: false });

    // Tomorrow from 06:00 UTC to the end of that day.
    const tomorrow = new Date(Date.now() + 24 * 3600_000).toISOString().slice(0, 10);
    const slots = await ok(
      `/facilities-api/v2/facility-uses?geo[radial]=${UK}&mode=upcoming-slots&limit=50&page=1&startDate[gte]=${tomorrow}T06:00:00Z`,
    );
    const withSlots = slots['imin:item'] as Obj[];
    expect(withSlots.length).toBeGreaterThan(0);
    const slotList = withSlots.flatMap((u) =>
      (u.event as Obj[]).flatMap((e) => (e.type === 'Slot' ? [e] : (e.event as Obj[]))),
    );
    expect(slotList.every((s) => (s.startDate as string).startsWith(tomorrow))).toBe(true);
    await validate(withSlots, { summary: true, allow: INDIVIDUAL_FACILITY_USE_SHAPE });

    const facility = await byId(withSlots[0]!.id as string);
    expect(facility).toMatchObject({ '@context': expect.any(Array), type: 'FacilityUse', event: expect.any(Array) });
    await validate([facility], { summary: false, allow: INDIVIDUAL_FACILITY_USE_SHAPE });
    const slot = await byId(slotList[0]!.id as string);
    expect(slot).toMatchObject({ type: 'Slot', identifier: slotList[0]!.identifier, facilityUse: expect.any(Object) });
    await validate([slot], { summary: false });
  });

  it('Events API By-ID forms and the Places API', async () => {
    const upcoming = await ok(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${UK}&limit=5`);
    const item = upcoming['imin:item'][0] as Obj;
    const series = await byId(item.id as string);
    expect(series).toMatchObject({ '@context': expect.any(Array), type: 'EventSeries', id: item.id });
    expect(series.subEvent[0].offers.length).toBeGreaterThan(0);
    await validate([series], { summary: false });
    const session = await byId(item.subEvent[0].subEvent[0].id as string);
    expect(session).toMatchObject({ type: 'ScheduledSession', superEvent: { type: 'SessionSeries' } });
    await validate([session], { summary: false });

    const places = await ok(`/places-api/v1/places?geo[radial]=${UK}&limit=50`);
    expect(places['imin:item'].length).toBeGreaterThan(0);
    expect(places['imin:item'][0]).toMatchObject({ type: 'Place', activity: expect.any(Array) });
  });
});
