import { Duration, DateTime } from 'luxon';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { SandboxDB } from '../db/schema.js';
import { lockFeedWrites } from '../opportunities.js';
import { TIMEZONE, slotTimes, type DatasetInfo } from './generate.js';
import { createRng } from './prng.js';
import { DAY_URLS, createScheduleExpander, type WeeklySchedule } from './schedule.js';

/*
 * Keeps a long-running sandbox's timetable current: the generated data covers a few weeks from
 * the day it was made, so without this a sandbox started a month ago would publish only the
 * past. Each run extends every generated series' sessions (from its own eventSchedule) and every
 * court's slots to `horizonDays` / `slotDays` ahead of now, and tombstones what ended more than
 * `retentionDays` ago (RPDE retention: deleted, not removed; openactive.md §2.4).
 */

export interface RollForwardOptions {
  now: Date;
  horizonDays?: number;
  slotDays?: number;
  retentionDays?: number;
  batchSize?: number;
}

export interface RollForwardResult {
  sessionsAdded: number;
  slotsAdded: number;
  sessionsRetired: number;
  slotsRetired: number;
}

interface PublishedSchedule {
  byDay?: string[];
  startTime?: string;
  duration?: string;
  scheduleTimezone?: string;
  startDate?: string;
  endDate?: string;
}

function toWeekly(s: PublishedSchedule): WeeklySchedule | undefined {
  if (!s.startTime || !s.byDay || !s.duration) return undefined;
  const days = s.byDay.map((d) => DAY_URLS.indexOf(d as (typeof DAY_URLS)[number]) + 1).filter((d) => d > 0);
  const minutes = Duration.fromISO(s.duration).as('minutes');
  if (!days.length || !Number.isFinite(minutes) || minutes <= 0) return undefined;
  return {
    days,
    startTime: s.startTime,
    durationMinutes: minutes,
    timezone: s.scheduleTimezone ?? TIMEZONE,
    startDate: s.startDate,
    endDate: s.endDate,
  };
}

async function readInfo(db: Transaction<SandboxDB>): Promise<DatasetInfo | undefined> {
  const row = await db.selectFrom('sandbox_meta').select('value').where('key', '=', 'dataset').executeTakeFirst();
  return row?.value as DatasetInfo | undefined;
}

/**
 * One transaction: if it fails half-way nothing was added, and the stored horizon still says
 * where to continue from. It holds the feed-write lock throughout (bookings wait a moment).
 */
export async function rollForward(db: Kysely<SandboxDB>, options: RollForwardOptions): Promise<RollForwardResult> {
  return db.transaction().execute(async (trx) => {
    await lockFeedWrites(trx);
    return extend(trx, options);
  });
}

async function extend(db: Transaction<SandboxDB>, options: RollForwardOptions): Promise<RollForwardResult> {
  const info = await readInfo(db);
  const result: RollForwardResult = { sessionsAdded: 0, slotsAdded: 0, sessionsRetired: 0, slotsRetired: 0 };
  if (!info) return result;
  const today = DateTime.fromJSDate(options.now, { zone: TIMEZONE }).startOf('day');
  const anchor = DateTime.fromISO(info.anchor, { zone: TIMEZONE });
  const sessionsFrom = info.sessionsUntil ? new Date(info.sessionsUntil) : anchor.plus({ days: 28 }).toJSDate();
  const slotsFrom = info.slotsUntil ? new Date(info.slotsUntil) : anchor.plus({ days: 7 }).toJSDate();
  const sessionsUntil = today.plus({ days: options.horizonDays ?? 28 }).toJSDate();
  const slotsUntil = today.plus({ days: options.slotDays ?? 7 }).toJSDate();
  const retireBefore = new Date(options.now.getTime() - (options.retentionDays ?? 7) * 86_400_000);
  const batch = options.batchSize ?? 500;
  const expand = createScheduleExpander();
  const rng = createRng(info.seed);

  // New sessions, series by series in id order (keyset batches keep memory flat).
  if (sessionsUntil > sessionsFrom) {
    for (let after = 0; ;) {
      const series = await db
        .selectFrom('session_series')
        .select(['id', 'data'])
        .where('id', '>', after)
        .where('deleted', '=', false)
        .where('test_dataset', 'is', null)
        .orderBy('id')
        .limit(batch)
        .execute();
      if (series.length === 0) break;
      after = series.at(-1)!.id;
      const capacities = new Map(
        (
          await db
            .selectFrom('scheduled_sessions')
            .select(['session_series_id', (eb) => eb.fn.max('maximum_attendee_capacity').as('capacity')])
            .where(
              'session_series_id',
              'in',
              series.map((s) => s.id),
            )
            .groupBy('session_series_id')
            .execute()
        ).map((r) => [r.session_series_id, Number(r.capacity)]),
      );
      const rows = series.flatMap((s) => {
        const schedules = ((s.data?.eventSchedule as PublishedSchedule[] | undefined) ?? [])
          .map(toWeekly)
          .filter((w): w is WeeklySchedule => w !== undefined);
        const capacity = capacities.get(s.id) ?? 20;
        return schedules
          .flatMap((w) => expand(w, sessionsFrom, sessionsUntil))
          .map((o) => {
            const r = rng.derive('roll', s.id, o.start.getTime());
            return {
              session_series_id: s.id,
              start_date: o.start,
              end_date: o.end,
              maximum_attendee_capacity: capacity,
              remaining_attendee_capacity: r.chance(0.1) ? 0 : r.int(Math.ceil(capacity / 3), capacity),
            };
          });
      });
      for (let i = 0; i < rows.length; i += 1000) {
        await db
          .insertInto('scheduled_sessions')
          .values(rows.slice(i, i + 1000))
          .execute();
      }
      result.sessionsAdded += rows.length;
    }
  }

  // New slots for every court, in the same daily windows and length as its existing slots.
  if (slotsUntil > slotsFrom) {
    const days: { weekday: number; from: Date; until: Date }[] = [];
    for (
      let d = DateTime.fromJSDate(slotsFrom, { zone: TIMEZONE });
      d.toJSDate() < slotsUntil;
      d = d.plus({ days: 1 })
    ) {
      days.push({ weekday: d.weekday, from: d.toJSDate(), until: d.plus({ days: 1 }).toJSDate() });
    }
    const units = await db
      .selectFrom('individual_facility_uses')
      .innerJoin('facility_uses', 'facility_uses.id', 'individual_facility_uses.facility_use_id')
      .select(['individual_facility_uses.id', 'individual_facility_uses.facility_use_id'])
      .where('individual_facility_uses.deleted', '=', false)
      .where('facility_uses.deleted', '=', false)
      .where('facility_uses.test_dataset', 'is', null)
      .orderBy('individual_facility_uses.id')
      .execute();
    const lengths = new Map(
      (
        await db
          .selectFrom('slots')
          .select([
            'facility_use_id',
            sql<number>`max(extract(epoch from end_date - start_date) / 60)::int`.as('minutes'),
          ])
          .where('test_dataset', 'is', null)
          .groupBy('facility_use_id')
          .execute()
      ).map((r) => [r.facility_use_id, Number(r.minutes)]),
    );
    for (const unit of units) {
      const minutes = lengths.get(unit.facility_use_id);
      if (!minutes) continue;
      const rows = days.flatMap((day) =>
        slotTimes(day.weekday, minutes).flatMap((time) =>
          expand(
            { days: [day.weekday], startTime: time, durationMinutes: minutes, timezone: TIMEZONE },
            day.from,
            day.until,
          ).map((o) => ({
            facility_use_id: unit.facility_use_id,
            individual_facility_use_id: unit.id,
            start_date: o.start,
            end_date: o.end,
            maximum_uses: 1,
            remaining_uses: rng.derive('slot', unit.id, o.start.getTime()).chance(0.3) ? 0 : 1,
          })),
        ),
      );
      for (let i = 0; i < rows.length; i += 1000) {
        await db
          .insertInto('slots')
          .values(rows.slice(i, i + 1000))
          .execute();
      }
      result.slotsAdded += rows.length;
    }
  }

  result.sessionsRetired = Number(
    (
      await db
        .updateTable('scheduled_sessions')
        .set({ deleted: true, data: null })
        .where('end_date', '<', retireBefore)
        .where('deleted', '=', false)
        .executeTakeFirst()
    ).numUpdatedRows,
  );
  result.slotsRetired = Number(
    (
      await db
        .updateTable('slots')
        .set({ deleted: true })
        .where('end_date', '<', retireBefore)
        .where('deleted', '=', false)
        .executeTakeFirst()
    ).numUpdatedRows,
  );
  const next: DatasetInfo = {
    ...info,
    sessionsUntil: (sessionsUntil > sessionsFrom ? sessionsUntil : sessionsFrom).toISOString(),
    slotsUntil: (slotsUntil > slotsFrom ? slotsUntil : slotsFrom).toISOString(),
  };
  await db
    .updateTable('sandbox_meta')
    .set({ value: JSON.stringify(next) })
    .where('key', '=', 'dataset')
    .execute();
  return result;
}
