import type { ColumnType, Generated } from 'kysely';

/** Table types, snake_case as in the database (no case-conversion plugin). */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

/** Live or test: the world a key, and everything it makes, belongs to (issue 14 point 3). */
export type Mode = 'live' | 'test';

export interface BrokersTable {
  id: Generated<number>;
  slug: string;
  name: string;
  url: string | null;
  logo_url: string | null;
  background_image_url: string | null;
  primary_color: string | null;
  secondary_color: string | null;
  contact_email: string | null;
  terms_url: string | null;
  email_from: string | null;
  checkout_host: string | null;
  webhook_url: string | null;
  webhook_api_key: string | null;
  created_at: Generated<Date>;
}

export interface ApiKeysTable {
  id: Generated<number>;
  broker_id: number;
  name: string;
  prefix: string;
  key_hash: string;
  mode: Mode;
  products: string[];
  display_only: Generated<boolean>;
  allowed_origins: Generated<string[]>;
  created_at: Generated<Date>;
  revoked_at: Timestamp | null;
}

export interface CustomersTable {
  id: Generated<number>;
  broker_id: number;
  mode: Generated<Mode>;
  identifier: string;
  state: Generated<'active' | 'erasing' | 'erased'>;
  given_name: string;
  family_name: string;
  email: string;
  telephone: string | null;
  birth_date: string | null;
  gender: string | null;
  is_13_or_over: boolean | null;
  address: Json<Record<string, unknown>> | null;
  emergency_contact: Json<Record<string, unknown>> | null;
  access_pass: string | null;
  entitlement: Json<Record<string, unknown>> | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  erasure_requested_at: Timestamp | null;
  erased_at: Timestamp | null;
}

export interface IdempotencyKeysTable {
  broker_id: number;
  mode: Generated<Mode>;
  key: string;
  route: string;
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  response_headers: Json<Record<string, string>> | null;
  resource_ref: string | null;
  created_at: Generated<Date>;
}

export interface PublishersTable {
  id: Generated<number>;
  name: string;
  dataset_url: string | null;
  publisher_name: string | null;
  publisher_url: string | null;
  license: string | null;
  url: string | null;
  description: string | null;
  logo_url: string | null;
  booking_endpoint_url: string | null;
  /** A test publisher is a test booking system: only test keys book it. */
  mode: Generated<Mode>;
  dataset: Json<Record<string, unknown>> | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type FeedStatus = 'harvesting' | 'caught_up' | 'failing';

export interface FeedsTable {
  id: Generated<number>;
  publisher_id: number;
  url: string;
  kind: string;
  next_url: string;
  status: Generated<FeedStatus>;
  pages: Generated<number>;
  items_updated: Generated<number>;
  items_deleted: Generated<number>;
  last_page_at: Timestamp | null;
  caught_up_at: Timestamp | null;
  newest_modified: string | null;
  newest_modified_seen_at: Timestamp | null;
  consecutive_failures: Generated<number>;
  last_error: string | null;
  last_error_at: Timestamp | null;
  next_poll_at: Generated<Date>;
  created_at: Generated<Date>;
}

export interface FeedFaultsTable {
  feed_id: number;
  fault: string;
  count: Generated<number>;
  first_at: Timestamp;
  last_at: Timestamp;
  last_message: string;
}

export interface CatalogItemsTable {
  id: Generated<number>;
  feed_id: number;
  publisher_id: number;
  item_id: string;
  kind: string;
  modified: string;
  data: Json<Record<string, unknown>>;
  harvested_at: Generated<Date>;
}

export interface CatalogEntitiesTable {
  id: Generated<number>;
  source_item_id: number;
  publisher_id: number;
  oa_id: string;
  type: string;
  parent_oa_id: string | null;
  name: string | null;
  start_date: Timestamp | null;
  end_date: Timestamp | null;
  remaining_capacity: number | null;
  maximum_capacity: number | null;
  event_status: string | null;
  attendance_mode: string | null;
  latitude: number | null;
  longitude: number | null;
  location: Json<Record<string, unknown>> | null;
  activity_ids: Generated<string[]>;
  activity_match_ids: Generated<string[]>;
  activities: Json<Record<string, unknown>[]> | null;
  facility_type_ids: Generated<string[]>;
  organizer_id: string | null;
  organizer_name: string | null;
  organizer: Json<Record<string, unknown>> | null;
  offers: Json<Record<string, unknown>[]> | null;
  /** numeric: returned as a string by both drivers */
  min_price: string | null;
  age_min: number | null;
  age_max: number | null;
  gender_restriction: string | null;
  levels: Generated<string[]>;
  accessibility_support: Generated<string[]>;
  event_schedule: Json<Record<string, unknown>[]> | null;
  data: Json<Record<string, unknown>>;
  modified: string;
}

export interface CatalogChangesTable {
  seq: Generated<number>;
  publisher_id: number;
  oa_id: string;
  type: string;
  op: 'upsert' | 'delete';
  at: Generated<Date>;
}

export interface DB {
  publishers: PublishersTable;
  feeds: FeedsTable;
  feed_faults: FeedFaultsTable;
  catalog_items: CatalogItemsTable;
  catalog_entities: CatalogEntitiesTable;
  catalog_changes: CatalogChangesTable;
  brokers: BrokersTable;
  api_keys: ApiKeysTable;
  customers: CustomersTable;
  idempotency_keys: IdempotencyKeysTable;
}
