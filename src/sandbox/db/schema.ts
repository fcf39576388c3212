import type { ColumnType, Generated, Kysely, Transaction } from 'kysely';
import type { BookingTables } from '../booking/booking.tables.js';

/*
 * The sandbox booking system's own tables (its own database: a PGlite directory or a Postgres
 * database of its own — never the platform's).
 *
 *   sellers ─┬─< places
 *            ├─< session_series ─┬─< scheduled_sessions
 *            │                   └─< offers (session_series_id)
 *            └─< facility_uses ──┬─< individual_facility_uses ─< slots
 *                                └─< offers (facility_use_id)
 *
 * Published items (sellers, places, session_series, scheduled_sessions, facility_uses, slots)
 * carry the RPDE feed state:
 *   - `modified bigint`: set by a trigger from ONE global sequence on every insert and update,
 *     under a transaction-scoped advisory lock, so values are strictly increasing across all
 *     tables AND commit in the order they were taken (RPDE 1.0 "modified + id" ordering; see
 *     openactive.md §2.6 on out-of-order commits). Feeds are keyset-paged on (modified, id).
 *   - `deleted boolean`: tombstones are kept (RPDE requires `state: deleted` items); their
 *     `data` is nulled.
 *   - `test_dataset text`: set on rows the test interface created (openactive.md §6.4) so a
 *     `DELETE …/test-interface/datasets/:id` can tombstone exactly those.
 * Embedded children bump their parent: an individual facility use or an offer changing must be
 * followed by touching the facility use / session series row (see opportunities.ts).
 *
 * `data jsonb` holds the descriptive OpenActive properties that never contain our own URLs
 * (names, activities, schedules, images…). Identifiers are built from ids and the configured
 * public URL when a feed page is rendered, so moving the sandbox to another host needs no
 * data migration.
 *
 * Money is stored in minor units (pence) as integers: both drivers return numerics as
 * strings, integers as numbers.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T = Record<string, unknown>> = ColumnType<T, string | T, string | T>;

/** Columns every published item has. */
interface FeedState {
  modified: Generated<number>;
  deleted: Generated<boolean>;
}

export interface SellersTable extends FeedState {
  id: Generated<number>;
  /** Organization properties: name, legalName, url, logo, email, telephone, address, vatID, termsOfService… */
  data: Json | null;
  is_open_booking_allowed: Generated<boolean>;
  /** `https://openactive.io/TaxGross` or `https://openactive.io/TaxNet`. */
  tax_mode: string;
}

export interface PlacesTable extends FeedState {
  id: Generated<number>;
  seller_id: number;
  /** Place properties: name, address, geo, amenityFeature, openingHoursSpecification, telephone… */
  data: Json | null;
}

export interface SessionSeriesTable extends FeedState {
  id: Generated<number>;
  seller_id: number;
  /** null for virtual sessions (eventAttendanceMode Online). */
  place_id: number | null;
  /** SessionSeries properties except @id/url/organizer/location/offers (built at render time). */
  data: Json | null;
  test_dataset: string | null;
}

export interface ScheduledSessionsTable extends FeedState {
  id: Generated<number>;
  session_series_id: number;
  start_date: Timestamp;
  end_date: Timestamp;
  maximum_attendee_capacity: number;
  remaining_attendee_capacity: number;
  /** `https://schema.org/EventScheduled` | `EventCancelled` | `EventPostponed` | `EventRescheduled`. */
  event_status: Generated<string>;
  /** Per-occurrence overrides (e.g. name after a change of logistics); usually null. */
  data: Json | null;
  test_dataset: string | null;
}

export interface FacilityUsesTable extends FeedState {
  id: Generated<number>;
  seller_id: number;
  place_id: number;
  /** FacilityUse properties: name, description, facilityType, activity, hoursAvailable, image… */
  data: Json | null;
  test_dataset: string | null;
}

/** Embedded in their facility use's feed item; not published on their own. */
export interface IndividualFacilityUsesTable {
  id: Generated<number>;
  facility_use_id: number;
  /** name (e.g. "Court 3"), description… */
  data: Json | null;
  deleted: Generated<boolean>;
  test_dataset: string | null;
}

export interface SlotsTable extends FeedState {
  id: Generated<number>;
  facility_use_id: number;
  individual_facility_use_id: number;
  start_date: Timestamp;
  end_date: Timestamp;
  maximum_uses: number;
  remaining_uses: number;
  test_dataset: string | null;
}

/**
 * Offers belong to a session series (inherited by its sessions, the one inheritance MOD 2.0
 * allows) or to a facility use (repeated on each of its slots, since the validator requires
 * `offers` on a Slot). Offer `@id` = `{opportunity-or-series @id}#/offers/{id}`.
 */
export interface OffersTable {
  id: Generated<number>;
  session_series_id: number | null;
  facility_use_id: number | null;
  /** Display name, e.g. "Adult", "Junior (8-17)", "Member". */
  name: string;
  price_minor: number;
  price_currency: Generated<string>;
  /** ISO 8601 durations, relative to the opportunity's start; null = no restriction. */
  valid_from_before_start_date: string | null;
  valid_through_before_start_date: string | null;
  latest_cancellation_before_start_date: string | null;
  /** `https://openactive.io/Required` | `Optional` | `Unavailable`. */
  open_booking_in_advance: string;
  /** Same enumeration; null = not stated (free offers never state it). */
  open_booking_prepayment: string | null;
  allow_customer_cancellation_full_refund: Generated<boolean>;
  /** `https://openactive.io/OpenBookingAttendeeDetails`, `…IntakeForm`, `…Approval`, `…Negotiation`. */
  open_booking_flow_requirement: Generated<string[]>;
  age_min: number | null;
  age_max: number | null;
  /** Member-only offer: rendered as `eligibleEntitlementType`. */
  membership_required: Generated<boolean>;
  /** Any further Offer properties (description, acceptedPaymentMethod…). */
  data: Json | null;
  deleted: Generated<boolean>;
  test_dataset: string | null;
}

/** Key/value facts about the generated data set (seed, size, anchor date). */
export interface MetaTable {
  key: string;
  value: Json<unknown>;
}

/** The booking side's tables (orders, leases, partners) are declared in booking/booking.tables.ts. */
export interface SandboxDB extends BookingTables {
  sellers: SellersTable;
  places: PlacesTable;
  session_series: SessionSeriesTable;
  scheduled_sessions: ScheduledSessionsTable;
  facility_uses: FacilityUsesTable;
  individual_facility_uses: IndividualFacilityUsesTable;
  slots: SlotsTable;
  offers: OffersTable;
  sandbox_meta: MetaTable;
}

/** The sandbox database or an open transaction on it. */
export type SandboxExecutor = Kysely<SandboxDB> | Transaction<SandboxDB>;
