const DATE = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/London',
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
});
const TIME = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/London',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

function valid(iso: string | null | undefined): Date | null {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "Saturday 28 November 2026" in UK time, built from parts (ICU versions punctuate differently). */
function day(d: Date): string {
  const part = (type: Intl.DateTimeFormatPartTypes) => DATE.formatToParts(d).find((p) => p.type === type)?.value ?? '';
  return `${part('weekday')} ${part('day')} ${part('month')} ${part('year')}`;
}

/** "Saturday 28 November 2026, 18:30–19:30" (UK time), or the raw text when unparseable. */
export function when(start: string, end?: string | null): string {
  const s = valid(start);
  if (!s) return start;
  const e = valid(end);
  const text = `${day(s)}, ${TIME.format(s)}`;
  return e ? `${text}–${TIME.format(e)}` : text;
}

/** The machine-readable value for a <time> element. */
export function isoOrNull(value: string): string | null {
  return valid(value)?.toISOString() ?? null;
}
