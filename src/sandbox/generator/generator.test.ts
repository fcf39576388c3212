import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestSandboxDatabase, sharedVocab } from '../../../test/sandbox-helpers.js';
import type { SandboxDatabase } from '../db/database.js';
import { generateDataset, type GenerateCounts } from './generate.js';
import { createRng } from './prng.js';
import { expandWeekly } from './schedule.js';

const ANCHOR = new Date('2026-03-23T00:00:00Z');

async function snapshot(database: SandboxDatabase) {
  const db = database.db;
  // Everything except the feed's `modified`, which comes from a sequence and may differ.
  const strip = <T extends { modified?: unknown }>(rows: T[]) => rows.map(({ modified: _m, ...rest }) => rest);
  return {
    sellers: strip(await db.selectFrom('sellers').selectAll().orderBy('id').execute()),
    places: strip(await db.selectFrom('places').selectAll().orderBy('id').execute()),
    series: strip(await db.selectFrom('session_series').selectAll().orderBy('id').execute()),
    sessions: strip(await db.selectFrom('scheduled_sessions').selectAll().orderBy('id').execute()),
    facilityUses: strip(await db.selectFrom('facility_uses').selectAll().orderBy('id').execute()),
    individual: await db.selectFrom('individual_facility_uses').selectAll().orderBy('id').execute(),
    slots: strip(await db.selectFrom('slots').selectAll().orderBy('id').execute()),
    offers: await db.selectFrom('offers').selectAll().orderBy('id').execute(),
  };
}

describe('seeded PRNG', () => {
  it('repeats exactly for a seed and differs between seeds and derived streams', () => {
    const draw = (seed: number) =>
      Array.from(
        { length: 5 },
        (() => {
          const rng = createRng(seed);
          return () => rng.next();
        })(),
      );
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    const root = createRng(42);
    expect(root.derive('series', 1).next()).toBe(createRng(42).derive('series', 1).next());
    expect(root.derive('series', 1).next()).not.toBe(root.derive('series', 2).next());
    const rng = createRng(7);
    for (let i = 0; i < 1000; i += 1) {
      const n = rng.int(3, 9);
      expect(n).toBeGreaterThanOrEqual(3);
      expect(n).toBeLessThanOrEqual(9);
    }
  });
});

describe('weekly schedule expansion (Europe/London)', () => {
  const schedule = { days: [1, 3, 7], startTime: '09:00', durationMinutes: 60, timezone: 'Europe/London' };

  it('keeps local wall-clock time across the spring clock change (29 March 2026)', () => {
    const occurrences = expandWeekly(schedule, new Date('2026-03-23T00:00:00Z'), new Date('2026-04-06T00:00:00Z'));
    const iso = occurrences.map((o) => o.start.toISOString());
    expect(iso).toEqual([
      '2026-03-23T09:00:00.000Z', // Mon, GMT
      '2026-03-25T09:00:00.000Z', // Wed, GMT
      '2026-03-29T08:00:00.000Z', // Sun: clocks went forward at 01:00 UTC, 09:00 BST
      '2026-03-30T08:00:00.000Z',
      '2026-04-01T08:00:00.000Z',
      '2026-04-05T08:00:00.000Z',
    ]);
    for (const o of occurrences) {
      expect(DateTime.fromJSDate(o.start, { zone: 'Europe/London' }).toFormat('HH:mm')).toBe('09:00');
      expect(o.end.getTime() - o.start.getTime()).toBe(3_600_000);
    }
  });

  it('keeps local wall-clock time across the autumn clock change (25 October 2026)', () => {
    const occurrences = expandWeekly(
      { ...schedule, days: [6, 7] },
      new Date('2026-10-23T00:00:00Z'),
      new Date('2026-10-27T00:00:00Z'),
    );
    expect(occurrences.map((o) => o.start.toISOString())).toEqual([
      '2026-10-24T08:00:00.000Z', // Sat 09:00 BST
      '2026-10-25T09:00:00.000Z', // Sun 09:00 GMT: clocks went back at 01:00 UTC
    ]);
  });

  it('resolves the repeated hour of the autumn change to its second (GMT) occurrence', () => {
    const [o] = expandWeekly(
      { ...schedule, days: [7], startTime: '01:30' },
      new Date('2026-10-25T00:00:00Z'),
      new Date('2026-10-26T00:00:00Z'),
    );
    expect(o!.start.toISOString()).toBe('2026-10-25T01:30:00.000Z');
  });

  it('moves a start in the spring-forward gap to the first valid local time', () => {
    const [o] = expandWeekly(
      { ...schedule, days: [7], startTime: '01:30' },
      new Date('2026-03-29T00:00:00Z'),
      new Date('2026-03-30T00:00:00Z'),
    );
    expect(o!.start.toISOString()).toBe('2026-03-29T01:30:00.000Z'); // 02:30 BST: 01:30 GMT does not exist
  });

  it('respects the schedule bounds and the requested window', () => {
    const occurrences = expandWeekly(
      { ...schedule, startDate: '2026-03-25', endDate: '2026-03-30' },
      new Date('2026-03-20T00:00:00Z'),
      new Date('2026-04-20T00:00:00Z'),
    );
    expect(occurrences.map((o) => o.start.toISOString().slice(0, 10))).toEqual([
      '2026-03-25',
      '2026-03-29',
      '2026-03-30',
    ]);
  });
});

describe('data generator', () => {
  let a: SandboxDatabase;
  let b: SandboxDatabase;
  let counts: GenerateCounts;

  beforeAll(async () => {
    [a, b] = await Promise.all([openTestSandboxDatabase(), openTestSandboxDatabase()]);
    // Something already in b's sequences must not change the generated ids.
    await b.db.insertInto('sandbox_meta').values({ key: 'x', value: '1' }).execute();
    counts = await generateDataset(a.db, sharedVocab(), { seed: 42, sessions: 600, anchor: ANCHOR });
    await generateDataset(b.db, sharedVocab(), { seed: 42, sessions: 600, anchor: ANCHOR });
  }, 120_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('produces the same ids and content for the same seed and anchor', async () => {
    const [sa, sb] = await Promise.all([snapshot(a), snapshot(b)]);
    expect(sa.sessions.length).toBe(600);
    expect(sa).toEqual(sb);
  });

  it('produces different data for another seed', async () => {
    const c = await openTestSandboxDatabase();
    try {
      await generateDataset(c.db, sharedVocab(), { seed: 43, sessions: 600, anchor: ANCHOR });
      const [sa, sc] = await Promise.all([snapshot(a), snapshot(c)]);
      expect(sc.sellers).toEqual(sa.sellers);
      expect(sc.series).not.toEqual(sa.series);
    } finally {
      await c.close();
    }
  }, 60_000);

  it('makes the requested number of sessions and a realistic mix', async () => {
    expect(counts.scheduledSessions).toBe(600);
    expect(counts.sellers).toBeGreaterThanOrEqual(4);
    expect(counts.sellers).toBeLessThanOrEqual(6);
    expect(counts.places).toBeGreaterThanOrEqual(20);
    expect(counts.places).toBeLessThanOrEqual(40);
    expect(counts.slots).toBeGreaterThan(0);
    const sellers = await a.db.selectFrom('sellers').selectAll().execute();
    expect(new Set(sellers.map((s) => s.tax_mode))).toEqual(
      new Set(['https://openactive.io/TaxGross', 'https://openactive.io/TaxNet']),
    );
    expect(sellers.every((s) => s.is_open_booking_allowed && Array.isArray(s.data?.termsOfService))).toBe(true);

    const sessions = await a.db.selectFrom('scheduled_sessions').selectAll().execute();
    expect(sessions.some((s) => s.remaining_attendee_capacity === 0)).toBe(true);
    expect(sessions.some((s) => s.event_status === 'https://schema.org/EventCancelled')).toBe(true);
    for (const s of sessions) {
      expect(new Date(s.start_date).getTime()).toBeGreaterThanOrEqual(ANCHOR.getTime());
      expect(new Date(s.start_date).getTime()).toBeLessThan(ANCHOR.getTime() + 28 * 86_400_000 + 86_400_000);
    }

    const series = await a.db.selectFrom('session_series').selectAll().execute();
    const modes = series.map((s) => s.data?.eventAttendanceMode);
    expect(modes).toContain('https://schema.org/OnlineEventAttendanceMode');
    expect(
      series
        .filter((s) => s.data?.eventAttendanceMode === 'https://schema.org/OnlineEventAttendanceMode')
        .every((s) => s.place_id === null),
    ).toBe(true);
    expect(series.some((s) => typeof s.data?.schedulingNote === 'string')).toBe(true); // courses
    const offers = await a.db.selectFrom('offers').selectAll().execute();
    expect(offers.some((o) => o.price_minor === 0)).toBe(true);
    expect(offers.some((o) => o.membership_required)).toBe(true);
    expect(offers.some((o) => o.age_max !== null && o.age_max < 18)).toBe(true);
  });

  it('uses only activities and facility types from the vendored OpenActive lists', async () => {
    const vocab = sharedVocab();
    const series = await a.db.selectFrom('session_series').select('data').execute();
    for (const s of series) {
      for (const c of s.data!.activity as { '@id': string; prefLabel: string; inScheme: string }[]) {
        expect(vocab.activityById(c['@id'])?.prefLabel).toBe(c.prefLabel);
        expect(c.inScheme).toBe('https://openactive.io/activity-list');
      }
    }
    const facilities = await a.db.selectFrom('facility_uses').select('data').execute();
    const types = new Map(vocab.allFacilityTypes().map((c) => [c.id, c.prefLabel]));
    for (const f of facilities) {
      for (const c of f.data!.facilityType as { '@id': string; prefLabel: string; inScheme: string }[]) {
        expect(types.get(c['@id'])).toBe(c.prefLabel);
        expect(c.inScheme).toBe('https://openactive.io/facility-types');
      }
    }
  });

  it('expands each series from its eventSchedule (sessions fall on the scheduled local days and times)', async () => {
    const series = await a.db.selectFrom('session_series').selectAll().orderBy('id').limit(20).execute();
    const dayNames = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    for (const s of series) {
      const schedules = s.data!.eventSchedule as { byDay: string[]; startTime: string; scheduleTimezone: string }[];
      const allowed = new Set(
        schedules.flatMap((sc) => sc.byDay.map((d) => `${d.replace('https://schema.org/', '')} ${sc.startTime}`)),
      );
      const sessions = await a.db
        .selectFrom('scheduled_sessions')
        .select('start_date')
        .where('session_series_id', '=', s.id)
        .execute();
      for (const session of sessions) {
        const local = DateTime.fromJSDate(new Date(session.start_date), { zone: 'Europe/London' });
        expect(allowed).toContain(`${dayNames[local.weekday - 1]} ${local.toFormat('HH:mm')}`);
      }
    }
  });

  it('leaves id sequences past the generated ids', async () => {
    const max = await a.db
      .selectFrom('scheduled_sessions')
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirstOrThrow();
    const inserted = await a.db
      .insertInto('scheduled_sessions')
      .values({
        session_series_id: 1,
        start_date: new Date('2026-04-01T10:00:00Z'),
        end_date: new Date('2026-04-01T11:00:00Z'),
        maximum_attendee_capacity: 5,
        remaining_attendee_capacity: 5,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    expect(inserted.id).toBe(Number(max.max) + 1);
  });
});
