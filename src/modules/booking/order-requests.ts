import { problemOf, type BookingProblem } from './booking.errors.js';

/*
 * Open Booking API bodies as a broker sends them (openactive.md §1.4–1.5, §1.17: the current
 * tooling's form, with bare-URL references for `seller`, `orderedItem` and `acceptedOffer`),
 * and the parsing of the seller's OrderQuote / Order responses into our types. Money is integer
 * minor units in our code and decimal `price` numbers on the wire; converted here only.
 */

export const OPENACTIVE_CONTEXT = 'https://openactive.io/';
export const BOOKING_MEDIA_TYPE = 'application/vnd.openactive.booking+json; version=1';
export const AGENT_BROKER = 'https://openactive.io/AgentBroker';
export const CUSTOMER_CANCELLED = 'https://openactive.io/CustomerCancelled';
const TAX_NET = 'https://openactive.io/TaxNet';

export interface BookingTarget {
  publisherId: number;
  /** The publisher's mode: a test publisher is a test booking system, booked in test mode only. */
  mode: 'live' | 'test';
  /** The Open Booking API Base URI (dataset site `accessService.endpointUrl`). */
  endpointUrl: string;
  /** The seller's `@id`. */
  sellerId: string;
  /** Booking-partner credentials, sent as HTTP headers. */
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
  /**
   * The world the booking is made in (the checkout's key mode). C1, C2 and B are refused unless
   * it is the target publisher's mode: a test checkout never reaches a live seller, nor a live
   * one a test system.
   */
  mode: 'live' | 'test';
  /** The Order UUID (minted by the broker; the same for C1, C2 and B of one order). */
  uuid: string;
  items: QuoteItem[];
  customer?: { email: string; givenName: string; familyName: string; telephone?: string };
  broker: { name: string; url?: string | null };
}

export interface BookInput extends QuoteInput {
  payment?: { identifier: string; name?: string; accountId?: string };
  /** Minor units; must equal the total of the last C2. */
  totalPaymentDue: number;
  /** ISO currency of `totalPaymentDue` (default GBP). */
  currency?: string;
}

export interface QuotedItem {
  opportunityId: string;
  offerId: string;
  /** What the customer pays for this item, tax included, in minor units. */
  price: number;
  currency: string;
  errors: BookingProblem[];
}

export interface Quote {
  stage: 'C1' | 'C2';
  items: QuotedItem[];
  totalPaymentDue: number;
  currency: string;
  leaseExpires?: Date;
  /** No item has an error. */
  ok: boolean;
  raw: unknown;
}

export interface BookedOrderItem {
  /** The seller's OrderItem `@id` (used to cancel it). */
  orderItemId: string;
  opportunityId: string;
  offerId: string;
  price: number;
  /** The OpenActive `orderItemStatus` URL, e.g. https://openactive.io/OrderItemConfirmed. */
  status: string;
  accessCode?: string | null;
}

export interface BookedOrder {
  uuid: string;
  orderNumber?: string;
  totalPaymentDue: number;
  currency: string;
  items: BookedOrderItem[];
  raw: unknown;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const idOf = (v: unknown): string | undefined => str(v) ?? (isObj(v) ? (str(v['@id']) ?? str(v.id)) : undefined);
const typeOf = (v: unknown): string | undefined => (isObj(v) ? (str(v['@type']) ?? str(v.type)) : undefined);

/** Integer minor units → the decimal `price` OpenActive uses (2 decimals: GBP, EUR, USD). */
export const toDecimal = (minor: number): number => Math.round(minor) / 100;

/** A decimal `price` → integer minor units; 0 for anything that is not a non-negative number. */
export function toMinor(price: unknown): number {
  const n = typeof price === 'number' ? price : typeof price === 'string' && price.trim() ? Number(price) : NaN;
  return Number.isFinite(n) && n > 0 ? Math.round(n * 100) : 0;
}

/** Leaves out empty strings, nulls and undefined: OpenActive bodies must not carry them (§1.3). */
function compact(o: Obj): Obj {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== ''));
}

function person(p: {
  email?: string | undefined;
  givenName?: string | undefined;
  familyName?: string | undefined;
  telephone?: string | undefined;
}): Obj {
  return compact({
    '@type': 'Person',
    email: p.email?.trim(),
    givenName: p.givenName?.trim(),
    familyName: p.familyName?.trim(),
    telephone: p.telephone?.trim(),
  });
}

/** The C1 (OrderQuote, no customer), C2 (OrderQuote + customer) or B (Order + total, payment) body. */
export function orderBody(stage: 'C1' | 'C2' | 'B', input: QuoteInput | BookInput): Obj {
  const body: Obj = {
    '@context': OPENACTIVE_CONTEXT,
    '@type': stage === 'B' ? 'Order' : 'OrderQuote',
    brokerRole: AGENT_BROKER,
    broker: compact({ '@type': 'Organization', name: input.broker.name, url: input.broker.url ?? undefined }),
    seller: input.target.sellerId,
  };
  if (stage !== 'C1' && input.customer) body.customer = person(input.customer);
  body.orderedItem = input.items.map((item, position) => {
    const attendee = stage !== 'C1' && item.attendee ? person(item.attendee) : undefined;
    return compact({
      '@type': 'OrderItem',
      position,
      acceptedOffer: item.offerId,
      orderedItem: item.opportunityId,
      attendee: attendee && Object.keys(attendee).length > 1 ? attendee : undefined,
    });
  });
  if (stage === 'B') {
    const b = input as BookInput;
    const due = Math.max(0, Math.round(b.totalPaymentDue));
    body.totalPaymentDue =
      due > 0
        ? { '@type': 'PriceSpecification', price: toDecimal(due), priceCurrency: b.currency ?? 'GBP' }
        : { '@type': 'PriceSpecification', price: 0 };
    // Payment only when money is taken (§1.9): a free order carries none.
    if (due > 0 && b.payment) {
      body.payment = compact({
        '@type': 'Payment',
        identifier: b.payment.identifier,
        name: b.payment.name,
        accountId: b.payment.accountId,
      });
    }
  }
  return body;
}

/** The Order Cancellation (PATCH) body cancelling these OrderItems (§1.11). */
export function cancellationBody(orderItemIds: string[]): Obj {
  return {
    '@context': OPENACTIVE_CONTEXT,
    '@type': 'Order',
    orderedItem: orderItemIds.map((id) => ({ '@type': 'OrderItem', '@id': id, orderItemStatus: CUSTOMER_CANCELLED })),
  };
}

// ---- responses --------------------------------------------------------------------------------

/** What the customer pays for one item: the offer price, plus tax when the seller prices net of tax. */
function itemPrice(item: Obj, taxNet: boolean): number {
  const offer = isObj(item.acceptedOffer) ? item.acceptedOffer : {};
  let minor = toMinor(offer.price);
  if (taxNet && Array.isArray(item.unitTaxSpecification)) {
    for (const t of item.unitTaxSpecification) if (isObj(t)) minor += toMinor(t.price);
  }
  return minor;
}

function currencyOf(body: Obj, items: Obj[]): string {
  const due = isObj(body.totalPaymentDue) ? body.totalPaymentDue : {};
  const fromItem = items
    .map((i) => (isObj(i.acceptedOffer) ? str(i.acceptedOffer.priceCurrency) : undefined))
    .find((c) => c !== undefined);
  return str(due.priceCurrency) ?? fromItem ?? 'GBP';
}

function responseItems(body: Obj): Obj[] {
  return Array.isArray(body.orderedItem) ? body.orderedItem.filter(isObj) : [];
}

const isTaxNet = (body: Obj): boolean => isObj(body.seller) && body.seller.taxMode === TAX_NET;

export function itemErrors(item: Obj | undefined): BookingProblem[] {
  const errors = item && Array.isArray(item.error) ? item.error : [];
  return errors.filter(isObj).map((e) => problemOf(typeOf(e), str(e.description)));
}

/** The response item for each request item, matched by `position` (never by array order, §1.5). */
function byPosition(body: Obj, count: number): (Obj | undefined)[] {
  const items = responseItems(body);
  const map = new Map<number, Obj>();
  items.forEach((item, index) => map.set(typeof item.position === 'number' ? item.position : index, item));
  return Array.from({ length: count }, (_, i) => map.get(i));
}

export function parseQuote(stage: 'C1' | 'C2', input: QuoteInput, body: Obj): Quote {
  const matched = byPosition(body, input.items.length);
  const currency = currencyOf(body, responseItems(body));
  const taxNet = isTaxNet(body);
  const items = input.items.map((requested, i): QuotedItem => {
    const item = matched[i];
    const errors = item ? itemErrors(item) : [problemOf(undefined, undefined, 409)]; // the seller left the item out: cannot be booked
    return {
      opportunityId: requested.opportunityId,
      offerId: requested.offerId,
      price: item ? itemPrice(item, taxNet) : 0,
      currency,
      errors,
    };
  });
  const lease = isObj(body.lease) ? body.lease : undefined;
  const expires = lease ? Date.parse(str(lease.leaseExpires) ?? '') : NaN;
  return {
    stage,
    items,
    totalPaymentDue: toMinor(isObj(body.totalPaymentDue) ? body.totalPaymentDue.price : undefined),
    currency,
    ...(Number.isFinite(expires) ? { leaseExpires: new Date(expires) } : {}),
    ok: items.every((i) => i.errors.length === 0),
    raw: body,
  };
}

function accessCodeOf(item: Obj): string | null {
  for (const c of Array.isArray(item.accessCode) ? item.accessCode : [])
    if (isObj(c)) {
      const v = str(c.description) ?? str(c.name);
      if (v) return v;
    }
  for (const p of Array.isArray(item.accessPass) ? item.accessPass : [])
    if (isObj(p) && typeOf(p) === 'Barcode' && str(p.text)) return str(p.text)!;
  return null;
}

/** A B response or an Order Status body. */
export function parseOrder(uuid: string, body: Obj): BookedOrder {
  const items = responseItems(body);
  const taxNet = isTaxNet(body);
  return {
    uuid: str(body.identifier) ?? uuid,
    ...(str(body.orderNumber) ? { orderNumber: str(body.orderNumber)! } : {}),
    totalPaymentDue: toMinor(isObj(body.totalPaymentDue) ? body.totalPaymentDue.price : undefined),
    currency: currencyOf(body, items),
    items: items.map((item) => ({
      orderItemId: idOf(item) ?? '',
      opportunityId: idOf(item.orderedItem) ?? '',
      offerId: idOf(item.acceptedOffer) ?? '',
      price: itemPrice(item, taxNet),
      status: str(item.orderItemStatus) ?? '',
      accessCode: accessCodeOf(item),
    })),
    raw: body,
  };
}

export { idOf as referenceOf, isObj, typeOf };
