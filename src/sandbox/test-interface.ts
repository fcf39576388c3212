import type { Kysely } from 'kysely';
import type { Vocabularies } from '../lib/vocabularies.js';
import type { SandboxDB, SandboxExecutor } from './db/schema.js';
import { badRequest } from './errors.js';
import { parseSandboxId, type SandboxUrls } from './ids.js';
import { lockFeedWrites, type OpportunityRef } from './opportunities.js';
import { renderScheduledSession, renderSlot, type JsonObject } from './render.js';

/*
 * The test interface's opportunity side (openactive.md §6.4; https://openactive.io/test-interface/):
 * create an opportunity that satisfies a named `test:testOpportunityCriteria`, and delete
 * everything a test dataset created. The predicates each criteria must satisfy are those of
 * openactive-test-suite's test-interface-criteria package; every choice below leaves a margin of
 * days around "now" (the suite evaluates windows against its harvest start time, and "2 hours
 * after it" for anything that must still hold while the tests run).
 */

export const TEST_INTERFACE_PREFIX = 'https://openactive.io/test-interface#';
const REQUIRED = 'https://openactive.io/Required';
const OPTIONAL = 'https://openactive.io/Optional';
const UNAVAILABLE = 'https://openactive.io/Unavailable';
const TAX_GROSS = 'https://openactive.io/TaxGross';
const TAX_NET = 'https://openactive.io/TaxNet';
const ONLINE = 'https://schema.org/OnlineEventAttendanceMode';
const OFFLINE = 'https://schema.org/OfflineEventAttendanceMode';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** What to create, before it is written. */
interface OpportunitySpec {
  /** Start relative to now. */
  startInMs: number;
  durationMinutes: number;
  capacity: number;
  remaining: number;
  online: boolean;
  offer: {
    name: string;
    priceMinor: number;
    prepayment: string | null;
    inAdvance: string;
    validFrom: string | null;
    validThrough: string | null;
    latestCancellation: string | null;
    fullRefund: boolean;
    flow: string[];
  };
  sellerMust?: { taxMode?: string; termsOfService?: boolean };
}

export const SUPPORTED_CRITERIA = [
  'TestOpportunityBookable',
  'TestOpportunityBookableNoSpaces',
  'TestOpportunityBookableOneSpace',
  'TestOpportunityBookableFiveSpaces',
  'TestOpportunityBookableFree',
  'TestOpportunityBookableNonFree',
  'TestOpportunityBookableUsingPayment',
  'TestOpportunityBookableWithinValidFromBeforeStartDate',
  'TestOpportunityBookableOutsideValidFromBeforeStartDate',
  'TestOpportunityBookableCancellable',
  'TestOpportunityBookableCancellableNoWindow',
  'TestOpportunityBookableFreeCancellable',
  'TestOpportunityBookableNonFreeCancellable',
  'TestOpportunityBookableNotCancellable',
  'TestOpportunityBookableCancellableWithinWindow',
  'TestOpportunityBookableCancellableOutsideWindow',
  'TestOpportunityBookableInPast',
  'TestOpportunityBookableNonFreeTaxGross',
  'TestOpportunityBookableNonFreeTaxNet',
  'TestOpportunityBookableNonFreePrepaymentOptional',
  'TestOpportunityBookableNonFreePrepaymentRequired',
  'TestOpportunityBookableNonFreePrepaymentUnavailable',
  'TestOpportunityBookableFreePrepaymentOptional',
  'TestOpportunityBookableFreePrepaymentRequired',
  'TestOpportunityBookableSellerTermsOfService',
  'TestOpportunityBookableAttendeeDetails',
  'TestOpportunityBookableAdditionalDetails',
  'TestOpportunityBookableWithNegotiation',
  'TestOpportunityOnlineBookable',
  'TestOpportunityOfflineBookable',
] as const;

export type Criteria = (typeof SUPPORTED_CRITERIA)[number];

/**
 * The spec for a criteria. `individual` = a Slot of an IndividualFacilityUse (capacity 1, as
 * such a slot is one court for one booking).
 */
export function specFor(criteria: Criteria, options: { individual: boolean; approvalFlow: boolean }): OpportunitySpec {
  const unit = options.individual ? 1 : 10;
  const spec: OpportunitySpec = {
    startInMs: 2 * DAY,
    durationMinutes: 60,
    capacity: unit,
    remaining: unit,
    online: false,
    offer: {
      name: 'Standard',
      priceMinor: 1495,
      prepayment: REQUIRED,
      inAdvance: REQUIRED,
      validFrom: null,
      validThrough: null,
      latestCancellation: null,
      fullRefund: true,
      flow: [],
    },
  };
  const free = () => {
    spec.offer.name = 'Free';
    spec.offer.priceMinor = 0;
    spec.offer.prepayment = null;
  };
  switch (criteria) {
    case 'TestOpportunityBookable':
    case 'TestOpportunityBookableNonFree':
    case 'TestOpportunityBookableUsingPayment':
    case 'TestOpportunityBookableNonFreePrepaymentRequired':
    case 'TestOpportunityBookableCancellable':
    case 'TestOpportunityBookableCancellableNoWindow':
    case 'TestOpportunityBookableNonFreeCancellable':
    case 'TestOpportunityOfflineBookable':
      break;
    case 'TestOpportunityBookableNoSpaces':
      spec.remaining = 0;
      break;
    case 'TestOpportunityBookableOneSpace':
      spec.capacity = Math.max(unit, 1);
      spec.remaining = 1;
      break;
    case 'TestOpportunityBookableFiveSpaces':
      spec.capacity = 10;
      spec.remaining = 5;
      break;
    case 'TestOpportunityBookableFree':
    case 'TestOpportunityBookableFreeCancellable':
      free();
      break;
    case 'TestOpportunityBookableWithinValidFromBeforeStartDate':
      // Window opened 8 days ago and closes at the start, 2 days away.
      spec.offer.validFrom = 'P10D';
      break;
    case 'TestOpportunityBookableOutsideValidFromBeforeStartDate':
      // Starts in 10 days; bookable only from 8 days before, i.e. in 2 days' time.
      spec.startInMs = 10 * DAY;
      spec.offer.validFrom = 'P8D';
      break;
    case 'TestOpportunityBookableNotCancellable':
      spec.offer.fullRefund = false;
      break;
    case 'TestOpportunityBookableCancellableWithinWindow':
      // Cancellable until a day before the start: a day from now.
      spec.offer.latestCancellation = 'P1D';
      break;
    case 'TestOpportunityBookableCancellableOutsideWindow':
      // Cancellation closed 3 days before a start 2 days away: yesterday.
      spec.offer.latestCancellation = 'P3D';
      break;
    case 'TestOpportunityBookableInPast':
      spec.startInMs = -2 * DAY;
      break;
    case 'TestOpportunityBookableNonFreeTaxGross':
      spec.sellerMust = { taxMode: TAX_GROSS };
      break;
    case 'TestOpportunityBookableNonFreeTaxNet':
      spec.sellerMust = { taxMode: TAX_NET };
      break;
    case 'TestOpportunityBookableNonFreePrepaymentOptional':
      spec.offer.prepayment = OPTIONAL;
      break;
    case 'TestOpportunityBookableNonFreePrepaymentUnavailable':
      spec.offer.prepayment = UNAVAILABLE;
      break;
    case 'TestOpportunityBookableFreePrepaymentOptional':
      free();
      spec.offer.prepayment = OPTIONAL;
      break;
    case 'TestOpportunityBookableFreePrepaymentRequired':
      free();
      spec.offer.prepayment = REQUIRED;
      break;
    case 'TestOpportunityBookableSellerTermsOfService':
      spec.sellerMust = { termsOfService: true };
      break;
    case 'TestOpportunityBookableAttendeeDetails':
      spec.offer.flow.push('https://openactive.io/OpenBookingAttendeeDetails');
      break;
    case 'TestOpportunityBookableAdditionalDetails':
      spec.offer.flow.push('https://openactive.io/OpenBookingIntakeForm');
      break;
    case 'TestOpportunityBookableWithNegotiation':
      spec.offer.flow.push('https://openactive.io/OpenBookingApproval', 'https://openactive.io/OpenBookingNegotiation');
      break;
    case 'TestOpportunityOnlineBookable':
      spec.online = true;
      break;
  }
  if (options.approvalFlow && !spec.offer.flow.includes('https://openactive.io/OpenBookingApproval'))
    spec.offer.flow.push('https://openactive.io/OpenBookingApproval');
  return spec;
}

export interface CreateRequest {
  type: 'ScheduledSession' | 'Slot';
  /** For slots: the type the broker asked for (`IndividualFacilityUse` or `FacilityUse`). */
  facilityUseType?: string;
  sellerId: string | undefined;
  criteria: string;
  flow: string | undefined;
}

/** Reads the POST body leniently (compact or expanded `test:` keys) and checks what it must. */
export function readCreateRequest(body: unknown): CreateRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON object.');
  const b = body as JsonObject;
  const type = b['@type'] ?? b.type;
  const pick = (key: string) => b[`test:${key}`] ?? b[`${TEST_INTERFACE_PREFIX}${key}`] ?? b[key];
  const criteriaValue = pick('testOpportunityCriteria');
  if (typeof criteriaValue !== 'string') throw badRequest('test:testOpportunityCriteria is required.');
  const criteria = criteriaValue.startsWith(TEST_INTERFACE_PREFIX)
    ? criteriaValue.slice(TEST_INTERFACE_PREFIX.length)
    : criteriaValue.replace(/^test:/, '');
  const flowValue = pick('testOpenBookingFlow');
  const flow =
    typeof flowValue === 'string' ? flowValue.replace(TEST_INTERFACE_PREFIX, '').replace(/^test:/, '') : undefined;
  const idOf = (v: unknown): string | undefined => {
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const id = (v as JsonObject)['@id'] ?? (v as JsonObject).id;
      return typeof id === 'string' ? id : undefined;
    }
    return undefined;
  };
  if (type === 'ScheduledSession') {
    const superEvent = b.superEvent as JsonObject | undefined;
    return { type, sellerId: idOf(superEvent?.organizer), criteria, flow };
  }
  if (type === 'Slot') {
    const facilityUse = b.facilityUse as JsonObject | undefined;
    const fuType = facilityUse?.['@type'] ?? facilityUse?.type;
    return {
      type,
      facilityUseType: typeof fuType === 'string' ? fuType : 'IndividualFacilityUse',
      sellerId: idOf(facilityUse?.provider),
      criteria,
      flow,
    };
  }
  throw badRequest(`Opportunities of @type ${JSON.stringify(type)} are not supported: send ScheduledSession or Slot.`);
}

const isCriteria = (c: string): c is Criteria => (SUPPORTED_CRITERIA as readonly string[]).includes(c);

/**
 * Creates the opportunity (with its own parent and offer, so one test's data never affects
 * another's), marked with `testDataset`. Returns its feed `data` (with `@id`), visible in the
 * feeds as soon as the transaction commits.
 */
export async function createTestOpportunity(
  db: Kysely<SandboxDB>,
  deps: { urls: SandboxUrls; vocab: Vocabularies; now: Date },
  testDataset: string,
  request: CreateRequest,
): Promise<{ ref: OpportunityRef; data: JsonObject }> {
  if (!isCriteria(request.criteria))
    throw badRequest(`test:testOpportunityCriteria ${request.criteria} is not supported by this booking system.`);
  if (request.type === 'Slot' && request.facilityUseType !== 'IndividualFacilityUse')
    throw badRequest(
      'Only Slots of an IndividualFacilityUse are supported (opportunity type IndividualFacilityUseSlot).',
    );
  if (request.type === 'Slot' && request.criteria === 'TestOpportunityOnlineBookable')
    throw badRequest('Facility slots cannot be online.');
  const flowKnown = ['OpenBookingSimpleFlow', 'OpenBookingApprovalFlow', undefined];
  if (!flowKnown.includes(request.flow)) throw badRequest(`test:testOpenBookingFlow ${request.flow} is not supported.`);
  const spec = specFor(request.criteria, {
    individual: request.type === 'Slot',
    approvalFlow: request.flow === 'OpenBookingApprovalFlow',
  });

  return db.transaction().execute(async (trx) => {
    await lockFeedWrites(trx);
    const seller = await resolveSeller(trx, deps.urls, request.sellerId);
    const sellerData = seller.data ?? {};
    if (spec.sellerMust?.taxMode && seller.tax_mode !== spec.sellerMust.taxMode)
      throw badRequest(`Seller ${request.sellerId ?? seller.id} is not ${spec.sellerMust.taxMode}.`);
    if (
      spec.sellerMust?.termsOfService &&
      !(Array.isArray(sellerData.termsOfService) && sellerData.termsOfService.length)
    )
      throw badRequest(`Seller ${request.sellerId ?? seller.id} has no terms of service.`);
    if (!seller.is_open_booking_allowed) throw badRequest('That seller does not allow open booking.');
    const place =
      (await trx
        .selectFrom('places')
        .select('id')
        .where('seller_id', '=', seller.id)
        .where('deleted', '=', false)
        .orderBy('id')
        .executeTakeFirst()) ??
      (await trx
        .selectFrom('places')
        .select('id')
        .where('deleted', '=', false)
        .orderBy('id')
        .executeTakeFirstOrThrow());
    const start = new Date(Math.floor((deps.now.getTime() + spec.startInMs) / 60_000) * 60_000);
    const end = new Date(start.getTime() + spec.durationMinutes * 60_000);
    const offer = {
      name: spec.offer.name,
      price_minor: spec.offer.priceMinor,
      open_booking_prepayment: spec.offer.prepayment,
      open_booking_in_advance: spec.offer.inAdvance,
      valid_from_before_start_date: spec.offer.validFrom,
      valid_through_before_start_date: spec.offer.validThrough,
      latest_cancellation_before_start_date: spec.offer.latestCancellation,
      allow_customer_cancellation_full_refund: spec.offer.fullRefund,
      open_booking_flow_requirement: spec.offer.flow,
      test_dataset: testDataset,
    };

    if (request.type === 'ScheduledSession') {
      const activity = deps.vocab.activityByLabel(spec.online ? 'Yoga' : 'Circuit Training')!;
      const series = await trx
        .insertInto('session_series')
        .values({
          seller_id: seller.id,
          place_id: spec.online ? null : place.id,
          test_dataset: testDataset,
          data: JSON.stringify({
            name: spec.online ? 'Online Test Class' : 'Test Circuits Class',
            description: `Created through the test interface for ${request.criteria}.`,
            activity: [
              { '@type': 'Concept', '@id': activity.id, prefLabel: activity.prefLabel, inScheme: activity.inScheme },
            ],
            eventAttendanceMode: spec.online ? ONLINE : OFFLINE,
            ageRange: { '@type': 'QuantitativeValue', minValue: 18 },
            genderRestriction: 'https://openactive.io/NoRestriction',
          }),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('offers')
        .values({ ...offer, session_series_id: series.id })
        .execute();
      const session = await trx
        .insertInto('scheduled_sessions')
        .values({
          session_series_id: series.id,
          start_date: start,
          end_date: end,
          maximum_attendee_capacity: spec.capacity,
          remaining_attendee_capacity: spec.remaining,
          test_dataset: testDataset,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { ref: { type: 'ScheduledSession', id: session.id }, data: renderScheduledSession(deps.urls, session) };
    }

    const facilityType = deps.vocab.allFacilityTypes().find((c) => c.prefLabel === 'Badminton Court')!;
    const fu = await trx
      .insertInto('facility_uses')
      .values({
        seller_id: seller.id,
        place_id: place.id,
        test_dataset: testDataset,
        data: JSON.stringify({
          name: 'Test Badminton Court Hire',
          description: `Created through the test interface for ${request.criteria}.`,
          facilityType: [
            {
              '@type': 'Concept',
              '@id': facilityType.id,
              prefLabel: facilityType.prefLabel,
              inScheme: facilityType.inScheme,
            },
          ],
        }),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const individual = await trx
      .insertInto('individual_facility_uses')
      .values({ facility_use_id: fu.id, test_dataset: testDataset, data: JSON.stringify({ name: 'Court 1' }) })
      .returning('id')
      .executeTakeFirstOrThrow();
    const offerRow = await trx
      .insertInto('offers')
      .values({ ...offer, facility_use_id: fu.id })
      .returningAll()
      .executeTakeFirstOrThrow();
    const slot = await trx
      .insertInto('slots')
      .values({
        facility_use_id: fu.id,
        individual_facility_use_id: individual.id,
        start_date: start,
        end_date: end,
        maximum_uses: spec.capacity,
        remaining_uses: spec.remaining,
        test_dataset: testDataset,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { ref: { type: 'Slot', id: slot.id }, data: renderSlot(deps.urls, slot, [offerRow]) };
  });
}

async function resolveSeller(db: SandboxExecutor, urls: SandboxUrls, sellerId: string | undefined) {
  if (sellerId === undefined) {
    return db.selectFrom('sellers').selectAll().where('deleted', '=', false).orderBy('id').executeTakeFirstOrThrow();
  }
  const parsed = parseSandboxId(urls, sellerId);
  const row =
    parsed?.kind === 'seller'
      ? await db
          .selectFrom('sellers')
          .selectAll()
          .where('id', '=', parsed.id)
          .where('deleted', '=', false)
          .executeTakeFirst()
      : undefined;
  if (!row) throw badRequest(`Unknown seller ${sellerId}.`);
  return row;
}

/**
 * Tombstones everything the dataset created: opportunities, their parents and offers. Already
 * deleted rows are left alone, so calling it again changes nothing (and bumps no `modified`).
 */
export async function deleteTestDataset(db: Kysely<SandboxDB>, testDataset: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockFeedWrites(trx);
    for (const table of ['scheduled_sessions', 'slots', 'session_series', 'facility_uses'] as const) {
      await trx
        .updateTable(table)
        .set({ deleted: true, ...(table === 'slots' ? {} : { data: null }) })
        .where('test_dataset', '=', testDataset)
        .where('deleted', '=', false)
        .execute();
    }
    for (const table of ['individual_facility_uses', 'offers'] as const) {
      await trx
        .updateTable(table)
        .set({ deleted: true })
        .where('test_dataset', '=', testDataset)
        .where('deleted', '=', false)
        .execute();
    }
  });
}
