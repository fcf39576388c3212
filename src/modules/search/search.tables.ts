import type { ColumnType, Generated, GeneratedAlways, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';

/*
 * Types of the search read-model tables (migration 2026-11-26-003-search). They live with the
 * module that owns the tables; `searchDb` widens the shared Kysely instance with them.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

/** What the renderer needs of a series, prepared once at projection time. */
export interface SeriesDoc {
  /** EventSeries-level fields (or FacilityUse-level for facilities), output form. */
  event: Record<string, unknown>;
  /** The SessionSeries / IndividualFacilityUse summary object, output form, no location. */
  series: Record<string, unknown>;
  /**
   * Extra fields only By-ID answers carry (offers, leader, accessibility …): stored in
   * `detail_doc` and present only on rows read by the By-ID queries.
   */
  detail?: Record<string, unknown>;
  /**
   * On the row of a ScheduledSession that overrides its series (inheritance.ts): the session's
   * own values, output form, read from `detail_doc` by By-ID queries only.
   */
  own?: Record<string, unknown>;
  /** `imin:aggregateOffer`, when the series has public adult or junior offers. */
  aggregate: Record<string, unknown> | null;
  /** The location, output form (no distance), with its summary key. */
  place: (Record<string, unknown> & { key: string }) | null;
  /** Hash of what occurrences inherit: when it is unchanged they need no re-projection. */
  inheritHash: string;
}

/** What only By-ID answers and the projector need of a series (`search_series.detail_doc`). */
export interface SeriesDetailDoc {
  /** Extra fields only By-ID answers carry (offers, leader, accessibility …). */
  detail: Record<string, unknown>;
  /** Offers as published (for occurrences that inherit them). */
  offers: Record<string, unknown>[];
  /** See SeriesDoc.own. */
  own?: Record<string, unknown>;
}

export interface OccurrenceDoc {
  summary: Record<string, unknown>;
  /** A Slot's offers (its own, else its FacilityUse's). */
  offers?: Record<string, unknown>[];
}

export interface SearchSeriesTable {
  id: Generated<number>;
  publisher_id: number;
  oa_id: string;
  kind: string;
  group_oa_id: string;
  identifier: string;
  place_key: string | null;
  latitude: number | null;
  longitude: number | null;
  attendance: string;
  activity_ids: string[];
  activity_match_ids: string[];
  activity_schemes: string[];
  facility_type_ids: string[];
  organizer_id: string | null;
  organizer_name: string | null;
  age_min: number;
  age_max: number | null;
  gender: string | null;
  levels: string[];
  accessibility_ids: string[];
  /** Special-requirement concept ids (`emduk:specialRequirement` …; migration 2026-12-08-028). */
  special_requirement_ids: ColumnType<string[], string[] | undefined, string[]>;
  /** Leaders' genders, `Female` / `Male`. */
  leader_genders: ColumnType<string[], string[] | undefined, string[]>;
  /** `availableChannel` local names (e.g. `OnlinePrepayment`) of the adult / junior offers. */
  adult_channels: ColumnType<string[], string[] | undefined, string[]>;
  junior_channels: ColumnType<string[], string[] | undefined, string[]>;
  amenities: string[];
  wheelchair: boolean | null;
  adult_price: number | null;
  adult_member: boolean | null;
  junior_price: number | null;
  junior_member: boolean | null;
  hfs: boolean;
  place_class: string | null;
  tz: string;
  booking_ready: boolean;
  /** Starts of the open (not cancelled or postponed) occurrences, sorted; kept by the projector. */
  open_starts: Generated<Date[]>;
  /** `open_starts` when it has at most 200 elements, else null; generated (migration 2026-11-27-015). */
  open_starts_short: GeneratedAlways<Date[] | null>;
  doc: Json<SeriesDoc>;
  /** The By-ID parts (migration 2026-11-27-014), read only by By-ID queries. */
  detail_doc: ColumnType<SeriesDetailDoc, string, string>;
  updated_at: Timestamp;
}

export interface SearchOccurrencesTable {
  id: Generated<number>;
  publisher_id: number;
  oa_id: string;
  series_id: number;
  kind: string;
  start_at: Timestamp;
  end_at: Timestamp | null;
  /** `date`: an ISO string with both drivers. */
  local_date: string;
  local_minute: number;
  iso_dow: number;
  remaining: number | null;
  maximum: number | null;
  status: string;
  bookable: boolean;
  book_from_s: number | null;
  book_until_s: number | null;
  doc: Json<OccurrenceDoc>;
}

export interface SearchProjectorStateTable {
  name: string;
  last_seq: number;
  updated_at: Timestamp;
}

export type SearchTables = {
  search_series: SearchSeriesTable;
  search_occurrences: SearchOccurrencesTable;
  search_projector_state: SearchProjectorStateTable;
};

export type SearchDB = DB & SearchTables;
export type SearchExecutor = Kysely<SearchDB> | Transaction<SearchDB>;

export function searchDb(db: Kysely<DB>): Kysely<SearchDB> {
  return db.withTables<SearchTables>();
}
