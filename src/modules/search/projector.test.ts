import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import { fixedClock } from '../../lib/clock.js';
import { createProjectionScheduler, PROJECT_JOB } from './projector.js';
import { ACTIVITY, CENTRE, NOW } from './search.fixtures.js';
import { searchDb } from './search.tables.js';

type Obj = Record<string, any>;

let t: TestContext;
let server: RpdeTestServer;
let key: string;
const clock = fixedClock(NOW);

beforeAll(async () => {
  t = await createTestContext({ clock });
  server = await new RpdeTestServer().start();
  key = (await t.newBroker({ products: ['search'] })).key;
});
afterAll(async () => {
  await server?.stop();
  await t?.close();
});

let n = 0;
/** A publisher of its own per test, so tests never share data. */
async function publisher() {
  n += 1;
  const names = { series: `p${n}-series`, sessions: `p${n}-sessions`, fu: `p${n}-fu`, slots: `p${n}-slots` };
  for (const f of Object.values(names)) server.feed(f, 2);
  const prefix = `https://p${n}.example.test`;
  await t.services.catalog.addPublisher({
    name: `Publisher ${n}`,
    feeds: [
      { url: server.url(names.sessions), kind: 'ScheduledSession' },
      { url: server.url(names.series), kind: 'SessionSeries' },
      { url: server.url(names.fu), kind: 'FacilityUse' },
      { url: server.url(names.slots), kind: 'Slot' },
    ],
  });
  // Each test searches around its own point.
  const lat = 50 + n / 10;
  const place = {
    '@type': 'Place',
    name: `Hall ${n}`,
    address: { '@type': 'PostalAddress', postalCode: 'N1 1AA', addressCountry: 'GB' },
    geo: { '@type': 'GeoCoordinates', latitude: lat, longitude: CENTRE.lng },
  };
  const series = (i: number, extra: Obj = {}) => ({
    '@context': 'https://openactive.io/',
    '@type': 'SessionSeries',
    '@id': `${prefix}/series/${i}`,
    name: `Class ${i}`,
    url: `${prefix}/classes/${i}`,
    activity: [ACTIVITY.pilates],
    organizer: { '@type': 'Organization', '@id': `${prefix}/org`, name: 'Org' },
    location: place,
    offers: [{ '@type': 'Offer', '@id': `${prefix}/series/${i}#adult`, price: 5, priceCurrency: 'GBP' }],
    ...extra,
  });
  const session = (i: number, seriesIndex: number, start: string, extra: Obj = {}) => ({
    '@context': 'https://openactive.io/',
    '@type': 'ScheduledSession',
    '@id': `${prefix}/sessions/${i}`,
    superEvent: `${prefix}/series/${seriesIndex}`,
    startDate: start,
    endDate: new Date(Date.parse(start) + 3600_000).toISOString(),
    remainingAttendeeCapacity: 4,
    ...extra,
  });
  const sync = async () => {
    // Caught-up feeds are polled again after the poll interval.
    clock.advance(10_000);
    await t.services.harvester.runOnce();
    return t.services.projector.runOnce();
  };
  const search = async (params = '') => {
    const res = await t.request({
      method: 'GET',
      url: `/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${lat},${CENTRE.lng},1&limit=50&${params}`,
      key,
    });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json<Obj>()['imin:item'] as Obj[]).map((i) => ({
      name: i.subEvent[0].name as string,
      eventName: i.name as string,
      price: i['imin:aggregateOffer']?.publicAdult?.price as number | undefined,
      session: i.subEvent[0].subEvent[0].identifier as string,
    }));
  };
  return { names, prefix, series, session, sync, search, lat };
}

describe('search projector', () => {
  it('keeps sessions hidden until their series arrives, then shows them', async () => {
    const p = await publisher();
    server.put(p.names.sessions, { id: 's1', kind: 'ScheduledSession', data: p.session(1, 1, '2026-03-24T10:00:00Z') });
    await p.sync();
    expect(await p.search()).toEqual([]);
    const rows = await searchDb(t.deps.database.db)
      .selectFrom('search_occurrences')
      .select('oa_id')
      .where('oa_id', '=', `${p.prefix}/sessions/1`)
      .execute();
    expect(rows).toEqual([]);

    server.put(p.names.series, { id: 'x1', kind: 'SessionSeries', data: p.series(1) });
    await p.sync();
    expect(await p.search()).toEqual([
      { name: 'Class 1', eventName: 'Class 1', price: 5, session: `${p.prefix}/sessions/1` },
    ]);
  });

  it('re-projects the children of a changed series and of a changed EventSeries', async () => {
    const p = await publisher();
    server.put(p.names.series, {
      id: 'x1',
      kind: 'SessionSeries',
      data: p.series(1, {
        superEvent: { '@type': 'EventSeries', '@id': `${p.prefix}/es/1`, name: 'Pilates Everywhere' },
      }),
    });
    server.put(p.names.sessions, { id: 's1', kind: 'ScheduledSession', data: p.session(1, 1, '2026-03-24T10:00:00Z') });
    server.put(p.names.sessions, { id: 's2', kind: 'ScheduledSession', data: p.session(2, 1, '2026-03-25T10:00:00Z') });
    await p.sync();
    expect((await p.search()).map((r) => [r.eventName, r.price])).toEqual([
      ['Pilates Everywhere', 5],
      ['Pilates Everywhere', 5],
    ]);

    // A new price on the series reaches every session's result.
    server.put(p.names.series, {
      id: 'x1',
      kind: 'SessionSeries',
      data: p.series(1, {
        superEvent: { '@type': 'EventSeries', '@id': `${p.prefix}/es/1`, name: 'Pilates Everywhere' },
        offers: [{ '@type': 'Offer', '@id': `${p.prefix}/series/1#adult`, price: 6.5, priceCurrency: 'GBP' }],
      }),
    });
    await p.sync();
    expect((await p.search()).map((r) => r.price)).toEqual([6.5, 6.5]);
    expect(await p.search('priceAdult[lte]=6')).toEqual([]);

    // Moving the series takes its sessions out of a search around the old place.
    server.put(p.names.series, {
      id: 'x1',
      kind: 'SessionSeries',
      data: p.series(1, {
        location: {
          '@type': 'Place',
          name: 'Elsewhere',
          geo: { '@type': 'GeoCoordinates', latitude: p.lat + 1, longitude: CENTRE.lng },
        },
      }),
    });
    await p.sync();
    expect(await p.search()).toEqual([]);
  });

  it('removes deleted sessions and series; a series published again brings its sessions back', async () => {
    const p = await publisher();
    server.put(p.names.series, { id: 'x1', kind: 'SessionSeries', data: p.series(1) });
    server.put(p.names.sessions, { id: 's1', kind: 'ScheduledSession', data: p.session(1, 1, '2026-03-24T10:00:00Z') });
    server.put(p.names.sessions, { id: 's2', kind: 'ScheduledSession', data: p.session(2, 1, '2026-03-25T10:00:00Z') });
    await p.sync();
    expect(await p.search()).toHaveLength(2);

    server.remove(p.names.sessions, 's1');
    await p.sync();
    expect((await p.search()).map((r) => r.session)).toEqual([`${p.prefix}/sessions/2`]);

    server.remove(p.names.series, 'x1');
    await p.sync();
    expect(await p.search()).toEqual([]);
    const db = searchDb(t.deps.database.db);
    expect(
      await db.selectFrom('search_series').select('id').where('oa_id', '=', `${p.prefix}/series/1`).execute(),
    ).toEqual([]);

    server.put(p.names.series, { id: 'x1', kind: 'SessionSeries', data: p.series(1) });
    await p.sync();
    expect((await p.search()).map((r) => r.session)).toEqual([`${p.prefix}/sessions/2`]);
  });

  it('drops the IndividualFacilityUses and slots of a deleted FacilityUse', async () => {
    const p = await publisher();
    server.put(p.names.fu, {
      id: 'f1',
      kind: 'FacilityUse',
      data: {
        '@context': 'https://openactive.io/',
        '@type': 'FacilityUse',
        '@id': `${p.prefix}/fu/1`,
        name: 'Courts',
        url: `${p.prefix}/courts`,
        activity: [ACTIVITY.badminton],
        provider: { '@type': 'Organization', name: 'Org' },
        location: {
          '@type': 'Place',
          name: 'Hall',
          geo: { '@type': 'GeoCoordinates', latitude: p.lat, longitude: CENTRE.lng },
        },
        individualFacilityUse: [
          { '@type': 'IndividualFacilityUse', '@id': `${p.prefix}/fu/1/court/1`, name: 'Court 1' },
        ],
      },
    });
    server.put(p.names.slots, {
      id: 'sl1',
      kind: 'Slot',
      data: {
        '@context': 'https://openactive.io/',
        '@type': 'Slot',
        '@id': `${p.prefix}/slots/1`,
        facilityUse: `${p.prefix}/fu/1/court/1`,
        startDate: '2026-03-24T10:00:00Z',
        duration: 'PT1H',
        remainingUses: 1,
        offers: [{ '@type': 'Offer', price: 9 }],
      },
    });
    await p.sync();
    const facilities = async () =>
      (
        (
          await t.request({
            method: 'GET',
            url: `/facilities-api/v2/facility-uses?mode=upcoming-slots&geo[radial]=${p.lat},${CENTRE.lng},1&startDate[gte]=2026-03-24T00:00:00Z`,
            key,
          })
        ).json<Obj>()['imin:item'] as Obj[]
      ).map((i) => `${i.name}/${i.event[0].name}/${i.event[0].event[0].startDate}`);
    expect(await facilities()).toEqual(['Courts/Court 1/2026-03-24T10:00:00Z']);
    server.remove(p.names.fu, 'f1');
    await p.sync();
    expect(await facilities()).toEqual([]);
    const db = searchDb(t.deps.database.db);
    expect(
      await db.selectFrom('search_occurrences').select('id').where('oa_id', '=', `${p.prefix}/slots/1`).execute(),
    ).toEqual([]);
  });

  it('keeps a cursor, runs as a job when the catalog is ahead, and archives past sessions', async () => {
    const p = await publisher();
    server.put(p.names.series, { id: 'x1', kind: 'SessionSeries', data: p.series(1) });
    server.put(p.names.sessions, { id: 's1', kind: 'ScheduledSession', data: p.session(1, 1, '2026-03-24T10:00:00Z') });
    // Started two days ago: archived, never projected.
    server.put(p.names.sessions, { id: 's0', kind: 'ScheduledSession', data: p.session(0, 1, '2026-03-21T10:00:00Z') });
    await t.services.harvester.runOnce();
    expect(await t.services.projector.pending()).toBe(true);

    const scheduler = createProjectionScheduler({
      projector: t.services.projector,
      jobs: t.deps.jobs,
      log: pino({ level: 'silent' }),
    });
    expect(await scheduler.tick()).toBe(true);
    expect(await t.deps.jobs.runDue(PROJECT_JOB)).toBe(1);
    expect(await t.services.projector.pending()).toBe(false);
    expect(await scheduler.tick()).toBe(false);
    expect((await t.services.projector.runOnce()).changes).toBe(0);
    expect((await p.search()).map((r) => r.session)).toEqual([`${p.prefix}/sessions/1`]);
    const db = searchDb(t.deps.database.db);
    expect(
      await db.selectFrom('search_occurrences').select('id').where('oa_id', '=', `${p.prefix}/sessions/0`).execute(),
    ).toEqual([]);
  });

  it("keeps each series' open_starts equal to the sorted starts of its open sessions", async () => {
    // After every test above (new, changed, cancelled, deleted and archived sessions, deleted
    // and re-published series, FacilityUses), plus a session cancelled and one moved to another series.
    const p = await publisher();
    server.put(p.names.series, { id: 'x1', kind: 'SessionSeries', data: p.series(1) });
    server.put(p.names.series, { id: 'x2', kind: 'SessionSeries', data: p.series(2) });
    server.put(p.names.sessions, { id: 's1', kind: 'ScheduledSession', data: p.session(1, 1, '2026-03-24T10:00:00Z') });
    server.put(p.names.sessions, { id: 's2', kind: 'ScheduledSession', data: p.session(2, 1, '2026-03-25T10:00:00Z') });
    await p.sync();
    server.put(p.names.sessions, {
      id: 's1',
      kind: 'ScheduledSession',
      data: { ...p.session(1, 1, '2026-03-24T10:00:00Z'), eventStatus: 'https://schema.org/EventCancelled' },
    });
    server.put(p.names.sessions, { id: 's2', kind: 'ScheduledSession', data: p.session(2, 2, '2026-03-25T10:00:00Z') });
    await p.sync();
    const db = searchDb(t.deps.database.db);
    const rows = await db
      .selectFrom('search_series as s')
      .select([
        's.oa_id',
        's.open_starts',
        sql<Date[]>`coalesce((select array_agg(o.start_at order by o.start_at) from search_occurrences o
          where o.series_id = s.id and o.status not in ('EventCancelled', 'EventPostponed')), '{}')`.as('expected'),
      ])
      .execute();
    expect(rows.filter((r) => r.open_starts.length > 0).length).toBeGreaterThan(3);
    const iso = (list: (Date | string)[]) => list.map((d) => new Date(d).toISOString());
    for (const r of rows) expect(iso(r.open_starts), r.oa_id).toEqual(iso(r.expected));
    const mine = new Map(rows.map((r) => [r.oa_id, iso(r.open_starts)]));
    expect(mine.get(`${p.prefix}/series/1`)).toEqual([]);
    expect(mine.get(`${p.prefix}/series/2`)).toEqual(['2026-03-25T10:00:00.000Z']);
  });
});
