import type { Executor } from '../../db/database.js';

/*
 * What checkout consumes from payments, booking, notifications and catalog, as agreed in the
 * checkout contracts (/work/checkout-contracts.md). Declared structurally here so this module
 * depends on the shapes, not on the other modules' files; the composition root (src/app.ts)
 * passes the real services, and the compiler checks they fit.
 */

// ---- payments ---------------------------------------------------------------------------------
export interface CardDetails {
  number: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}
export type PaymentForm =
  { kind: 'card' } | { kind: 'stripe'; publishableKey: string; clientSecret: string; providerReference: string };
export type AuthorizeResult = { ok: true; paymentId: string } | { ok: false; code: string; message: string };
export interface PaymentsPort {
  prepare(input: {
    paymentId: string;
    brokerId: number;
    mode: 'live' | 'test';
    amount: number;
    currency: string;
    description: string;
    metadata?: Record<string, string>;
  }): Promise<PaymentForm>;
  authorize(input: {
    paymentId: string;
    brokerId: number;
    mode: 'live' | 'test';
    amount: number;
    currency: string;
    description: string;
    card?: CardDetails;
    providerReference?: string;
  }): Promise<AuthorizeResult>;
  capture(paymentId: string): Promise<void>;
  void(paymentId: string): Promise<void>;
}

// ---- booking ----------------------------------------------------------------------------------
export interface BookingTarget {
  publisherId: number;
  endpointUrl: string;
  sellerId: string;
  headers: Record<string, string>;
}
export interface QuoteItem {
  opportunityId: string;
  opportunityType: 'ScheduledSession' | 'Slot';
  offerId: string;
  attendee?: { givenName?: string; familyName?: string; email?: string };
}
export interface QuoteInput {
  target: BookingTarget;
  uuid: string;
  items: QuoteItem[];
  customer?: { email: string; givenName: string; familyName: string; telephone?: string };
  broker: { name: string; url?: string | null };
}
export type BookingProblemCode =
  | 'full'
  | 'unknown_opportunity'
  | 'unknown_offer'
  | 'not_bookable'
  | 'not_within_window'
  | 'seller_unavailable'
  | 'seller_rejected'
  | 'incomplete_customer'
  | 'order_exists'
  | 'invalid_credentials';
export interface BookingProblem {
  code: BookingProblemCode;
  openActiveType?: string;
  message: string;
}
export interface Quote {
  stage: 'C1' | 'C2';
  items: { opportunityId: string; offerId: string; price: number; currency: string; errors: BookingProblem[] }[];
  totalPaymentDue: number;
  currency: string;
  leaseExpires?: Date;
  ok: boolean;
  raw: unknown;
}
export interface BookedOrder {
  uuid: string;
  orderNumber?: string;
  totalPaymentDue: number;
  currency: string;
  items: {
    orderItemId: string;
    opportunityId: string;
    offerId: string;
    price: number;
    status: string;
    accessCode?: string | null;
  }[];
  raw: unknown;
}
export type BookInput = QuoteInput & {
  payment?: { identifier: string; name?: string; accountId?: string };
  totalPaymentDue: number;
};
export interface BookingPort {
  targetFor(publisherId: number, sellerId: string): Promise<BookingTarget>;
  c1(input: QuoteInput): Promise<Quote>;
  c2(input: QuoteInput): Promise<Quote>;
  book(input: BookInput): Promise<BookedOrder>;
  getOrder(target: BookingTarget, uuid: string): Promise<BookedOrder | undefined>;
}
/** The booking client's BookingError, recognised by shape. */
export interface BookingErrorLike {
  problem: BookingProblem;
  status?: number;
  retryable: boolean;
}
export function isBookingError(err: unknown): err is BookingErrorLike {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { problem?: { code?: unknown }; retryable?: unknown };
  return typeof e.retryable === 'boolean' && typeof e.problem?.code === 'string';
}

// ---- notifications ----------------------------------------------------------------------------
export interface OutgoingEmail {
  brokerId: number;
  customerId?: number | null;
  orderId?: string | null;
  kind: string;
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  attachments?: { filename: string; contentType: string; contentBase64: string; cid?: string }[];
}
export interface MailerPort {
  enqueue(executor: Executor, email: OutgoingEmail): Promise<{ id: string }>;
}
export interface ConfirmationEmailInput {
  broker: {
    name: string;
    url?: string | null;
    logoUrl?: string | null;
    primaryColor?: string | null;
    contactEmail?: string | null;
    termsUrl?: string | null;
  };
  customer: { givenName: string; familyName: string; email: string };
  orderNumber: string;
  barcode: string;
  items: {
    name: string;
    startDate: string;
    endDate?: string | null;
    locationName?: string | null;
    address?: string | null;
    attendeeName?: string | null;
    priceText: string;
  }[];
  totalText: string;
  seller: { name: string; termsUrl?: string | null; email?: string | null; telephone?: string | null };
  navigationLinks?: { name: string; url: string }[];
  testMode?: boolean;
}
export type RenderConfirmationEmail = (input: ConfirmationEmailInput) => {
  subject: string;
  html: string;
  text: string;
  attachments: OutgoingEmail['attachments'];
};

// ---- catalog ----------------------------------------------------------------------------------
export interface Opportunity {
  publisherId: number;
  oaId: string;
  type: 'ScheduledSession' | 'Slot';
  name: string;
  startDate: Date;
  endDate: Date | null;
  remainingCapacity: number | null;
  eventStatus: string | null;
  parent: { oaId: string; type: string; name: string | null; data: Record<string, unknown> } | null;
  sellerId: string | null;
  sellerName: string | null;
  seller: Record<string, unknown> | null;
  location: Record<string, unknown> | null;
  offers: Record<string, unknown>[];
  data: Record<string, unknown>;
  bookingEndpointUrl: string | null;
}
export interface CatalogPort {
  findOpportunity(oaId: string): Promise<Opportunity | undefined>;
}
