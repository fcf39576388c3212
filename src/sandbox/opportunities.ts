import { Duration } from 'luxon';
import { sql } from 'kysely';
import type { SandboxExecutor } from './db/schema.js';
import { parseSandboxId, type SandboxUrls } from './ids.js';
import {
  clean,
  durationBetween,
  offerPrice,
  renderOffer,
  renderPlace,
  renderScheduledSession,
  renderSeller,
  renderSlot,
  type JsonObject,
  type OfferRow,
  type SellerRow,
  withBase,
} from './render.js';

/*
 * The opportunity side's internal API for the booking side (C1/C2/B, orders, test-interface
 * actions). Plain functions, executor first, so they run inside the caller's transaction.
 *
 * Concurrency: every write to a published row takes the sandbox's feed-write advisory lock (see
 * the migration's trigger) and holds it to commit. A transaction that will both lock order rows
 * and change capacity should call `adjustRemainingCapacity` (or `lockFeedWrites`) BEFORE taking
 * other row locks, so two transactions never wait on each other in opposite orders.
 */

export type OpportunityType = 'ScheduledSession' | 'Slot';

/** Which row an opportunity is; enough to adjust capacity without re-parsing its `@id`. */
export interface OpportunityRef {
  type: OpportunityType;
  id: number;
}

export interface SandboxSeller {
  id: number;
  '@id': string;
  name: string;
  /** `https://openactive.io/TaxGross` | `https://openactive.io/TaxNet`. */
  taxMode: string;
  isOpenBookingAllowed: boolean;
  /** The seller's `termsOfService` array (Terms objects) when it has any. */
  termsOfService: JsonObject[] | undefined;
  vatID: string | undefined;
  deleted: boolean;
  /** The Organization as published (`organizer` / `provider` / `seller` in responses). */
  jsonld: JsonObject;
}

export interface BookableOffer {
  id: number;
  '@id': string;
  name: string;
  /** In major units (pounds), as published: `price`. */
  price: number;
  priceCurrency: string;
  /** ISO 8601 durations before the start; null = no such limit. */
  validFromBeforeStartDate: string | null;
  validThroughBeforeStartDate: string | null;
  latestCancellationBeforeStartDate: string | null;
  /** Full URLs: `https://openactive.io/Required` | `…/Optional` | `…/Unavailable`. */
  openBookingInAdvance: string;
  /** null when not stated (generated free offers never state it; test-interface ones may). */
  openBookingPrepayment: string | null;
  allowCustomerCancellationFullRefund: boolean;
  /** e.g. `https://openactive.io/OpenBookingAttendeeDetails`, `…/OpenBookingApproval`. */
  openBookingFlowRequirement: string[];
  ageMin: number | null;
  ageMax: number | null;
  membershipRequired: boolean;
  /** The Offer as published (for `acceptedOffer` in responses). */
  jsonld: JsonObject;
}

export interface BookableOpportunity {
  ref: OpportunityRef;
  '@type': OpportunityType;
  '@id': string;
  startDate: Date;
  endDate: Date;
  /** ScheduledSession `maximumAttendeeCapacity` / Slot `maximumUses`. */
  maximumCapacity: number;
  /** ScheduledSession `remainingAttendeeCapacity` / Slot `remainingUses`. */
  remainingCapacity: number;
  /** schema.org EventStatusType URL (`https://schema.org/EventCancelled`…); slots are always EventScheduled. */
  eventStatus: string;
  deleted: boolean;
  /** Test dataset that created it (test interface), or null for generated data. */
  testDataset: string | null;
  /** `https://schema.org/OnlineEventAttendanceMode` etc.; slots and most sessions are Offline. */
  eventAttendanceMode: string;
  parent:
    | { '@type': 'SessionSeries'; '@id': string; id: number; name: string }
    | {
        '@type': 'IndividualFacilityUse';
        '@id': string;
        id: number;
        name: string;
        facilityUse: { '@id': string; id: number; name: string };
      };
  seller: SandboxSeller;
  offers: BookableOffer[];
  /**
   * The opportunity as an Open Booking API response's `orderedItem`: the opportunity with its
   * parent embedded and without offers/organizer/provider (data-models "response"
   * configuration for ScheduledSession/SessionSeries and Slot/IndividualFacilityUse/FacilityUse).
   */
  orderedItem: JsonObject;
  /** The opportunity's own feed item `data`, as harvested. */
  feedData: JsonObject;
}

const OFFLINE = 'https://schema.org/OfflineEventAttendanceMode';

/** Serialises writers of published rows (idempotent within a transaction). */
export async function lockFeedWrites(db: SandboxExecutor): Promise<void> {
  await sql`select pg_advisory_xact_lock(7361001)`.execute(db);
}

function toSeller(urls: SandboxUrls, row: SellerRow): SandboxSeller {
  const data = withBase(row.data ?? {}, urls.base);
  const tos = data.termsOfService;
  return {
    id: row.id,
    '@id': urls.seller(row.id),
    name: typeof data.name === 'string' ? data.name : `Seller ${row.id}`,
    taxMode: row.tax_mode,
    isOpenBookingAllowed: row.is_open_booking_allowed,
    termsOfService: Array.isArray(tos) && tos.length > 0 ? (tos as JsonObject[]) : undefined,
    vatID: typeof data.vatID === 'string' ? data.vatID : undefined,
    deleted: row.deleted,
    jsonld: renderSeller(urls, row),
  };
}

function toOffer(urls: SandboxUrls, parentId: string, row: OfferRow): BookableOffer {
  return {
    id: row.id,
    '@id': urls.offer(parentId, row.id),
    name: row.name,
    price: offerPrice(row),
    priceCurrency: row.price_currency,
    validFromBeforeStartDate: row.valid_from_before_start_date,
    validThroughBeforeStartDate: row.valid_through_before_start_date,
    latestCancellationBeforeStartDate: row.latest_cancellation_before_start_date,
    openBookingInAdvance: row.open_booking_in_advance,
    openBookingPrepayment: row.open_booking_prepayment,
    allowCustomerCancellationFullRefund: row.allow_customer_cancellation_full_refund,
    openBookingFlowRequirement: row.open_booking_flow_requirement,
    ageMin: row.age_min,
    ageMax: row.age_max,
    membershipRequired: row.membership_required,
    jsonld: renderOffer(urls, parentId, row),
  };
}

/**
 * Looks up a bookable opportunity (ScheduledSession or Slot) by its `@id` URL, with its parent,
 * seller and offers. Returns undefined when the id is not one of ours, names no row, or the row
 * is a tombstone (unless `includeDeleted`, for rendering orders that refer to it). It does not
 * judge bookability (window, capacity, status): that is the caller's rule to apply, with
 * `bookingWindow`/`cancellationDeadline` below.
 */
export async function findBookable(
  db: SandboxExecutor,
  urls: SandboxUrls,
  opportunityId: unknown,
  options: { includeDeleted?: boolean } = {},
): Promise<BookableOpportunity | undefined> {
  const parsed = parseSandboxId(urls, opportunityId);
  if (parsed?.kind === 'scheduled-session') return findSession(db, urls, parsed.id, options.includeDeleted ?? false);
  if (parsed?.kind === 'slot') {
    const slot = await findSlot(db, urls, parsed.id, options.includeDeleted ?? false);
    // The URL's facility-use path must match the slot's own parents.
    if (
      slot &&
      slot.parent['@type'] === 'IndividualFacilityUse' &&
      slot.parent.id === parsed.individualFacilityUseId &&
      slot.parent.facilityUse.id === parsed.facilityUseId
    )
      return slot;
  }
  return undefined;
}

/** Same as findBookable, by row reference. */
export async function findBookableByRef(
  db: SandboxExecutor,
  urls: SandboxUrls,
  ref: OpportunityRef,
  options: { includeDeleted?: boolean } = {},
): Promise<BookableOpportunity | undefined> {
  return ref.type === 'ScheduledSession'
    ? findSession(db, urls, ref.id, options.includeDeleted ?? false)
    : findSlot(db, urls, ref.id, options.includeDeleted ?? false);
}

async function findSession(
  db: SandboxExecutor,
  urls: SandboxUrls,
  id: number,
  includeDeleted: boolean,
): Promise<BookableOpportunity | undefined> {
  const session = await db.selectFrom('scheduled_sessions').selectAll().where('id', '=', id).executeTakeFirst();
  if (!session || (session.deleted && !includeDeleted)) return undefined;
  const series = await db
    .selectFrom('session_series')
    .selectAll()
    .where('id', '=', session.session_series_id)
    .executeTakeFirstOrThrow();
  const seller = await db
    .selectFrom('sellers')
    .selectAll()
    .where('id', '=', series.seller_id)
    .executeTakeFirstOrThrow();
  const place =
    series.place_id === null
      ? undefined
      : await db.selectFrom('places').selectAll().where('id', '=', series.place_id).executeTakeFirst();
  const offers = await db
    .selectFrom('offers')
    .selectAll()
    .where('session_series_id', '=', series.id)
    .where('deleted', '=', false)
    .orderBy('id')
    .execute();
  const seriesId = urls.sessionSeries(series.id);
  const data = series.data ?? {};
  const mode = typeof data.eventAttendanceMode === 'string' ? data.eventAttendanceMode : OFFLINE;
  const name = (session.data?.name as string | undefined) ?? (data.name as string | undefined) ?? `Session ${id}`;
  const feedData = renderScheduledSession(urls, session);
  const { '@context': context, ...own } = feedData;
  const superEvent = clean({
    '@type': 'SessionSeries',
    '@id': seriesId,
    url: `${urls.base}/session-series/${series.id}`,
    name: data.name,
    activity: data.activity,
    eventAttendanceMode: data.eventAttendanceMode,
    ageRange: data.ageRange,
    genderRestriction: data.genderRestriction,
    location: mode === 'https://schema.org/OnlineEventAttendanceMode' || !place ? undefined : renderPlace(urls, place),
  });
  return {
    ref: { type: 'ScheduledSession', id },
    '@type': 'ScheduledSession',
    '@id': urls.scheduledSession(id),
    startDate: new Date(session.start_date),
    endDate: new Date(session.end_date),
    maximumCapacity: session.maximum_attendee_capacity,
    remainingCapacity: session.remaining_attendee_capacity,
    eventStatus: session.event_status,
    deleted: session.deleted,
    testDataset: session.test_dataset,
    eventAttendanceMode: mode,
    parent: { '@type': 'SessionSeries', '@id': seriesId, id: series.id, name },
    seller: toSeller(urls, seller),
    offers: offers.map((o) => toOffer(urls, seriesId, o)),
    orderedItem: { ...own, name, superEvent },
    feedData: { '@context': context, ...own },
  };
}

async function findSlot(
  db: SandboxExecutor,
  urls: SandboxUrls,
  id: number,
  includeDeleted: boolean,
): Promise<BookableOpportunity | undefined> {
  const slot = await db.selectFrom('slots').selectAll().where('id', '=', id).executeTakeFirst();
  if (!slot || (slot.deleted && !includeDeleted)) return undefined;
  const ifu = await db
    .selectFrom('individual_facility_uses')
    .selectAll()
    .where('id', '=', slot.individual_facility_use_id)
    .executeTakeFirstOrThrow();
  const fu = await db
    .selectFrom('facility_uses')
    .selectAll()
    .where('id', '=', slot.facility_use_id)
    .executeTakeFirstOrThrow();
  const seller = await db.selectFrom('sellers').selectAll().where('id', '=', fu.seller_id).executeTakeFirstOrThrow();
  const place = await db.selectFrom('places').selectAll().where('id', '=', fu.place_id).executeTakeFirstOrThrow();
  const offerRows = await db
    .selectFrom('offers')
    .selectAll()
    .where('facility_use_id', '=', fu.id)
    .where('deleted', '=', false)
    .orderBy('id')
    .execute();
  const slotId = urls.slot(fu.id, ifu.id, slot.id);
  const fuData = fu.data ?? {};
  const fuName = (fuData.name as string | undefined) ?? `Facility ${fu.id}`;
  const ifuName = `${fuName} — ${(ifu.data?.name as string | undefined) ?? ifu.id}`;
  const feedData = renderSlot(urls, slot, offerRows);
  const { '@context': context, offers: _offers, ...own } = feedData;
  const start = new Date(slot.start_date);
  const end = new Date(slot.end_date);
  return {
    ref: { type: 'Slot', id },
    '@type': 'Slot',
    '@id': slotId,
    startDate: start,
    endDate: end,
    maximumCapacity: slot.maximum_uses,
    remainingCapacity: slot.remaining_uses,
    eventStatus: 'https://schema.org/EventScheduled',
    deleted: slot.deleted,
    testDataset: slot.test_dataset,
    eventAttendanceMode: OFFLINE,
    parent: {
      '@type': 'IndividualFacilityUse',
      '@id': urls.individualFacilityUse(fu.id, ifu.id),
      id: ifu.id,
      name: ifuName,
      facilityUse: { '@id': urls.facilityUse(fu.id), id: fu.id, name: fuName },
    },
    seller: toSeller(urls, seller),
    offers: offerRows.map((o) => toOffer(urls, slotId, o)),
    orderedItem: {
      ...own,
      duration: durationBetween(start, end),
      facilityUse: clean({
        '@type': 'IndividualFacilityUse',
        '@id': urls.individualFacilityUse(fu.id, ifu.id),
        url: `${urls.base}/facility-uses/${fu.id}/individual-facility-uses/${ifu.id}`,
        name: ifuName,
        aggregateFacilityUse: clean({
          '@type': 'FacilityUse',
          '@id': urls.facilityUse(fu.id),
          url: `${urls.base}/facility-uses/${fu.id}`,
          name: fuName,
          facilityType: fuData.facilityType,
          location: renderPlace(urls, place),
        }),
      }),
    },
    feedData: { '@context': context, ...own, offers: _offers },
  };
}

/**
 * Finds the offer named by `offerId` (its `@id` URL) among the opportunity's offers. Returns
 * undefined when the opportunity is unknown, the offer is unknown, or the offer belongs to a
 * different opportunity — the caller maps that to `UnknownOfferError` /
 * `OpportunityOfferPairNotBookableError` as its flow requires (`parseSandboxId` in ids.ts tells
 * "not ours at all" from "ours but elsewhere").
 */
export async function findOfferFor(
  db: SandboxExecutor,
  urls: SandboxUrls,
  opportunityId: unknown,
  offerId: unknown,
): Promise<{ opportunity: BookableOpportunity; offer: BookableOffer } | undefined> {
  if (typeof offerId !== 'string') return undefined;
  const opportunity = await findBookable(db, urls, opportunityId);
  if (!opportunity) return undefined;
  const offer = opportunity.offers.find((o) => o['@id'] === offerId);
  return offer ? { opportunity, offer } : undefined;
}

/** The seller named by its `@id` URL, or undefined (unknown id, not ours, or deleted). */
export async function findSeller(
  db: SandboxExecutor,
  urls: SandboxUrls,
  sellerId: unknown,
): Promise<SandboxSeller | undefined> {
  const parsed = parseSandboxId(urls, sellerId);
  if (parsed?.kind !== 'seller') return undefined;
  const row = await db
    .selectFrom('sellers')
    .selectAll()
    .where('id', '=', parsed.id)
    .where('deleted', '=', false)
    .executeTakeFirst();
  return row ? toSeller(urls, row) : undefined;
}

/**
 * Atomically adds `delta` (negative to take spaces, positive to give back) to the remaining
 * capacity of a ScheduledSession or Slot. Never goes below 0 or above the maximum: returns the
 * new remaining capacity, or null when the change does not fit (not enough spaces, or releasing
 * more than were taken) or the opportunity does not exist / is deleted. The write bumps
 * `modified`, so the feed shows the new `remainingAttendeeCapacity`/`remainingUses`.
 */
export async function adjustRemainingCapacity(
  db: SandboxExecutor,
  ref: OpportunityRef,
  delta: number,
): Promise<number | null> {
  if (!Number.isInteger(delta)) throw new Error(`capacity delta must be an integer (got ${delta})`);
  await lockFeedWrites(db);
  if (ref.type === 'ScheduledSession') {
    const row = await db
      .updateTable('scheduled_sessions')
      .set({ remaining_attendee_capacity: sql`remaining_attendee_capacity + ${delta}` })
      .where('id', '=', ref.id)
      .where('deleted', '=', false)
      .where(sql<boolean>`remaining_attendee_capacity + ${delta} between 0 and maximum_attendee_capacity`)
      .returning('remaining_attendee_capacity')
      .executeTakeFirst();
    return row ? row.remaining_attendee_capacity : null;
  }
  const row = await db
    .updateTable('slots')
    .set({ remaining_uses: sql`remaining_uses + ${delta}` })
    .where('id', '=', ref.id)
    .where('deleted', '=', false)
    .where(sql<boolean>`remaining_uses + ${delta} between 0 and maximum_uses`)
    .returning('remaining_uses')
    .executeTakeFirst();
  return row ? row.remaining_uses : null;
}

/** Re-publishes an opportunity unchanged (new `modified`), e.g. after an order changed it indirectly. */
export async function touchOpportunity(db: SandboxExecutor, ref: OpportunityRef): Promise<void> {
  await lockFeedWrites(db);
  if (ref.type === 'ScheduledSession')
    await db
      .updateTable('scheduled_sessions')
      .set({ deleted: false })
      .where('id', '=', ref.id)
      .where('deleted', '=', false)
      .execute();
  else
    await db
      .updateTable('slots')
      .set({ deleted: false })
      .where('id', '=', ref.id)
      .where('deleted', '=', false)
      .execute();
}

const subtract = (start: Date, iso: string | null): Date | undefined =>
  iso === null ? undefined : new Date(start.getTime() - Duration.fromISO(iso).toMillis());

/**
 * When an offer may be booked for an opportunity starting at `start`: from
 * `start − validFromBeforeStartDate` (if set) until `start − validThroughBeforeStartDate` (if set,
 * else until the start). Open Booking API §1.10 ("bookable" pairs).
 */
export function bookingWindow(
  offer: Pick<BookableOffer, 'validFromBeforeStartDate' | 'validThroughBeforeStartDate'>,
  start: Date,
): { from: Date | undefined; through: Date } {
  return {
    from: subtract(start, offer.validFromBeforeStartDate),
    through: subtract(start, offer.validThroughBeforeStartDate) ?? start,
  };
}

/**
 * Last instant a customer may cancel: `start − latestCancellationBeforeStartDate`; undefined when
 * the offer sets no limit (cancellable until the start, if `allowCustomerCancellationFullRefund`).
 */
export function cancellationDeadline(
  offer: Pick<BookableOffer, 'latestCancellationBeforeStartDate'>,
  start: Date,
): Date | undefined {
  return subtract(start, offer.latestCancellationBeforeStartDate);
}
