import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import { fixedClock } from '../../lib/clock.js';
import { createVocabularies } from '../../lib/vocabularies.js';
import { createProjector } from './projector.js';
import { ACTIVITY, ACCESSIBILITY_VISUAL, CENTRE, NOW, validatorFailures } from './search.fixtures.js';

/*
 * Issue 15 point 1: a ScheduledSession's own properties win over its series'.
 *
 * The fixtures are ours, in the shape the OpenActive data model allows on a ScheduledSession:
 * openactive/developer-documentation docs/data-model/types/scheduledsession.md lists `leader`,
 * `offers` and the other Event properties on the session itself, and OpenActive inheritance
 * (Modelling Opportunity Data 2.0, openactive.md §3.5) makes them win over the SessionSeries'.
 * The layout — a generic "Sports hall" SessionSeries whose sessions carry the activity, place,
 * price and restrictions — is the one issue 15 reports from leisure-management feeds; no captured
 * feed item was found or copied for it. Published by a real local RPDE server and harvested
 * over HTTP.
 */

type Obj = Record<string, any>;

let t: TestContext;
const clock = fixedClock(NOW);
let server: RpdeTestServer;
let key: string;
/** Ids of the published items (they need not resolve; the feeds are served by `server`). */
const id = (p: string) => `https://leisure.example.test/${p}`;
const KM_PER_DEGREE = 6371.0088 * (Math.PI / 180);
const north = (km: number) => ({ lat: CENTRE.lat + km / KM_PER_DEGREE, lng: CENTRE.lng });

const place = (k: string, name: string, km: number) => ({
  '@type': 'Place',
  '@id': id(`places/${k}`),
  name,
  address: {
    '@type': 'PostalAddress',
    streetAddress: '1 High Street',
    addressLocality: 'London',
    addressRegion: 'Greater London',
    postalCode: 'N1 1AA',
    addressCountry: 'GB',
  },
  geo: { '@type': 'GeoCoordinates', latitude: north(km).lat, longitude: north(km).lng },
});
const org = (n: number, name: string) => ({
  '@type': 'Organization',
  '@id': id(`organizers/${n}`),
  name,
  url: `https://org${n}.example.test`,
  isOpenBookingAllowed: true,
});
const offer = (k: string, price: number) => ({
  '@type': 'Offer',
  '@id': id(`offers/${k}`),
  identifier: k,
  price,
  priceCurrency: 'GBP',
  openBookingInAdvance: 'https://openactive.io/Required',
});

const HALL = place('hall', 'Central Sports Hall', 0);
const AWAY = place('annex', 'Riverside Annex', 20);
const SERIES = {
  '@context': 'https://openactive.io/',
  '@type': 'SessionSeries',
  '@id': id('session-series/hall'),
  name: 'Sports hall',
  description: 'Sports hall bookings',
  url: 'https://leisure.example.test/hall',
  activity: [ACTIVITY.groupExercise],
  location: HALL,
  organizer: org(1, 'City Leisure'),
  offers: [offer('hall', 5)],
  genderRestriction: 'https://openactive.io/NoRestriction',
  ageRange: { '@type': 'QuantitativeValue', minValue: 16 },
  eventSchedule: [
    { '@type': 'PartialSchedule', repeatFrequency: 'P1W', scheduleTimezone: 'Europe/London', startTime: '09:00' },
  ],
};

/** One session per inheritable property it overrides (own value, and what the series has). */
const LEADER = [{ '@type': 'Person', name: 'Sam Coach' }];
const OWN: [string, string, unknown][] = [
  ['name', 'name', 'Badminton Club Night'],
  ['description', 'description', 'Bring your own racket.'],
  ['image', 'image', [{ '@type': 'ImageObject', url: 'https://img.example.test/badminton.jpg' }]],
  ['leader', 'leader', LEADER],
  ['level', 'level', ['Beginner']],
  ['ageRange', 'ageRange', { '@type': 'QuantitativeValue', minValue: 8, maxValue: 15 }],
  ['genderRestriction', 'genderRestriction', 'https://openactive.io/FemaleOnly'],
  ['organizer', 'organizer', org(2, 'Riverside Badminton Club')],
  [
    'accessibilitySupport',
    'accessibilitySupport',
    [{ '@type': 'Concept', '@id': ACCESSIBILITY_VISUAL, prefLabel: 'Visual impairment' }],
  ],
  ['category', 'category', ['Racket sports']],
  ['attendeeInstructions', 'attendeeInstructions', 'Arrive ten minutes early.'],
  ['isCoached', 'isCoached', true],
  ['meetingPoint', 'meetingPoint', 'Reception'],
  ['programme', 'programme', { '@type': 'Brand', name: 'Badminton England No Strings' }],
  ['activity', 'activity', [ACTIVITY.badminton]],
  ['location', 'location', AWAY],
  ['offers', 'offers', [offer('own', 12)]],
];

const start = (i: number) => new Date(Date.UTC(2026, 2, 24, 9 + (i % 10), 0) + Math.floor(i / 10) * 86_400_000);
const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');
const sessionId = (k: string) => id(`scheduled-sessions/${k}`);

function session(k: string, i: number, extra: Obj) {
  server.put('scheduled-sessions', {
    id: k,
    kind: 'ScheduledSession',
    data: {
      '@context': 'https://openactive.io/',
      '@type': 'ScheduledSession',
      '@id': sessionId(k),
      superEvent: id('session-series/hall'),
      startDate: iso(start(i)),
      endDate: iso(new Date(start(i).getTime() + 3600_000)),
      duration: 'PT1H',
      eventStatus: 'https://schema.org/EventScheduled',
      remainingAttendeeCapacity: 4,
      maximumAttendeeCapacity: 10,
      ...extra,
    },
  });
}

beforeAll(async () => {
  t = await createTestContext({ clock });
  server = await new RpdeTestServer().start();
  server.put('session-series', { id: 'hall', kind: 'SessionSeries', data: SERIES });
  session('plain', 0, {});
  OWN.forEach(([k, prop, value], i) => session(k, i + 1, { [prop]: value }));
  const datasetUrl = server.publishDataset('Override Leisure', {
    SessionSeries: 'session-series',
    ScheduledSession: 'scheduled-sessions',
  });
  await t.services.catalog.addPublisher({ datasetUrl });
  await t.services.harvester.runOnce();
  await t.services.projector.runOnce();
  key = (await t.newBroker({ products: ['search'] })).key;
});
afterAll(async () => {
  await server?.stop();
  await t?.close();
});

async function ok(url: string): Promise<Obj> {
  const res = await t.request({ method: 'GET', url, key });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Obj>();
}
const GEO = `${CENTRE.lat},${CENTRE.lng}`;
const enc = encodeURIComponent;

/** The session keys of an upcoming-sessions answer, in order. */
async function found(params: string, geo = `${GEO},50`): Promise<string[]> {
  const body = await ok(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${geo}&limit=50&${params}`);
  return (body['imin:item'] as Obj[]).flatMap((i) =>
    (i.subEvent as Obj[]).flatMap((s) =>
      ((s.subEvent ?? []) as Obj[]).map((o) => String(o.identifier).split('/').pop()!),
    ),
  );
}
const byId = (k: string) => ok(`/events-api/v2/scheduled-sessions/${enc(sessionId(k))}`);

describe('a ScheduledSession’s own properties win over its series’ in search', () => {
  it('the activity filter uses the session’s own activity', async () => {
    expect(await found(`activityId=${enc(ACTIVITY.badminton['@id'])}`)).toEqual(['activity']);
    const generic = await found(`activityId=${enc(ACTIVITY.groupExercise['@id'])}`);
    expect(generic).toContain('plain');
    expect(generic).not.toContain('activity');
  });

  it('the geo filter and distance use the session’s own location', async () => {
    const near = await found('', `${GEO},10`);
    expect(near).toContain('plain');
    expect(near).not.toContain('location');
    const awayGeo = `${north(20).lat},${north(20).lng},1`;
    expect(await found('', awayGeo)).toEqual(['location']);
    const body = await ok(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},50&limit=50`);
    const item = (body['imin:item'] as Obj[]).find(
      (i) => i.subEvent[0].subEvent[0].identifier === sessionId('location'),
    )!;
    expect(item.subEvent[0].location.name).toBe('Riverside Annex');
    expect(item.subEvent[0].location.geo['imin:distanceFromGeoQueryCenter'].value).toBeCloseTo(20, 3);
  });

  it('price filters and the aggregate offer use the session’s own offers', async () => {
    expect(await found('priceAdult[gte]=10')).toEqual(['offers']);
    expect(await found('priceAdult[lte]=6')).not.toContain('offers');
    const body = await ok(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},50&limit=50&priceAdult[gte]=10`,
    );
    expect(body['imin:item'][0]['imin:aggregateOffer'].publicAdult.price).toBe(12);
  });

  it('organizer, level, age and gender filters use the session’s own values', async () => {
    expect(await found(`organizerId=${enc(id('organizers/2'))}`)).toEqual(['organizer']);
    expect(await found(`organizerId=${enc(id('organizers/1'))}`)).not.toContain('organizer');
    expect(await found('levelType=imin:BeginnerLevel')).toEqual(['level']);
    expect(await found('ageRange[includeRange]=10')).toEqual(['ageRange']);
    expect(await found('genderRestriction=oa:FemaleOnly')).toEqual(['genderRestriction']);
    expect(await found('genderRestriction=oa:NoRestriction')).not.toContain('genderRestriction');
    expect(await found(`accessibilitySupportId=${enc(ACCESSIBILITY_VISUAL)}`)).toEqual(['accessibilitySupport']);
  });
});

const output = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(output)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([k]) => k !== '@context')
            .map(([k, x]) => [k === '@type' ? 'type' : k === '@id' ? 'id' : k, output(x)]),
        )
      : v;

describe('By-ID shows the session’s own values; its superEvent keeps the series’', () => {
  it.each(OWN.filter(([k]) => k !== 'location'))('%s', async (k, prop, value) => {
    const body = await byId(k);
    expect(body.type).toBe('ScheduledSession');
    expect(body[prop]).toEqual(output(value));
    const seriesValue = (SERIES as Obj)[prop];
    if (prop === 'offers') expect(body.superEvent.offers.map((o: Obj) => o.identifier)).toEqual(['hall']);
    else if (prop === 'organizer') expect(body.superEvent.organizer.name).toBe('City Leisure');
    else if (prop === 'activity') expect(body.superEvent.activity[0].id).toBe(ACTIVITY.groupExercise['@id']);
    else if (prop === 'name') expect(body.superEvent.name).toBe('Sports hall');
    else if (seriesValue !== undefined && prop !== 'genderRestriction' && prop !== 'ageRange')
      expect(body.superEvent[prop]).toEqual(output(seriesValue));
    else if (seriesValue === undefined) expect(body.superEvent[prop]).toBeUndefined();
  });

  it('location: the session’s own place, the series’ on its superEvent', async () => {
    const body = await byId('location');
    expect(body.location.name).toBe('Riverside Annex');
    expect(body.superEvent.location.name).toBe('Central Sports Hall');
  });

  it('a session without overrides has none of its own', async () => {
    const body = await byId('plain');
    expect(body.name).toBeUndefined();
    expect(body.location).toBeUndefined();
    expect(body.superEvent.name).toBe('Sports hall');
    expect(body.superEvent.location.name).toBe('Central Sports Hall');
  });

  it('passes @openactive/data-model-validator with no new failures beyond the source item’s', async () => {
    expect(await validatorFailures(await byId('plain'), { summary: false })).toEqual([]);
    for (const [k, prop, value] of OWN) {
      // The source session on its own (the validator objects to some properties on a
      // ScheduledSession, e.g. `organizer`): those failures may reappear, no others.
      const source = await validatorFailures(
        { '@type': 'ScheduledSession', '@id': sessionId(k), startDate: iso(start(1)), [prop]: value },
        { summary: false },
      );
      const failures = await validatorFailures(await byId(k), { summary: false });
      expect(
        failures.filter((f) => !source.includes(f)),
        k,
      ).toEqual([]);
    }
  });
});

/** The harvester polls a feed again once its interval has passed (the clock is fixed). */
async function reharvest() {
  clock.advance(10_000);
  await t.services.harvester.runOnce();
  await t.services.projector.runOnce();
}

describe('updates', () => {
  it('a series update re-projects its overriding sessions; a session update uses its own fields', async () => {
    server.put('session-series', {
      id: 'hall',
      kind: 'SessionSeries',
      data: { ...SERIES, description: 'Renamed hall', activity: [ACTIVITY.pilates] },
    });
    session('activity', OWN.findIndex(([k]) => k === 'activity') + 1, { activity: [ACTIVITY.tennis] });
    await reharvest();
    expect(await found(`activityId=${enc(ACTIVITY.tennis['@id'])}`)).toEqual(['activity']);
    expect(await found(`activityId=${enc(ACTIVITY.badminton['@id'])}`)).toEqual([]);
    // The overriding price session follows the series' new activity (it does not override it).
    expect(await found(`activityId=${enc(ACTIVITY.pilates['@id'])}`)).toContain('offers');
    expect((await byId('offers')).superEvent.description).toBe('Renamed hall');
    // A session that drops its override goes back to its series.
    session('location', OWN.findIndex(([k]) => k === 'location') + 1, {});
    await reharvest();
    expect(await found('', `${GEO},10`)).toContain('location');
    expect((await byId('location')).location).toBeUndefined();
  });

  it('a deleted session takes its own row with it; so does a deleted series', async () => {
    const ownRows = async () =>
      (
        await sql<{
          oa_id: string;
        }>`select oa_id from search_series where oa_id like '% #session' order by oa_id`.execute(t.deps.database.db)
      ).rows.map((r) => r.oa_id.replace(id('scheduled-sessions/'), ''));
    expect(await ownRows()).toContain('organizer #session');
    expect(await ownRows()).not.toContain('location #session');
    server.remove('scheduled-sessions', 'organizer');
    await reharvest();
    expect(await found(`organizerId=${enc(id('organizers/2'))}`)).toEqual([]);
    expect(await ownRows()).not.toContain('organizer #session');
    expect((await ownRows()).length).toBeGreaterThan(5);
    server.remove('session-series', 'hall');
    await reharvest();
    expect(await ownRows()).toEqual([]);
    expect(await found('')).toEqual([]);
  });
});

describe('initial load', () => {
  it('gives the same rows in bulk as replaying the changes (sessions with their own values included)', async () => {
    const db = t.deps.database.db;
    // Publish the series again: its sessions (still in the catalog) are back.
    server.put('session-series', { id: 'hall', kind: 'SessionSeries', data: SERIES });
    await reharvest();
    const readModel = async () => ({
      series: (
        await sql<{ row: string }>`select (to_jsonb(s) - 'id' - 'updated_at' - 'doc')::text || s.doc::text as row
          from search_series s order by s.oa_id`.execute(db)
      ).rows.map((r) => r.row),
      occurrences: (
        await sql<{ row: string }>`select (to_jsonb(o) - 'id' - 'series_id' - 'doc')::text || s.oa_id || o.doc::text
          as row from search_occurrences o join search_series s on s.id = o.series_id order by o.oa_id`.execute(db)
      ).rows.map((r) => r.row),
    });
    const replayed = await readModel();
    expect(replayed.series.filter((r) => r.includes(' #session')).length).toBeGreaterThan(10);
    await sql`truncate search_occurrences, search_series restart identity`.execute(db);
    await sql`delete from search_projector_state`.execute(db);
    await createProjector({
      database: t.deps.database,
      catalog: t.services.catalog,
      vocab: createVocabularies(),
      clock: t.deps.clock,
      log: t.deps.log,
      bulkLoad: true,
    }).runOnce();
    expect(await readModel()).toEqual(replayed);
  });
});
