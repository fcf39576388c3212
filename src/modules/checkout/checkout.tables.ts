import type { ColumnType, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';

/* Types of the checkout_sessions table (migration 2026-11-27-008-orders-checkout). */

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type SessionKind = 'authenticated' | 'group' | 'standalone' | 'guest';
/** `paying` = a pay() call owns the session (the lock against double booking). */
export type SessionState = 'choose' | 'details' | 'pay' | 'paying' | 'confirmed' | 'failed';

export interface OfferSnapshot {
  id: string;
  name: string;
  /** minor units */
  price: number;
  currency: string;
  ageRange: string | null;
  membersOnly: boolean;
  /** The offer as published, for the order record. */
  data: Record<string, unknown>;
}

/** What the checkout needs of the opportunity, captured when the session is created. */
export interface OpportunitySnapshot {
  oaId: string;
  type: 'ScheduledSession' | 'Slot';
  name: string;
  startDate: string;
  endDate: string | null;
  remaining: number | null;
  publisherId: number | null;
  sellerId: string | null;
  sellerName: string | null;
  sellerTermsUrl: string | null;
  seller: Record<string, unknown> | null;
  locationName: string | null;
  address: string | null;
  offers: OfferSnapshot[];
  /** The SessionSeries' name and its EventSeries' (when the feed names one), for orders (imin-booking §3.2). */
  seriesName?: string | null;
  eventSeriesName?: string | null;
  /** The opportunity as harvested (trimmed), for the order record. */
  data: Record<string, unknown>;
}

export interface PersonSnapshot {
  givenName: string;
  familyName: string;
  email: string;
  telephone?: string | null;
  identifier?: string | null;
}

export interface SelectedItem {
  offerId: string;
  attendee: (PersonSnapshot & { customerId?: number | null }) | null;
}

export interface QuoteSnapshot {
  stage: 'C1' | 'C2';
  items: { offerId: string; price: number; currency: string }[];
  total: number;
  currency: string;
  leaseExpires: string | null;
}

export interface Problem {
  code: 'full' | 'expired' | 'declined' | 'seller_unavailable' | 'not_bookable' | 'invalid' | 'interrupted';
  message: string;
}

export interface NavigationLink {
  name: string;
  url: string;
  linkType?: string;
}

export interface CheckoutSessionsTable {
  id: string;
  broker_id: number;
  api_key_id: number | null;
  mode: 'live' | 'test';
  kind: SessionKind;
  test_mode: boolean;
  request: Json<unknown> | null;
  response: Json<Record<string, unknown>> | null;
  customer_id: number | null;
  customer: Json<PersonSnapshot> | null;
  is_member: boolean;
  opportunity: Json<OpportunitySnapshot>;
  offer_id: string | null;
  items: Json<SelectedItem[]> | null;
  quote: Json<QuoteSnapshot> | null;
  navigation_links: Json<NavigationLink[]>;
  state: SessionState;
  problem: Json<Problem> | null;
  order_uuid: string;
  payment_id: string | null;
  order_id: string | null;
  expires_at: Timestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type CheckoutTables = { checkout_sessions: CheckoutSessionsTable };
export type CheckoutDB = DB & CheckoutTables;
export type CheckoutExecutor = Kysely<CheckoutDB> | Transaction<CheckoutDB>;

export function checkoutDb<T extends Kysely<DB> | Transaction<DB>>(db: T): CheckoutExecutor {
  return (db as Kysely<DB>).withTables<CheckoutTables>();
}
