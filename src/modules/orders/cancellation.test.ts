import { DateTime, Duration } from 'luxon';
import { describe, expect, it } from 'vitest';
import { cancellationDeadline, isPresentlyCancellable, readCancellationBody } from './cancellation.js';

/*
 * imin:isPresentlyCancellable (imin-booking §3.3–3.4, openactive.md §1.11): status, start, and
 * the offer's latestCancellationBeforeStartDate, across the UK clock changes.
 */

const CONFIRMED = 'https://openactive.io/OrderItemConfirmed';

/** The deadline worked out by luxon alone, with the zone given by name (no remembered offsets). */
function reference(start: Date, latest: string, zone: string): number {
  const d = Duration.fromISO(latest).toObject();
  return DateTime.fromJSDate(start, { zone })
    .minus({ years: d.years ?? 0, months: d.months ?? 0, weeks: d.weeks ?? 0, days: d.days ?? 0 })
    .minus({ hours: d.hours ?? 0, minutes: d.minutes ?? 0, seconds: d.seconds ?? 0 })
    .toMillis();
}
const offer = (extra: Record<string, unknown> = {}) => ({ allowCustomerCancellationFullRefund: true, ...extra });
const at = (iso: string) => new Date(iso);
const can = (start: string, now: string, o: Record<string, unknown> = offer(), status = CONFIRMED, testMode = false) =>
  isPresentlyCancellable({ status, startDate: start, offer: o, testMode }, at(now));

describe('cancellationDeadline', () => {
  it('counts days on the UK calendar across the spring clock change (23 elapsed hours)', () => {
    // Sunday 29 March 2026, clocks go forward at 01:00 GMT; 10:00 BST = 09:00Z.
    expect(cancellationDeadline(at('2026-03-29T09:00:00Z'), 'P1D')?.toISOString()).toBe('2026-03-28T10:00:00.000Z');
    // Exact hours stay exact.
    expect(cancellationDeadline(at('2026-03-29T09:00:00Z'), 'PT24H')?.toISOString()).toBe('2026-03-28T09:00:00.000Z');
  });

  it('counts days on the UK calendar across the autumn clock change (25 elapsed hours)', () => {
    // Sunday 25 October 2026, clocks go back at 02:00 BST; 10:00 GMT = 10:00Z.
    expect(cancellationDeadline(at('2026-10-25T10:00:00Z'), 'P1D')?.toISOString()).toBe('2026-10-24T09:00:00.000Z');
    expect(cancellationDeadline(at('2026-10-25T10:00:00Z'), 'P1W')?.toISOString()).toBe('2026-10-18T09:00:00.000Z');
    expect(cancellationDeadline(at('2026-10-25T10:00:00Z'), 'P1DT2H')?.toISOString()).toBe('2026-10-24T07:00:00.000Z');
  });

  it('is the start without a duration, and unknown for one that cannot be read', () => {
    expect(cancellationDeadline(at('2026-06-01T09:00:00Z'), undefined)?.toISOString()).toBe('2026-06-01T09:00:00.000Z');
    expect(cancellationDeadline(at('2026-06-01T09:00:00Z'), 'one day')).toBeUndefined();
    expect(cancellationDeadline(at('2026-06-01T09:00:00Z'), 42)).toBeUndefined();
  });
});

describe('isPresentlyCancellable', () => {
  it('follows the window to the second', () => {
    const start = '2026-06-10T18:00:00Z';
    const o = offer({ latestCancellationBeforeStartDate: 'PT2H' });
    expect(can(start, '2026-06-10T15:59:59Z', o)).toBe(true);
    expect(can(start, '2026-06-10T16:00:00Z', o)).toBe(true);
    expect(can(start, '2026-06-10T16:00:01Z', o)).toBe(false);
  });

  it('DST: P1D before a Sunday-morning session on the day clocks change', () => {
    const spring = offer({ latestCancellationBeforeStartDate: 'P1D' });
    // 09:30Z Saturday is 23.5 h before; a 24 h rule would have closed at 09:00Z.
    expect(can('2026-03-29T09:00:00Z', '2026-03-28T09:30:00Z', spring)).toBe(true);
    expect(can('2026-03-29T09:00:00Z', '2026-03-28T10:00:01Z', spring)).toBe(false);
    // Autumn: closes at 09:00Z Saturday, 25 h before the start.
    expect(can('2026-10-25T10:00:00Z', '2026-10-24T08:59:59Z', spring)).toBe(true);
    expect(can('2026-10-25T10:00:00Z', '2026-10-24T09:30:00Z', spring)).toBe(false);
  });

  it('is false once started, when not confirmed, or when the offer does not refund', () => {
    expect(can('2026-06-10T18:00:00Z', '2026-06-10T18:00:00Z')).toBe(false);
    expect(can('2026-06-10T18:00:00Z', '2026-06-10T17:59:59Z')).toBe(true);
    for (const status of [
      'https://openactive.io/CustomerCancelled',
      'https://openactive.io/SellerCancelled',
      'https://openactive.io/AttendeeAttended',
      'activehub:Pending',
    ]) {
      expect(can('2026-06-10T18:00:00Z', '2026-06-01T00:00:00Z', offer(), status)).toBe(false);
    }
    expect(can('2026-06-10T18:00:00Z', '2026-06-01T00:00:00Z', {})).toBe(false);
    expect(can('2026-06-10T18:00:00Z', '2026-06-01T00:00:00Z', { allowCustomerCancellationFullRefund: false })).toBe(
      false,
    );
    // Test-mode orders: an offer that says nothing about refunds counts as refundable.
    expect(can('2026-06-10T18:00:00Z', '2026-06-01T00:00:00Z', {}, CONFIRMED, true)).toBe(true);
    expect(
      can('2026-06-10T18:00:00Z', '2026-06-01T00:00:00Z', offer({ latestCancellationBeforeStartDate: 'soon' })),
    ).toBe(false);
    expect(
      isPresentlyCancellable({ status: CONFIRMED, startDate: null, offer: offer(), testMode: false }, new Date()),
    ).toBe(false);
  });
});

describe('readCancellationBody', () => {
  const orderUrl = 'http://x.test/api/v2/orders/0bac05e5-b207-4794-80b8-6c94211643c5';
  const cancelled = 'https://openactive.io/CustomerCancelled';
  it('reads @id and id forms and names the OpenActive error of each mistake', () => {
    expect(
      readCancellationBody(
        {
          '@context': 'https://openactive.io/',
          '@type': 'Order',
          orderedItem: [
            { '@type': 'OrderItem', '@id': `${orderUrl}/order-items/abc`, orderItemStatus: cancelled },
            { type: 'OrderItem', id: 'def', orderItemStatus: cancelled },
          ],
        },
        orderUrl,
      ),
    ).toEqual(['abc', 'def']);
    const code = (body: unknown) => {
      try {
        readCancellationBody(body, orderUrl);
        return 'none';
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    expect(code({ orderedItem: [{ id: 'a', orderItemStatus: cancelled }], totalPaymentDue: 0 })).toBe(
      'PATCH_EXCESSIVE_PROPERTIES',
    );
    expect(code({ orderedItem: [{ id: 'a', orderItemStatus: 'https://openactive.io/OrderItemConfirmed' }] })).toBe(
      'PATCH_NOT_ALLOWED_ON_PROPERTY',
    );
    expect(code({ orderedItem: [{ orderItemStatus: cancelled }] })).toBe('BAD_REQUEST');
    expect(
      code({ orderedItem: [{ id: 'http://x.test/api/v2/orders/other/order-items/a', orderItemStatus: cancelled }] }),
    ).toBe('UNKNOWN_ORDER_ITEM');
    expect(code({ '@type': 'OrderQuote', orderedItem: [{ id: 'a', orderItemStatus: cancelled }] })).toBe('BAD_REQUEST');
    expect(code('x')).toBe('BAD_REQUEST');
  });

  it('agrees with the calendar deadline near and far from it, in zones with unusual clock changes', () => {
    // The answer is decided without calendar arithmetic when now is far from the deadline; it
    // must be the same as comparing with the exact deadline everywhere.
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    const zones = ['Europe/London', 'Pacific/Apia', 'Australia/Lord_Howe', 'America/New_York', 'Asia/Kathmandu'];
    const durations = ['P1D', 'P2W', 'PT12H', 'P3DT4H30M', 'P1M', 'PT0S'];
    let near = 0;
    for (let n = 0; n < 4_000; n += 1) {
      const zone = zones[n % zones.length]!;
      const latest = durations[Math.floor(random() * durations.length)]!;
      // Starts through 2011 (Samoa skipped 30 December) and 2026.
      const start = new Date(Date.UTC(n % 2 ? 2011 : 2026, 0, 1) + random() * 365 * 86_400_000);
      const deadline = cancellationDeadline(start, latest, zone)!;
      expect(deadline.getTime()).toBe(reference(start, latest, zone));
      const spread = n % 4 === 0 ? 3 * 3_600_000 : 40 * 86_400_000;
      const now = new Date(deadline.getTime() + (random() * 2 - 1) * spread);
      if (Math.abs(now.getTime() - deadline.getTime()) < 48 * 3_600_000) near += 1;
      const expected = now.getTime() < start.getTime() && now.getTime() <= deadline.getTime();
      const got = isPresentlyCancellable(
        {
          status: CONFIRMED,
          startDate: start,
          offer: offer({ latestCancellationBeforeStartDate: latest }),
          testMode: false,
          timeZone: zone,
        },
        now,
      );
      expect(got, `${latest} before ${start.toISOString()} in ${zone}, now ${now.toISOString()}`).toBe(expected);
    }
    expect(near).toBeGreaterThan(500);
  });
});
