import { DateTime, Duration, IANAZone, Zone } from 'luxon';
import { AppError } from '../../http/errors.js';
import { CUSTOMER_CANCELLED, isObj } from './orders.render.js';

/*
 * Customer cancellation (imin-booking §3.3; openactive.md §1.11): when an item may be cancelled
 * now, and the Order Cancellation body.
 */

export const ORDER_ITEM_CONFIRMED = 'https://openactive.io/OrderItemConfirmed';
/** Sessions are scheduled in UK local time unless they say otherwise (DECISIONS §8). */
export const DEFAULT_TIME_ZONE = 'Europe/London';

export interface CancellableInput {
  status: string;
  /** The opportunity's start. */
  startDate: Date | string | null;
  /** The accepted offer as published. */
  offer: Record<string, unknown>;
  /** Test-mode orders (no seller): an offer that says nothing about refunds counts as refundable. */
  testMode: boolean;
  timeZone?: string | null;
}

/**
 * The last instant a customer may cancel: `latestCancellationBeforeStartDate` before the start,
 * else the start. Nominal parts of the duration (years, months, weeks, days) are counted on the
 * calendar of the session's time zone, exact parts (hours, minutes, seconds) in elapsed time, as
 * ISO 8601 defines them: "P1D" before 10:00 on the Sunday clocks go forward is 10:00 on
 * Saturday — 23 elapsed hours — not 09:00. Undefined when the duration cannot be read.
 */
/**
 * An IANA zone whose UTC offsets are remembered per quarter hour of UTC: time zone transitions
 * fall on quarter hours, so an offset read at both ends of a quarter hour holds throughout it.
 * Working out an offset through Intl is the costly part of calendar arithmetic; sessions cluster
 * in the coming weeks, so most lookups repeat.
 */
class RememberedOffsetsZone extends Zone {
  private readonly offsets = new Map<number, number>();

  constructor(private readonly inner: IANAZone) {
    super();
  }

  override get type() {
    return this.inner.type;
  }
  override get name() {
    return this.inner.name;
  }
  override get isUniversal() {
    return false;
  }
  override get isValid() {
    return this.inner.isValid;
  }
  override offsetName(ts: number, opts: Parameters<IANAZone['offsetName']>[1]) {
    return this.inner.offsetName(ts, opts);
  }
  override formatOffset(ts: number, format: Parameters<IANAZone['formatOffset']>[1]) {
    return this.inner.formatOffset(ts, format);
  }
  override equals(other: Zone) {
    return other.type === 'iana' && other.name === this.name;
  }
  override offset(ts: number): number {
    const quarter = Math.floor(ts / QUARTER_HOUR_MS);
    const known = this.offsets.get(quarter);
    if (known !== undefined) return known;
    const offset = this.inner.offset(ts);
    const from = this.inner.offset(quarter * QUARTER_HOUR_MS);
    const to = this.inner.offset((quarter + 1) * QUARTER_HOUR_MS - 1);
    if (from === offset && to === offset) {
      if (this.offsets.size >= 50_000) this.offsets.clear();
      this.offsets.set(quarter, offset);
    }
    return offset;
  }
}

const QUARTER_HOUR_MS = 900_000;
const zones = new Map<string, Zone>();

function zoneNamed(name: string): Zone {
  let zone = zones.get(name);
  if (!zone) {
    const iana = IANAZone.create(name);
    zone = iana.isValid ? new RememberedOffsetsZone(iana) : iana;
    if (zones.size < 1_000) zones.set(name, zone);
  }
  return zone;
}

export function cancellationDeadline(
  start: Date,
  latest: unknown,
  timeZone: string = DEFAULT_TIME_ZONE,
): Date | undefined {
  if (latest === undefined || latest === null) return start;
  if (typeof latest !== 'string') return undefined;
  const duration = parseDuration(latest);
  if (!duration.isValid) return undefined;
  const { years, months, weeks, days, hours, minutes, seconds, milliseconds } = duration.toObject();
  const local = DateTime.fromJSDate(start, { zone: zoneNamed(timeZone) });
  const zone = local.isValid ? local : DateTime.fromJSDate(start, { zone: zoneNamed(DEFAULT_TIME_ZONE) });
  const calendar = zone.minus({ years: years ?? 0, months: months ?? 0, weeks: weeks ?? 0, days: days ?? 0 });
  const exact = calendar.minus({
    hours: hours ?? 0,
    minutes: minutes ?? 0,
    seconds: seconds ?? 0,
    milliseconds: milliseconds ?? 0,
  });
  return exact.toJSDate();
}

/**
 * A bound on how far the calendar deadline can be from the same duration counted in elapsed
 * time: a zone's offset differs between two instants by a few hours at most (a day, when a zone
 * has skipped a date), so 48 hours is safe for any zone.
 */
const CALENDAR_SLACK_MS = 48 * 3_600_000;
const parsedDurations = new Map<string, Duration>();

function parseDuration(text: string): Duration {
  let duration = parsedDurations.get(text);
  if (!duration) {
    duration = Duration.fromISO(text);
    if (parsedDurations.size >= 1_000) parsedDurations.clear();
    parsedDurations.set(text, duration);
  }
  return duration;
}

/**
 * Is `now` at or before the cancellation deadline? The calendar arithmetic (time zones) is only
 * done when `now` is near the deadline; otherwise the duration in elapsed time decides.
 */
function beforeDeadline(start: Date, latest: unknown, timeZone: string, now: Date): boolean {
  if (typeof latest === 'string') {
    const duration = parseDuration(latest);
    if (!duration.isValid) return false;
    const { years, months } = duration.toObject();
    if (!years && !months) {
      const approx = start.getTime() - duration.as('milliseconds');
      if (now.getTime() < approx - CALENDAR_SLACK_MS) return true;
      if (now.getTime() > approx + CALENDAR_SLACK_MS) return false;
    }
  }
  const deadline = cancellationDeadline(start, latest, timeZone);
  return deadline !== undefined && now.getTime() <= deadline.getTime();
}

/** `imin:isPresentlyCancellable`: may the customer cancel this item at `now` (openactive.md §1.11)? */
export function isPresentlyCancellable(input: CancellableInput, now: Date): boolean {
  if (input.status !== ORDER_ITEM_CONFIRMED) return false;
  if (input.startDate === null) return false;
  const start = new Date(input.startDate);
  if (Number.isNaN(start.getTime()) || now.getTime() >= start.getTime()) return false;
  const refundable = input.offer.allowCustomerCancellationFullRefund;
  if (refundable !== true && !(input.testMode && refundable === undefined)) return false;
  return beforeDeadline(start, input.offer.latestCancellationBeforeStartDate, input.timeZone ?? DEFAULT_TIME_ZONE, now);
}

/** The OrderItem identifiers an Order Cancellation body names, after its shape checks. */
export function readCancellationBody(body: unknown, orderUrl: string): string[] {
  if (!isObj(body)) throw new AppError('BAD_REQUEST', 'The request body must be an Order object.');
  const allowed = new Set(['@context', '@type', 'type', '@id', 'id', 'orderedItem']);
  const extra = Object.keys(body).filter((k) => !allowed.has(k));
  if (extra.length > 0) {
    throw new AppError('PATCH_EXCESSIVE_PROPERTIES', `Only orderedItem may be changed; remove ${extra.join(', ')}.`, {
      fieldErrors: extra.map((k) => ({ path: `/${k}`, message: 'must not be sent in a cancellation' })),
    });
  }
  const type = body['@type'] ?? body.type;
  if (type !== undefined && type !== 'Order') {
    throw new AppError('BAD_REQUEST', 'The body must be an Order.', {
      fieldErrors: [{ path: '/@type', message: 'must be "Order"' }],
    });
  }
  const items = body.orderedItem;
  if (!Array.isArray(items) || items.length === 0) {
    throw new AppError('BAD_REQUEST', 'List the items to cancel in orderedItem.', {
      fieldErrors: [{ path: '/orderedItem', message: 'must be a non-empty array of OrderItems' }],
    });
  }
  const itemKeys = new Set(['@type', 'type', '@id', 'id', 'orderItemStatus']);
  return items.map((item, i) => {
    const path = `/orderedItem/${i}`;
    if (!isObj(item)) {
      throw new AppError('BAD_REQUEST', 'Each orderedItem must be an OrderItem object.', {
        fieldErrors: [{ path, message: 'must be an object' }],
      });
    }
    const extraKeys = Object.keys(item).filter((k) => !itemKeys.has(k));
    if (extraKeys.length > 0) {
      throw new AppError(
        'PATCH_EXCESSIVE_PROPERTIES',
        `Only orderItemStatus may be changed; remove ${extraKeys.join(', ')} from orderedItem ${i}.`,
        {
          fieldErrors: extraKeys.map((k) => ({ path: `${path}/${k}`, message: 'must not be sent in a cancellation' })),
        },
      );
    }
    const status = item.orderItemStatus;
    if (status !== CUSTOMER_CANCELLED) {
      throw new AppError(
        'PATCH_NOT_ALLOWED_ON_PROPERTY',
        `orderItemStatus can only be changed to ${CUSTOMER_CANCELLED}.`,
        { fieldErrors: [{ path: `${path}/orderItemStatus`, message: `must be "${CUSTOMER_CANCELLED}"` }] },
      );
    }
    const ref = item['@id'] ?? item.id;
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > 2000) {
      throw new AppError('BAD_REQUEST', 'Each orderedItem needs the @id of an item of this order.', {
        fieldErrors: [{ path: `${path}/@id`, message: 'must be the OrderItem id' }],
      });
    }
    const prefix = `${orderUrl}/order-items/`;
    // The full URL, or the bare identifier; anything else names an item of some other order.
    if (ref.startsWith(prefix)) return ref.slice(prefix.length);
    if (/^[A-Za-z0-9]{1,64}$/.test(ref)) return ref;
    throw new AppError('UNKNOWN_ORDER_ITEM', `${ref.slice(0, 200)} is not an item of this order.`, {
      fieldErrors: [{ path: `${path}/@id`, message: 'is not an item of this order' }],
    });
  });
}
