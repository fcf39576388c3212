import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../../test/helpers.js';
import { EVENT_PARAMS, FACILITY_PARAMS } from './query.js';
import {
  ACCESSIBILITY_VISUAL,
  ACTIVITY,
  CENTRE,
  createWorld,
  NOW,
  SPECIAL_REQUIREMENT,
  validatorFailures,
  type World,
} from './search.fixtures.js';

type Obj = Record<string, any>;

let t: TestContext;
let world: World;
let key: string;
let clock: Awaited<ReturnType<typeof createWorld>>['clock'];

beforeAll(async () => {
  ({ t, world, clock } = await createWorld());
  key = (await t.newBroker({ products: ['search'] })).key;
});
afterAll(async () => {
  await world?.server.stop();
  await t?.close();
});

const GEO = `${CENTRE.lat},${CENTRE.lng}`;
const enc = encodeURIComponent;

async function get(url: string, k: string = key) {
  const res = await t.request({ method: 'GET', url, key: k });
  return { status: res.statusCode, body: res.json<Obj>() };
}

async function ok(url: string): Promise<Obj> {
  const { status, body } = await get(url);
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}

/** The SessionSeries keys of each result item, in order. */
const seriesKeys = (body: Obj) =>
  (body['imin:item'] as Obj[]).map((i) => (i.subEvent as Obj[]).map((s) => s.identifier as string).join('+'));

/** "seriesKey@startDate" per result (upcoming-sessions). */
const sessions = (body: Obj) =>
  (body['imin:item'] as Obj[]).map((i) => `${i.subEvent[0].identifier}@${i.subEvent[0].subEvent[0].startDate}`);

/** Order-free comparison, for results tied on the sort key (same place, same price). */
const sorted = (list: string[]) => [...list].sort();

const discovery = (params: string, radius = 10) =>
  ok(`/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},${radius}&limit=50&${params}`);
const upcoming = (params: string, radius = 10) =>
  ok(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},${radius}&limit=50&${params}`);

async function badRequest(url: string, param: string) {
  const { status, body } = await get(url);
  expect(status, JSON.stringify(body)).toBe(400);
  expect(body['@type']).toBe('BadRequestError');
  const paths = (body['activehub:fieldErrors'] as { path: string; message: string }[]).map((f) => f.path);
  expect(paths).toContain(param);
  return body;
}

describe('Events API: modes and geography', () => {
  it('discovery-geo groups SessionSeries into EventSeries, nearest first; the radius edge is exact', async () => {
    const body = await discovery('');
    expect(seriesKeys(body)).toEqual(['yoga-central+yoga-north', 'edge-of-window', 'futsal-edge-in']);
    expect(body['imin:totalItems']).toBe(3);
    // 10.01 km is outside a 10 km radius, 9.99 km inside; 10.02 km takes the boxing class in.
    expect(seriesKeys(await discovery('', 10.02))).toContain('boxing-edge-out');
    // Radius 0: exactly at the centre (the high-frequency swim and the cancelled class are not shown).
    expect(seriesKeys(await discovery('', 0))).toEqual(['yoga-central']);
    const distances = (body['imin:item'] as Obj[]).map(
      (i) => i.subEvent[0].location.geo['imin:distanceFromGeoQueryCenter'].value as number,
    );
    expect(distances).toEqual([0, 5, 9.99]);
  });

  it('upcoming-sessions lists one item per session, soonest first, within 14 days (the edge included)', async () => {
    const body = await upcoming('');
    expect(sessions(body)).toEqual([
      'yoga-central@2026-03-23T18:00:00Z',
      'yoga-north@2026-03-24T07:00:00Z',
      'edge-of-window@2026-03-25T12:00:00Z',
      'yoga-central@2026-03-25T18:00:00Z',
      'futsal-edge-in@2026-03-28T10:00:00Z',
      'yoga-central@2026-03-30T17:00:00Z',
      'yoga-north@2026-03-31T06:00:00Z',
      'yoga-central@2026-04-01T17:00:00Z',
      // exactly now + 14 days; the session one minute later is outside the lookahead
      'edge-of-window@2026-04-06T08:00:00Z',
    ]);
    expect(body['imin:totalItems']).toBe(9);
  });

  it('discovery-price-asc and -desc order by the public adult price, unpriced last', async () => {
    expect(
      seriesKeys(await ok(`/events-api/v2/event-series?mode=discovery-price-asc&geo[radial]=${GEO},10.02`)),
    ).toEqual(['yoga-central+yoga-north', 'edge-of-window', 'boxing-edge-out', 'futsal-edge-in']);
    expect(
      seriesKeys(await ok(`/events-api/v2/event-series?mode=discovery-price-desc&geo[radial]=${GEO},10.02`)),
    ).toEqual(['boxing-edge-out', 'yoga-central+yoga-north', 'edge-of-window', 'futsal-edge-in']);
  });

  it('isVirtual=true finds online sessions without a place; in-person searches leave them out', async () => {
    const virtual = await ok('/events-api/v2/event-series?mode=upcoming-sessions&isVirtual=true');
    expect(sessions(virtual)).toEqual(['virtual-pilates@2026-03-27T12:00:00Z']);
    expect(virtual['imin:item'][0].eventAttendanceMode).toBe('https://schema.org/OnlineEventAttendanceMode');
    expect(seriesKeys(await discovery('isVirtual=false', 50))).not.toContain('virtual-pilates');
    await badRequest('/events-api/v2/event-series?mode=discovery-geo&isVirtual=true', 'geo[radial]');
  });
});

describe('Events API: filters', () => {
  it('activities: narrower concepts included, labels case-sensitive, repeats OR-ed', async () => {
    expect(seriesKeys(await discovery('activityPrefLabel=Yoga'))).toEqual(['yoga-central+yoga-north']);
    expect(seriesKeys(await discovery(`activityId=${enc(ACTIVITY.yoga['@id'])}`))).toEqual(['yoga-central+yoga-north']);
    expect(seriesKeys(await discovery(`activityId=${enc(ACTIVITY.hatha['@id'])}`))).toEqual(['yoga-central']);
    expect(seriesKeys(await discovery(`activityId=${enc(ACTIVITY.football['@id'])}`))).toEqual(['futsal-edge-in']);
    expect(seriesKeys(await discovery('activityPrefLabel=yoga'))).toEqual([]);
    expect(seriesKeys(await discovery('activityPrefLabel=Yoga&activityPrefLabel=Futsal'))).toEqual([
      'yoga-central+yoga-north',
      'futsal-edge-in',
    ]);
    // Different parameters are ANDed.
    expect(seriesKeys(await discovery(`activityPrefLabel=Yoga&activityId=${enc(ACTIVITY.vinyasa['@id'])}`))).toEqual([
      'yoga-north',
    ]);
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&activityId=not-a-url`,
      'activityId',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&activityId=${enc('https://openactive.io/activity-list#nope')}`,
      'activityId',
    );
  });

  it('activity concept collections and schemes', async () => {
    const facets = await ok('/events-api/v2/facets');
    const collections = facets['imin:index'].activityConceptCollection['imin:item'] as Obj[];
    const mind = collections.find((c) => c.prefLabel === 'Mind and Body')!;
    const team = collections.find((c) => c.prefLabel === 'Team Sports')!;
    expect(seriesKeys(await discovery(`activityConceptCollectionId=${enc(mind.id)}`))).toEqual([
      'yoga-central+yoga-north',
    ]);
    expect(seriesKeys(await discovery(`activityConceptCollectionId=${enc(team.id)}`))).toEqual(['futsal-edge-in']);
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&activityConceptCollectionId=${enc('https://data.example/collections/x')}`,
      'activityConceptCollectionId',
    );
    expect(seriesKeys(await discovery(`activityInScheme=${enc('https://openactive.io/activity-list')}`))).toHaveLength(
      3,
    );
    expect(seriesKeys(await discovery(`activityInScheme=${enc('https://example.org/other-list')}`))).toEqual([]);
    const member = await ok(mind.id.replace('http://activehub.test', ''));
    expect((member['skos:member'] as Obj[]).map((m) => m.prefLabel)).toContain('Yoga');
  });

  it('age ranges (imin §3.7.2, with the no-ageRange ⇒ 18+ default)', async () => {
    expect(seriesKeys(await discovery('ageRange[includeRange]=18,55', 10.02))).toEqual([
      'yoga-central+yoga-north',
      'edge-of-window',
      'boxing-edge-out',
    ]);
    expect(seriesKeys(await discovery('ageRange[includeRange]=10'))).toEqual(['futsal-edge-in']);
    expect(seriesKeys(await discovery('ageRange[includeRange]=16'))).toEqual(['yoga-central']);
    expect(sorted(seriesKeys(await discovery('ageRangeMin[gte]=18', 10.02)))).toEqual([
      'boxing-edge-out',
      'edge-of-window',
      'yoga-north',
    ]);
    expect(seriesKeys(await discovery('ageRangeMax[lte]=12'))).toEqual(['futsal-edge-in']);
    expect(seriesKeys(await discovery('ageRangeMin[gte]=18&ageRangeMax[lte]=65'))).toEqual(['yoga-north']);
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&ageRange[includeRange]=9,3`,
      'ageRange[includeRange]',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&ageRangeMin[gte]=old`,
      'ageRangeMin[gte]',
    );
  });

  it('gender, level, price and membership', async () => {
    expect(seriesKeys(await discovery('genderRestriction=oa:FemaleOnly'))).toEqual(['futsal-edge-in']);
    expect(seriesKeys(await discovery(`genderRestriction=${enc('https://openactive.io/MaleOnly')}`, 10.02))).toEqual([
      'boxing-edge-out',
    ]);
    // No genderRestriction published ⇒ not in gender-filtered searches (openactive.md §3.3).
    expect(seriesKeys(await discovery('genderRestriction=oa:NoRestriction'))).toEqual(['yoga-central+yoga-north']);
    expect(seriesKeys(await discovery('levelType=imin:BeginnerLevel'))).toEqual(['yoga-central']);
    expect(seriesKeys(await discovery('levelType=imin:Beginner&levelType=imin:Intermediate'))).toEqual([
      'yoga-central+yoga-north',
    ]);
    expect(seriesKeys(await discovery('priceAdult[lte]=7'))).toEqual(['yoga-central', 'edge-of-window']);
    expect(sorted(seriesKeys(await discovery('priceAdult[gte]=7', 10.02)))).toEqual([
      'boxing-edge-out',
      'edge-of-window',
      'yoga-north',
    ]);
    expect(seriesKeys(await discovery('membershipRequiredAdult=true', 10.02))).toEqual(['boxing-edge-out']);
    expect(seriesKeys(await discovery('membershipRequiredAdult=false'))).toEqual([
      'yoga-central+yoga-north',
      'edge-of-window',
    ]);
    expect(seriesKeys(await discovery('membershipRequiredJunior=false'))).toEqual(['yoga-central', 'futsal-edge-in']);
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&genderRestriction=oa:Everyone`,
      'genderRestriction',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&priceAdult[lte]=cheap`,
      'priceAdult[lte]',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&membershipRequiredAdult=yes`,
      'membershipRequiredAdult',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&levelType=imin:Expert`,
      'levelType',
    );
  });

  it('specialRequirementId, leaderGender, availableChannelAdult / availableChannelJunior (the Swagger-listed parameters)', async () => {
    // imin-search-firehose §3.4 (the Swagger spec's parameter set as a client sends it):
    // specialRequirementId = a special-requirement concept id ("http://data.emduk.org/special-requirements#…"),
    // leaderGender, availableChannelAdult / availableChannelJunior = e.g. "beta:OnlinePrepayment".
    const names = async (params: string) =>
      sorted([...new Set(((await upcoming(params, 50))['imin:item'] as Obj[]).map((i) => i.name as string))]);
    expect(await names(`specialRequirementId=${enc(SPECIAL_REQUIREMENT)}`)).toEqual(['Circuit Edge']);
    expect(await names(`specialRequirementId=${enc('http://data.emduk.org/special-requirements#other')}`)).toEqual([]);
    for (const female of ['schema:Female', 'https://schema.org/Female', 'Female']) {
      expect(await names(`leaderGender=${enc(female)}`)).toEqual(['Girls Futsal']);
    }
    expect(await names('leaderGender=schema:Male')).toEqual(['Circuit Edge']);
    expect(await names('leaderGender=schema:Male&leaderGender=schema:Female')).toEqual([
      'Circuit Edge',
      'Girls Futsal',
    ]);
    for (const online of [
      'beta:OnlinePrepayment',
      'oa:OnlinePrepayment',
      enc('https://openactive.io/OnlinePrepayment'),
    ]) {
      expect(await names(`availableChannelAdult=${online}`)).toEqual(['Circuit Edge']);
    }
    // `beta:availableChannel` (the older spelling) counts too.
    expect(await names('availableChannelAdult=beta:TelephonePrepayment')).toEqual(['Dance Fitness']);
    expect(await names('availableChannelJunior=beta:TelephoneAdvanceBooking')).toEqual(['Girls Futsal']);
    // The junior channel is read from junior offers only, the adult one from adult offers only.
    expect(await names('availableChannelJunior=beta:OnlinePrepayment')).toEqual([]);
    expect(await names('availableChannelAdult=beta:TelephoneAdvanceBooking')).toEqual([]);
    // Echoed in view like every other parameter.
    const echoed = (await upcoming('leaderGender=schema:Female&availableChannelAdult=beta:OnlinePrepayment')).view;
    expect(JSON.stringify(echoed)).toMatch(/leaderGender=schema(%3A|:)Female/);
    expect(JSON.stringify(echoed)).toMatch(/availableChannelAdult=beta(%3A|:)OnlinePrepayment/);

    const base = `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10`;
    await badRequest(`${base}&leaderGender=schema:Other`, 'leaderGender');
    await badRequest(`${base}&availableChannelAdult=beta:Carrier-Pigeon`, 'availableChannelAdult');
    await badRequest(`${base}&availableChannelJunior=nope`, 'availableChannelJunior');
    await badRequest(`${base}&specialRequirementId=not-a-url`, 'specialRequirementId');
  });

  it('accessibility, wheelchair, amenities and organizer', async () => {
    expect(seriesKeys(await discovery(`accessibilitySupportId=${enc(ACCESSIBILITY_VISUAL)}`))).toEqual([
      'yoga-central',
    ]);
    expect(seriesKeys(await discovery('isWheelchairAccessible=true'))).toEqual(['yoga-central']);
    expect(seriesKeys(await discovery('isWheelchairAccessible=false'))).toEqual([]);
    expect(seriesKeys(await discovery('amenityFeatureType[valueTrue]=Showers'))).toEqual(['yoga-central']);
    // Central's Parking is published with value false.
    expect(sorted(seriesKeys(await discovery('amenityFeatureType[valueTrue]=Parking')))).toEqual([
      'edge-of-window',
      'yoga-north',
    ]);
    expect(seriesKeys(await discovery(`organizerId=${enc(world.id('organizers/2'))}`, 10.02))).toEqual([
      'boxing-edge-out',
    ]);
    expect(seriesKeys(await discovery('organizerName[textSearch]=BOXING', 10.02))).toEqual(['boxing-edge-out']);
    expect(seriesKeys(await discovery('organizerName[textSearch]=100%25', 10.02))).toEqual([]);
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10&amenityFeatureType[valueTrue]=Sauna`,
      'amenityFeatureType[valueTrue]',
    );
  });

  it('dates, local times across the clock change, and days of the week', async () => {
    expect(sessions(await upcoming('startDate[gte]=2026-03-30T00:00:00Z'))).toEqual([
      'yoga-central@2026-03-30T17:00:00Z',
      'yoga-north@2026-03-31T06:00:00Z',
      'yoga-central@2026-04-01T17:00:00Z',
      'edge-of-window@2026-04-06T08:00:00Z',
    ]);
    expect(sessions(await upcoming('startDate[lte]=2026-03-24T23:59:59Z'))).toEqual([
      'yoga-central@2026-03-23T18:00:00Z',
      'yoga-north@2026-03-24T07:00:00Z',
    ]);
    // Beyond the 14-day lookahead: no results, not an error (imin §11).
    expect((await upcoming('startDate[gte]=2026-04-07T00:00:00Z'))['imin:totalItems']).toBe(0);
    // 18:00 London is 18:00Z before 29 March and 17:00Z after: all four sessions match.
    expect(sessions(await upcoming('startTime[gte]=18:00&startTime[lte]=18:00'))).toEqual([
      'yoga-central@2026-03-23T18:00:00Z',
      'yoga-central@2026-03-25T18:00:00Z',
      'yoga-central@2026-03-30T17:00:00Z',
      'yoga-central@2026-04-01T17:00:00Z',
    ]);
    expect(sessions(await upcoming('startTime[lte]=07:30'))).toEqual([
      'yoga-north@2026-03-24T07:00:00Z',
      'yoga-north@2026-03-31T06:00:00Z',
    ]);
    // Both together: after 11:45 each day, from the 25th.
    expect(
      sessions(
        await upcoming('startTime[gte]=11:45&startDate[gte]=2026-03-25T00:00:00Z&startDate[lte]=2026-03-26T00:00:00Z'),
      ),
    ).toEqual(['edge-of-window@2026-03-25T12:00:00Z', 'yoga-central@2026-03-25T18:00:00Z']);
    expect(sessions(await upcoming('dayOfWeek=schema:Tuesday'))).toEqual([
      'yoga-north@2026-03-24T07:00:00Z',
      'yoga-north@2026-03-31T06:00:00Z',
    ]);
    expect(seriesKeys(await discovery('byDay=schema:Tuesday&byDay=schema:Saturday'))).toEqual([
      'yoga-north',
      'futsal-edge-in',
    ]);
    // 6 April is a Monday too.
    expect(seriesKeys(await discovery(`dayOfWeek=${enc('https://schema.org/Monday')}`))).toEqual([
      'yoga-central',
      'edge-of-window',
    ]);
    await badRequest(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&startDate[gte]=2026-03-30`,
      'startDate[gte]',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&startTime[gte]=25:00`,
      'startTime[gte]',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&dayOfWeek=schema:Funday`,
      'dayOfWeek',
    );
  });

  it('high-frequency sessions: left out by default, alone with iminTag, with everything via showAllSessions', async () => {
    const def = await upcoming('', 0);
    expect(sessions(def).every((s) => s.startsWith('yoga-central'))).toBe(true);
    expect(def.view.id).toContain('iminTag%5Bnot%5D=HighFrequencySession');
    const hfs = await upcoming('iminTag=HighFrequencySession', 0);
    expect(sessions(hfs)).toEqual([
      'swim-public@2026-03-24T09:00:00Z',
      'swim-public@2026-03-24T09:30:00Z',
      'swim-public@2026-03-24T10:00:00Z',
    ]);
    const all = await upcoming('showAllSessions=true', 0);
    expect(all['imin:totalItems']).toBe(7);
    expect(all.view.id).not.toContain('iminTag');
    // Only upcoming-sessions ever returns them.
    expect(seriesKeys(await discovery('showAllSessions=true', 0))).toEqual(['yoga-central']);
    await badRequest(
      `/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},1&iminTag=HighFrequencySession`,
      'iminTag',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},1&iminTag=HighFrequencySession&iminTag[not]=HighFrequencySession`,
      'iminTag',
    );
    await badRequest(
      `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},1&iminTag=Swimming`,
      'iminTag',
    );
  });
});

describe('Events API: envelope, paging and errors', () => {
  it('pages are stable, complete and linked', async () => {
    const all = sessions(await upcoming(''));
    const seen: string[] = [];
    let url: string | undefined = `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&limit=2`;
    let pages = 0;
    while (url) {
      const body = await ok(url);
      pages += 1;
      expect(body.view['imin:currentPage']).toBe(pages);
      expect(body.view['imin:totalPages']).toBe(5);
      expect(body.view['imin:itemsPerPage']).toBe(2);
      if (pages > 1) expect(body.view.previous).toContain(`page=${pages - 1}`);
      seen.push(...sessions(body));
      url = body.view.next ? (body.view.next as string).replace('http://activehub.test', '') : undefined;
    }
    expect(pages).toBe(5);
    expect(seen).toEqual(all);
    const last = await ok(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&limit=2&page=9`);
    expect(last['imin:item']).toEqual([]);
    expect(last.view.last).toContain('page=5');
  });

  it('echoes the effective query in view (defaults included, imin encoding)', async () => {
    const body = await ok(
      `/events-api/v2/event-series?geo[radial]=${GEO},10&mode=discovery-geo&activityPrefLabel=Yoga`,
    );
    expect(body.type).toBe('imin:RestrictedCollection');
    expect(body['@context']).toEqual([
      'https://openactive.io/',
      'https://schema.imin.co/',
      'https://openactive.io/ns-beta',
    ]);
    expect(body.id).toBe(
      `http://activehub.test/events-api/v2/event-series?geo[radial]=${GEO},10&mode=discovery-geo&activityPrefLabel=Yoga`,
    );
    expect(body.view).toEqual({
      id: 'http://activehub.test/events-api/v2/event-series?mode=discovery-geo&geo%5Bradial%5D=51.5074%2C-0.1278%2C10&activityPrefLabel=Yoga&iminTag%5Bnot%5D=HighFrequencySession&limit=20&page=1',
      type: 'PartialCollectionView',
      first:
        'http://activehub.test/events-api/v2/event-series?mode=discovery-geo&geo%5Bradial%5D=51.5074%2C-0.1278%2C10&activityPrefLabel=Yoga&iminTag%5Bnot%5D=HighFrequencySession&limit=20&page=1',
      last: 'http://activehub.test/events-api/v2/event-series?mode=discovery-geo&geo%5Bradial%5D=51.5074%2C-0.1278%2C10&activityPrefLabel=Yoga&iminTag%5Bnot%5D=HighFrequencySession&limit=20&page=1',
      urlTemplate:
        'http://activehub.test/events-api/v2/event-series?mode=discovery-geo&geo%5Bradial%5D=51.5074%2C-0.1278%2C10&activityPrefLabel=Yoga&iminTag%5Bnot%5D=HighFrequencySession&limit=20&page={page}',
      'imin:currentPage': 1,
      'imin:itemsPerPage': 20,
      'imin:totalPages': 1,
    });
  });

  it('refuses bad and unknown parameters with 400s that name them, never a 500', async () => {
    const base = `/events-api/v2/event-series?geo[radial]=${GEO},10`;
    await badRequest(`${base}`, 'mode');
    await badRequest(`${base}&mode=nearest`, 'mode');
    await badRequest(`${base}&mode=discovery-geo&mode=upcoming-sessions`, 'mode');
    await badRequest(`${base}&mode=discovery-geo&limit=51`, 'limit');
    await badRequest(`${base}&mode=discovery-geo&limit=0`, 'limit');
    await badRequest(`${base}&mode=discovery-geo&page=0`, 'page');
    const unknown = await badRequest(`${base}&mode=discovery-geo&colour=blue`, 'colour');
    expect(unknown.description).toContain('colour');
    await badRequest('/events-api/v2/event-series?mode=discovery-geo', 'geo[radial]');
    for (const geo of ['51.5', '91,0,10', '51.5,-0.1,-3', '51.5,-0.1,5000', 'a,b,c']) {
      await badRequest(`/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${geo}`, 'geo[radial]');
    }
    const long = await get(`${base}&mode=discovery-geo&organizerName[textSearch]=${'x'.repeat(2100)}`);
    expect(long.status).toBe(414);
    expect(long.body['@type']).toBe('URITooLongError');
  });

  it('answers any value of any parameter with 200 or a 400, never a 500', async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(
        '',
        '0',
        '-1',
        '51.5,-0.1,5',
        '1e309',
        'NaN',
        '2026-13-45T99:99:99Z',
        '%',
        '\\',
        'true',
        'schema:Monday',
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/events-api/v2/event-series', '/events-api/v2/places', '/facilities-api/v2/facility-uses'),
        fc.dictionary(
          fc.constantFrom(...EVENT_PARAMS, ...FACILITY_PARAMS, 'unknown'),
          fc.array(value, { minLength: 1, maxLength: 2 }),
          {
            maxKeys: 4,
          },
        ),
        async (path, params) => {
          const query = Object.entries(params)
            .flatMap(([k, vs]) => vs.map((v) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`))
            .join('&');
          const { status, body } = await get(`${path}?mode=discovery-geo&geo[radial]=${GEO},5&${query}`);
          expect([200, 400], JSON.stringify(body)).toContain(status);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('needs a key granting search; another broker’s key changes only imin:checkoutUrlTemplate', async () => {
    expect((await get(`/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10`, '')).status).toBe(401);
    const booking = await t.newBroker({ products: ['booking'] });
    expect(
      (await get(`/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${GEO},10`, booking.key)).status,
    ).toBe(403);

    const other = await t.newBroker({ products: ['search'] });
    const slug = `hosted-${Date.now()}`;
    await t.services.brokers.createBroker({ slug, name: 'Hosted', checkoutHost: `checkout.${slug}.test` });
    const hosted = (await t.services.brokers.createKey(slug, { products: ['search'] })).key;
    const url = `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${GEO},10&limit=50`;
    const [a, b, c] = await Promise.all([get(url, key), get(url, other.key), get(url, hosted)]);
    const templates = (body: Obj) => JSON.stringify(body).match(/"imin:checkoutUrlTemplate":"[^"]+"/g) ?? [];
    const strip = (body: Obj) => JSON.parse(JSON.stringify(body).replace(/,?"imin:checkoutUrlTemplate":"[^"]+"/g, ''));
    expect(strip(b.body)).toEqual(strip(a.body));
    expect(strip(c.body)).toEqual(strip(a.body));
    expect(templates(a.body).length).toBeGreaterThan(0);
    expect(templates(b.body)).toHaveLength(templates(a.body).length);
    expect(templates(b.body)[0]).toContain(`/checkout/${other.slug}/v1/scheduled-sessions/`);
    expect(templates(c.body)[0]).toContain(`"https://checkout.${slug}.test/v1/scheduled-sessions/`);
  });
});

describe('Events API: bookability, by-ID, places and facets', () => {
  it('puts imin:checkoutUrlTemplate only on sessions bookable now', async () => {
    const body = await upcoming('');
    const bookable = (body['imin:item'] as Obj[])
      .filter((i) => i.subEvent[0].subEvent[0]['imin:checkoutUrlTemplate'])
      .map((i) => `${i.subEvent[0].identifier}@${i.subEvent[0].subEvent[0].startDate}`);
    // yoga-central's adult offer opens 7 days ahead; futsal has no adult offer; the 25th's
    // edge-of-window session is full.
    expect(bookable).toEqual([
      'yoga-central@2026-03-23T18:00:00Z',
      'yoga-north@2026-03-24T07:00:00Z',
      'yoga-central@2026-03-25T18:00:00Z',
      'yoga-north@2026-03-31T06:00:00Z',
      'edge-of-window@2026-04-06T08:00:00Z',
    ]);
    const first = body['imin:item'][0].subEvent[0].subEvent[0];
    expect(first['imin:checkoutUrlTemplate']).toMatch(
      new RegExp(
        `^http://activehub.test/checkout/[^/]+/v1/scheduled-sessions/${enc(first.identifier).replace(/[.]/g, '\\.')}$`,
      ),
    );
  });

  it('puts a SessionSeries-level imin:checkoutUrlTemplate beside the occurrence-level ones', async () => {
    // imin-booking §1.2.2: "Events API items carry two templates inside subEvent: a session-level
    // imin:checkoutUrlTemplate at SessionSeries level and an occurrence-level one on each bookable
    // ScheduledSession". Ours is the soonest bookable listed session's guest link.
    const series = ((await discovery('activityPrefLabel=Yoga'))['imin:item'][0].subEvent as Obj[]).map((s) => ({
      template: s['imin:checkoutUrlTemplate'] as string | undefined,
      sessions: (s.subEvent as Obj[]).map((o) => o['imin:checkoutUrlTemplate'] as string | undefined),
    }));
    expect(series).toHaveLength(2);
    for (const s of series) {
      expect(s.template).toBeDefined();
      expect(s.template).toBe(s.sessions.find((t) => t !== undefined));
    }
    // Central's 30 March and 1 April sessions are not bookable yet (7-day window): the series'
    // template is its first session's.
    expect(series[0]!.sessions.map((t) => t !== undefined)).toEqual([true, true, false, false]);
    expect(series[0]!.template).toBe(series[0]!.sessions[0]);
    // A series with no bookable session listed has none (futsal: no adult offer).
    const futsal = ((await discovery('activityPrefLabel=Futsal'))['imin:item'] as Obj[])[0]!;
    expect(futsal.subEvent[0]).not.toHaveProperty('imin:checkoutUrlTemplate');
    for (const item of (await upcoming(''))['imin:item'] as Obj[]) {
      expect(item.subEvent[0]['imin:checkoutUrlTemplate']).toBe(
        item.subEvent[0].subEvent[0]['imin:checkoutUrlTemplate'],
      );
    }
  });

  it('has the documented summary shape and passes the OpenActive validator', async () => {
    const body = await discovery('activityPrefLabel=Yoga');
    const item = body['imin:item'][0] as Obj;
    expect(item).toMatchObject({
      type: 'EventSeries',
      id: expect.stringMatching(/^http:\/\/activehub\.test\/events-api\/v2\/event-series\/[\w-]+$/),
      name: 'Yoga at Central Leisure',
      activity: [{ type: 'Concept', id: ACTIVITY.hatha['@id'], prefLabel: 'Hatha Yoga' }],
      ageRange: { type: 'QuantitativeValue', minValue: 16 },
      genderRestriction: 'https://openactive.io/NoRestriction',
      'imin:level': [{ type: 'imin:BeginnerLevel', name: 'Beginner' }],
      'imin:aggregateOffer': {
        type: 'imin:AggregateOffer',
        publicAdult: {
          type: 'AggregateOffer',
          lowPrice: 6.5,
          highPrice: 8,
          priceCurrency: 'GBP',
          'imin:membershipRequired': false,
        },
        publicJunior: { type: 'AggregateOffer', price: 3, priceCurrency: 'GBP', 'imin:membershipRequired': false },
      },
      organizer: { type: 'Organization', name: 'Central Leisure Trust' },
      'imin:dataSource': { type: 'WebAPI', identifier: String(world.publisherId) },
    });
    const [central, northside] = item.subEvent as Obj[];
    expect(central).toMatchObject({
      type: 'SessionSeries',
      location: {
        type: 'Place',
        name: 'Central Leisure Centre',
        address: {
          type: 'PostalAddress',
          'imin:fullAddress': 'Central Leisure Centre, 1 High Street, London, Greater London, N1 1AA',
        },
        geo: {
          type: 'GeoCoordinates',
          'imin:distanceFromGeoQueryCenter': { type: 'QuantitativeValue', value: 0, unitCode: 'KMT' },
        },
        amenityFeature: [
          { type: 'Showers', value: true, name: 'Showers' },
          { type: 'Parking', value: false },
        ],
      },
      eventSchedule: [{ type: 'PartialSchedule', repeatFrequency: 'P1W', startTime: '18:00' }],
    });
    expect(central!.subEvent.map((s: Obj) => s.startDate)).toEqual([
      '2026-03-23T18:00:00Z',
      '2026-03-25T18:00:00Z',
      '2026-03-30T17:00:00Z',
      '2026-04-01T17:00:00Z',
    ]);
    expect(northside!.location.geo['imin:distanceFromGeoQueryCenter'].value).toBe(5);
    // Each location once in imin:locationSummary, referenced from its SessionSeries.
    expect((item['imin:locationSummary'] as Obj[]).map((p) => p.id)).toEqual([
      central!.location.id,
      northside!.location.id,
    ]);
    // Summaries never carry offers (imin §3.6.2); nulls and empty arrays never appear.
    expect(JSON.stringify(body)).not.toMatch(/"offers"|null|\[\]/);
    for (const i of [...(body['imin:item'] as Obj[]), ...((await upcoming(''))['imin:item'] as Obj[])]) {
      expect(await validatorFailures(i, { summary: true })).toEqual([]);
    }
  });

  it('imin:aggregateOffer publicAdult / publicJunior carry the id of the offer they summarise', async () => {
    // imin-booking §2.8.2–2.8.3: a result's "imin:aggregateOffer" holds
    // "publicAdult": { "id": "https://acme-leisure.com/api/offers/abc123", "type": "AggregateOffer",
    // "price": 12.5, … } (and the same for publicJunior); without an entitlement the client books
    // with that `id` as the checkout's acceptedOffer.
    const offerKey = (part: Obj | undefined) => (part?.id as string | undefined)?.split('/').pop();
    const items = (await upcoming('activityPrefLabel=Yoga'))['imin:item'] as Obj[];
    expect(items.length).toBeGreaterThan(0);
    const byPlace = new Set<string>();
    for (const item of items) {
      const aggregate = item['imin:aggregateOffer'] as Obj;
      const place = item.subEvent[0].location.name as string;
      byPlace.add(`${place}: ${offerKey(aggregate.publicAdult)} ${offerKey(aggregate.publicJunior)}`);
      expect(aggregate.publicAdult.id).toMatch(/^https?:\/\//);
    }
    expect([...byPlace].sort()).toEqual([
      'Central Leisure Centre: yoga-adult yoga-junior',
      'Northside Sports Centre: vinyasa-adult undefined',
    ]);
    // By-ID, the series' aggregate on the session's superEvent names its offer too.
    const session = items[0]!.subEvent[0].subEvent[0] as Obj;
    const { body } = await get(`/events-api/v2/scheduled-sessions/${enc(session.identifier as string)}`);
    expect(offerKey(body.superEvent['imin:aggregateOffer'].publicAdult)).toMatch(/^(yoga|vinyasa)-adult$/);
    // Over several venues with different offers there is no one offer to name: the id is left
    // out (each upcoming-sessions result, one venue, has it); a single contributing offer keeps it.
    const merged = (await discovery('activityPrefLabel=Yoga'))['imin:item'][0]['imin:aggregateOffer'] as Obj;
    expect(merged.publicAdult).not.toHaveProperty('id');
    expect(offerKey(merged.publicJunior)).toBe('yoga-junior');
  });

  it('answers an EventSeries by id in full, and 404 once archived or unknown', async () => {
    const summary = (await discovery('activityPrefLabel=Yoga'))['imin:item'][0] as Obj;
    const path = (summary.id as string).replace('http://activehub.test', '');
    const full = await ok(path);
    expect(full['@context']).toContain('https://openactive.io/');
    expect(full.id).toBe(summary.id);
    const [central] = full.subEvent as Obj[];
    expect(central!.location).toMatchObject({
      type: 'Place',
      id: summary.subEvent[0].location.id,
      name: 'Central Leisure Centre',
    });
    expect(central!.offers.map((o: Obj) => o.identifier)).toEqual(['yoga-adult', 'yoga-junior']);
    expect(central!.accessibilitySupport[0].id).toBe(ACCESSIBILITY_VISUAL);
    expect(full['imin:locationSummary']).toHaveLength(2);
    expect(await validatorFailures(full, { summary: false })).toEqual([]);

    expect((await get('/events-api/v2/event-series/1-0000000000000000')).status).toBe(404);
    expect((await get(`${path}?limit=5`)).status).toBe(400);
    clock.set(new Date('2026-04-10T00:00:00Z'));
    try {
      expect((await get(path)).status).toBe(404);
    } finally {
      clock.set(NOW);
    }
  });

  it('answers a ScheduledSession by its encoded identifier', async () => {
    const item = (await upcoming(''))['imin:item'][0] as Obj;
    const session = item.subEvent[0].subEvent[0] as Obj;
    expect(session.identifier).toBe(world.sessionId('yoga-central', 0));
    const body = await ok((session.id as string).replace('http://activehub.test', ''));
    expect(body).toMatchObject({
      type: 'ScheduledSession',
      id: session.id,
      identifier: session.identifier,
      startDate: '2026-03-23T18:00:00Z',
      'imin:checkoutUrlTemplate': session['imin:checkoutUrlTemplate'],
      superEvent: {
        type: 'SessionSeries',
        name: 'Hatha Yoga for Beginners',
        location: { name: 'Central Leisure Centre' },
        superEvent: { type: 'EventSeries', id: item.id },
      },
    });
    expect(body.superEvent.offers).toHaveLength(2);
    expect(await validatorFailures(body, { summary: false })).toEqual([]);
    expect((await get(`/events-api/v2/scheduled-sessions/${enc('https://nowhere.test/1')}`)).status).toBe(404);
  });

  it('lists places once each with their events (imin §3.8)', async () => {
    const body = await ok(`/events-api/v2/places?geo[radial]=${GEO},10`);
    const places = body['imin:item'] as Obj[];
    expect(places.map((p) => [p.name, p['imin:event']['imin:totalItems']])).toEqual([
      ['Central Leisure Centre', 1],
      ['Northside Sports Centre', 2],
      ['Inside Edge Sports Hall', 1],
    ]);
    const northside = places[1]!;
    expect(northside.geo['imin:distanceFromGeoQueryCenter']).toEqual({
      type: 'QuantitativeValue',
      value: 5,
      unitCode: 'KMT',
    });
    // The place's own link finds exactly its events.
    const there = await ok((northside['imin:event'].id as string).replace('http://activehub.test', ''));
    expect(sorted(seriesKeys(there))).toEqual(['edge-of-window', 'yoga-north']);
    expect(body.view.id).toContain('mode=discovery-geo');
  });

  it('serves the facets index with the hierarchy', async () => {
    const facets = await ok('/events-api/v2/facets');
    const activities = facets['imin:index'].activity['imin:item'] as Obj[];
    const hatha = activities.find((a) => a.id === ACTIVITY.hatha['@id'])!;
    expect(hatha).toMatchObject({
      type: 'Concept',
      prefLabel: 'Hatha Yoga',
      inScheme: 'https://openactive.io/activity-list',
    });
    expect(hatha.broaderTransitive).toEqual(
      expect.arrayContaining([ACTIVITY.yoga['@id'], ACTIVITY.groupExercise['@id']]),
    );
    expect(activities.length).toBeGreaterThan(700);
  });
});
