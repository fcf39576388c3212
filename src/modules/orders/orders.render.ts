import type { Selectable } from 'kysely';
import { compact, OPENACTIVE_CONTEXT } from '../../http/jsonld.js';
import type { OrdersApiTables, ReceiptSnapshot, TaxLine } from './orders-api.tables.js';

/*
 * Orders, OrderItems and collections as JSON-LD in imin's documented shapes (imin-booking §3;
 * `type`/`id` spelled without `@` as in its examples). Pure functions over stored rows.
 */

export type OrderRow = Selectable<OrdersApiTables['orders']>;
export type ItemRow = Selectable<OrdersApiTables['order_items']>;
export type RefundRow = Selectable<OrdersApiTables['order_refunds']>;
export interface ReceiptRef {
  id: string;
  created_at: Date;
}

type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);

export const ORDER_CONTEXT = [OPENACTIVE_CONTEXT, 'https://openactive.io/ns-beta'];
export const COLLECTION_CONTEXT = [OPENACTIVE_CONTEXT, 'https://schema.imin.co/', 'https://openactive.io/ns-beta'];
export const ITEMS_PER_PAGE = 10;

export const CUSTOMER_CANCELLED = 'https://openactive.io/CustomerCancelled';
export const SELLER_CANCELLED = 'https://openactive.io/SellerCancelled';
export const CANCELLED_STATUSES = new Set([CUSTOMER_CANCELLED, SELLER_CANCELLED]);

/** Decimal major units for OpenActive `price` (money is integer minor units everywhere else). */
export const toMajor = (minor: number): number => Math.round(minor) / 100;

export function priceSpecification(minor: number, currency: string) {
  return { type: 'PriceSpecification', price: toMajor(minor), priceCurrency: currency };
}

export function formatMoney(minor: number, currency: string): string {
  return new Intl.NumberFormat('en-GB', { style: 'currency', currency }).format(minor / 100);
}

/** JSON-LD keys in imin's spelling: `@type` → `type`, `@id` → `id`, no nested `@context`. */
export function iminKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(iminKeys);
  if (!isObj(value)) return value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '@context') continue;
    const key = k === '@type' ? 'type' : k === '@id' ? 'id' : k;
    // A document may carry both spellings; the `@` one wins (it is the JSON-LD keyword).
    if (key !== k || !(key in out)) out[key] = iminKeys(v);
  }
  return out;
}

export interface Urls {
  base: string;
}

export const orderUrl = (urls: Urls, id: string) => `${urls.base}/api/v2/orders/${id}`;
export const orderItemUrl = (urls: Urls, orderId: string, itemId: string) =>
  `${orderUrl(urls, orderId)}/order-items/${itemId}`;
export const receiptUrl = (urls: Urls, id: string) => `${urls.base}/api/v2/receipts/${id}`;

/** The seller's response to B (stored by checkout), if any. */
function bookedOrder(order: OrderRow): Obj | null {
  return isObj(order.seller_response) ? order.seller_response : null;
}

/** This item as the seller returned it at B: by the seller's item @id, else by position. */
export function bookedItemOf(order: OrderRow, item: ItemRow): Obj | null {
  const booked = bookedOrder(order);
  const items = Array.isArray(booked?.orderedItem) ? booked.orderedItem.filter(isObj) : [];
  if (item.seller_order_item_id) {
    const byId = items.find((i) => (str(i['@id']) ?? str(i.id)) === item.seller_order_item_id);
    if (byId) return byId;
  }
  return items.find((i) => i.position === item.position) ?? items[item.position] ?? null;
}

const toMinor = (price: unknown): number => {
  const n = typeof price === 'number' ? price : typeof price === 'string' ? Number(price) : NaN;
  return Number.isFinite(n) ? Math.round(n * 100) : 0;
};

/** OpenActive `unitTaxSpecification` → tax lines in minor units. */
export function taxLinesOf(spec: unknown, fallbackCurrency: string): TaxLine[] {
  if (!Array.isArray(spec)) return [];
  return spec.filter(isObj).map((t) => ({
    name: str(t.name),
    rate: typeof t.rate === 'number' ? t.rate : null,
    amount: toMinor(t.price),
    currency: str(t.priceCurrency) ?? fallbackCurrency,
  }));
}

/** The item's tax as the seller last reported it (Orders feed, else the response to B). */
export function itemTax(order: OrderRow, item: ItemRow): TaxLine[] {
  if (item.unit_tax) return item.unit_tax;
  return taxLinesOf(bookedItemOf(order, item)?.unitTaxSpecification, item.currency);
}

/** The order's total tax as the seller last reported it; null when it reports none. */
export function orderTax(order: OrderRow): number | null {
  if (order.seller_total_tax !== null) return order.seller_total_tax;
  const booked = bookedOrder(order);
  return isObj(booked?.totalPaymentTax) ? toMinor(booked.totalPaymentTax.price) : null;
}

/** What the order costs now: the seller's latest total, else the price paid less cancelled items. */
export function totalDue(order: OrderRow, items: ItemRow[]): number {
  if (order.seller_total_due !== null) return order.seller_total_due;
  return items.filter((i) => !CANCELLED_STATUSES.has(i.status)).reduce((sum, i) => sum + i.price, 0);
}

function sellerOf(order: OrderRow) {
  const s = isObj(order.seller) ? (iminKeys(order.seller) as Obj) : {};
  const terms = Array.isArray(s.termsOfService) ? s.termsOfService.filter(isObj) : [];
  return compact({
    type: 'Organization',
    id: str(s.id) ?? order.seller_id,
    name: str(s.name),
    url: str(s.url),
    email: str(s.email),
    telephone: str(s.telephone),
    logo: isObj(s.logo) ? s.logo : null,
    taxMode: str(s.taxMode),
    vatID: str(s.vatID),
    termsOfService: terms.map((t) =>
      compact({
        type: str(t.type) ?? 'Terms',
        name: str(t.name),
        url: str(t.url),
        requiresExplicitConsent: typeof t.requiresExplicitConsent === 'boolean' ? t.requiresExplicitConsent : null,
      }),
    ),
  });
}

/** The organiser as it appears inside the booked opportunity (imin §3.2 `organizer`). */
function organizerOf(order: OrderRow): Obj | null {
  const s = isObj(order.seller) ? (iminKeys(order.seller) as Obj) : null;
  if (!s) return null;
  const { termsOfService: _t, taxMode: _m, vatID: _v, isOpenBookingAllowed: _a, ...rest } = s;
  return { ...rest, type: str(rest.type) ?? 'Organization' };
}

function placeOf(name: unknown, address: unknown): Obj | null {
  if (!str(name) && !str(address)) return null;
  return compact({ type: 'Place', name: str(name), address: str(address) });
}

/**
 * The booked ScheduledSession or Slot (§3.2 `orderedItem.orderedItem`): the opportunity as the
 * seller described it at B (parents, location), else the catalog snapshot checkout kept, with
 * our Events/Facilities API URL as `id`, the open-data URL as `identifier`, and the organiser.
 */
export function opportunityOf(urls: Urls, order: OrderRow, item: ItemRow): Obj {
  const snap = item.opportunity;
  const fromSeller = bookedItemOf(order, item)?.orderedItem;
  const fromCatalog = isObj(snap.data) ? snap.data : {};
  const base = iminKeys(isObj(fromSeller) ? fromSeller : fromCatalog) as Obj;
  const type = item.opportunity_type === 'Slot' ? 'Slot' : 'ScheduledSession';
  const oaId = item.opportunity_id;
  const isTest = order.test_mode && order.publisher_id === null;
  const id = isTest
    ? null
    : type === 'Slot'
      ? `${urls.base}/facilities-api/v2/slots/${encodeURIComponent(oaId)}`
      : `${urls.base}/events-api/v2/scheduled-sessions/${encodeURIComponent(oaId)}`;
  const out: Obj = {
    ...base,
    type,
    id,
    identifier: oaId,
    name: str(snap.name) ?? str(base.name),
    startDate: str(snap.startDate) ?? str(base.startDate),
    endDate: str(snap.endDate) ?? str(base.endDate),
  };
  const organizer = organizerOf(order);
  const place = placeOf(snap.locationName, snap.address);
  if (type === 'ScheduledSession') {
    const parent: Obj = isObj(base.superEvent)
      ? { ...base.superEvent }
      : { type: 'SessionSeries', name: str(snap.seriesName) ?? out.name };
    if (!isObj(parent.location) && place && !isObj(base.location)) parent.location = place;
    const grand = isObj(parent.superEvent) ? parent.superEvent : null;
    if (!isObj(parent.organizer) && !isObj(grand?.organizer) && organizer) parent.organizer = organizer;
    // imin §3.2/§3.4: the SessionSeries' own superEvent, the EventSeries with its name and organizer
    // (a series published without one is its own EventSeries, as in search).
    parent.superEvent = compact({
      ...(grand ?? {}),
      type: 'EventSeries',
      name: str(grand?.name) ?? str(snap.eventSeriesName) ?? str(parent.name) ?? out.name,
      organizer: isObj(grand?.organizer) ? grand.organizer : isObj(parent.organizer) ? parent.organizer : organizer,
    });
    out.superEvent = parent;
  } else {
    const facility: Obj = isObj(base.facilityUse) ? { ...base.facilityUse } : { type: 'FacilityUse', name: out.name };
    const aggregate = isObj(facility.aggregateFacilityUse) ? facility.aggregateFacilityUse : null;
    if (!isObj(facility.location) && !isObj(aggregate?.location) && place) facility.location = place;
    if (!isObj(facility.provider) && !isObj(aggregate?.provider) && organizer) facility.provider = organizer;
    out.facilityUse = facility;
  }
  return compact(out);
}

function acceptedOfferOf(item: ItemRow): Obj {
  const offer = iminKeys(item.offer) as Obj;
  const { 'activehub:price': _p, ...rest } = offer;
  return compact({
    ...rest,
    type: str(rest.type) ?? 'Offer',
    id: str(rest.id) ?? item.offer_id,
    // What the customer was charged for this item (the seller's quote), in OpenActive's decimal form.
    price: toMajor(item.price),
    priceCurrency: item.currency,
  });
}

function personOf(
  p: {
    givenName?: string | null;
    familyName?: string | null;
    email?: string | null;
    telephone?: string | null;
    identifier?: string | null;
  } | null,
) {
  if (!p) return null;
  return compact({
    type: 'Person',
    identifier: p.identifier ?? null,
    givenName: p.givenName ?? null,
    familyName: p.familyName ?? null,
    email: p.email || null,
    telephone: p.telephone ?? null,
  });
}

export function renderOrderItem(
  urls: Urls,
  order: OrderRow,
  item: ItemRow,
  cancellable: boolean,
  options: { withOrderLink?: boolean } = {},
): Obj {
  const tax = itemTax(order, item);
  return compact({
    type: 'OrderItem',
    id: orderItemUrl(urls, order.id, item.id),
    identifier: item.id,
    orderItemStatus: item.status,
    'imin:isPresentlyCancellable': cancellable,
    orderedItem: opportunityOf(urls, order, item),
    acceptedOffer: acceptedOfferOf(item),
    unitTaxSpecification: tax.map((t) =>
      compact({
        type: 'TaxChargeSpecification',
        name: t.name,
        price: toMajor(t.amount),
        priceCurrency: t.currency,
        rate: t.rate,
      }),
    ),
    attendee: personOf(item.attendee),
    accessCode: item.access_code
      ? [{ type: 'PropertyValue', name: 'Booking reference', value: item.access_code }]
      : null,
    cancellationMessage: item.cancellation_message,
    customerNotice: item.customer_notice,
    'activehub:order': options.withOrderLink
      ? { type: 'Order', id: orderUrl(urls, order.id), identifier: order.id, orderNumber: order.order_number }
      : null,
  });
}

export function renderOrder(
  urls: Urls,
  order: OrderRow,
  items: ItemRow[],
  receipts: ReceiptRef[],
  refunds: RefundRow[],
  cancellable: (item: ItemRow) => boolean,
): Obj {
  const due = totalDue(order, items);
  const tax = orderTax(order);
  const broker = isObj(order.broker) ? (iminKeys(order.broker) as Obj) : {};
  return compact({
    type: 'Order',
    '@context': ORDER_CONTEXT,
    id: orderUrl(urls, order.id),
    identifier: order.id,
    orderDate: (order.confirmed_at ?? order.created_at).toISOString(),
    confirmationNumber: order.order_number,
    orderNumber: order.order_number,
    'imin:receipt': [...receipts]
      .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
      .map((r) => ({
        type: 'Invoice',
        identifier: r.id,
        url: receiptUrl(urls, r.id),
        dateCreated: r.created_at.toISOString(),
      })),
    seller: sellerOf(order),
    broker: { ...broker, type: str(broker.type) ?? 'Organization' },
    customer: personOf(order.customer),
    orderedItem: items.map((item) => renderOrderItem(urls, order, item, cancellable(item))),
    totalPaymentDue: priceSpecification(due, order.currency),
    totalPaymentTax: tax === null ? null : priceSpecification(tax, order.currency),
    'activehub:totalPaid': priceSpecification(order.total_price, order.currency),
    'activehub:refund': refunds.map((r) =>
      compact({
        type: 'activehub:Refund',
        identifier: r.id,
        amount: priceSpecification(r.amount, r.currency),
        status: r.status,
        dateCreated: r.created_at.toISOString(),
      }),
    ),
    'activehub:testMode': order.test_mode ? true : null,
  });
}

export interface Paging {
  page: number;
  total: number;
}

/** The imin:RestrictedCollection envelope with a consistent `view` (imin-booking §3.0). */
export interface Collection {
  '@context': string[];
  id: string;
  type: 'imin:RestrictedCollection';
  'imin:totalItems': number;
  view: {
    id: string;
    type: 'PartialCollectionView';
    first: string;
    last: string;
    next?: string;
    previous?: string;
    urlTemplate: string;
    'imin:currentPage': number;
    'imin:itemsPerPage': number;
    'imin:totalPages': number;
  };
  'imin:item': Obj[];
}

export function renderCollection(endpoint: string, identifier: string, paging: Paging, items: Obj[]): Collection {
  const totalPages = Math.max(1, Math.ceil(paging.total / ITEMS_PER_PAGE));
  const url = (page: number | '{page}') =>
    `${endpoint}?customerIdentifier=${encodeURIComponent(identifier)}&page=${page}`;
  return {
    '@context': COLLECTION_CONTEXT,
    id: url(paging.page),
    type: 'imin:RestrictedCollection',
    'imin:totalItems': paging.total,
    view: {
      id: url(paging.page),
      type: 'PartialCollectionView',
      first: url(1),
      last: url(totalPages),
      ...(paging.page < totalPages ? { next: url(paging.page + 1) } : {}),
      ...(paging.page > 1 ? { previous: url(Math.min(paging.page - 1, totalPages)) } : {}),
      urlTemplate: url('{page}'),
      'imin:currentPage': paging.page,
      'imin:itemsPerPage': ITEMS_PER_PAGE,
      'imin:totalPages': totalPages,
    },
    'imin:item': items,
  };
}

/** The receipt's content for the order as it stands now (or as booked, for the first one). */
export function receiptSnapshot(
  order: OrderRow,
  items: ItemRow[],
  refunds: RefundRow[],
  options: { asBooked: boolean },
): ReceiptSnapshot {
  const seller = isObj(order.seller) ? (iminKeys(order.seller) as Obj) : {};
  const broker = isObj(order.broker) ? order.broker : {};
  const kept = options.asBooked ? [] : refunds.filter((r) => r.status !== 'failed');
  const bookedTax = (): number | null => {
    const booked = bookedOrder(order);
    return isObj(booked?.totalPaymentTax) ? toMinor(booked.totalPaymentTax.price) : null;
  };
  return {
    orderNumber: order.order_number,
    currency: order.currency,
    seller: {
      name: str(seller.name) ?? 'The organiser',
      id: str(seller.id) ?? order.seller_id,
      url: str(seller.url),
      email: str(seller.email),
      taxId: str(seller.vatID),
    },
    broker: { name: str(broker.name) ?? 'activehub', url: str(broker.url) },
    items: items.map((item) => ({
      id: item.id,
      name: str(item.opportunity.name) ?? 'Activity',
      startDate: str(item.opportunity.startDate),
      offerName: str(item.offer.name),
      price: item.price,
      status: options.asBooked ? 'https://openactive.io/OrderItemConfirmed' : item.status,
      tax: options.asBooked
        ? taxLinesOf(bookedItemOf(order, item)?.unitTaxSpecification, item.currency)
        : itemTax(order, item),
    })),
    paid: order.total_price,
    paymentReference: order.payment_id,
    totalTax: options.asBooked ? bookedTax() : orderTax(order),
    totalDue: options.asBooked ? order.total_price : totalDue(order, items),
    refunds: kept.map((r) => ({ id: r.id, amount: r.amount, reason: r.reason, date: r.created_at.toISOString() })),
    refunded: kept.reduce((sum, r) => sum + r.amount, 0),
    // A test-mode order at a test booking system is no real booking either.
    testMode: order.test_mode || order.mode === 'test',
  };
}
