import { DateTime } from 'luxon';

export const DAY_URLS = [
  'https://schema.org/Monday',
  'https://schema.org/Tuesday',
  'https://schema.org/Wednesday',
  'https://schema.org/Thursday',
  'https://schema.org/Friday',
  'https://schema.org/Saturday',
  'https://schema.org/Sunday',
] as const;

/** A weekly timetable in local time (Modelling Opportunity Data §3.4 `Schedule`). */
export interface WeeklySchedule {
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  days: number[];
  /** Local wall-clock start, `HH:mm`. */
  startTime: string;
  durationMinutes: number;
  /** IANA zone, e.g. Europe/London. */
  timezone: string;
  /** Local dates (YYYY-MM-DD) bounding the schedule, inclusive; absent = open-ended. */
  startDate?: string | undefined;
  endDate?: string | undefined;
}

export interface Occurrence {
  start: Date;
  end: Date;
}

interface LocalDay {
  year: number;
  month: number;
  day: number;
  weekday: number;
  iso: string;
}

/**
 * Expands weekly schedules. Zone arithmetic is most of the cost of generating a large data set
 * (every luxon DateTime in a named zone asks Intl for its offset), and the same local days and
 * start times recur across thousands of series, so the expander remembers the local calendar of
 * a window and the instant of each local day + time it has resolved. One expander per run.
 */
export function createScheduleExpander() {
  const calendars = new Map<string, LocalDay[]>();
  const instants = new Map<string, number>();

  const calendar = (zone: string, from: Date, until: Date): LocalDay[] => {
    const key = `${zone}|${from.getTime()}|${until.getTime()}`;
    let days = calendars.get(key);
    if (!days) {
      days = [];
      let day = DateTime.fromJSDate(from, { zone }).startOf('day');
      const last = DateTime.fromJSDate(until, { zone }).startOf('day');
      while (day <= last) {
        days.push({ year: day.year, month: day.month, day: day.day, weekday: day.weekday, iso: day.toISODate()! });
        day = day.plus({ days: 1 });
      }
      calendars.set(key, days);
    }
    return days;
  };

  const instant = (zone: string, d: LocalDay, hour: number, minute: number): number => {
    const key = `${zone}|${d.iso}|${hour}|${minute}`;
    let ms = instants.get(key);
    if (ms === undefined) {
      ms = DateTime.fromObject({ year: d.year, month: d.month, day: d.day, hour, minute }, { zone }).toMillis();
      instants.set(key, ms);
    }
    return ms;
  };

  /**
   * The occurrences of `schedule` whose start lies in [from, until). Each one is built from the
   * local date and wall-clock time in the schedule's zone, so a 09:00 class stays at 09:00 local
   * across the clock change (08:00Z in summer, 09:00Z in winter). As luxon resolves them, a start
   * in the spring-forward gap moves to the first valid local time, and a start in the repeated
   * autumn hour takes its second (GMT) occurrence. Durations are elapsed time.
   */
  return function expand(schedule: WeeklySchedule, from: Date, until: Date): Occurrence[] {
    const [hour, minute] = schedule.startTime.split(':').map(Number) as [number, number];
    const out: Occurrence[] = [];
    for (const d of calendar(schedule.timezone, from, until)) {
      if (schedule.startDate && d.iso < schedule.startDate) continue;
      if (schedule.endDate && d.iso > schedule.endDate) continue;
      if (!schedule.days.includes(d.weekday)) continue;
      const start = instant(schedule.timezone, d, hour, minute);
      if (start >= from.getTime() && start < until.getTime()) {
        out.push({ start: new Date(start), end: new Date(start + schedule.durationMinutes * 60_000) });
      }
    }
    return out;
  };
}

/** One-off expansion (see createScheduleExpander for the rules). */
export function expandWeekly(schedule: WeeklySchedule, from: Date, until: Date): Occurrence[] {
  return createScheduleExpander()(schedule, from, until);
}

function endTime(startTime: string, minutes: number): string {
  const [h, m] = startTime.split(':').map(Number) as [number, number];
  const total = (h * 60 + m + minutes) % (24 * 60);
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** The schedule as published in `eventSchedule` (data-models requires `scheduleTimezone`). */
export function renderSchedule(schedule: WeeklySchedule, durationIso: string): Record<string, unknown> {
  return {
    '@type': 'Schedule',
    ...(schedule.startDate ? { startDate: schedule.startDate } : {}),
    ...(schedule.endDate ? { endDate: schedule.endDate } : {}),
    repeatFrequency: 'P1W',
    byDay: schedule.days.map((d) => DAY_URLS[d - 1]),
    startTime: schedule.startTime,
    endTime: endTime(schedule.startTime, schedule.durationMinutes),
    duration: durationIso,
    scheduleTimezone: schedule.timezone,
    scheduledEventType: 'ScheduledSession',
  };
}
