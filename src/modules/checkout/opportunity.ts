import { Duration } from 'luxon';
import { AppError } from '../../http/errors.js';
import type { Opportunity } from './ports.js';
import type { OfferSnapshot, OpportunitySnapshot } from './checkout.tables.js';

/*
 * The opportunity as checkout sees it: a snapshot taken from the catalog (or, in testing mode,
 * one of imin's documented test items) and the bookability rules of imin-booking §1.5 /
 * openactive.md §1.10, each failing with the OpenActive error that names the reason.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() ? v : null);

export const TEST_ITEMS = {
  'test-item-ScheduledSession-free': { type: 'ScheduledSession', paid: false },
  'test-item-ScheduledSession-paid': { type: 'ScheduledSession', paid: true },
  'test-item-Slot-free': { type: 'Slot', paid: false },
  'test-item-Slot-paid': { type: 'Slot', paid: true },
} as const;
export const TEST_CUSTOMER_MEMBER = 'test-customer-member';
export const isTestItem = (id: string): id is keyof typeof TEST_ITEMS => Object.hasOwn(TEST_ITEMS, id);

const TEST_OFFERS: { id: string; name: string; adultPrice: number; junior: boolean; member: boolean }[] = [
  { id: 'test-offer-adult-guest', name: 'Adult', adultPrice: 650, junior: false, member: false },
  { id: 'test-offer-adult-member', name: 'Adult (member)', adultPrice: 500, junior: false, member: true },
  { id: 'test-offer-junior-guest', name: 'Junior (8-18)', adultPrice: 400, junior: true, member: false },
  { id: 'test-offer-junior-member', name: 'Junior (8-18, member)', adultPrice: 300, junior: true, member: true },
];

/** One of imin's documented test items (§1.3.1), starting two days after `now`. */
export function testOpportunity(id: keyof typeof TEST_ITEMS, now: Date): OpportunitySnapshot {
  const { type, paid } = TEST_ITEMS[id];
  const start = new Date(now.getTime() + 2 * 86_400_000);
  start.setUTCMinutes(0, 0, 0);
  return {
    oaId: id,
    type,
    name: type === 'Slot' ? 'Test court booking' : 'Test fitness class',
    startDate: start.toISOString(),
    endDate: new Date(start.getTime() + 3_600_000).toISOString(),
    remaining: null,
    publisherId: null,
    sellerId: null,
    sellerName: 'Test Leisure Ltd',
    sellerTermsUrl: null,
    seller: { type: 'Organization', name: 'Test Leisure Ltd' },
    locationName: 'Test Leisure Centre',
    address: '1 Test Street, Testville, TE5 7ST',
    offers: TEST_OFFERS.map((o) => ({
      id: o.id,
      name: o.name,
      price: paid ? o.adultPrice : 0,
      currency: 'GBP',
      ageRange: o.junior ? '8-18' : '18+',
      membersOnly: o.member,
      data: { type: 'Offer', id: o.id, name: o.name, price: paid ? o.adultPrice / 100 : 0, priceCurrency: 'GBP' },
    })),
    data: { type, identifier: id, name: type === 'Slot' ? 'Test court booking' : 'Test fitness class' },
  };
}

/** Decimal major units (OpenActive `price`) → integer minor units. */
export function toMinor(price: unknown): number {
  const n = typeof price === 'number' ? price : typeof price === 'string' ? Number(price) : 0;
  return Number.isFinite(n) && n > 0 ? Math.round(n * 100) : 0;
}

const offerId = (o: Obj): string | null => str(o['@id']) ?? str(o.id);

function ageRangeText(o: Obj): string | null {
  const r = o.ageRange ?? o.ageRestriction;
  if (!isObj(r)) return null;
  const min = typeof r.minValue === 'number' ? r.minValue : null;
  const max = typeof r.maxValue === 'number' ? r.maxValue : null;
  if (min !== null && max !== null) return `${min}-${max}`;
  if (min !== null) return `${min}+`;
  if (max !== null) return `up to ${max}`;
  return null;
}

function addressText(location: Obj | null): string | null {
  if (!location) return null;
  const a = location.address;
  if (typeof a === 'string') return str(a);
  if (!isObj(a)) return null;
  const parts = [a.streetAddress, a.addressLocality, a.addressRegion, a.postalCode]
    .map(str)
    .filter((p): p is string => p !== null);
  return parts.length ? parts.join(', ') : null;
}

function termsUrl(seller: Obj | null): string | null {
  const terms = seller?.termsOfService;
  if (!Array.isArray(terms)) return null;
  const pick = terms.filter(isObj);
  const t = pick.find((x) => /TermsOfUse/.test(String(x['@type'] ?? x.type))) ?? pick[0];
  return t ? str(t.url) : null;
}

/** Keeps the harvested item small in the session/order snapshot: no nested parents. */
function trimmed(data: Obj): Obj {
  const { superEvent: _s, facilityUse: _f, offers: _o, ...rest } = data;
  return rest;
}

export function snapshotOf(o: Opportunity): OpportunitySnapshot {
  const offers: OfferSnapshot[] = [];
  for (const raw of o.offers) {
    const id = offerId(raw);
    if (!id) continue;
    offers.push({
      id,
      name: str(raw.name) ?? 'Standard',
      price: toMinor(raw.price),
      currency: str(raw.priceCurrency) ?? 'GBP',
      ageRange: ageRangeText(raw),
      membersOnly: raw['imin:membershipRequired'] === true || raw['beta:membershipRequired'] === true,
      data: raw,
    });
  }
  return {
    oaId: o.oaId,
    type: o.type,
    name: o.name || o.parent?.name || 'Activity',
    startDate: o.startDate.toISOString(),
    endDate: o.endDate ? o.endDate.toISOString() : null,
    remaining: o.remainingCapacity,
    publisherId: o.publisherId,
    sellerId: o.sellerId,
    sellerName: o.sellerName,
    sellerTermsUrl: termsUrl(o.seller),
    seller: o.seller,
    locationName: o.location ? str(o.location.name) : null,
    address: addressText(o.location),
    offers,
    seriesName: o.parent?.name ?? null,
    eventSeriesName: eventSeriesName(o.parent?.data),
    data: trimmed(o.data),
  };
}

/** The name of a SessionSeries' EventSeries, when the feed embeds it (`superEvent` object). */
function eventSeriesName(series: Obj | undefined): string | null {
  const parent = series?.superEvent;
  return isObj(parent) ? str(parent.name) : null;
}

const seconds = (iso: unknown): number | null => {
  const s = str(iso);
  if (!s) return null;
  const d = Duration.fromISO(s);
  return d.isValid ? d.as('seconds') : null;
};

const CANCELLED = /EventCancelled$|EventPostponed$/;
const UNAVAILABLE = /Unavailable$/;

/**
 * Why this opportunity/offer cannot be booked now for `places` people, as the AppError to
 * answer with; nothing when it can. `offer` null = not chosen yet (any bookable offer will do).
 */
export function checkBookable(o: Opportunity, offer: Obj | null, places: number, now: Date): AppError | undefined {
  const name = `"${o.name || o.oaId}"`;
  if (o.eventStatus && CANCELLED.test(o.eventStatus)) {
    return new AppError('OPPORTUNITY_NOT_BOOKABLE', `${name} has been cancelled or postponed by the organiser.`);
  }
  if (o.startDate.getTime() <= now.getTime()) {
    return new AppError('OPPORTUNITY_NOT_BOOKABLE', `${name} has already started (${o.startDate.toISOString()}).`);
  }
  if (!o.bookingEndpointUrl || !o.sellerId) {
    return new AppError(
      'OPPORTUNITY_NOT_BOOKABLE',
      `The seller of ${name} does not take bookings through activehub for this broker.`,
    );
  }
  if (o.seller && o.seller.isOpenBookingAllowed === false) {
    return new AppError('OPPORTUNITY_NOT_BOOKABLE', `The seller of ${name} does not accept online bookings.`);
  }
  const candidates = offer ? [offer] : o.offers;
  if (candidates.length === 0) {
    return new AppError('OPPORTUNITY_NOT_BOOKABLE', `${name} has no offers that can be booked.`);
  }
  const open = candidates.filter((c) => !UNAVAILABLE.test(str(c.openBookingInAdvance) ?? ''));
  if (open.length === 0) {
    return new AppError('OPPORTUNITY_NOT_BOOKABLE', `${name} cannot be booked online in advance.`);
  }
  const start = o.startDate.getTime();
  const inWindow = open.filter((c) => {
    const from = seconds(c.validFromBeforeStartDate);
    const through = seconds(c.validThroughBeforeStartDate);
    if (from !== null && now.getTime() < start - from * 1000) return false;
    if (through !== null && now.getTime() > start - through * 1000) return false;
    return true;
  });
  if (inWindow.length === 0) {
    const from = seconds(open[0]?.validFromBeforeStartDate);
    const opens = from !== null ? new Date(start - from * 1000).toISOString() : null;
    return new AppError(
      'OPPORTUNITY_NOT_BOOKABLE',
      opens && now.getTime() < start - (from ?? 0) * 1000
        ? `${name} is outside its booking window: booking opens at ${opens}.`
        : `${name} is outside its booking window: booking has closed.`,
    );
  }
  if (o.remainingCapacity !== null && o.remainingCapacity < places) {
    return new AppError(
      'OPPORTUNITY_FULL',
      o.remainingCapacity <= 0
        ? `${name} is full.`
        : `${name} has only ${o.remainingCapacity} space(s) left; ${places} were asked for.`,
    );
  }
  return undefined;
}

export function findOffer(o: Opportunity, id: string): Obj | undefined {
  return o.offers.find((x) => offerId(x) === id);
}

// Building an Intl.NumberFormat costs far more than formatting with one (about 0.1 ms each, a
// dozen per checkout): one per currency, made on first use.
const moneyFormats = new Map<string, Intl.NumberFormat>();

export function formatMoney(minor: number, currency: string): string {
  if (minor === 0) return 'Free';
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat('en-GB', { style: 'currency', currency });
    moneyFormats.set(currency, format);
  }
  return format.format(minor / 100);
}
