import type { Insertable, Kysely } from 'kysely';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../../test/helpers.js';
import type { Database } from '../../db/database.js';
import { refreshOpenStarts } from './projector.repository.js';
import { emptySeries, type OccurrenceFilters, type SeriesFilters } from './query.js';
import {
  COUNT_CAP,
  localTimeIntervals,
  SAMPLE_SERIES,
  searchGroups,
  searchOccurrences,
  seriesTimeZones,
  walkBoundFactor,
  type PageStrategy,
} from './search.repository.js';
import { searchDb, type SearchDB, type SearchOccurrencesTable } from './search.tables.js';

/*
 * upcoming-sessions paging and totals on a read model written directly (no projector): 160
 * series (more than SAMPLE_SERIES) with sessions over 14 days, some cancelled. Both ways of
 * finding a page must give the same rows as a plain sort of the data; totals must be exact where
 * the repository says so and bounded where it estimates.
 */

const NOW = new Date('2026-03-23T00:00:00Z');
const DAY = 24 * 3600_000;
const CENTRE = { lat: 51.5, lng: -0.1 };
/** Series columns these tests do not filter on: in person, no activity, ages, levels or features. */
const NO_FILTER_FIELDS = {
  attendance: 'offline',
  activity_ids: [],
  activity_match_ids: [],
  activity_schemes: [],
  facility_type_ids: [],
  age_min: 0,
  levels: [],
  accessibility_ids: [],
  amenities: [],
  hfs: false,
  tz: 'Europe/London',
  booking_ready: false,
};

let database: Database;
let db: Kysely<SearchDB>;

interface Occ {
  id: number;
  series: number;
  start: Date;
  minute: number;
  dow: number;
  open: boolean;
}
const occurrences: Occ[] = [];
const seriesIds: number[] = [];

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a * 1103515245 + 12345) % 2147483648;
    return a / 2147483648;
  };
}

type OccurrenceValues = Insertable<SearchOccurrencesTable> & { start_at: Date; local_minute: number; iso_dow: number };

/** A SessionSeries of the test data with no filter fields set; its row id. */
async function insertSeries(row: {
  publisherId: number;
  oaId: string;
  identifier: string;
  placeKey: string;
  lat: number;
  lng: number;
  tz?: string;
  updatedAt: Date;
}): Promise<number> {
  const [inserted] = await db
    .insertInto('search_series')
    .values({
      publisher_id: row.publisherId,
      oa_id: row.oaId,
      kind: 'SessionSeries',
      group_oa_id: row.oaId,
      identifier: row.identifier,
      place_key: row.placeKey,
      latitude: row.lat,
      longitude: row.lng,
      ...NO_FILTER_FIELDS,
      ...(row.tz ? { tz: row.tz } : {}),
      doc: '{}',
      detail_doc: '{}',
      updated_at: row.updatedAt,
    })
    .returning('id')
    .execute();
  return Number(inserted!.id);
}

/** Occurrences of the test data, recorded in `into` as the tests compare them. */
async function insertOccurrences(values: OccurrenceValues[], into: Occ[]): Promise<void> {
  if (values.length === 0) return;
  const ids = await db.insertInto('search_occurrences').values(values).returning('id').execute();
  ids.forEach((r, k) =>
    into.push({
      id: Number(r.id),
      series: Number(values[k]!.series_id),
      start: values[k]!.start_at,
      minute: values[k]!.local_minute,
      dow: values[k]!.iso_dow,
      open: values[k]!.status === 'EventScheduled',
    }),
  );
}

/** An occurrence of the test data whose local time is UTC's. */
function utcOccurrence(
  publisherId: number,
  oaId: string,
  seriesId: number,
  start: Date,
  open = true,
): OccurrenceValues {
  return {
    publisher_id: publisherId,
    oa_id: oaId,
    series_id: seriesId,
    kind: 'ScheduledSession',
    start_at: start,
    local_date: start.toISOString().slice(0, 10),
    local_minute: start.getUTCHours() * 60,
    iso_dow: ((start.getUTCDay() + 6) % 7) + 1,
    status: open ? 'EventScheduled' : 'EventCancelled',
    bookable: false,
    doc: '{}',
  };
}

beforeAll(async () => {
  database = await openTestDatabase();
  db = searchDb(database.db);
  const rnd = random(42);
  for (let i = 0; i < 160; i += 1) {
    // Series 0–9 are 50 km away (outside every radius used below).
    const far = i < 10;
    const seriesId = await insertSeries({
      publisherId: 1,
      oaId: `https://p.test/series/${i}`,
      identifier: `p-${String(i).padStart(4, '0')}`,
      placeKey: `place-${i}`,
      lat: CENTRE.lat + (far ? 0.45 : (rnd() - 0.5) * 0.05),
      lng: CENTRE.lng + (rnd() - 0.5) * 0.05,
      updatedAt: NOW,
    });
    seriesIds.push(seriesId);
    // 0 to 6 sessions each, on the hour, some before now and some after the 14 days.
    const count = Math.floor(rnd() * 7);
    const values: OccurrenceValues[] = [];
    for (let k = 0; k < count; k += 1) {
      const start = new Date(NOW.getTime() - DAY + Math.floor(rnd() * 17 * 24) * 3600_000);
      values.push(utcOccurrence(1, `https://p.test/series/${i}/sessions/${k}`, seriesId, start, rnd() > 0.15));
    }
    await insertOccurrences(values, occurrences);
  }
  await refreshOpenStarts(db, seriesIds);
});
afterAll(async () => {
  await database?.close();
});

const seriesFilters = (radiusKm: number): SeriesFilters => ({
  ...emptySeries(['SessionSeries']),
  geo: { ...CENTRE, radiusKm },
});

const window = (extra: Partial<OccurrenceFilters> = {}): OccurrenceFilters => ({
  from: NOW,
  to: new Date(NOW.getTime() + 14 * DAY),
  minuteGte: null,
  minuteLte: null,
  days: null,
  ...extra,
});

/** The expected matches, soonest first (series 0–9 are out of range). */
/** The ids of the open occurrences among `occs` that the filters match, soonest first. */
function matching(occs: Occ[], occ: OccurrenceFilters): number[] {
  return occs
    .filter(
      (o) =>
        o.open &&
        o.start >= occ.from &&
        o.start <= occ.to &&
        (occ.minuteGte === null || o.minute >= occ.minuteGte) &&
        (occ.minuteLte === null || o.minute <= occ.minuteLte) &&
        (occ.days === null || occ.days.includes(o.dow)),
    )
    .sort((a, b) => a.start.getTime() - b.start.getTime() || a.id - b.id)
    .map((o) => o.id);
}

function expected(occ: OccurrenceFilters) {
  const near = new Set(seriesIds.slice(10));
  return matching(
    occurrences.filter((o) => near.has(o.series)),
    occ,
  );
}

const strategies: PageStrategy[] = ['auto', 'walk', 'series'];

describe('upcoming-sessions pages and totals', () => {
  it('finds the same page whichever way it is read, and knows the exact total from a short page', async () => {
    const occ = window();
    const all = expected(occ);
    expect(all.length).toBeGreaterThan(200);
    for (const strategy of strategies) {
      for (const [limit, offset] of [
        [20, 0],
        [20, 40],
        [50, 200],
        [7, all.length - 3],
        [20, all.length],
        [20, all.length + 40],
      ] as const) {
        const found = await searchOccurrences(db, seriesFilters(10), occ, limit, offset, { strategy });
        expect(
          found.rows.map((r) => r.occurrence.id),
          `${strategy} ${limit}@${offset}`,
        ).toEqual(all.slice(offset, offset + limit));
        // Only the window filters: the total is exact on every page (open_starts), past the end too.
        expect(found.total, `${strategy} ${limit}@${offset}`).toBe(all.length);
        expect(found.exact).toBe(true);
      }
    }
  });

  it('estimates a large total under time-of-day and day filters, never below the rows known to exist', async () => {
    const occ = window({ minuteGte: 6 * 60, minuteLte: 20 * 60, days: [1, 2, 3, 4, 5] });
    const all = expected(occ);
    expect(all.length).toBeGreaterThan(60);
    for (const strategy of strategies) {
      const first = await searchOccurrences(db, seriesFilters(10), occ, 20, 0, { strategy });
      expect(first.rows.map((r) => r.occurrence.id)).toEqual(all.slice(0, 20));
      // More than SAMPLE_SERIES series match: the total is an estimate from a sample of them.
      expect(first.exact).toBe(false);
      expect(first.total).toBeGreaterThanOrEqual(21);
      expect(first.total).toBeGreaterThan(all.length * 0.5);
      expect(first.total).toBeLessThan(all.length * 1.5);
      // The last page is short: exact again. A page past the end counts exactly too.
      const lastOffset = Math.floor((all.length - 1) / 20) * 20;
      const last = await searchOccurrences(db, seriesFilters(10), occ, 20, lastOffset, { strategy });
      expect(last.rows.map((r) => r.occurrence.id)).toEqual(all.slice(lastOffset));
      expect([last.total, last.exact]).toEqual([all.length, true]);
      const past = await searchOccurrences(db, seriesFilters(10), occ, 20, all.length + 20, { strategy });
      expect([past.rows.length, past.total, past.exact]).toEqual([0, all.length, true]);
    }
  });

  it('counts exactly under time filters when few series match', async () => {
    const occ = window({ minuteGte: 8 * 60, minuteLte: 18 * 60 });
    // A small radius: at most SAMPLE_SERIES series.
    const radius = 1.2;
    const found = await searchOccurrences(db, seriesFilters(radius), occ, 5, 0);
    expect(seriesIds.length).toBeGreaterThan(SAMPLE_SERIES);
    expect(found.exact).toBe(true);
    const all = await searchOccurrences(db, seriesFilters(radius), occ, 50, 0, { strategy: 'series' });
    expect(all.rows.length).toBeLessThan(50);
    expect(found.total).toBe(all.rows.length);
    expect(found.rows.map((r) => r.occurrence.id)).toEqual(all.rows.slice(0, 5).map((r) => r.occurrence.id));
    expect(found.total).toBeLessThanOrEqual(COUNT_CAP);
  });
});

/*
 * Nearest-first groups (discovery-geo) on a second written read model: 400 IndividualFacilityUse
 * rows in groups of one to three, spread over about 40 × 70 km, a few with no sessions, and four
 * placed 5 m either side of a 5 km radius due east and due north (where degrees and kilometres
 * differ most). The walk of the geo index must give the pages a full sort by haversine distance
 * gives, members included; totals are exact when the walk saw every match, else estimated.
 */
describe('nearest-first groups', () => {
  const R = 6371.0088;
  const haversine = (lat: number, lng: number) => {
    const rad = Math.PI / 180;
    const a =
      Math.sin(((lat - CENTRE.lat) * rad) / 2) ** 2 +
      Math.cos(CENTRE.lat * rad) * Math.cos(lat * rad) * Math.sin(((lng - CENTRE.lng) * rad) / 2) ** 2;
    return 2 * R * Math.asin(Math.sqrt(Math.min(1, a)));
  };
  const east = (km: number) =>
    CENTRE.lng + (2 * Math.asin(Math.sin(km / (2 * R)) / Math.cos((CENTRE.lat * Math.PI) / 180)) * 180) / Math.PI;
  const north = (km: number) => CENTRE.lat + ((km / R) * 180) / Math.PI;
  const rows: { id: number; identifier: string; dist: number; open: boolean }[] = [];
  const kinds = ['IndividualFacilityUse'];

  beforeAll(async () => {
    const rnd = random(7);
    const points: { lat: number; lng: number; identifier: string; open: boolean }[] = [];
    for (let g = 0; points.length < 400; g += 1) {
      const size = 1 + Math.floor(rnd() * 3);
      const lat = CENTRE.lat + (rnd() - 0.5) * 0.36;
      const lng = CENTRE.lng + (rnd() - 0.5) * 1.0;
      for (let m = 0; m < size; m += 1) {
        points.push({
          lat: lat + (rnd() - 0.5) * 0.05,
          lng: lng + (rnd() - 0.5) * 0.08,
          identifier: `g-${String(g).padStart(4, '0')}`,
          open: rnd() > 0.1,
        });
      }
    }
    points.push(
      { lat: CENTRE.lat, lng: east(4.995), identifier: 'edge-e-in', open: true },
      { lat: CENTRE.lat, lng: east(5.005), identifier: 'edge-e-out', open: true },
      { lat: north(4.995), lng: CENTRE.lng, identifier: 'edge-n-in', open: true },
      { lat: north(5.005), lng: CENTRE.lng, identifier: 'edge-n-out', open: true },
    );
    const inserted = await db
      .insertInto('search_series')
      .values(
        points.map((p, i) => ({
          publisher_id: 2,
          oa_id: `https://p.test/facility/${i}`,
          kind: kinds[0]!,
          group_oa_id: p.identifier,
          identifier: p.identifier,
          place_key: `fplace-${i}`,
          latitude: p.lat,
          longitude: p.lng,
          ...NO_FILTER_FIELDS,
          open_starts: p.open ? [new Date(NOW.getTime() + DAY)] : [],
          doc: '{}',
          detail_doc: '{}',
          updated_at: NOW,
        })),
      )
      .returning('id')
      .execute();
    inserted.forEach((r, i) =>
      rows.push({
        id: Number(r.id),
        identifier: points[i]!.identifier,
        dist: haversine(points[i]!.lat, points[i]!.lng),
        open: points[i]!.open,
      }),
    );
  });

  const filters = (radiusKm: number): SeriesFilters => ({ ...emptySeries(kinds), geo: { ...CENTRE, radiusKm } });

  /** Groups within the radius, nearest first (by their nearest matching member), with their members. */
  function expectedGroups(radiusKm: number) {
    const near = new Map<string, { dist: number; members: number[] }>();
    for (const r of rows) {
      if (!r.open || r.dist > radiusKm) continue;
      const g = near.get(r.identifier) ?? { dist: Infinity, members: [] };
      g.dist = Math.min(g.dist, r.dist);
      g.members.push(r.id);
      near.set(r.identifier, g);
    }
    return [...near.entries()]
      .sort(([a, x], [b, y]) => x.dist - y.dist || (a < b ? -1 : a > b ? 1 : 0))
      .map(([identifier, g]) => ({ identifier, members: g.members.sort((a, b) => a - b) }));
  }

  it('walks the geo index to the same pages as a full sort, the 5 km edge exact in every direction', async () => {
    expect(walkBoundFactor({ ...CENTRE, radiusKm: 30 })).not.toBeNull();
    const five = (await searchGroups(db, filters(5), window(), 'distance', 50, 0)).identifiers;
    expect(five).toEqual(expect.arrayContaining(['edge-e-in', 'edge-n-in']));
    expect(five).not.toContain('edge-e-out');
    expect(five).not.toContain('edge-n-out');
    for (const radius of [5, 12, 30]) {
      const all = expectedGroups(radius);
      for (const [limit, offset] of [
        [20, 0],
        [5, 5],
        [20, 40],
        [50, 100],
        [20, all.length - 3],
        [20, all.length + 20],
      ] as const) {
        const label = `${radius} km, ${limit}@${offset}`;
        for (const plan of ['auto', 'walk', 'all'] as const) {
          const found = await searchGroups(db, filters(radius), window(), 'distance', limit, offset, { plan });
          const want = all.slice(offset, offset + limit);
          expect(found.identifiers, `${plan} ${label}`).toEqual(want.map((g) => g.identifier));
          for (const g of want) {
            expect(
              found.members
                .filter((m) => m.identifier === g.identifier)
                .map((m) => m.id)
                .sort((a, b) => a - b),
              `${plan} ${label} ${g.identifier}`,
            ).toEqual(g.members);
          }
          if (found.exact) expect(found.total, `${plan} ${label}`).toBe(all.length);
          else {
            // An estimate: never below what is known to exist, and it keeps a next page.
            expect(plan).not.toBe('all');
            expect(found.total, label).toBeGreaterThan(Math.min(offset + limit, all.length));
            expect(found.total, label).toBeLessThanOrEqual(COUNT_CAP);
          }
        }
      }
    }
  });

  it('counts exactly when the walk reads every match, and estimates near the truth when it stops early', async () => {
    const small = await searchGroups(db, filters(5), window(), 'distance', 20, 0);
    expect([small.total, small.exact]).toEqual([expectedGroups(5).length, true]);
    const large = await searchGroups(db, filters(30), window(), 'distance', 20, 0);
    const truth = expectedGroups(30).length;
    expect(truth).toBeGreaterThan(150);
    expect(large.exact).toBe(false);
    expect(large.total).toBeGreaterThan(truth * 0.4);
    expect(large.total).toBeLessThan(truth * 2.5);
  });
});

/*
 * Time-of-day and day-of-week filters in several time zones: the walk reads only the stretches of
 * the window those local times can fall in (localTimeIntervals), and must give the rows a walk of
 * the whole window gives. Series in three zones (London, New York, Kolkata at +5:30) far from the
 * other tests' centre, local parts computed as the projector does (luxon, the series' zone), over
 * a window holding both the US (8 March) and UK (29 March) clock changes.
 */
describe('time-of-day walks in several zones', () => {
  const HERE = { lat: 40.7, lng: -74 };
  const T0 = new Date('2026-03-05T00:00:00Z');
  const zones = ['Europe/London', 'America/New_York', 'Asia/Kolkata'];
  const occs: Occ[] = [];
  const ids: number[] = [];

  beforeAll(async () => {
    const rnd = random(99);
    for (let i = 0; i < 150; i += 1) {
      const tz = zones[i % zones.length]!;
      const seriesId = await insertSeries({
        publisherId: 3,
        oaId: `https://p.test/tz-series/${i}`,
        identifier: `tz-${String(i).padStart(4, '0')}`,
        placeKey: `tz-place-${i}`,
        lat: HERE.lat + (rnd() - 0.5) * 0.05,
        lng: HERE.lng + (rnd() - 0.5) * 0.05,
        tz,
        updatedAt: T0,
      });
      ids.push(seriesId);
      const values: OccurrenceValues[] = [];
      for (let k = 0; k < 8; k += 1) {
        // Any quarter hour over 16 days.
        const start = new Date(T0.getTime() - DAY + Math.floor(rnd() * 16 * 96) * 900_000);
        const local = DateTime.fromJSDate(start, { zone: tz });
        values.push({
          publisher_id: 3,
          oa_id: `https://p.test/tz-series/${i}/sessions/${k}`,
          series_id: seriesId,
          kind: 'ScheduledSession',
          start_at: start,
          local_date: local.toISODate()!,
          local_minute: local.hour * 60 + local.minute,
          iso_dow: local.weekday,
          status: 'EventScheduled',
          bookable: false,
          doc: '{}',
        });
      }
      await insertOccurrences(values, occs);
    }
    await refreshOpenStarts(db, ids);
  });

  const here = (): SeriesFilters => ({ ...emptySeries(['SessionSeries']), geo: { ...HERE, radiusKm: 10 } });
  const occFilters = (extra: Partial<OccurrenceFilters>): OccurrenceFilters => ({
    from: T0,
    to: new Date(T0.getTime() + 14 * DAY),
    minuteGte: null,
    minuteLte: null,
    days: null,
    ...extra,
  });

  it('lists the zones in use', async () => {
    expect(await seriesTimeZones(db)).toEqual(expect.arrayContaining(zones));
  });

  it('reads only stretches that can hold the local times, and the walk finds what a walk of the whole window finds', async () => {
    const cases: Partial<OccurrenceFilters>[] = [
      { minuteGte: 17 * 60, minuteLte: 21 * 60, days: [2, 4] },
      { minuteGte: 0, minuteLte: 59 },
      { minuteGte: 23 * 60 + 30, minuteLte: 23 * 60 + 59, days: [7] },
      { minuteGte: 6 * 60 + 15 },
      { minuteLte: 9 * 60 + 45 },
      { days: [1] },
      { days: [6, 7], minuteGte: 12 * 60, minuteLte: 12 * 60 },
      { minuteGte: 20 * 60, minuteLte: 8 * 60 },
    ];
    for (const extra of cases) {
      const occ = occFilters(extra);
      const label = JSON.stringify(extra);
      const want = matching(occs, occ);
      const stretches = localTimeIntervals(occ, zones)!;
      // Every match lies in a stretch, and the stretches are disjoint and in order.
      for (const o of occs.filter((x) => want.includes(x.id))) {
        expect(
          stretches.some(([lo, hi]) => o.start >= lo && o.start < hi),
          `${label} ${o.start.toISOString()}`,
        ).toBe(true);
      }
      for (let i = 1; i < stretches.length; i += 1) expect(stretches[i]![0] > stretches[i - 1]![1]).toBe(true);
      for (const [limit, offset] of [
        [20, 0],
        [10, 30],
        [50, 0],
      ] as const) {
        const narrowed = await searchOccurrences(db, here(), occ, limit, offset, { strategy: 'walk' });
        const whole = await searchOccurrences(db, here(), occ, limit, offset, { strategy: 'walk', intervals: false });
        const ids = narrowed.rows.map((r) => r.occurrence.id);
        expect(ids, `${label} ${limit}@${offset}`).toEqual(want.slice(offset, offset + limit));
        expect(whole.rows.map((r) => r.occurrence.id)).toEqual(ids);
        expect([narrowed.total, narrowed.exact]).toEqual([whole.total, whole.exact]);
      }
    }
    // Evenings on two weekdays: 2 × 2 stretches of a few hours each in a 14-day window, not the window.
    const evenings = localTimeIntervals(occFilters({ minuteGte: 17 * 60, minuteLte: 21 * 60, days: [2, 4] }), [
      'Europe/London',
    ])!;
    expect(evenings.length).toBe(4);
    const hours = evenings.reduce((a, [lo, hi]) => a + (hi.getTime() - lo.getTime()), 0) / 3600_000;
    expect(hours).toBeLessThan(4 * 6);
    // Only the window: nothing to narrow.
    expect(localTimeIntervals(occFilters({}), zones)).toBeNull();
  });
});

/*
 * A series with more open sessions than `open_starts_short` holds (200): the searches read its
 * `open_starts` from the row instead, with the same answers.
 */
describe('series with many sessions', () => {
  const THERE = { lat: 53.4, lng: -2.2 };
  let many = 0;
  let few = 0;

  beforeAll(async () => {
    for (const [i, count] of [
      [0, 260],
      [1, 3],
    ] as const) {
      const seriesId = await insertSeries({
        publisherId: 4,
        oaId: `https://p.test/many/${i}`,
        identifier: `many-${i}`,
        placeKey: `many-place-${i}`,
        lat: THERE.lat,
        lng: THERE.lng + i * 0.001,
        updatedAt: NOW,
      });
      if (i === 0) many = seriesId;
      else few = seriesId;
      // Hourly from an hour after NOW: all in the 14-day window.
      const values = Array.from({ length: count }, (_, k) =>
        utcOccurrence(
          4,
          `https://p.test/many/${i}/sessions/${k}`,
          seriesId,
          new Date(NOW.getTime() + (k + 1) * 3600_000),
        ),
      );
      await insertOccurrences(values, []);
    }
    await refreshOpenStarts(db, [many, few]);
  });

  it('keeps open_starts_short for at most 200 starts, and finds and counts the longer series from open_starts', async () => {
    const rows = await db
      .selectFrom('search_series')
      .select(['id', 'open_starts', 'open_starts_short'])
      .where('id', 'in', [many, few])
      .execute();
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    expect(byId.get(many)!.open_starts).toHaveLength(260);
    expect(byId.get(many)!.open_starts_short).toBeNull();
    expect(byId.get(few)!.open_starts_short).toHaveLength(3);

    const there = (): SeriesFilters => ({ ...emptySeries(['SessionSeries']), geo: { ...THERE, radiusKm: 2 } });
    // A window holding 100 of the long series' starts and all 3 of the short one's.
    const occ = window({ to: new Date(NOW.getTime() + 100 * 3600_000) });
    for (const strategy of strategies) {
      const page = await searchOccurrences(db, there(), occ, 20, 60, { strategy });
      expect([page.total, page.exact, page.rows.length]).toEqual([103, true, 20]);
    }
    const groups = await searchGroups(db, there(), occ, 'price-asc', 20, 0);
    expect([groups.total, groups.identifiers.sort()]).toEqual([2, ['many-0', 'many-1']]);
    // A window after the short series' sessions: only the long one has any.
    const later = window({ from: new Date(NOW.getTime() + 200 * 3600_000) });
    const only = await searchGroups(db, there(), later, 'distance', 20, 0, { plan: 'all' });
    expect([only.total, only.identifiers]).toEqual([1, ['many-0']]);
    const walked = await searchGroups(db, there(), later, 'distance', 20, 0, { plan: 'walk' });
    expect([walked.total, walked.identifiers]).toEqual([1, ['many-0']]);
    const sessions = await searchOccurrences(db, there(), later, 20, 0);
    expect([sessions.total, sessions.exact]).toEqual([61, true]);
  });
});
