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

/**
 * The occurrences of `schedule` whose start lies in [from, until). Each one is built from the
 * local date and wall-clock time in the schedule's zone, so a 09:00 class stays at 09:00 local
 * across the clock change (08:00Z in summer, 09:00Z in winter). As luxon resolves them, a start
 * in the spring-forward gap moves to the first valid local time, and a start in the repeated
 * autumn hour takes its second (GMT) occurrence.
 */
export function expandWeekly(schedule: WeeklySchedule, from: Date, until: Date): Occurrence[] {
  const [hour, minute] = schedule.startTime.split(':').map(Number) as [number, number];
  const zone = schedule.timezone;
  let day = DateTime.fromJSDate(from, { zone }).startOf('day');
  const last = DateTime.fromJSDate(until, { zone }).startOf('day');
  const startBound = schedule.startDate ? DateTime.fromISO(schedule.startDate, { zone }) : undefined;
  const endBound = schedule.endDate ? DateTime.fromISO(schedule.endDate, { zone }) : undefined;
  const out: Occurrence[] = [];
  while (day <= last) {
    const inRange = (!startBound || day >= startBound) && (!endBound || day <= endBound);
    if (inRange && schedule.days.includes(day.weekday)) {
      const start = DateTime.fromObject({ year: day.year, month: day.month, day: day.day, hour, minute }, { zone });
      const startDate = start.toJSDate();
      if (startDate >= from && startDate < until) {
        out.push({ start: startDate, end: start.plus({ minutes: schedule.durationMinutes }).toJSDate() });
      }
    }
    day = day.plus({ days: 1 });
  }
  return out;
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
