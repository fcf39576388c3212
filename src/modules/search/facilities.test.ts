import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestContext } from '../../../test/helpers.js';
import {
  ACTIVITY,
  CENTRE,
  createWorld,
  FACILITY_TYPE,
  INDIVIDUAL_FACILITY_USE_SHAPE,
  validatorFailures,
  type World,
} from './search.fixtures.js';

type Obj = Record<string, any>;

let t: TestContext;
let world: World;
let key: string;

beforeAll(async () => {
  ({ t, world } = await createWorld());
  key = (await t.newBroker({ products: ['search'] })).key;
});
afterAll(async () => {
  await world?.server.stop();
  await t?.close();
});

const GEO = `${CENTRE.lat},${CENTRE.lng}`;
const enc = encodeURIComponent;
const local = (url: string) => url.replace('http://activehub.test', '');

async function get(url: string, k: string = key) {
  const res = await t.request({ method: 'GET', url, key: k });
  return { status: res.statusCode, body: res.json<Obj>() };
}
async function ok(url: string): Promise<Obj> {
  const { status, body } = await get(url);
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
}
async function badRequest(url: string, param: string) {
  const { status, body } = await get(url);
  expect(status, JSON.stringify(body)).toBe(400);
  expect((body['activehub:fieldErrors'] as { path: string }[]).map((f) => f.path)).toContain(param);
}

const names = (body: Obj) => (body['imin:item'] as Obj[]).map((i) => i.name as string);
/** Each FacilityUse's slots as "court:time" (court = IndividualFacilityUse name, or "-"). */
const slots = (item: Obj) =>
  ((item.event ?? []) as Obj[]).flatMap((e) =>
    e.type === 'Slot' ? [`-:${e.startDate}`] : (e.event as Obj[]).map((s) => `${e.name}:${s.startDate}`),
  );

const uses = (params: string, radius = 10) =>
  ok(`/facilities-api/v2/facility-uses?geo[radial]=${GEO},${radius}&${params}`);

describe('Facilities API', () => {
  it('discovery-geo: facilities with slots in the next 14 days, nearest first, no slots listed', async () => {
    const body = await uses('mode=discovery-geo');
    expect(names(body)).toEqual(['Badminton Courts', 'Tennis Courts']);
    expect(body['imin:totalItems']).toBe(2);
    const [badminton, tennis] = body['imin:item'] as Obj[];
    expect(badminton!.event).toBeUndefined();
    expect(badminton!.location.geo['imin:distanceFromGeoQueryCenter'].value).toBe(0);
    expect(tennis!.location.geo['imin:distanceFromGeoQueryCenter'].value).toBe(5);
    // Prices: the FacilityUse's own offers, else those of its next slot.
    expect(tennis!['imin:aggregateOffer'].publicAdult.price).toBe(8);
    expect(badminton!['imin:aggregateOffer'].publicAdult.price).toBe(12);
    expect(JSON.stringify(body)).not.toContain('imin:checkoutUrlTemplate');
    expect(names(await uses('mode=discovery-geo', 31))).toEqual(['Badminton Courts', 'Tennis Courts', 'Far Badminton']);
  });

  it('upcoming-slots: one day of slots, by first slot, in both FacilityUse shapes', async () => {
    const body = await uses('mode=upcoming-slots&startDate[gte]=2026-03-24T00:00:00Z');
    expect(names(body)).toEqual(['Badminton Courts', 'Tennis Courts']);
    const [badminton, tennis] = body['imin:item'] as Obj[];
    // FacilityUse → IndividualFacilityUses → Slots (imin §4.4, second form).
    expect(badminton!.event.map((e: Obj) => e.type)).toEqual(['IndividualFacilityUse', 'IndividualFacilityUse']);
    expect(slots(badminton!)).toEqual([
      'Court 1:2026-03-24T10:00:00Z',
      'Court 1:2026-03-24T11:00:00Z',
      'Court 2:2026-03-24T10:00:00Z',
    ]);
    // FacilityUse → Slots (first form), remainingUses = courts free.
    expect(tennis!.event.map((e: Obj) => [e.type, e.startDate, e.remainingUses])).toEqual([
      ['Slot', '2026-03-24T16:00:00Z', 3],
      ['Slot', '2026-03-24T17:00:00Z', 4],
    ]);
    const slot = tennis!.event[0] as Obj;
    expect(slot.id).toBe(`http://activehub.test/facilities-api/v2/slots/${enc(world.id('slots/t-a'))}`);
    expect(slot['imin:checkoutUrlTemplate']).toMatch(/^http:\/\/activehub\.test\/checkout\/[^/]+\/v1\/slots\//);

    expect(slots((await uses('mode=upcoming-slots&startDate[gte]=2026-03-24T10:30:00Z'))['imin:item'][0])).toEqual([
      'Court 1:2026-03-24T11:00:00Z',
    ]);
    const before = await uses('mode=upcoming-slots&startDate[lte]=2026-03-24T10:00:00Z');
    expect(names(before)).toEqual(['Badminton Courts']);
    expect(slots(before['imin:item'][0])).toEqual(['Court 1:2026-03-24T10:00:00Z', 'Court 2:2026-03-24T10:00:00Z']);
    const nextDay = await uses(
      'mode=upcoming-slots&startDate[gte]=2026-03-25T00:00:00Z&startDate[lte]=2026-03-25T23:00:00Z',
    );
    expect(slots(nextDay['imin:item'][0])).toEqual(['Court 1:2026-03-25T10:00:00Z']);
    // Beyond the 14-day lookahead: nothing, not an error (the docs' 3000-01-01 examples).
    expect((await uses('mode=upcoming-slots&startDate[gte]=3000-01-01T16:00:00Z'))['imin:totalItems']).toBe(0);
  });

  it('filters by activity, facility type and provider', async () => {
    expect(names(await uses('mode=discovery-geo&activityPrefLabel=Tennis'))).toEqual(['Tennis Courts']);
    expect(names(await uses(`mode=discovery-geo&activityId=${enc(ACTIVITY.badminton['@id'])}`))).toEqual([
      'Badminton Courts',
    ]);
    expect(names(await uses(`mode=discovery-geo&facilityTypeId=${enc(FACILITY_TYPE.tennis['@id'])}`))).toEqual([
      'Tennis Courts',
    ]);
    expect(names(await uses(`mode=discovery-geo&providerId=${world.publisherId}`))).toHaveLength(2);
    expect(names(await uses(`mode=discovery-geo&providerId=${world.publisherId + 1000}`))).toEqual([]);
  });

  it('refuses what the modes do not allow, naming the parameter', async () => {
    const base = `/facilities-api/v2/facility-uses?geo[radial]=${GEO},10`;
    await badRequest(base, 'mode');
    await badRequest(`${base}&mode=discovery-price-asc`, 'mode');
    await badRequest(`${base}&mode=upcoming-slots`, 'startDate[gte]');
    await badRequest(`${base}&mode=discovery-geo&startDate[gte]=2026-03-24T00:00:00Z`, 'startDate[gte]');
    await badRequest(
      `${base}&mode=upcoming-slots&startDate[gte]=2026-03-24T09:00:00Z&startDate[lte]=2026-03-25T09:00:00Z`,
      'startDate[lte]',
    );
    await badRequest('/facilities-api/v2/facility-uses?mode=discovery-geo', 'geo[radial]');
    await badRequest(`${base}&mode=discovery-geo&providerId=led`, 'providerId');
    await badRequest(
      `${base}&mode=discovery-geo&facilityTypeId=${enc('https://openactive.io/facility-types#nope')}`,
      'facilityTypeId',
    );
    await badRequest(`${base}&mode=discovery-geo&isVirtual=true`, 'isVirtual');
  });

  it('answers a FacilityUse by id with 7 days of slots, and a Slot by id', async () => {
    const found = await uses('mode=upcoming-slots&startDate[gte]=2026-03-24T00:00:00Z');
    const badminton = found['imin:item'][0] as Obj;
    const full = await ok(local(badminton.id));
    expect(full['@context']).toContain('https://openactive.io/');
    // 2 April is more than 7 days ahead.
    expect(slots(full)).toEqual([
      'Court 1:2026-03-24T10:00:00Z',
      'Court 1:2026-03-24T11:00:00Z',
      'Court 1:2026-03-25T10:00:00Z',
      'Court 2:2026-03-24T10:00:00Z',
    ]);
    expect(full.event[0]).toMatchObject({ type: 'IndividualFacilityUse', name: 'Court 1', identifier: 'court-1' });
    expect(await validatorFailures(full, { summary: false, allow: INDIVIDUAL_FACILITY_USE_SHAPE })).toEqual([]);

    const slotId = badminton.event[0].event[0].id as string;
    const slot = await ok(local(slotId));
    expect(slot).toMatchObject({
      type: 'Slot',
      id: slotId,
      identifier: world.id('slots/c1-a'),
      startDate: '2026-03-24T10:00:00Z',
      remainingUses: 1,
      offers: [{ type: 'Offer', price: 12 }],
      facilityUse: {
        type: 'IndividualFacilityUse',
        name: 'Court 1',
        aggregateFacilityUse: { type: 'FacilityUse', id: badminton.id, name: 'Badminton Courts' },
      },
    });
    expect(slot['imin:checkoutUrlTemplate']).toContain(`/v1/slots/${enc(world.id('slots/c1-a'))}`);
    expect(await validatorFailures(slot, { summary: false })).toEqual([]);

    expect((await get('/facilities-api/v2/facility-uses/1-0000000000000000')).status).toBe(404);
    expect((await get(`/facilities-api/v2/slots/${enc('https://nowhere.test/slot')}`)).status).toBe(404);
    expect((await get(`${local(slotId)}?page=1`)).status).toBe(400);
  });

  it('items pass the OpenActive validator; another broker sees the same but its own checkout URLs', async () => {
    const url = `/facilities-api/v2/facility-uses?geo[radial]=${GEO},10&mode=upcoming-slots&startDate[gte]=2026-03-24T00:00:00Z`;
    const mine = await ok(url);
    for (const item of mine['imin:item'] as Obj[])
      expect(await validatorFailures(item, { summary: true, allow: INDIVIDUAL_FACILITY_USE_SHAPE })).toEqual([]);
    const other = await t.newBroker({ products: ['search'] });
    const theirs = (await get(url, other.key)).body;
    const strip = (b: Obj) => JSON.parse(JSON.stringify(b).replace(/,?"imin:checkoutUrlTemplate":"[^"]+"/g, ''));
    expect(strip(theirs)).toEqual(strip(mine));
    expect(JSON.stringify(theirs)).toContain(`/checkout/${other.slug}/v1/slots/`);
  });
});

describe('Places API', () => {
  const places = (params: string, radius = 10) => ok(`/places-api/v1/places?geo[radial]=${GEO},${radius}&${params}`);

  it('lists places with facilities and the activities at each, nearest first', async () => {
    const body = await places('limit=50');
    expect(body).toMatchObject({
      type: 'imin:RestrictedCollection',
      'imin:totalItems': 2,
      view: {
        type: 'PartialCollectionView',
        id: `http://activehub.test/places-api/v1/places?geo%5Bradial%5D=${enc(`${GEO},10`)}&limit=50&page=1`,
        'imin:currentPage': 1,
        'imin:itemsPerPage': 50,
        'imin:totalPages': 1,
      },
    });
    const items = body['imin:item'] as Obj[];
    expect(items.map((p) => [p.name, p.activity.map((a: Obj) => a.prefLabel)])).toEqual([
      ['Central Leisure Centre', ['Badminton']],
      ['Victoria Park', ['Tennis']],
    ]);
    expect(items[1]).toMatchObject({
      type: 'Place',
      address: { type: 'PostalAddress', postalCode: 'N1 1AA' },
      geo: { type: 'GeoCoordinates', 'imin:distanceFromGeoQueryCenter': { value: 5, unitCode: 'KMT' } },
    });
    // Each place links to its facilities.
    const there = await ok(local(items[1]!['imin:facilityUse'].id));
    expect(names(there)).toEqual(['Tennis Courts']);
  });

  it('filters by classification and activity; refuses bad parameters', async () => {
    expect(names(await places('placeClassification=mcr:Park'))).toEqual(['Victoria Park']);
    expect(names(await places('placeClassification=mcr:LeisureCentre'))).toEqual(['Central Leisure Centre']);
    expect(names(await places(`activityId=${enc(ACTIVITY.tennis['@id'])}`))).toEqual(['Victoria Park']);
    expect(names(await places('', 31))).toEqual(['Central Leisure Centre', 'Victoria Park', 'Far Away Leisure Centre']);
    await badRequest(
      `/places-api/v1/places?geo[radial]=${GEO},10&placeClassification=mcr:Beach`,
      'placeClassification',
    );
    await badRequest('/places-api/v1/places', 'geo[radial]');
    await badRequest(`/places-api/v1/places?geo[radial]=${GEO},10&activity=x`, 'activity');
  });
});
