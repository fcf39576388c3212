import type { Insertable, Kysely } from 'kysely';
import type { OffersTable, SandboxDB } from '../db/schema.js';
import type { SandboxUrls } from '../ids.js';

/*
 * Test data for the booking tests: a seller with a session series or a facility, written straight
 * into the sandbox tables, so each test states exactly the capacity, prices and windows it needs.
 */

const YOGA = {
  '@type': 'Concept',
  '@id': 'https://openactive.io/activity-list#bf1a5e00-cdcf-465d-8c5a-6f57040b7f7e',
  prefLabel: 'Yoga',
  inScheme: 'https://openactive.io/activity-list',
};
const BADMINTON = {
  '@type': 'Concept',
  '@id': 'https://openactive.io/activity-list#c0360db0-a817-4bae-9167-40f89b49fc9e',
  prefLabel: 'Badminton',
  inScheme: 'https://openactive.io/activity-list',
};
const BADMINTON_COURT = {
  '@type': 'Concept',
  '@id': 'https://openactive.io/facility-types#9db5681e-700e-4b30-99a5-355885d94db2',
  prefLabel: 'Badminton Court',
  inScheme: 'https://openactive.io/facility-types',
};

const ADDRESS = {
  '@type': 'PostalAddress',
  streetAddress: '12 Mill Lane',
  addressLocality: 'Leeds',
  addressRegion: 'West Yorkshire',
  postalCode: 'LS1 4AB',
  addressCountry: 'GB',
};

export type OfferSpec = Partial<Omit<Insertable<OffersTable>, 'session_series_id' | 'facility_use_id'>>;

const DAY = 86_400_000;

export interface Fixtures {
  sellerUrl: string;
  sellerId: number;
  /** A ScheduledSession with its offers; returns the URLs a broker would send. */
  session(spec?: {
    capacity?: number;
    remaining?: number;
    start?: Date;
    offers?: OfferSpec[];
    eventStatus?: string;
  }): Promise<{ id: number; url: string; offerUrls: string[] }>;
  /** A Slot of an IndividualFacilityUse. */
  slot(spec?: { uses?: number; remaining?: number; start?: Date; offers?: OfferSpec[] }): Promise<{
    id: number;
    url: string;
    offerUrls: string[];
  }>;
}

export async function createFixtures(
  db: Kysely<SandboxDB>,
  urls: SandboxUrls,
  seller: { taxMode?: string; isOpenBookingAllowed?: boolean; now?: Date } = {},
): Promise<Fixtures> {
  // Whole seconds: the validator rejects DateTimes with fractional seconds.
  const now = new Date(Math.floor((seller.now ?? new Date()).getTime() / 1000) * 1000);
  const sellerRow = await db
    .insertInto('sellers')
    .values({
      tax_mode: seller.taxMode ?? 'https://openactive.io/TaxGross',
      is_open_booking_allowed: seller.isOpenBookingAllowed ?? true,
      data: JSON.stringify({
        name: 'Riverside Leisure',
        legalName: 'Riverside Leisure Trust Ltd',
        url: 'https://riverside-leisure.example.org',
        email: 'bookings@riverside-leisure.example.org',
        telephone: '0113 496 0000',
        vatID: 'GB 123 4567 89',
        address: ADDRESS,
        termsOfService: [
          {
            '@type': 'Terms',
            name: 'Terms and Conditions',
            url: 'https://riverside-leisure.example.org/terms',
          },
        ],
      }),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const place = await db
    .insertInto('places')
    .values({
      seller_id: sellerRow.id,
      data: JSON.stringify({
        name: 'Riverside Leisure Centre',
        address: ADDRESS,
        geo: { '@type': 'GeoCoordinates', latitude: 53.7965, longitude: -1.5478 },
      }),
    })
    .returning('id')
    .executeTakeFirstOrThrow();

  const offerRow = (spec: OfferSpec) => ({
    name: 'Adult',
    price_minor: 750,
    open_booking_in_advance: 'https://openactive.io/Required',
    open_booking_prepayment: 'https://openactive.io/Required',
    valid_from_before_start_date: 'P28D',
    latest_cancellation_before_start_date: 'P1D',
    allow_customer_cancellation_full_refund: true,
    ...spec,
  });

  return {
    sellerUrl: urls.seller(sellerRow.id),
    sellerId: sellerRow.id,
    async session(spec = {}) {
      const series = await db
        .insertInto('session_series')
        .values({
          seller_id: sellerRow.id,
          place_id: place.id,
          data: JSON.stringify({
            name: 'Vinyasa Flow Yoga',
            description: 'A flowing class for all levels.',
            activity: [YOGA],
            eventAttendanceMode: 'https://schema.org/OfflineEventAttendanceMode',
          }),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const offers = await db
        .insertInto('offers')
        .values((spec.offers ?? [{}]).map((o) => ({ ...offerRow(o), session_series_id: series.id })))
        .returning('id')
        .execute();
      const start = spec.start ?? new Date(now.getTime() + 3 * DAY);
      const capacity = spec.capacity ?? 10;
      const session = await db
        .insertInto('scheduled_sessions')
        .values({
          session_series_id: series.id,
          start_date: start,
          end_date: new Date(start.getTime() + 3_600_000),
          maximum_attendee_capacity: capacity,
          remaining_attendee_capacity: spec.remaining ?? capacity,
          ...(spec.eventStatus ? { event_status: spec.eventStatus } : {}),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      return {
        id: session.id,
        url: urls.scheduledSession(session.id),
        offerUrls: offers.map((o) => urls.offer(urls.sessionSeries(series.id), o.id)),
      };
    },
    async slot(spec = {}) {
      const facility = await db
        .insertInto('facility_uses')
        .values({
          seller_id: sellerRow.id,
          place_id: place.id,
          data: JSON.stringify({ name: 'Badminton Courts', activity: [BADMINTON], facilityType: [BADMINTON_COURT] }),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const court = await db
        .insertInto('individual_facility_uses')
        .values({ facility_use_id: facility.id, data: JSON.stringify({ name: 'Court 1' }) })
        .returning('id')
        .executeTakeFirstOrThrow();
      const offers = await db
        .insertInto('offers')
        .values((spec.offers ?? [{}]).map((o) => ({ ...offerRow(o), facility_use_id: facility.id })))
        .returning('id')
        .execute();
      const start = spec.start ?? new Date(now.getTime() + 3 * DAY);
      const uses = spec.uses ?? 1;
      const slot = await db
        .insertInto('slots')
        .values({
          facility_use_id: facility.id,
          individual_facility_use_id: court.id,
          start_date: start,
          end_date: new Date(start.getTime() + 3_600_000),
          maximum_uses: uses,
          remaining_uses: spec.remaining ?? uses,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const url = urls.slot(facility.id, court.id, slot.id);
      return { id: slot.id, url, offerUrls: offers.map((o) => urls.offer(url, o.id)) };
    },
  };
}

export const BOOKING_MEDIA_TYPE = 'application/vnd.openactive.booking+json; version=1';

/** Request headers of a booking partner authenticating with the test header. */
export const partnerHeaders = (partner = 'booking-partner-1'): Record<string, string> => ({
  'x-openactive-test-client-id': partner,
  'content-type': BOOKING_MEDIA_TYPE,
});

export const BROKER = {
  '@type': 'Organization',
  name: 'MyFitnessApp',
  url: 'https://myfitnessapp.example.com',
};

export const CUSTOMER = {
  '@type': 'Person',
  email: 'geoff.capes@example.com',
  givenName: 'Geoff',
  familyName: 'Capes',
};

export interface LineSpec {
  orderedItem?: string | undefined;
  acceptedOffer?: string | undefined;
  attendee?: Record<string, unknown>;
}

/** A C1, C2 or B request body as the test suite's templates build them (bare-URL references). */
export function orderRequest(
  stage: 'C1' | 'C2' | 'B',
  sellerUrl: string,
  lines: LineSpec[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    '@context': 'https://openactive.io/',
    '@type': stage === 'B' ? 'Order' : 'OrderQuote',
    brokerRole: 'https://openactive.io/AgentBroker',
    broker: BROKER,
    seller: sellerUrl,
    ...(stage === 'C1' ? {} : { customer: CUSTOMER }),
    orderedItem: lines.map((line, position) => ({
      '@type': 'OrderItem',
      position,
      ...(line.acceptedOffer === undefined ? {} : { acceptedOffer: line.acceptedOffer }),
      ...(line.orderedItem === undefined ? {} : { orderedItem: line.orderedItem }),
      ...(line.attendee ? { attendee: line.attendee } : {}),
    })),
    ...extra,
  };
}

/** Lines booking `count` places of one opportunity with its first offer. */
export const places = (opportunity: { url: string; offerUrls: string[] }, count = 1): LineSpec[] =>
  Array.from({ length: count }, () => ({ orderedItem: opportunity.url, acceptedOffer: opportunity.offerUrls[0] }));
