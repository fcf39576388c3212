import type { ColumnType, Generated } from 'kysely';

/** Table types, snake_case as in the database (no case-conversion plugin). */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

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
  mode: 'live' | 'test';
  products: string[];
  display_only: Generated<boolean>;
  allowed_origins: Generated<string[]>;
  created_at: Generated<Date>;
  revoked_at: Timestamp | null;
}

export interface CustomersTable {
  id: Generated<number>;
  broker_id: number;
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
  key: string;
  route: string;
  request_hash: string;
  status_code: number | null;
  response_body: string | null;
  response_headers: Json<Record<string, string>> | null;
  resource_ref: string | null;
  created_at: Generated<Date>;
}

export interface DB {
  brokers: BrokersTable;
  api_keys: ApiKeysTable;
  customers: CustomersTable;
  idempotency_keys: IdempotencyKeysTable;
}
