import type { Selectable } from 'kysely';
import type {
  FacilityUsesTable,
  IndividualFacilityUsesTable,
  OffersTable,
  PlacesTable,
  ScheduledSessionsTable,
  SellersTable,
  SessionSeriesTable,
  SlotsTable,
} from './db/schema.js';
import type { SandboxUrls } from './ids.js';

/*
 * Rows → OpenActive JSON-LD (Modelling Opportunity Data 2.0 as the current data-models and
 * validator read it; openactive.md §3). Identifiers are built here from row ids, never stored.
 * The same functions serve the open-data feeds and the booking API's `orderedItem`s, so what a
 * broker books is exactly what it harvested.
 */

export type SellerRow = Selectable<SellersTable>;
export type PlaceRow = Selectable<PlacesTable>;
export type SessionSeriesRow = Selectable<SessionSeriesTable>;
export type ScheduledSessionRow = Selectable<ScheduledSessionsTable>;
export type FacilityUseRow = Selectable<FacilityUsesTable>;
export type IndividualFacilityUseRow = Selectable<IndividualFacilityUsesTable>;
export type SlotRow = Selectable<SlotsTable>;
export type OfferRow = Selectable<OffersTable>;

export type JsonObject = Record<string, unknown>;

export const CONTEXT = 'https://openactive.io/';
/** Beta terms are not used; the plain context keeps feed items small. */
export const FEED_CONTEXT: string | string[] = CONTEXT;

const ONLINE = 'https://schema.org/OnlineEventAttendanceMode';

/** ISO 8601 duration of a whole number of minutes, e.g. PT45M, PT1H, PT1H30M. */
export function minutesToDuration(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `PT${h ? `${h}H` : ''}${m || !h ? `${m}M` : ''}`;
}

export function durationBetween(start: Date, end: Date): string {
  return minutesToDuration(Math.round((end.getTime() - start.getTime()) / 60_000));
}

const iso = (d: Date | string) => (typeof d === 'string' ? new Date(d) : d).toISOString().replace('.000Z', 'Z');

/**
 * Drops undefined/null values and empty arrays (MOD 2.0 §3.1: no nulls, no empty arrays). Copies
 * rather than deleting in place: `delete` turns an object into a slow dictionary, which costs a
 * lot when feeds serialise hundreds of thousands of them.
 */
export function clean<T extends JsonObject>(o: T): T {
  const out: JsonObject = {};
  for (const k in o) {
    const v = o[k];
    if (v === undefined || v === null || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  return out as T;
}

/**
 * Generated data stores links to the sandbox's own pages (`url`, images, terms) as paths, so the
 * data does not depend on where the sandbox is served; they become absolute here.
 */
export function withBase<T>(value: T, base: string): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withBase(v, base)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value as JsonObject)) {
    out[k] = k === 'url' && typeof v === 'string' && v.startsWith('/') ? `${base}${v}` : withBase(v, base);
  }
  return out as T;
}

export function renderSeller(urls: SandboxUrls, row: SellerRow): JsonObject {
  return clean({
    '@type': 'Organization',
    '@id': urls.seller(row.id),
    identifier: row.id,
    ...withBase(row.data ?? {}, urls.base),
    taxMode: row.tax_mode,
    isOpenBookingAllowed: row.is_open_booking_allowed,
  });
}

export function renderPlace(urls: SandboxUrls, row: PlaceRow): JsonObject {
  return clean({
    '@type': 'Place',
    '@id': urls.place(row.id),
    identifier: row.id,
    ...withBase(row.data ?? {}, urls.base),
  });
}

export function offerPrice(row: Pick<OfferRow, 'price_minor'>): number {
  return row.price_minor / 100;
}

/**
 * An Offer as published (bookable feeds: `@id` required, `ageRestriction` rather than
 * `ageRange`; openactive.md §1.17). `parentId` is the series' or the slot's `@id`.
 */
export function renderOffer(urls: SandboxUrls, parentId: string, row: OfferRow): JsonObject {
  const price = offerPrice(row);
  const age =
    row.age_min !== null || row.age_max !== null
      ? clean({ '@type': 'QuantitativeValue', minValue: row.age_min, maxValue: row.age_max })
      : undefined;
  return clean({
    '@type': 'Offer',
    '@id': urls.offer(parentId, row.id),
    identifier: String(row.id),
    name: row.name,
    price,
    priceCurrency: row.price_currency,
    ageRestriction: age,
    ...(row.data ?? {}),
    openBookingInAdvance: row.open_booking_in_advance,
    // Stated only when the offer states it (the test suite's FreePrepaymentRequired/Optional
    // criteria need free offers that do).
    openBookingPrepayment: row.open_booking_prepayment,
    validFromBeforeStartDate: row.valid_from_before_start_date,
    validThroughBeforeStartDate: row.valid_through_before_start_date,
    latestCancellationBeforeStartDate: row.latest_cancellation_before_start_date,
    allowCustomerCancellationFullRefund: row.allow_customer_cancellation_full_refund,
    openBookingFlowRequirement: row.open_booking_flow_requirement,
    eligibleEntitlementType: row.membership_required
      ? [
          {
            '@type': 'Concept',
            '@id': `${urls.base}/entitlement-types#member`,
            prefLabel: 'Member',
            inScheme: `${urls.base}/entitlement-types`,
          },
        ]
      : undefined,
  });
}

/**
 * Rendered sellers and places shared by the items of one feed page (many series share a venue
 * and an operator); the same object may be embedded in several items.
 */
export interface RenderCache {
  sellers: Map<number, JsonObject>;
  places: Map<number, JsonObject>;
}

export const newRenderCache = (): RenderCache => ({ sellers: new Map(), places: new Map() });

function cachedSeller(urls: SandboxUrls, row: SellerRow, cache: RenderCache | undefined): JsonObject {
  let out = cache?.sellers.get(row.id);
  if (!out) {
    out = renderSeller(urls, row);
    cache?.sellers.set(row.id, out);
  }
  return out;
}

function cachedPlace(urls: SandboxUrls, row: PlaceRow, cache: RenderCache | undefined): JsonObject {
  let out = cache?.places.get(row.id);
  if (!out) {
    out = renderPlace(urls, row);
    cache?.places.set(row.id, out);
  }
  return out;
}

export interface SeriesParts {
  series: SessionSeriesRow;
  seller: SellerRow;
  place: PlaceRow | undefined;
  offers: OfferRow[];
}

/** A SessionSeries feed item's `data` (open data: organizer, location and offers embedded). */
export function renderSessionSeries(urls: SandboxUrls, parts: SeriesParts, cache?: RenderCache): JsonObject {
  const id = urls.sessionSeries(parts.series.id);
  const data = withBase(parts.series.data ?? {}, urls.base);
  return clean({
    '@context': FEED_CONTEXT,
    '@type': 'SessionSeries',
    '@id': id,
    identifier: parts.series.id,
    url: `${urls.base}/session-series/${parts.series.id}`,
    ...data,
    organizer: cachedSeller(urls, parts.seller, cache),
    // Virtual sessions must not have a location (data-model-validator "onlineOnly" rule).
    location: data.eventAttendanceMode === ONLINE || !parts.place ? undefined : cachedPlace(urls, parts.place, cache),
    offers: parts.offers.map((o) => renderOffer(urls, id, o)),
  });
}

/** A ScheduledSession feed item's `data`: `superEvent` is the series `@id` (separate feeds). */
export function renderScheduledSession(urls: SandboxUrls, row: ScheduledSessionRow): JsonObject {
  const start = new Date(row.start_date);
  const end = new Date(row.end_date);
  return clean({
    '@context': FEED_CONTEXT,
    '@type': 'ScheduledSession',
    '@id': urls.scheduledSession(row.id),
    identifier: row.id,
    url: `${urls.base}/scheduled-sessions/${row.id}`,
    ...(row.data ?? {}),
    superEvent: urls.sessionSeries(row.session_series_id),
    startDate: iso(start),
    endDate: iso(end),
    duration: durationBetween(start, end),
    eventStatus: row.event_status,
    maximumAttendeeCapacity: row.maximum_attendee_capacity,
    remainingAttendeeCapacity: row.remaining_attendee_capacity,
  });
}

export interface FacilityUseParts {
  facilityUse: FacilityUseRow;
  seller: SellerRow;
  place: PlaceRow;
  individualFacilityUses: IndividualFacilityUseRow[];
}

/**
 * A FacilityUse feed item's `data`, its IndividualFacilityUses embedded: that is the layout the
 * test suite's broker "inverts" into IndividualFacilityUse parents for the slots feed
 * (openactive.md §3.5).
 */
export function renderFacilityUse(urls: SandboxUrls, parts: FacilityUseParts, cache?: RenderCache): JsonObject {
  const fu = parts.facilityUse;
  const data = withBase(fu.data ?? {}, urls.base);
  const location = cachedPlace(urls, parts.place, cache);
  const provider = cachedSeller(urls, parts.seller, cache);
  return clean({
    '@context': FEED_CONTEXT,
    '@type': 'FacilityUse',
    '@id': urls.facilityUse(fu.id),
    identifier: fu.id,
    url: `${urls.base}/facility-uses/${fu.id}`,
    ...data,
    provider,
    location,
    individualFacilityUse: parts.individualFacilityUses
      .filter((i) => !i.deleted)
      .map((i) =>
        clean({
          '@type': 'IndividualFacilityUse',
          '@id': urls.individualFacilityUse(fu.id, i.id),
          identifier: i.id,
          url: `${urls.base}/facility-uses/${fu.id}/individual-facility-uses/${i.id}`,
          name: data.name ? `${data.name as string} — ${(i.data?.name as string | undefined) ?? i.id}` : undefined,
          ...(i.data ?? {}),
          facilityType: data.facilityType,
        }),
      ),
  });
}

/** A Slot feed item's `data`: `facilityUse` is the IndividualFacilityUse `@id`; offers repeated. */
export function renderSlot(urls: SandboxUrls, row: SlotRow, offers: OfferRow[]): JsonObject {
  const id = urls.slot(row.facility_use_id, row.individual_facility_use_id, row.id);
  const start = new Date(row.start_date);
  const end = new Date(row.end_date);
  return clean({
    '@context': FEED_CONTEXT,
    '@type': 'Slot',
    '@id': id,
    identifier: row.id,
    facilityUse: urls.individualFacilityUse(row.facility_use_id, row.individual_facility_use_id),
    startDate: iso(start),
    endDate: iso(end),
    duration: durationBetween(start, end),
    maximumUses: row.maximum_uses,
    remainingUses: row.remaining_uses,
    offers: offers.map((o) => renderOffer(urls, id, o)),
  });
}
