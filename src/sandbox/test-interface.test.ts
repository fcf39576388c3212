import { Duration } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxTestContext, sharedVocab, type SandboxTestContext } from '../../test/sandbox-helpers.js';
import { generateDataset } from './generator/generate.js';
import { findBookable } from './opportunities.js';
import { SUPPORTED_CRITERIA, type Criteria } from './test-interface.js';

/*
 * Each criteria is checked against the opportunity as a harvester sees it in the feeds (child
 * joined with its parent), with the predicates openactive-test-suite's test-interface-criteria
 * applies (restated here; see openactive.md §6.4).
 */

type Json = Record<string, any>;
const DATASET = 'uat-ci';
const PREFIX = 'https://openactive.io/test-interface#';
const HOUR = 3_600_000;

let t: SandboxTestContext;
const harvestStart = new Date();
const twoHoursLater = new Date(harvestStart.getTime() + 2 * HOUR);

function body(
  type: 'ScheduledSession' | 'Slot',
  criteria: string,
  seller: string,
  flow = 'OpenBookingSimpleFlow',
): Json {
  const common = {
    '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
    'test:testOpportunityCriteria': `${PREFIX}${criteria}`,
    'test:testOpenBookingFlow': `${PREFIX}${flow}`,
  };
  const organization = { '@type': 'Organization', '@id': seller };
  return type === 'ScheduledSession'
    ? { '@type': 'ScheduledSession', superEvent: { '@type': 'SessionSeries', organizer: organization }, ...common }
    : { '@type': 'Slot', facilityUse: { '@type': 'IndividualFacilityUse', provider: organization }, ...common };
}

async function walkFrom(url: string): Promise<{ items: Json[]; lastUrl: string }> {
  const items: Json[] = [];
  let current = url;
  for (;;) {
    const page = (await t.request({ method: 'GET', url: current.replace(t.urls.base, '') })).json<Json>();
    if (page.items.length === 0) return { items, lastUrl: current };
    items.push(...page.items);
    current = page.next;
  }
}

const minus = (iso: string, duration: string) =>
  new Date(new Date(iso).getTime() - Duration.fromISO(duration).toMillis());

/** The test suite's predicates, for one opportunity (child merged with parent) and one offer. */
function satisfies(criteria: Criteria, opp: Json, offer: Json, individual: boolean): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  const remaining = opp.remainingAttendeeCapacity ?? opp.remainingUses;
  const seller = opp.superEvent?.organizer ?? opp.facilityUse?.aggregateFacilityUse?.provider;
  const start = new Date(opp.startDate);
  const from = offer.validFromBeforeStartDate ? minus(opp.startDate, offer.validFromBeforeStartDate) : null;
  const through = offer.validThroughBeforeStartDate ? minus(opp.startDate, offer.validThroughBeforeStartDate) : null;
  const cancelBy = offer.latestCancellationBeforeStartDate
    ? minus(opp.startDate, offer.latestCancellationBeforeStartDate)
    : null;
  const flow: string[] = offer.openBookingFlowRequirement ?? [];
  const insideWindow = (!from || harvestStart > from) && (!through || twoHoursLater < through);

  const past = criteria === 'TestOpportunityBookableInPast';
  if (criteria === 'TestOpportunityBookableNoSpaces') need(remaining === 0, 'no spaces');
  else if (criteria === 'TestOpportunityBookableOneSpace') need(remaining === 1, 'one space');
  else if (criteria === 'TestOpportunityBookableFiveSpaces') need(remaining === 5, 'five spaces');
  else need(remaining > (individual ? 0 : 1), 'capacity for a booking');
  if (criteria !== 'TestOpportunityBookableNoSpaces')
    need(seller?.isOpenBookingAllowed === true, 'seller allows open booking');
  if (past) need(new Date(opp.endDate) < harvestStart, 'ended before the harvest');
  else need(start > twoHoursLater, 'starts over two hours after the harvest');
  need(
    !['https://schema.org/EventCancelled', 'https://schema.org/EventPostponed'].includes(opp.eventStatus),
    'not cancelled',
  );

  need(offer.openBookingInAdvance !== 'https://openactive.io/Unavailable', 'bookable in advance');
  if (criteria === 'TestOpportunityBookableOutsideValidFromBeforeStartDate') {
    need((from !== null && twoHoursLater < from) || (through !== null && harvestStart > through), 'outside the window');
  } else if (!past) need(insideWindow, 'inside the booking window');
  if (criteria === 'TestOpportunityBookableWithinValidFromBeforeStartDate')
    need(from !== null || through !== null, 'has a window');
  need(
    criteria === 'TestOpportunityBookableAttendeeDetails'
      ? flow.includes('https://openactive.io/OpenBookingAttendeeDetails')
      : !flow.includes('https://openactive.io/OpenBookingAttendeeDetails'),
    'attendee details requirement',
  );
  need(
    criteria === 'TestOpportunityBookableAdditionalDetails'
      ? flow.includes('https://openactive.io/OpenBookingIntakeForm')
      : !flow.includes('https://openactive.io/OpenBookingIntakeForm'),
    'intake form requirement',
  );
  const paidUnavailable = offer.price > 0 && offer.openBookingPrepayment === 'https://openactive.io/Unavailable';
  need(
    criteria === 'TestOpportunityBookableNonFreePrepaymentUnavailable' ? paidUnavailable : !paidUnavailable,
    'prepayment',
  );

  switch (criteria) {
    case 'TestOpportunityBookableFree':
      need(
        offer.price === 0 && (!offer.openBookingPrepayment || offer.openBookingPrepayment.endsWith('Unavailable')),
        'free',
      );
      break;
    case 'TestOpportunityBookableNonFree':
      need(offer.price > 0, 'paid');
      break;
    case 'TestOpportunityBookableUsingPayment':
      need(offer.price > 0 && offer.openBookingPrepayment !== 'https://openactive.io/Unavailable', 'payment');
      break;
    case 'TestOpportunityBookableCancellable':
    case 'TestOpportunityBookableCancellableNoWindow':
      need(offer.allowCustomerCancellationFullRefund === true, 'full refund');
      need(!cancelBy || twoHoursLater < cancelBy, 'within cancellation window');
      break;
    case 'TestOpportunityBookableFreeCancellable':
      need(offer.price === 0 && offer.allowCustomerCancellationFullRefund === true, 'free + refundable');
      break;
    case 'TestOpportunityBookableNonFreeCancellable':
      need(offer.price > 0 && offer.allowCustomerCancellationFullRefund === true, 'paid + refundable');
      break;
    case 'TestOpportunityBookableNotCancellable':
      need(
        offer.allowCustomerCancellationFullRefund === false || (cancelBy !== null && harvestStart > cancelBy),
        'not cancellable',
      );
      break;
    case 'TestOpportunityBookableCancellableWithinWindow':
      need(
        offer.allowCustomerCancellationFullRefund === true && cancelBy !== null && twoHoursLater < cancelBy,
        'within window',
      );
      break;
    case 'TestOpportunityBookableCancellableOutsideWindow':
      need(cancelBy !== null && harvestStart > cancelBy, 'outside window');
      break;
    case 'TestOpportunityBookableNonFreeTaxGross':
      need(offer.price > 0 && seller?.taxMode === 'https://openactive.io/TaxGross', 'gross');
      break;
    case 'TestOpportunityBookableNonFreeTaxNet':
      need(offer.price > 0 && seller?.taxMode === 'https://openactive.io/TaxNet', 'net');
      break;
    case 'TestOpportunityBookableNonFreePrepaymentOptional':
      need(offer.price > 0 && offer.openBookingPrepayment === 'https://openactive.io/Optional', 'optional');
      break;
    case 'TestOpportunityBookableNonFreePrepaymentRequired':
      need(
        offer.price > 0 && (!offer.openBookingPrepayment || offer.openBookingPrepayment.endsWith('/Required')),
        'required',
      );
      break;
    case 'TestOpportunityBookableFreePrepaymentOptional':
      need(offer.price === 0 && offer.openBookingPrepayment === 'https://openactive.io/Optional', 'free optional');
      break;
    case 'TestOpportunityBookableFreePrepaymentRequired':
      need(offer.price === 0 && offer.openBookingPrepayment === 'https://openactive.io/Required', 'free required');
      break;
    case 'TestOpportunityBookableSellerTermsOfService':
      need(Array.isArray(seller?.termsOfService) && seller.termsOfService.length >= 1, 'terms');
      break;
    case 'TestOpportunityBookableWithNegotiation':
      need(flow.includes('https://openactive.io/OpenBookingNegotiation'), 'negotiation');
      break;
    case 'TestOpportunityOnlineBookable':
      need(opp.superEvent?.eventAttendanceMode === 'https://schema.org/OnlineEventAttendanceMode', 'online');
      break;
    case 'TestOpportunityOfflineBookable':
      need(
        !!opp.facilityUse ||
          !opp.superEvent?.eventAttendanceMode ||
          opp.superEvent.eventAttendanceMode === 'https://schema.org/OfflineEventAttendanceMode',
        'offline',
      );
      break;
    default:
      break;
  }
  return problems;
}

/** Which seller the suite would use for a criteria (its primary is gross, its secondary net). */
const sellerFor = (criteria: Criteria) => t.urls.seller(criteria === 'TestOpportunityBookableNonFreeTaxNet' ? 2 : 1);

beforeAll(async () => {
  t = await createSandboxTestContext();
  await generateDataset(t.database.db, sharedVocab(), { seed: 3, sessions: 40, anchor: new Date(), slotDays: 1 });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('test interface: create opportunities by criteria', () => {
  const created: { type: 'ScheduledSession' | 'Slot'; criteria: Criteria; id: string }[] = [];
  let sessionsFrom = '';
  let slotsFrom = '';
  let seriesFrom = '';
  let facilitiesFrom = '';

  beforeAll(async () => {
    sessionsFrom = (await walkFrom(t.urls.feed('scheduled-sessions'))).lastUrl;
    slotsFrom = (await walkFrom(t.urls.feed('individual-facility-use-slots'))).lastUrl;
    seriesFrom = (await walkFrom(t.urls.feed('session-series'))).lastUrl;
    facilitiesFrom = (await walkFrom(t.urls.feed('facility-uses'))).lastUrl;
  });

  it('answers 201 with the new opportunity for every supported criteria, for sessions and individual facility slots', async () => {
    for (const criteria of SUPPORTED_CRITERIA) {
      for (const type of ['ScheduledSession', 'Slot'] as const) {
        if (type === 'Slot' && criteria === 'TestOpportunityOnlineBookable') continue;
        const res = await t.request({
          method: 'POST',
          url: `/api/openbooking/test-interface/datasets/${DATASET}/opportunities`,
          headers: { 'content-type': 'application/vnd.openactive.booking+json; version=1' },
          payload: body(type, criteria, sellerFor(criteria)),
        });
        expect(res.statusCode, `${type} ${criteria}: ${res.body}`).toBe(201);
        expect(res.headers['content-type']).toBe('application/vnd.openactive.booking+json; version=1');
        const json = res.json<Json>();
        expect(json['@type']).toBe(type);
        expect(json['@id']).toMatch(
          type === 'Slot' ? /\/individual-facility-uses\/\d+\/slots\/\d+$/ : /\/scheduled-sessions\/\d+$/,
        );
        created.push({ type, criteria, id: json['@id'] as string });
      }
    }
    expect(created.length).toBe(SUPPORTED_CRITERIA.length * 2 - 1);
  }, 60_000);

  it('publishes each one in the feeds straight away, satisfying its criteria as the test suite checks them', async () => {
    const sessions = new Map((await walkFrom(sessionsFrom)).items.map((i) => [i.data?.['@id'], i.data]));
    const slots = new Map((await walkFrom(slotsFrom)).items.map((i) => [i.data?.['@id'], i.data]));
    const series = new Map((await walkFrom(seriesFrom)).items.map((i) => [i.data?.['@id'], i.data]));
    // The suite's broker "inverts" a FacilityUse into its IndividualFacilityUses.
    const individual = new Map<string, Json>();
    for (const item of (await walkFrom(facilitiesFrom)).items) {
      const { individualFacilityUse, ...facilityUse } = item.data as Json;
      for (const i of individualFacilityUse as Json[])
        individual.set(i['@id'], { ...i, aggregateFacilityUse: facilityUse });
    }
    for (const c of created) {
      const child = (c.type === 'Slot' ? slots : sessions).get(c.id);
      expect(child, `${c.criteria} ${c.type} in feed`).toBeDefined();
      const opp =
        c.type === 'Slot'
          ? { ...child, facilityUse: individual.get(child!.facilityUse) }
          : { ...child, superEvent: series.get(child!.superEvent) };
      expect(opp.superEvent ?? opp.facilityUse, `${c.criteria} parent`).toBeDefined();
      const offers = (child!.offers ?? opp.superEvent?.offers) as Json[];
      const results = offers.map((o) => satisfies(c.criteria, opp, o, c.type === 'Slot'));
      expect(
        results.some((r) => r.length === 0),
        `${c.type} ${c.criteria}: ${JSON.stringify(results)}`,
      ).toBe(true);
    }
  });

  it('makes each one bookable through the opportunities API', async () => {
    for (const c of created.filter((x) => x.criteria === 'TestOpportunityBookable')) {
      const found = await findBookable(t.database.db, t.urls, c.id);
      expect(found?.['@type']).toBe(c.type);
      expect(found?.testDataset).toBe(DATASET);
      expect(found?.seller['@id']).toBe(t.urls.seller(1));
      expect(found?.offers).toHaveLength(1);
      expect(found?.remainingCapacity).toBeGreaterThan(0);
    }
  });

  it('adds the approval requirement for the approval flow', async () => {
    const res = await t.request({
      method: 'POST',
      url: `/api/openbooking/test-interface/datasets/${DATASET}/opportunities`,
      payload: body('ScheduledSession', 'TestOpportunityBookable', t.urls.seller(1), 'OpenBookingApprovalFlow'),
    });
    expect(res.statusCode).toBe(201);
    const found = await findBookable(t.database.db, t.urls, res.json<Json>()['@id']);
    expect(found?.offers[0]?.openBookingFlowRequirement).toEqual(['https://openactive.io/OpenBookingApproval']);
  });

  it('rejects what it cannot create with a 400 OpenActive error', async () => {
    const post = (payload: unknown) =>
      t.request({
        method: 'POST',
        url: `/api/openbooking/test-interface/datasets/${DATASET}/opportunities`,
        payload: payload as Json,
      });
    const cases: Json[] = [
      body('ScheduledSession', 'TestOpportunityNoSuchThing', t.urls.seller(1)),
      body('ScheduledSession', 'TestOpportunityBookable', 'https://elsewhere.example/sellers/1'),
      body('ScheduledSession', 'TestOpportunityBookable', t.urls.seller(999)),
      body('ScheduledSession', 'TestOpportunityBookableNonFreeTaxNet', t.urls.seller(1)),
      body('Slot', 'TestOpportunityOnlineBookable', t.urls.seller(1)),
      { ...body('Slot', 'TestOpportunityBookable', t.urls.seller(1)), facilityUse: { '@type': 'FacilityUse' } },
      { ...body('ScheduledSession', 'TestOpportunityBookable', t.urls.seller(1)), '@type': 'CourseInstance' },
      { '@type': 'ScheduledSession' },
    ];
    for (const payload of cases) {
      const res = await post(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.headers['content-type']).toBe('application/vnd.openactive.booking+json; version=1');
      expect(res.json<Json>()['@type']).toBe('BadRequestError');
    }
    const notJson = await t.request({
      method: 'POST',
      url: `/api/openbooking/test-interface/datasets/${DATASET}/opportunities`,
      headers: { 'content-type': 'application/json' },
      payload: '{"@type":',
    });
    expect(notJson.statusCode).toBe(400);
  });
});

describe('test interface: delete a test dataset', () => {
  it('tombstones what the dataset created and nothing else, and is repeatable', async () => {
    const own = 'delete-me';
    const other = 'keep-me';
    const ids: string[] = [];
    for (const [dataset, type] of [
      [own, 'ScheduledSession'],
      [own, 'Slot'],
      [other, 'ScheduledSession'],
    ] as const) {
      const res = await t.request({
        method: 'POST',
        url: `/api/openbooking/test-interface/datasets/${dataset}/opportunities`,
        payload: body(type, 'TestOpportunityBookable', t.urls.seller(1)),
      });
      ids.push(res.json<Json>()['@id']);
    }
    const before = {
      sessions: (await walkFrom(t.urls.feed('scheduled-sessions'))).lastUrl,
      slots: (await walkFrom(t.urls.feed('individual-facility-use-slots'))).lastUrl,
      series: (await walkFrom(t.urls.feed('session-series'))).lastUrl,
    };

    const res = await t.request({
      method: 'DELETE',
      url: `/api/openbooking/test-interface/datasets/${own}`,
      headers: { 'content-type': 'application/vnd.openactive.booking+json; version=1' },
    });
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe('');

    const sessions = await walkFrom(before.sessions);
    const slots = await walkFrom(before.slots);
    const series = await walkFrom(before.series);
    expect(sessions.items).toHaveLength(1);
    expect(sessions.items[0]).toMatchObject({ state: 'deleted', id: Number(ids[0]!.split('/').at(-1)) });
    expect(sessions.items[0]!.data).toBeUndefined();
    expect(slots.items).toHaveLength(1);
    expect(slots.items[0]).toMatchObject({ state: 'deleted', id: Number(ids[1]!.split('/').at(-1)) });
    expect(series.items).toHaveLength(1);
    expect(series.items[0]!.state).toBe('deleted');
    expect(await findBookable(t.database.db, t.urls, ids[0])).toBeUndefined();
    expect(await findBookable(t.database.db, t.urls, ids[2])).toBeDefined();

    const again = await t.request({ method: 'DELETE', url: `/api/openbooking/test-interface/datasets/${own}` });
    expect(again.statusCode).toBe(204);
    expect((await walkFrom(sessions.lastUrl)).items).toEqual([]);
    expect((await walkFrom(series.lastUrl)).items).toEqual([]);
  });
});
