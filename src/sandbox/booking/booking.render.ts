import type { SandboxUrls } from '../ids.js';
import type { BookableOffer, BookableOpportunity } from '../opportunities.js';
import type { ItemError } from './booking.errors.js';
import type { OrderItemRow, OrderRow } from './booking.repository.js';
import type { Json } from './booking.requests.js';
import { orderTotals, taxSpecification, type ItemPrice } from './pricing.js';

/*
 * OrderQuote / Order JSON-LD as the Open Booking API (CR3, with the current tooling's
 * vocabulary, openactive.md §1.4–1.5 and §1.17) and @openactive/data-model-validator expect.
 */

export const CONTEXT = 'https://openactive.io/';
export const ORDER_ITEM_CONFIRMED = 'https://openactive.io/OrderItemConfirmed';
export const CUSTOMER_CANCELLED = 'https://openactive.io/CustomerCancelled';
export const SELLER_CANCELLED = 'https://openactive.io/SellerCancelled';
export const ATTENDEE_ATTENDED = 'https://openactive.io/AttendeeAttended';
export const ATTENDEE_ABSENT = 'https://openactive.io/AttendeeAbsent';

/** Statuses under which the customer still holds the place (and pays for it). */
export const HOLDS_PLACE = new Set([ORDER_ITEM_CONFIRMED, ATTENDEE_ATTENDED, ATTENDEE_ABSENT]);

export function orderQuoteId(urls: SandboxUrls, uuid: string): string {
  return `${urls.openBookingBase}/order-quotes/${uuid}`;
}

export function orderId(urls: SandboxUrls, uuid: string): string {
  return `${urls.openBookingBase}/orders/${uuid}`;
}

/** OrderItem `@id` (§1.3: `{Order @id}#/orderedItem/{orderItemId}`). */
export function orderItemId(urls: SandboxUrls, uuid: string, itemId: number): string {
  return `${orderId(urls, uuid)}#/orderedItem/${itemId}`;
}

export function bookingServiceOf(urls: SandboxUrls): Json {
  return {
    '@type': 'BookingService',
    name: 'activehub sandbox booking system',
    url: `${urls.base}/openactive`,
  };
}

/** The offer as published, less `openBookingFlowRequirement` (never in API responses, §1.5). */
export function acceptedOfferOf(offer: BookableOffer): Json {
  const { openBookingFlowRequirement: _omitted, ...rest } = offer.jsonld;
  return rest;
}

/** The opportunity as a response `orderedItem`, showing `remaining` spaces. */
export function orderedItemOf(opportunity: BookableOpportunity, remaining: number): Json {
  const key = opportunity['@type'] === 'Slot' ? 'remainingUses' : 'remainingAttendeeCapacity';
  return { ...opportunity.orderedItem, [key]: remaining };
}

/**
 * The seller as it appears in responses (no JSON-LD context). Each of its terms must say whether
 * the customer has to accept them explicitly (data-models `Terms.requiresExplicitConsent`,
 * required in booking responses); terms that do not say are taken to need no explicit consent.
 */
export function sellerOf(seller: Json): Json {
  const { '@context': _context, termsOfService, ...rest } = seller;
  if (!Array.isArray(termsOfService)) return rest;
  return {
    ...rest,
    termsOfService: termsOfService.map((terms: unknown) =>
      typeof terms === 'object' && terms !== null && !('requiresExplicitConsent' in terms)
        ? { ...terms, requiresExplicitConsent: false }
        : terms,
    ),
  };
}

export interface ResolvedItem {
  position: number;
  /** The request's references, echoed when they could not be resolved. */
  opportunityId: string | undefined;
  offerId: string | undefined;
  attendee: Json | undefined;
  opportunity: BookableOpportunity | undefined;
  offer: BookableOffer | undefined;
  /** Remaining spaces to show for the opportunity. */
  remaining: number;
  price: ItemPrice | undefined;
  attendeeDetailsRequired: string[] | undefined;
  errors: ItemError[];
}

/** The OrderItem as returned at C1/C2 (no `@id`, no status: §1.5) or, with `extra`, at B. */
export function renderItem(item: ResolvedItem, currency: string, taxExcluded: boolean, extra: Json = {}): Json {
  const out: Json = { '@type': 'OrderItem', ...extra, position: item.position };
  if (item.offer) out.acceptedOffer = acceptedOfferOf(item.offer);
  else if (item.offerId) out.acceptedOffer = { '@type': 'Offer', '@id': item.offerId };
  if (item.opportunity) out.orderedItem = orderedItemOf(item.opportunity, item.remaining);
  else if (item.opportunityId) out.orderedItem = { '@id': item.opportunityId };
  if (item.price && !taxExcluded) out.unitTaxSpecification = [taxSpecification(item.price.taxMinor, currency)];
  if (item.attendee) out.attendee = item.attendee;
  if (item.attendeeDetailsRequired) out.attendeeDetailsRequired = item.attendeeDetailsRequired;
  if (item.errors.length > 0) out.error = item.errors;
  return out;
}

/** Totals over the items that will be booked: errored items are not charged (§1.4). */
export function totalsOf(items: ResolvedItem[], currency: string, taxExcluded: boolean) {
  return orderTotals(
    items
      // Missing attendee details do not stop an item being priced (§1.4).
      .filter((i) => i.price && i.offer && i.errors.every((e) => e['@type'] === 'IncompleteAttendeeDetailsError'))
      .map((i) => ({ price: i.price!, openBookingPrepayment: i.offer!.openBookingPrepayment })),
    currency,
    taxExcluded,
  );
}

/** `totalPaymentDue`/`totalPaymentTax` of a stored order: only items the customer still holds count (§1.11). */
export function storedTotals(items: OrderItemRow[], currency: string, taxExcluded: boolean) {
  return orderTotals(
    items
      .filter((i) => HOLDS_PLACE.has(i.status))
      .map((i) => ({
        price: { priceMinor: i.payable_minor, payableMinor: i.payable_minor, taxMinor: i.tax_minor },
        openBookingPrepayment: (i.accepted_offer.openBookingPrepayment as string | undefined) ?? null,
      })),
    currency,
    taxExcluded,
  );
}

function storedItemBase(urls: SandboxUrls, order: OrderRow, item: OrderItemRow): Json {
  const out: Json = {
    '@type': 'OrderItem',
    '@id': orderItemId(urls, order.uuid, item.id),
    orderItemStatus: item.status,
  };
  if (item.cancellation_message) out.cancellationMessage = item.cancellation_message;
  if (item.customer_notice) out.customerNotice = item.customer_notice;
  out.acceptedOffer = item.accepted_offer;
  return out;
}

/**
 * An Orders feed item's `data` (§1.12): statuses, offers, taxes and totals, no personal data
 * and no seller/broker/customer/payment; `orderedItem` as a bare URL (as the validator expects).
 */
export function renderFeedOrder(urls: SandboxUrls, order: OrderRow, items: OrderItemRow[]): Json {
  const totals = storedTotals(items, order.price_currency, order.tax_calculation_excluded);
  return {
    '@context': CONTEXT,
    '@type': 'Order',
    '@id': orderId(urls, order.uuid),
    identifier: order.uuid,
    ...(order.tax_calculation_excluded ? { taxCalculationExcluded: true } : {}),
    orderedItem: items.map((item) => ({
      ...storedItemBase(urls, order, item),
      orderedItem: item.opportunity_url,
      ...(order.tax_calculation_excluded
        ? {}
        : { unitTaxSpecification: [taxSpecification(item.tax_minor, order.price_currency)] }),
    })),
    totalPaymentDue: totals.totalPaymentDue,
    ...(totals.totalPaymentTax ? { totalPaymentTax: totals.totalPaymentTax } : {}),
  };
}

/**
 * Order Status (GET /orders/{uuid}): the Order as B returned it, with each item's current status
 * and messages and the totals recomputed.
 */
export function renderOrderStatus(urls: SandboxUrls, order: OrderRow, items: OrderItemRow[]): Json {
  const booked = order.response;
  const byId = new Map(items.map((i) => [orderItemId(urls, order.uuid, i.id), i]));
  const bookedItems = Array.isArray(booked.orderedItem) ? (booked.orderedItem as Json[]) : [];
  const totals = storedTotals(items, order.price_currency, order.tax_calculation_excluded);
  return {
    ...booked,
    orderedItem: bookedItems.map((bookedItem) => {
      const row = byId.get(bookedItem['@id'] as string);
      if (!row) return bookedItem;
      // `position` belongs to the request/response pair of B, not to Order Status (data-models).
      const { cancellationMessage: _c, customerNotice: _n, position: _p, ...rest } = bookedItem;
      return { ...rest, ...storedItemBase(urls, order, row), orderedItem: row.ordered_item };
    }),
    totalPaymentDue: totals.totalPaymentDue,
    ...(totals.totalPaymentTax ? { totalPaymentTax: totals.totalPaymentTax } : {}),
  };
}
