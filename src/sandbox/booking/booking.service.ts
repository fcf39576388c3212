import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Clock } from '../../lib/clock.js';
import type { SandboxDB } from '../db/schema.js';
import { parseSandboxId, type SandboxUrls } from '../ids.js';
import {
  adjustRemainingCapacity,
  bookingWindow,
  cancellationDeadline,
  findBookable,
  findSeller,
  lockFeedWrites,
  type OpportunityRef,
  type SandboxSeller,
} from '../opportunities.js';
import { bookingError, itemError } from './booking.errors.js';
import {
  ATTENDEE_ABSENT,
  ATTENDEE_ATTENDED,
  bookingServiceOf,
  CONTEXT,
  CUSTOMER_CANCELLED,
  ORDER_ITEM_CONFIRMED,
  orderId,
  orderItemId,
  orderQuoteId,
  renderFeedOrder,
  renderItem,
  renderOrderStatus,
  SELLER_CANCELLED,
  sellerOf,
  totalsOf,
  type ResolvedItem,
} from './booking.render.js';
import * as repo from './booking.repository.js';
import type { BookingExecutor } from './booking.repository.js';
import {
  hashBody,
  idOf,
  isObject,
  readOrderRequest,
  RESELLER_BROKER,
  typeOf,
  type Json,
  type OrderRequest,
} from './booking.requests.js';
import { OPTIONAL, priceItem, toMinor, UNAVAILABLE, type OrderTotals } from './pricing.js';

export interface BookingPartner {
  id: string;
  name: string;
}

export interface Credentials {
  /** `X-OpenActive-Test-Client-Id` (test credential, openactive.md §1.13). */
  testClientId?: string | undefined;
  /** `X-OpenActive-Test-Seller-Id`: when present, the only seller these credentials may book with. */
  testSellerId?: string | undefined;
  authorization?: string | undefined;
}

export interface BookingResult {
  status: number;
  body: Json;
}

export interface BookingServiceOptions {
  db: Kysely<SandboxDB>;
  urls: SandboxUrls;
  clock: Clock;
  /** How long a C1/C2 lease holds its spaces. */
  leaseSeconds?: number;
}

const EVENT_CANCELLED = 'https://schema.org/EventCancelled';
const EVENT_POSTPONED = 'https://schema.org/EventPostponed';
const ATTENDEE_DETAILS = 'https://openactive.io/OpenBookingAttendeeDetails';
/** Flow requirements this simple-flow booking system cannot take (no approval, no intake forms). */
const UNSUPPORTED_FLOWS = [
  'https://openactive.io/OpenBookingApproval',
  'https://openactive.io/OpenBookingNegotiation',
  'https://openactive.io/OpenBookingIntakeForm',
  'https://openactive.io/OpenBookingMessageExchange',
];
const ATTENDEE_FIELDS = ['givenName', 'familyName', 'email'];

/** Thrown inside a transaction to roll it back while still answering with a normal response. */
class Rollback {
  constructor(readonly result: BookingResult) {}
}

const refOf = (item: ResolvedItem): OpportunityRef => item.opportunity!.ref;
const refKey = (ref: OpportunityRef) => `${ref.type}:${ref.id}`;
const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;

export function createBookingService({ db, urls, clock, leaseSeconds = 900 }: BookingServiceOptions) {
  const orderIdPattern = new RegExp(
    `^${escapeRegExp(urls.openBookingBase)}/orders/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`,
    'i',
  );
  const orderItemIdPattern = new RegExp(
    `^${escapeRegExp(urls.openBookingBase)}/orders/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})#/orderedItem/([1-9][0-9]{0,9})$`,
    'i',
  );

  /** Spaces come back to the opportunity; a deleted opportunity has none to come back to. */
  async function giveBack(tx: BookingExecutor, ref: OpportunityRef, places: number): Promise<void> {
    await adjustRemainingCapacity(tx, ref, places);
  }

  async function releaseLeases(tx: BookingExecutor, partnerId: string, uuid: string): Promise<void> {
    const leases = await repo.findLeasesForOrder(tx, partnerId, uuid);
    for (const lease of leases)
      await giveBack(tx, { type: lease.opportunity_type, id: lease.opportunity_id }, lease.places);
    await repo.deleteLeases(
      tx,
      leases.map((l) => l.id),
    );
  }

  async function sweepLeases(tx: BookingExecutor, now: Date): Promise<number> {
    const expired = await repo.findExpiredLeases(tx, now, 1000);
    for (const lease of expired)
      await giveBack(tx, { type: lease.opportunity_type, id: lease.opportunity_id }, lease.places);
    await repo.deleteLeases(
      tx,
      expired.map((l) => l.id),
    );
    return expired.length;
  }

  /** The seller the order is for; test credentials naming a seller may only book with that one. */
  async function resolveSeller(
    tx: BookingExecutor,
    req: OrderRequest,
    credentials: Credentials,
  ): Promise<SandboxSeller> {
    const seller = await findSeller(tx, urls, req.sellerId);
    if (!seller) throw bookingError('SellerNotFoundError', `There is no seller ${req.sellerId}.`);
    if (credentials.testSellerId && credentials.testSellerId !== seller['@id']) {
      throw bookingError(
        'InvalidAuthorizationDetailsError',
        `These credentials act for seller ${credentials.testSellerId}, not ${seller['@id']}.`,
      );
    }
    return seller;
  }

  /** Why an opportunity/offer pair cannot be booked now (§1.10), or undefined if it can. */
  function notBookableReason(item: ResolvedItem, seller: SandboxSeller, now: Date): string | undefined {
    const opportunity = item.opportunity!;
    const offer = item.offer!;
    if (opportunity.eventStatus === EVENT_CANCELLED) return 'The opportunity has been cancelled.';
    if (opportunity.eventStatus === EVENT_POSTPONED) return 'The opportunity has been postponed.';
    if (opportunity.startDate.getTime() <= now.getTime()) return 'The opportunity has already started.';
    if (!seller.isOpenBookingAllowed) return 'The seller does not take bookings through the Open Booking API.';
    if (offer.openBookingInAdvance === UNAVAILABLE) return 'This offer cannot be booked in advance.';
    const window = bookingWindow(offer, opportunity.startDate);
    if (window.from && now.getTime() < window.from.getTime()) {
      return `This offer can be booked from ${isoSeconds(window.from)}.`;
    }
    if (now.getTime() > window.through.getTime()) return 'Booking for this offer has closed.';
    const unsupported = offer.openBookingFlowRequirement.find((r) => UNSUPPORTED_FLOWS.includes(r));
    if (unsupported) return `This offer needs ${unsupported}, which this booking system does not support.`;
    return undefined;
  }

  /**
   * Resolves each requested item against the opportunity data and puts every item-level error
   * on it (§1.7). Must run after the caller released its own lease: the capacity it reads then
   * excludes only other orders' leases.
   */
  async function resolveItems(
    tx: BookingExecutor,
    req: OrderRequest,
    seller: SandboxSeller,
    stage: 'C1' | 'C2' | 'B',
    now: Date,
    taxExcluded: boolean,
  ): Promise<ResolvedItem[]> {
    const resolved: ResolvedItem[] = [];
    for (const requested of req.items) {
      const item: ResolvedItem = {
        ...requested,
        opportunity: undefined,
        offer: undefined,
        remaining: 0,
        price: undefined,
        attendeeDetailsRequired: undefined,
        errors: [],
      };
      resolved.push(item);
      if (!requested.opportunityId || !requested.offerId) {
        item.errors.push(
          itemError('IncompleteOrderItemError', 'Each OrderItem needs both orderedItem and acceptedOffer.'),
        );
      }
      if (requested.opportunityId) {
        const parsed = parseSandboxId(urls, requested.opportunityId);
        if (parsed?.kind !== 'scheduled-session' && parsed?.kind !== 'slot') {
          item.errors.push(
            itemError(
              'InvalidOpportunityOrOfferIdError',
              `${requested.opportunityId} is not a ScheduledSession or Slot of this booking system.`,
            ),
          );
          continue;
        }
        item.opportunity = await findBookable(tx, urls, requested.opportunityId);
        if (!item.opportunity) {
          item.errors.push(itemError('UnknownOpportunityError', `There is no opportunity ${requested.opportunityId}.`));
          continue;
        }
        item.remaining = item.opportunity.remainingCapacity;
      }
      if (!item.opportunity || !requested.offerId) continue;
      item.offer = item.opportunity.offers.find((o) => o['@id'] === requested.offerId);
      if (!item.offer) {
        const parsed = parseSandboxId(urls, requested.offerId);
        item.errors.push(
          parsed?.kind === 'offer'
            ? itemError('UnknownOfferError', `${requested.offerId} is not an offer of ${requested.opportunityId}.`)
            : itemError(
                'InvalidOpportunityOrOfferIdError',
                `${requested.offerId} is not an offer of this booking system.`,
              ),
        );
        continue;
      }
      item.price = priceItem(Math.round(item.offer.price * 100), seller.taxMode, taxExcluded);
      if (item.opportunity.seller.id !== seller.id) {
        item.errors.push(
          itemError('SellerMismatchError', `${requested.opportunityId} is sold by ${item.opportunity.seller['@id']}.`),
        );
        continue;
      }
      const reason = notBookableReason(item, seller, now);
      if (reason) {
        item.errors.push(itemError('OpportunityOfferPairNotBookableError', reason));
        continue;
      }
      if (item.offer.openBookingFlowRequirement.includes(ATTENDEE_DETAILS)) {
        item.attendeeDetailsRequired = ATTENDEE_FIELDS.map((f) => `https://schema.org/${f}`);
        const missing = ATTENDEE_FIELDS.filter((f) => !nonEmpty(requested.attendee?.[f]));
        if (stage !== 'C1' && missing.length > 0) {
          item.errors.push(
            itemError('IncompleteAttendeeDetailsError', `The attendee's ${missing.join(', ')} are required.`),
          );
        }
      }
    }
    await checkCapacity(tx, resolved);
    return resolved;
  }

  /**
   * Puts the capacity errors on items that are otherwise bookable. Spaces held by other orders'
   * leases are the difference between "reserved by a lease" and "not enough spaces at all";
   * the k-th request for an opportunity fits only if k spaces are still free (§1.7).
   */
  async function checkCapacity(tx: BookingExecutor, items: ResolvedItem[]): Promise<void> {
    const seen = new Map<string, number>();
    const leasedByOthers = new Map<string, number>();
    for (const item of items) {
      if (!item.opportunity || !item.offer || item.errors.some((e) => e['@type'] !== 'IncompleteAttendeeDetailsError'))
        continue;
      const ref = refOf(item);
      const key = refKey(ref);
      if (!leasedByOthers.has(key)) leasedByOthers.set(key, await repo.sumLeasedPlaces(tx, ref.type, ref.id));
      const free = item.opportunity.remainingCapacity;
      const unbooked = free + leasedByOthers.get(key)!;
      const k = seen.get(key) ?? 0;
      seen.set(key, k + 1);
      if (unbooked === 0) {
        item.errors.push(itemError('OpportunityIsFullError', 'There are no spaces left.'));
      } else if (k >= unbooked) {
        item.errors.push(
          itemError(
            'OpportunityHasInsufficientCapacityError',
            `Only ${unbooked} space(s) can be booked on this opportunity.`,
          ),
        );
      } else if (k >= free) {
        item.errors.push(
          itemError(
            'OpportunityCapacityIsReservedByLeaseError',
            'The remaining spaces are held by other customers for now; try again later.',
          ),
        );
      }
    }
  }

  /** Spaces each opportunity of the order needs. */
  function demand(items: ResolvedItem[]): Map<string, { ref: OpportunityRef; places: number }> {
    const out = new Map<string, { ref: OpportunityRef; places: number }>();
    for (const item of items) {
      const ref = refOf(item);
      const entry = out.get(refKey(ref)) ?? { ref, places: 0 };
      entry.places += 1;
      out.set(refKey(ref), entry);
    }
    return out;
  }

  async function takePlaces(tx: BookingExecutor, items: ResolvedItem[]): Promise<void> {
    for (const { ref, places } of demand(items).values()) {
      // Capacity was checked under the same lock, so this cannot fail short of a bug.
      if ((await adjustRemainingCapacity(tx, ref, -places)) === null) {
        throw new Error(`capacity of ${refKey(ref)} changed under the feed-write lock`);
      }
    }
  }

  function quoteBody(
    stage: 'C1' | 'C2',
    uuid: string,
    req: OrderRequest,
    seller: SandboxSeller,
    items: ResolvedItem[],
    taxExcluded: boolean,
    leaseExpires: Date | undefined,
  ): Json {
    const currency = 'GBP';
    const totals = totalsOf(items, currency, taxExcluded);
    return {
      '@context': CONTEXT,
      '@type': 'OrderQuote',
      '@id': orderQuoteId(urls, uuid),
      identifier: uuid,
      orderRequiresApproval: false,
      brokerRole: req.brokerRole,
      ...(req.broker ? { broker: req.broker } : {}),
      ...(stage === 'C2' && req.customer ? { customer: req.customer } : {}),
      seller: sellerOf(seller.jsonld),
      bookingService: bookingServiceOf(urls),
      ...(leaseExpires ? { lease: { '@type': 'Lease', leaseExpires: isoSeconds(leaseExpires) } } : {}),
      ...(taxExcluded ? { taxCalculationExcluded: true } : {}),
      orderedItem: items.map((i) => renderItem(i, currency, taxExcluded)),
      ...totalsBody(totals),
    };
  }

  function totalsBody(totals: OrderTotals): Json {
    return {
      totalPaymentDue: totals.totalPaymentDue,
      ...(totals.totalPaymentTax ? { totalPaymentTax: totals.totalPaymentTax } : {}),
    };
  }

  /** Payment rules at B (§1.9), checked once the items are known to be bookable. */
  function checkPayment(req: OrderRequest, totals: OrderTotals): void {
    const due = isObject(req.totalPaymentDue) ? req.totalPaymentDue : undefined;
    const dueMinor = toMinor(due?.price);
    if (dueMinor === undefined || dueMinor !== totals.payableMinor) {
      throw bookingError(
        'TotalPaymentDueMismatchError',
        `totalPaymentDue.price must be ${totals.payableMinor / 100}, the total of this order as last quoted.`,
      );
    }
    if (totals.payableMinor > 0 && typeof due?.priceCurrency === 'string' && due.priceCurrency !== 'GBP') {
      throw bookingError('TotalPaymentDueMismatchError', 'totalPaymentDue.priceCurrency must be GBP.');
    }
    const payment = req.payment;
    if (totals.payableMinor === 0) {
      if (payment) throw bookingError('UnnecessaryPaymentDetailsError', 'This order is free: send no payment.');
      return;
    }
    if (totals.prepayment === UNAVAILABLE) {
      if (payment) {
        throw bookingError('UnnecessaryPaymentDetailsError', 'This order is paid at the venue: send no payment.');
      }
      return;
    }
    if (!payment) {
      if (totals.prepayment === OPTIONAL) return;
      throw bookingError('MissingPaymentDetailsError', 'This order must be paid in advance: send payment.');
    }
    if (!nonEmpty(payment.identifier)) {
      throw bookingError('IncompletePaymentDetailsError', 'payment.identifier is required.');
    }
  }

  async function authenticate(credentials: Credentials): Promise<BookingPartner> {
    if (credentials.testClientId !== undefined) {
      const partner = await repo.findPartnerById(db, credentials.testClientId);
      if (!partner) throw bookingError('InvalidAPITokenError', 'Unknown booking partner.');
      return partner;
    }
    const bearer = /^Bearer\s+(\S+)$/i.exec(credentials.authorization ?? '');
    if (!bearer) {
      throw bookingError(
        'InvalidAuthorizationDetailsError',
        'Send booking partner credentials: Authorization: Bearer <secret>, or X-OpenActive-Test-Client-Id.',
      );
    }
    const partner = await repo.findPartnerBySecretHash(db, sha256(bearer[1]!));
    if (!partner) throw bookingError('InvalidAPITokenError', 'Unknown booking partner credentials.');
    return partner;
  }

  async function quote(
    partner: BookingPartner,
    stage: 'C1' | 'C2',
    uuid: string,
    body: unknown,
    credentials: Credentials,
  ): Promise<BookingResult> {
    const req = readOrderRequest(body, stage);
    const now = clock.now();
    const taxExcluded = req.brokerRole === RESELLER_BROKER;
    return db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      await sweepLeases(tx, now);
      const seller = await resolveSeller(tx, req, credentials);
      if (await repo.findOrder(tx, partner.id, uuid)) {
        throw bookingError('OrderAlreadyExistsError', `Order ${uuid} already exists; quote with a new UUID.`);
      }
      // A repeated C1/C2 replaces the quote and its lease (§1.8 "amending").
      await releaseLeases(tx, partner.id, uuid);
      const items = await resolveItems(tx, req, seller, stage, now, taxExcluded);
      const ok = items.every((i) => i.errors.length === 0);
      let leaseExpires: Date | undefined;
      if (ok) {
        leaseExpires = new Date(now.getTime() + leaseSeconds * 1000);
        await takePlaces(tx, items);
        await repo.insertLeases(
          tx,
          [...demand(items).values()].map(({ ref, places }) => ({
            partner_id: partner.id,
            order_uuid: uuid,
            opportunity_type: ref.type,
            opportunity_id: ref.id,
            places,
            expires_at: leaseExpires!,
          })),
        );
      }
      return { status: ok ? 200 : 409, body: quoteBody(stage, uuid, req, seller, items, taxExcluded, leaseExpires) };
    });
  }

  async function deleteQuote(partner: BookingPartner, uuid: string): Promise<void> {
    await db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      await releaseLeases(tx, partner.id, uuid);
    });
  }

  async function book(
    partner: BookingPartner,
    uuid: string,
    body: unknown,
    credentials: Credentials,
  ): Promise<BookingResult> {
    const req = readOrderRequest(body, 'B');
    const requestHash = hashBody(body);
    const now = clock.now();
    const taxExcluded = req.brokerRole === RESELLER_BROKER;
    const currency = 'GBP';
    try {
      return await db.transaction().execute(async (tx) => {
        await lockFeedWrites(tx);
        await sweepLeases(tx, now);
        const existing = await repo.findOrder(tx, partner.id, uuid);
        if (existing) {
          // Idempotent replay (§1.14): the same request gets the same 201 back.
          if (existing.state === 'confirmed' && existing.request_hash === requestHash) {
            return { status: 201, body: existing.response };
          }
          throw bookingError('OrderAlreadyExistsError', `Order ${uuid} already exists with different details.`);
        }
        const seller = await resolveSeller(tx, req, credentials);
        await releaseLeases(tx, partner.id, uuid);
        const items = await resolveItems(tx, req, seller, 'B', now, taxExcluded);
        if (items.some((i) => i.errors.length > 0)) {
          throw new Rollback({
            status: 409,
            body: {
              '@context': CONTEXT,
              '@type': 'Order',
              '@id': orderId(urls, uuid),
              brokerRole: req.brokerRole,
              ...(req.broker ? { broker: req.broker } : {}),
              ...(req.customer ? { customer: req.customer } : {}),
              seller: sellerOf(seller.jsonld),
              bookingService: bookingServiceOf(urls),
              orderedItem: items.map((i) => renderItem(i, currency, taxExcluded)),
              ...totalsBody(totalsOf(items, currency, taxExcluded)),
            },
          });
        }
        const totals = totalsOf(items, currency, taxExcluded);
        checkPayment(req, totals);

        await takePlaces(tx, items);
        const taken = demand(items);
        for (const item of items)
          item.remaining = item.opportunity!.remainingCapacity - taken.get(refKey(refOf(item)))!.places;
        await repo.insertOrder(tx, {
          partner_id: partner.id,
          uuid,
          seller_id: seller.id,
          state: 'confirmed',
          broker_role: req.brokerRole,
          tax_calculation_excluded: taxExcluded,
          price_currency: currency,
          request_hash: requestHash,
          response: '{}',
          feed_modified: null,
          updated_at: now,
        });
        const rows = await repo.insertOrderItems(
          tx,
          items.map((item) => ({
            partner_id: partner.id,
            order_uuid: uuid,
            position: item.position,
            opportunity_type: item.opportunity!.ref.type,
            opportunity_id: item.opportunity!.ref.id,
            opportunity_url: item.opportunity!['@id'],
            offer_id: item.offer!.id,
            start_date: item.opportunity!.startDate,
            status: ORDER_ITEM_CONFIRMED,
            payable_minor: item.price!.payableMinor,
            tax_minor: item.price!.taxMinor,
            accepted_offer: JSON.stringify(renderItem(item, currency, taxExcluded).acceptedOffer),
            ordered_item: JSON.stringify(renderItem(item, currency, taxExcluded).orderedItem),
            cancellation_message: null,
            customer_notice: null,
            updated_at: now,
          })),
        );
        const response: Json = {
          '@context': CONTEXT,
          '@type': 'Order',
          '@id': orderId(urls, uuid),
          identifier: uuid,
          brokerRole: req.brokerRole,
          ...(req.broker ? { broker: req.broker } : {}),
          ...(req.customer ? { customer: req.customer } : {}),
          seller: sellerOf(seller.jsonld),
          bookingService: bookingServiceOf(urls),
          ...(req.payment ? { payment: req.payment } : {}),
          ...(taxExcluded ? { taxCalculationExcluded: true } : {}),
          orderedItem: items.map((item, index) =>
            renderItem(item, currency, taxExcluded, {
              '@id': orderItemId(urls, uuid, rows[index]!.id),
              orderItemStatus: ORDER_ITEM_CONFIRMED,
            }),
          ),
          ...totalsBody(totals),
        };
        await repo.setOrderResponse(tx, partner.id, uuid, response);
        return { status: 201, body: response };
      });
    } catch (err) {
      if (err instanceof Rollback) return err.result;
      throw err;
    }
  }

  /** Customer cancellation (PATCH /orders/{uuid}, §1.11); atomic: all items or none. */
  async function cancel(partner: BookingPartner, uuid: string, body: unknown): Promise<void> {
    const requested = readCancellation(body);
    // The item ids are checked before the order is looked up, as the test suite expects
    // (openactive.md §6.6): a foreign item on an unknown order is OrderItemNotWithinOrderError.
    const itemIds = requested.map((raw) => {
      const m = orderItemIdPattern.exec(raw);
      if (!m) throw bookingError('OrderItemIdInvalidError', `${raw} is not an OrderItem @id of this booking system.`);
      if (m[1]!.toLowerCase() !== uuid) {
        throw bookingError('OrderItemNotWithinOrderError', `${raw} is not an item of order ${uuid}.`);
      }
      return Number(m[2]);
    });
    const now = clock.now();
    await db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      const order = await repo.findOrder(tx, partner.id, uuid);
      if (!order || order.state === 'deleted') throw bookingError('UnknownOrderError', `There is no order ${uuid}.`);
      const items = await repo.findOrderItems(tx, partner.id, [uuid]);
      const byId = new Map(items.map((i) => [i.id, i]));
      const toCancel: repo.OrderItemRow[] = [];
      for (const id of new Set(itemIds)) {
        const item = byId.get(id);
        if (!item) throw bookingError('OrderItemIdInvalidError', `Order ${uuid} has no item ${id}.`);
        if (item.status === CUSTOMER_CANCELLED) continue;
        const refusal = cancellationRefusal(item, now);
        if (refusal) throw bookingError('CancellationNotPermittedError', refusal);
        toCancel.push(item);
      }
      if (toCancel.length === 0) return;
      await repo.updateOrderItems(
        tx,
        toCancel.map((i) => i.id),
        { status: CUSTOMER_CANCELLED },
        now,
      );
      await givePlacesBack(tx, toCancel);
      await repo.bumpOrderInFeed(tx, partner.id, uuid, now);
    });
  }

  /** Customer-facing reason an item cannot be cancelled now, or undefined if it can (§1.11). */
  function cancellationRefusal(item: repo.OrderItemRow, now: Date): string | undefined {
    if (item.status === SELLER_CANCELLED) return 'This booking was already cancelled by the organiser.';
    if (item.status !== ORDER_ITEM_CONFIRMED) return 'This booking can no longer be cancelled.';
    const offer = item.accepted_offer;
    if (offer.allowCustomerCancellationFullRefund !== true) {
      return 'This booking cannot be cancelled online; please contact the organiser.';
    }
    const start = new Date(item.start_date);
    if (now.getTime() >= start.getTime()) return 'This activity has already started, so it can no longer be cancelled.';
    const latest =
      typeof offer.latestCancellationBeforeStartDate === 'string' ? offer.latestCancellationBeforeStartDate : null;
    const deadline = cancellationDeadline({ latestCancellationBeforeStartDate: latest }, start);
    if (deadline && now.getTime() > deadline.getTime()) {
      return `Cancellations for this activity closed at ${isoSeconds(deadline)}.`;
    }
    return undefined;
  }

  async function givePlacesBack(tx: BookingExecutor, items: repo.OrderItemRow[]): Promise<void> {
    const counts = new Map<string, { ref: OpportunityRef; places: number }>();
    for (const item of items) {
      const ref: OpportunityRef = { type: item.opportunity_type, id: item.opportunity_id };
      const entry = counts.get(refKey(ref)) ?? { ref, places: 0 };
      entry.places += 1;
      counts.set(refKey(ref), entry);
    }
    for (const { ref, places } of counts.values()) await giveBack(tx, ref, places);
  }

  /** Order Deletion (§1.3): 204 also for an order already deleted; 404 for one never booked. */
  async function deleteOrder(partner: BookingPartner, uuid: string): Promise<void> {
    const now = clock.now();
    await db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      await releaseLeases(tx, partner.id, uuid);
      const order = await repo.findOrder(tx, partner.id, uuid);
      if (!order) throw bookingError('UnknownOrderError', `There is no order ${uuid}.`);
      if (order.state === 'deleted') return;
      const items = await repo.findOrderItems(tx, partner.id, [uuid]);
      await givePlacesBack(
        tx,
        items.filter((i) => i.status === ORDER_ITEM_CONFIRMED),
      );
      await repo.bumpOrderInFeed(tx, partner.id, uuid, now, 'deleted');
    });
  }

  async function getOrder(partner: BookingPartner, uuid: string): Promise<Json> {
    const order = await repo.findOrder(db, partner.id, uuid);
    if (!order || order.state === 'deleted') throw bookingError('UnknownOrderError', `There is no order ${uuid}.`);
    return renderOrderStatus(urls, order, await repo.findOrderItems(db, partner.id, [uuid]));
  }

  /** One page of the partner's Orders feed (RPDE change-number ordering; §1.12, §2). */
  async function ordersFeedPage(
    partner: BookingPartner,
    feedUrl: string,
    query: { afterChangeNumber?: number | undefined; limit?: number | undefined },
  ): Promise<Json> {
    const limit = query.limit ?? 500;
    const after = query.afterChangeNumber ?? 0;
    const orders = await repo.findOrdersFeedPage(db, partner.id, after, limit);
    const items = await repo.findOrderItems(
      db,
      partner.id,
      orders.filter((o) => o.state !== 'deleted').map((o) => o.uuid),
    );
    const byOrder = new Map<string, repo.OrderItemRow[]>();
    for (const item of items) byOrder.set(item.order_uuid, [...(byOrder.get(item.order_uuid) ?? []), item]);
    const last = orders.at(-1);
    const limitPart = query.limit === undefined ? '' : `&limit=${limit}`;
    // With no items the page points at itself: that, not an empty list alone, marks the last page.
    const next =
      last !== undefined
        ? `${feedUrl}?afterChangeNumber=${last.feed_modified}${limitPart}`
        : query.afterChangeNumber === undefined && query.limit === undefined
          ? feedUrl
          : `${feedUrl}?afterChangeNumber=${after}${limitPart}`;
    return {
      next,
      items: orders.map((order) =>
        order.state === 'deleted'
          ? { state: 'deleted', kind: 'Order', id: order.uuid, modified: order.feed_modified }
          : {
              state: 'updated',
              kind: 'Order',
              id: order.uuid,
              modified: order.feed_modified,
              data: renderFeedOrder(urls, order, byOrder.get(order.uuid) ?? []),
            },
      ),
    };
  }

  /** Test interface actions (openactive.md §6.4) on one order. */
  async function runAction(partner: BookingPartner | undefined, body: unknown): Promise<void> {
    if (!isObject(body)) throw bookingError('BadRequestError', 'The request body must be a JSON-LD object.');
    const rawType = typeOf(body);
    const type =
      typeof rawType === 'string' ? rawType.replace(/^(test:|https:\/\/openactive\.io\/test-interface#)/, '') : '';
    const handler = ACTIONS[type];
    if (!handler) {
      throw bookingError('BadRequestError', `The test interface does not support ${String(rawType)}.`);
    }
    const target = idOf(body.object);
    const match = target ? orderIdPattern.exec(target) : null;
    if (!match)
      throw bookingError('UnknownOrderError', `${String(target)} is not an Order @id of this booking system.`);
    const uuid = match[1]!.toLowerCase();
    const now = clock.now();
    await db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      const orders = partner
        ? [await repo.findOrder(tx, partner.id, uuid)].filter((o) => o !== undefined)
        : await repo.findOrdersByUuid(tx, uuid);
      const live = orders.filter((o) => o.state === 'confirmed');
      if (live.length === 0) throw bookingError('UnknownOrderError', `There is no order ${uuid}.`);
      for (const order of live) {
        const items = await repo.findOrderItems(tx, order.partner_id, [uuid]);
        await handler(tx, items, now);
        await repo.bumpOrderInFeed(tx, order.partner_id, uuid, now);
      }
    });
  }

  type ActionHandler = (tx: BookingExecutor, items: repo.OrderItemRow[], now: Date) => Promise<void>;

  const sellerCancellation =
    (message: string | null): ActionHandler =>
    async (tx, items, now) => {
      const confirmed = items.filter((i) => i.status === ORDER_ITEM_CONFIRMED);
      await repo.updateOrderItems(
        tx,
        confirmed.map((i) => i.id),
        { status: SELLER_CANCELLED, cancellation_message: message },
        now,
      );
      await givePlacesBack(tx, confirmed);
    };

  const attendance =
    (status: string): ActionHandler =>
    async (tx, items, now) => {
      await repo.updateOrderItems(
        tx,
        items.filter((i) => i.status === ORDER_ITEM_CONFIRMED).map((i) => i.id),
        { status },
        now,
      );
    };

  const ACTIONS: Record<string, ActionHandler> = {
    SellerRequestedCancellationSimulateAction: sellerCancellation(null),
    SellerRequestedCancellationWithMessageSimulateAction: sellerCancellation(
      'We are sorry: this session has been cancelled because the instructor is unwell. You will be refunded in full.',
    ),
    AttendeeAttendedSimulateAction: attendance(ATTENDEE_ATTENDED),
    AttendeeAbsentSimulateAction: attendance(ATTENDEE_ABSENT),
    CustomerNoticeSimulateAction: async (tx, items, now) => {
      // Each notice differs, so a broker always sees a change to notify about (§1.12).
      await repo.updateOrderItems(
        tx,
        items.map((i) => i.id),
        { customer_notice: `Please arrive 10 minutes early: the entrance has moved (notice of ${now.toISOString()}).` },
        now,
      );
    },
  };

  /** Returns expired leases' spaces (also done at the start of every C1, C2 and B). */
  async function sweepExpiredLeases(): Promise<number> {
    return db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      return sweepLeases(tx, clock.now());
    });
  }

  /**
   * The test interface's dataset deletion also deletes the orders made for that dataset's
   * opportunities (test-interface spec, `DELETE /test-interface/datasets/{id}`): they become
   * tombstones in their partners' Orders feeds, and their leases go.
   */
  async function deleteTestDatasetOrders(testDataset: string): Promise<number> {
    const now = clock.now();
    return db.transaction().execute(async (tx) => {
      await lockFeedWrites(tx);
      await repo.deleteLeasesOfTestDataset(tx, testDataset);
      const orders = await repo.findOrdersOfTestDataset(tx, testDataset);
      for (const order of orders) await repo.bumpOrderInFeed(tx, order.partner_id, order.uuid, now, 'deleted');
      return orders.length;
    });
  }

  /** Creates or updates a booking partner; `secret` enables Bearer authentication for it. */
  async function savePartner(id: string, name: string, secret?: string): Promise<void> {
    await repo.upsertPartner(db, id, name, secret === undefined ? null : sha256(secret));
  }

  return {
    authenticate,
    quote,
    deleteQuote,
    book,
    cancel,
    deleteOrder,
    getOrder,
    ordersFeedPage,
    runAction,
    sweepExpiredLeases,
    deleteTestDatasetOrders,
    savePartner,
  };
}

export type BookingService = ReturnType<typeof createBookingService>;

const PATCH_ORDER_KEYS = new Set(['@context', '@type', 'type', 'orderedItem']);
const PATCH_ITEM_KEYS = new Set(['@type', 'type', '@id', 'id', 'orderItemStatus']);

/** The OrderItem `@id`s of an Order Cancellation body, after its shape checks (§1.11). */
function readCancellation(body: unknown): string[] {
  if (!isObject(body)) throw bookingError('BadRequestError', 'The request body must be a JSON-LD object.');
  const extra = Object.keys(body).filter((k) => !PATCH_ORDER_KEYS.has(k));
  if (extra.length > 0) {
    throw bookingError(
      'PatchContainsExcessivePropertiesError',
      `Only orderedItem may be patched, not ${extra.join(', ')}.`,
    );
  }
  if (typeOf(body) !== undefined && typeOf(body) !== 'Order') {
    throw bookingError('UnexpectedOrderTypeError', 'Order Cancellation patches an Order.');
  }
  if (!Array.isArray(body.orderedItem) || body.orderedItem.length === 0) {
    throw bookingError('BadRequestError', 'orderedItem must list the OrderItems to cancel.');
  }
  return body.orderedItem.map((raw: unknown) => {
    if (!isObject(raw)) throw bookingError('BadRequestError', 'Each orderedItem must be an OrderItem object.');
    const extraItem = Object.keys(raw).filter((k) => !PATCH_ITEM_KEYS.has(k));
    if (extraItem.length > 0) {
      throw bookingError(
        'PatchContainsExcessivePropertiesError',
        `Only orderItemStatus may be patched, not ${extraItem.join(', ')}.`,
      );
    }
    if (raw.orderItemStatus !== CUSTOMER_CANCELLED) {
      throw bookingError('PatchNotAllowedOnPropertyError', `orderItemStatus may only be set to ${CUSTOMER_CANCELLED}.`);
    }
    const id = idOf(raw);
    if (!id) throw bookingError('OrderItemIdInvalidError', 'Each orderedItem needs its @id.');
    return id;
  });
}

/** ISO 8601 without fractional seconds, the DateTime form the validator accepts. */
const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
