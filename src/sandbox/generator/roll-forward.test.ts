import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestSandboxDatabase, sharedVocab } from '../../../test/sandbox-helpers.js';
import type { SandboxDatabase } from '../db/database.js';
import { ensureDataset, type DatasetInfo } from './generate.js';
import { rollForward } from './roll-forward.js';

const DAY = 86_400_000;
let database: SandboxDatabase;
const now = new Date();
// Generated three weeks ago: a week of its four is left.
const generatedAt = new Date(now.getTime() - 21 * DAY);

beforeAll(async () => {
  database = await openTestSandboxDatabase();
  await ensureDataset(database.db, sharedVocab(), { seed: 9, sessions: 300, slotDays: 2, now: generatedAt });
}, 120_000);

afterAll(async () => {
  await database?.close();
});

const live = (table: 'scheduled_sessions' | 'slots') =>
  database.db.selectFrom(table).selectAll().where('deleted', '=', false).where('test_dataset', 'is', null).execute();

describe('rollForward', () => {
  it('extends sessions and slots ahead of now, from each series schedule, and retires the old', async () => {
    const before = await live('scheduled_sessions');
    const latest = Math.max(...before.map((s) => new Date(s.start_date).getTime()));
    expect(latest).toBeLessThan(now.getTime() + 8 * DAY);

    const result = await rollForward(database.db, { now });
    expect(result.sessionsAdded).toBeGreaterThan(0);
    expect(result.slotsAdded).toBeGreaterThan(0);
    expect(result.sessionsRetired).toBeGreaterThan(0);

    const sessions = await live('scheduled_sessions');
    const horizon = DateTime.fromJSDate(now, { zone: 'Europe/London' }).startOf('day').plus({ days: 28 }).toMillis();
    const starts = sessions.map((s) => new Date(s.start_date).getTime());
    expect(Math.max(...starts)).toBeGreaterThan(now.getTime() + 20 * DAY);
    expect(Math.max(...starts)).toBeLessThan(horizon);
    for (const s of sessions) expect(new Date(s.end_date).getTime()).toBeGreaterThanOrEqual(now.getTime() - 7 * DAY);
    // No occurrence twice.
    const keys = sessions.map((s) => `${s.session_series_id}@${new Date(s.start_date).toISOString()}`);
    expect(new Set(keys).size).toBe(keys.length);

    // New sessions follow their series' timetable in local time.
    const series = await database.db.selectFrom('session_series').select(['id', 'data']).execute();
    const schedules = new Map(
      series.map((s) => [s.id, s.data!.eventSchedule as { byDay: string[]; startTime: string }[]]),
    );
    const days = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    for (const s of sessions.filter((x) => new Date(x.start_date).getTime() > latest)) {
      const local = DateTime.fromJSDate(new Date(s.start_date), { zone: 'Europe/London' });
      const allowed = schedules
        .get(s.session_series_id)!
        .flatMap((sc) => sc.byDay.map((d) => `${d.replace('https://schema.org/', '')} ${sc.startTime}`));
      expect(allowed).toContain(`${days[local.weekday - 1]} ${local.toFormat('HH:mm')}`);
      expect(s.remaining_attendee_capacity).toBeLessThanOrEqual(s.maximum_attendee_capacity);
    }

    const slots = await live('slots');
    expect(Math.max(...slots.map((s) => new Date(s.start_date).getTime()))).toBeGreaterThan(now.getTime() + 5 * DAY);
    const slotKeys = slots.map((s) => `${s.individual_facility_use_id}@${new Date(s.start_date).toISOString()}`);
    expect(new Set(slotKeys).size).toBe(slotKeys.length);

    const meta = await database.db
      .selectFrom('sandbox_meta')
      .select('value')
      .where('key', '=', 'dataset')
      .executeTakeFirstOrThrow();
    expect(new Date((meta.value as DatasetInfo).sessionsUntil!).getTime()).toBe(horizon);
  });

  it('adds nothing when run again at the same time', async () => {
    expect(await rollForward(database.db, { now })).toEqual({
      sessionsAdded: 0,
      slotsAdded: 0,
      sessionsRetired: 0,
      slotsRetired: 0,
    });
  });
});
