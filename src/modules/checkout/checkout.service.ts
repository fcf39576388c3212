import { randomUUID } from 'node:crypto';
import type { Selectable, Updateable } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import type { BrokersTable } from '../../db/schema.js';
import { AppError, type FieldError } from '../../http/errors.js';
import { IMIN_CONTEXT, OPENACTIVE_CONTEXT } from '../../http/jsonld.js';
import type { Clock } from '../../lib/clock.js';
import { ambiguousIdentifier, parseDataSource } from '../../lib/data-source.js';
import { randomAlphanumeric } from '../../lib/ids.js';
import type { Jobs } from '../../lib/jobs.js';
import type { AuthContext, KeyMode, Tenant } from '../brokers/index.js';
import type { Opportunity } from '../catalog/index.js';
import type { OrdersService, PendingOrderInput } from '../orders/index.js';
import * as repo from './checkout.repository.js';
import type { SessionRow } from './checkout.repository.js';
import type { CheckoutSessionBody, InlinePerson } from './checkout.schemas.js';
import {
  checkoutDb,
  type CheckoutSessionsTable,
  type NavigationLink,
  type OpportunitySnapshot,
  type PersonSnapshot,
  type Problem,
  type QuoteSnapshot,
  type SelectedItem,
  type SessionKind,
} from './checkout.tables.js';
import {
  checkBookable,
  findOffer,
  formatMoney,
  isTestItem,
  snapshotOf,
  TEST_CUSTOMER_MEMBER,
  TEST_ITEMS,
  testOpportunity,
} from './opportunity.js';
import {
  isBookingError,
  type BookInput,
  type BookingPort,
  type BookingProblem,
  type BookingTarget,
  type CardDetails,
  type CatalogPort,
  type ConfirmationEmailInput,
  type MailerPort,
  type PaymentForm,
  type PaymentsPort,
  type QuoteInput,
} from './ports.js';
import { checkoutBaseUrl } from './hosts.js';
import { bookedDetails, createOrderRecovery } from './recovery.js';

type BrokerRow = Selectable<BrokersTable>;
type OrderRow = NonNullable<Awaited<ReturnType<OrdersService['findOrder']>>>;
type OrderItemRow = Awaited<ReturnType<OrdersService['findItems']>>[number];
/** What confirming an order wrote and read: enough to show the confirmation without reading again. */
interface Confirmed {
  session: SessionRow | undefined;
  order: OrderRow;
  items: OrderItemRow[];
}

// ---- the interface the hosted pages use (checkout contracts) ----------------------------------

export interface CheckoutBranding {
  slug: string;
  name: string;
  url: string | null;
  logoUrl: string | null;
  backgroundImageUrl: string | null;
  primaryColor: string | null;
  secondaryColor: string | null;
  contactEmail: string | null;
  termsUrl: string | null;
}
export interface CheckoutChoice {
  opportunityId: string;
  type: 'ScheduledSession' | 'Slot';
  name: string;
  startDate: string;
  endDate: string | null;
  remaining: number | null;
  bookable: boolean;
  offers: {
    id: string;
    name: string;
    price: number;
    currency: string;
    priceText: string;
    ageRange?: string | null;
    membersOnly?: boolean;
  }[];
}
export type CheckoutStep = 'choose' | 'details' | 'pay' | 'confirmed' | 'expired' | 'failed';
export interface CheckoutView {
  sessionId: string;
  step: CheckoutStep;
  testMode: boolean;
  branding: CheckoutBranding;
  navigationLinks: { name: string; url: string; linkType?: string }[];
  title: string;
  location: { name: string | null; address: string | null } | null;
  seller: { name: string; termsUrl: string | null } | null;
  choices: CheckoutChoice[];
  selected?: { opportunityId: string; offerId: string; quantity: number; attendees: { name: string }[] };
  customer: { givenName: string; familyName: string; email: string } | null;
  needsCustomerDetails: boolean;
  total?: { amount: number; currency: string; text: string };
  payment?: PaymentForm;
  order?: {
    id: string;
    orderNumber: string;
    barcode: string;
    items: { name: string; startDate: string; attendeeName?: string | null; priceText: string }[];
    totalText: string;
    emailSentTo: string;
  };
  problem?: Problem;
}

export interface CheckoutDeps {
  database: Database;
  clock: Clock;
  log: Logger;
  jobs: Jobs;
  publicBaseUrl: string;
  orders: OrdersService;
  catalog: CatalogPort;
  payments: PaymentsPort;
  booking: BookingPort;
  mailer: MailerPort;
  /** From address when the broker has none. */
  emailFromDefault?: string | undefined;
  /** How long a session lives (DECISIONS §5: 24 h). */
  sessionTtlMs?: number;
  /** Fault injection for tests that simulate a crash (never set in the server). */
  hooks?: { afterBook?: (orderId: string) => Promise<void> };
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_PLACES = 10;

const bad = (fieldErrors: FieldError[], description?: string) =>
  new AppError('BAD_REQUEST', description ?? fieldErrors.map((e) => `${e.path} ${e.message}`).join('; '), {
    fieldErrors,
  });

/** A seller's answer in the customer's terms (contracts: BookingProblem → view problem). */
export function problemOf(p: BookingProblem): Problem {
  switch (p.code) {
    case 'full':
      return { code: 'full', message: p.message || 'Sorry, this is now full.' };
    case 'seller_unavailable':
      return { code: 'seller_unavailable', message: p.message || 'The venue cannot be reached right now.' };
    case 'incomplete_customer':
      return { code: 'invalid', message: p.message || 'Please check your details.' };
    default:
      return { code: 'not_bookable', message: p.message || 'This can no longer be booked.' };
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const text = (v: unknown, fallback: string): string => (typeof v === 'string' && v ? v : fallback);
const textOrNull = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);

export function createCheckoutService(deps: CheckoutDeps) {
  const { database, clock, log, jobs, orders, catalog, payments, booking, mailer } = deps;
  const db = checkoutDb(database.db);
  const ttlMs = deps.sessionTtlMs ?? DAY_MS;
  // pg-boss start is not single-flight: concurrent first calls race on creating queues (a
  // deadlock on PostgreSQL). One start per service, shared by every caller; retried after a failure.
  let starting: Promise<void> | undefined;
  const jobsStarted = () => {
    starting ??= jobs.start().catch((err: unknown) => {
      starting = undefined;
      throw err;
    });
    return starting;
  };

  const baseUrlOf = (broker: BrokerRow) => checkoutBaseUrl(broker, deps.publicBaseUrl);

  const branding = (b: BrokerRow): CheckoutBranding => ({
    slug: b.slug,
    name: b.name,
    url: b.url,
    logoUrl: b.logo_url,
    backgroundImageUrl: b.background_image_url,
    primaryColor: b.primary_color,
    secondaryColor: b.secondary_color,
    contactEmail: b.contact_email,
    termsUrl: b.terms_url,
  });

  const brokerObject = (b: BrokerRow) => ({
    type: 'Organization' as const,
    name: b.name,
    ...(b.url ? { url: b.url } : {}),
    ...(b.logo_url ? { logo: { type: 'ImageObject' as const, url: b.logo_url } } : {}),
  });

  const isExpired = (s: SessionRow) => clock.now().getTime() >= s.expires_at.getTime();

  function stepOf(s: SessionRow): CheckoutStep {
    if (s.state === 'confirmed') return 'confirmed';
    if (s.state === 'failed') return 'failed';
    // A payment in flight finishes even if the session's 24 h run out meanwhile.
    if (s.state === 'paying') return 'pay';
    if (isExpired(s)) return 'expired';
    return s.state;
  }

  async function brokerBySlug(slug: string): Promise<BrokerRow> {
    const broker = await repo.findBrokerBySlug(db, slug);
    if (!broker) throw new AppError('NOT_FOUND', 'There is no checkout at this address.');
    return broker;
  }

  /** The session of this broker; another broker's session is not found, like an unknown one. */
  async function load(slug: string, sessionId: string): Promise<{ broker: BrokerRow; session: SessionRow }> {
    const found = await repo.findBrokerAndSession(db, slug, sessionId);
    if (!found) throw new AppError('NOT_FOUND', 'There is no checkout at this address.');
    if (!found.session) throw new AppError('NOT_FOUND', 'There is no checkout session with this id.');
    return { broker: found.broker, session: found.session };
  }

  const totalOf = (s: SessionRow): { amount: number; currency: string } | undefined => {
    if (s.quote) return { amount: s.quote.total, currency: s.quote.currency };
    if (!s.items) return undefined;
    let amount = 0;
    let currency = 'GBP';
    for (const item of s.items) {
      const offer = s.opportunity.offers.find((o) => o.id === item.offerId);
      amount += offer?.price ?? 0;
      currency = offer?.currency ?? currency;
    }
    return { amount, currency };
  };

  function paymentDescription(s: SessionRow, broker: BrokerRow): string {
    return `${s.opportunity.name} (${broker.name})`.slice(0, 200);
  }

  async function buildView(
    broker: BrokerRow,
    s: SessionRow,
    /** The order and its items when the caller has just read them (pay). */
    known?: { order: OrderRow; items: OrderItemRow[] },
  ): Promise<CheckoutView> {
    const step = stepOf(s);
    const opp = s.opportunity;
    const now = clock.now();
    const total = totalOf(s);
    const view: CheckoutView = {
      sessionId: s.id,
      step,
      // imin's testing mode, or a test-mode checkout (a test booking system, test payments).
      testMode: s.test_mode || s.mode === 'test',
      branding: branding(broker),
      navigationLinks: s.navigation_links.map((l) => ({
        name: l.name,
        url: l.url,
        ...(l.linkType ? { linkType: l.linkType } : {}),
      })),
      title: opp.name,
      location: opp.locationName || opp.address ? { name: opp.locationName, address: opp.address } : null,
      seller: opp.sellerName ? { name: opp.sellerName, termsUrl: opp.sellerTermsUrl } : null,
      // Every step carries the occurrence and its offers: later steps show the date and ticket chosen.
      choices:
        step !== 'expired'
          ? [
              {
                opportunityId: opp.oaId,
                type: opp.type,
                name: opp.name,
                startDate: opp.startDate,
                endDate: opp.endDate,
                remaining: opp.remaining,
                bookable: new Date(opp.startDate).getTime() > now.getTime() && (opp.remaining ?? 1) > 0,
                offers: opp.offers
                  .filter((o) => !o.membersOnly || s.is_member)
                  .map((o) => ({
                    id: o.id,
                    name: o.name,
                    price: o.price,
                    currency: o.currency,
                    priceText: formatMoney(o.price, o.currency),
                    ageRange: o.ageRange,
                    membersOnly: o.membersOnly,
                  })),
              },
            ]
          : [],
      customer: s.customer
        ? { givenName: s.customer.givenName, familyName: s.customer.familyName, email: s.customer.email }
        : null,
      needsCustomerDetails: s.customer === null,
    };
    if (s.items && s.items.length > 0) {
      view.selected = {
        opportunityId: opp.oaId,
        offerId: s.items[0]!.offerId,
        quantity: s.items.length,
        attendees: s.items
          .filter((i) => i.attendee)
          .map((i) => ({ name: `${i.attendee!.givenName} ${i.attendee!.familyName}` })),
      };
    }
    if (total) view.total = { ...total, text: formatMoney(total.amount, total.currency) };
    if (s.problem) view.problem = s.problem;
    else if (step === 'expired') {
      view.problem = {
        code: 'expired',
        message: 'This checkout has expired. Please start again from the booking page.',
      };
    }
    if (step === 'pay' && s.state === 'pay' && total && total.amount > 0) {
      if (s.test_mode) view.payment = { kind: 'card' };
      else if (s.payment_id) {
        view.payment = await payments.prepare({
          paymentId: s.payment_id,
          brokerId: broker.id,
          mode: s.mode,
          amount: total.amount,
          currency: total.currency,
          description: paymentDescription(s, broker),
          metadata: { checkoutSessionId: s.id, orderId: s.order_uuid },
        });
      }
    }
    if (step === 'confirmed' && s.order_id) {
      const found = known?.order.id === s.order_id ? known : await orders.findOrderWithItems(s.order_id);
      if (found) {
        const { order, items } = found;
        view.order = {
          id: order.id,
          orderNumber: order.order_number,
          barcode: items.find((i) => i.access_code)?.access_code ?? order.order_number,
          items: items.map((i) => ({
            name: text(i.opportunity.name, opp.name),
            startDate: text(i.opportunity.startDate, opp.startDate),
            attendeeName: i.attendee ? `${i.attendee.givenName} ${i.attendee.familyName}` : null,
            priceText: formatMoney(i.price, i.currency),
          })),
          totalText: formatMoney(order.total_price, order.currency),
          emailSentTo: order.customer.email,
        };
      }
    }
    return view;
  }

  // ---- resolving what a session books ---------------------------------------------------------

  interface Resolved {
    snapshot: OpportunitySnapshot;
    testMode: boolean;
    /** The catalog opportunity (absent in testing mode). */
    live?: Opportunity;
  }

  /**
   * `dataSource`: the publisher named for an id more than one publishes (lib/data-source.ts);
   * `named` says how the caller names it, for the 409 when the id is ambiguous.
   */
  async function resolveOpportunity(
    type: 'ScheduledSession' | 'Slot',
    id: string,
    mode: KeyMode,
    dataSource: { publisherId: number | null; how: string; path?: string } = { publisherId: null, how: '' },
  ): Promise<Resolved> {
    if (isTestItem(id)) {
      if (TEST_ITEMS[id].type !== type) {
        throw new AppError(
          'UNKNOWN_OPPORTUNITY',
          `The test item "${id}" is a ${TEST_ITEMS[id].type}; the OrderedItem type must match it.`,
        );
      }
      return { snapshot: testOpportunity(id, clock.now()), testMode: true };
    }
    const found = await catalog.lookupOpportunity(id, { preferMode: mode, publisherId: dataSource.publisherId });
    if (found && 'ambiguous' in found) {
      throw ambiguousIdentifier(type, id, found.ambiguous, dataSource.how, dataSource.path);
    }
    if (!found || found.type !== type) {
      throw new AppError(
        'UNKNOWN_OPPORTUNITY',
        `There is no bookable ${type} with identifier "${id}"${dataSource.publisherId === null ? '' : ` from data source "${dataSource.publisherId}"`}. Use the identifier from the Events or Facilities API (or the open-data @id).`,
      );
    }
    return { snapshot: snapshotOf(found), testMode: false, live: found };
  }

  /**
   * Live checks before a session is created: a seller of the checkout's own world (test mode is
   * a world of its own: a test key books only test booking systems, a live key only live ones;
   * imin's test items, which book nothing, are open to both), bookable now, and one we can book.
   */
  async function checkLive(r: Resolved, offerId: string | null, places: number, mode: KeyMode): Promise<void> {
    if (!r.live) return;
    if (r.live.publisherMode !== mode) {
      throw new AppError(
        'OPPORTUNITY_NOT_BOOKABLE',
        mode === 'test'
          ? `"${r.snapshot.name}" is offered by a live booking system: a test key (or test-mode checkout link) books only test booking systems and imin's test items. Book it with a live key.`
          : `"${r.snapshot.name}" is offered by a test booking system: a live key (or checkout link) never books it. Book it with a test key.`,
      );
    }
    const offer = offerId ? (findOffer(r.live, offerId) ?? null) : null;
    const problem = checkBookable(r.live, offer, places, clock.now());
    if (problem) throw problem;
    try {
      await booking.targetFor(r.live.publisherId, r.live.sellerId!);
    } catch (err) {
      if (!isBookingError(err)) throw err;
      throw new AppError(
        'OPPORTUNITY_NOT_BOOKABLE',
        `The seller of "${r.snapshot.name}" does not take bookings through activehub for this broker.`,
      );
    }
  }

  async function newSession(input: {
    broker: BrokerRow;
    auth: AuthContext | null;
    /** The key's mode; for a guest link, the mode the link names. */
    mode: KeyMode;
    kind: SessionKind;
    resolved: Resolved;
    request: unknown;
    customer: PersonSnapshot | null;
    customerId: number | null;
    isMember: boolean;
    items: SelectedItem[] | null;
    navigationLinks: NavigationLink[];
    /** The API's answer, stored with the session (it names the session's own page). */
    response?: (sessionId: string) => Record<string, unknown>;
  }): Promise<SessionRow> {
    const now = clock.now();
    const id = randomAlphanumeric(14);
    return repo.insertSession(db, {
      id,
      response: input.response ? JSON.stringify(input.response(id)) : null,
      broker_id: input.broker.id,
      api_key_id: input.auth?.keyId ?? null,
      mode: input.mode,
      kind: input.kind,
      test_mode: input.resolved.testMode,
      request: input.request === null ? null : JSON.stringify(input.request),
      customer_id: input.customerId,
      customer: input.customer ? JSON.stringify(input.customer) : null,
      is_member: input.isMember,
      opportunity: JSON.stringify(input.resolved.snapshot),
      offer_id: input.items?.[0]?.offerId ?? null,
      items: input.items ? JSON.stringify(input.items) : null,
      navigation_links: JSON.stringify(input.navigationLinks),
      state: input.items ? 'details' : 'choose',
      order_uuid: randomUUID(),
      expires_at: new Date(now.getTime() + ttlMs),
      created_at: now,
      updated_at: now,
    });
  }

  const personOf = (p: InlinePerson): PersonSnapshot => ({
    givenName: p.givenName.trim(),
    familyName: p.familyName.trim(),
    email: p.email,
    ...(p.telephone ? { telephone: p.telephone } : {}),
    ...(p.identifier ? { identifier: p.identifier } : {}),
  });

  /**
   * A customer account reference as a broker sends it: the bare identifier, or the account's `id`
   * URL (`<PUBLIC_BASE_URL>/api/v2/customer-accounts/<identifier>`, imin-booking §2.5). A URL
   * anywhere else is refused with a field error rather than looked up.
   */
  const accountsBase = new URL(`${deps.publicBaseUrl.replace(/\/+$/, '')}/api/v2/customer-accounts/`);
  function accountIdentifier(ref: string, path: string, errors: FieldError[]): string {
    if (!/^https?:\/\//i.test(ref)) return ref;
    let url: URL | undefined;
    try {
      url = new URL(ref);
    } catch {
      url = undefined;
    }
    const rest =
      url &&
      url.origin === accountsBase.origin &&
      !url.search &&
      !url.hash &&
      url.pathname.startsWith(accountsBase.pathname)
        ? url.pathname.slice(accountsBase.pathname.length)
        : undefined;
    if (rest !== undefined && /^[A-Za-z0-9_-]{1,64}$/.test(rest)) return rest;
    errors.push({
      path,
      message: `must be a customer account identifier or its id URL on this server (${accountsBase.href}<identifier>), not "${ref}"`,
    });
    return ref;
  }

  /** An account of the key's broker and mode (another mode's is not found, like an unknown one). */
  async function account(tenant: Tenant, identifier: string) {
    const row = await repo.findActiveCustomer(db, tenant, identifier);
    if (!row) return undefined;
    const person: PersonSnapshot = {
      givenName: row.given_name,
      familyName: row.family_name,
      email: row.email,
      identifier: row.identifier,
      ...(row.telephone ? { telephone: row.telephone } : {}),
    };
    return { id: row.id, person };
  }

  function sessionBody(broker: BrokerRow, s: SessionRow): Record<string, unknown> {
    if (s.response) return structuredClone(s.response);
    // Guest sessions were not created through the API: describe them in the same shape.
    return {
      '@context': [OPENACTIVE_CONTEXT, IMIN_CONTEXT],
      type: 'imin:CheckoutSession',
      'imin:initialOrder': {
        type: 'OrderQuote',
        broker: brokerObject(broker),
        orderedItem: [
          {
            type: 'OrderItem',
            orderedItem: { type: s.opportunity.type, identifier: s.opportunity.oaId },
            ...(s.offer_id ? { acceptedOffer: s.offer_id } : {}),
          },
        ],
      },
      potentialAction: [{ type: 'OrderAction', name: 'Checkout', target: `${baseUrlOf(broker)}/s/${s.id}` }],
    };
  }

  // ---- C1 / C2 ---------------------------------------------------------------------------------

  function quoteInput(s: SessionRow, broker: BrokerRow, target: BookingTarget, withCustomer: boolean): QuoteInput {
    const c = s.customer;
    return {
      target,
      mode: s.mode,
      uuid: s.order_uuid,
      items: (s.items ?? []).map((i) => ({
        opportunityId: s.opportunity.oaId,
        opportunityType: s.opportunity.type,
        offerId: i.offerId,
        ...(i.attendee
          ? {
              attendee: {
                givenName: i.attendee.givenName,
                familyName: i.attendee.familyName,
                ...(i.attendee.email ? { email: i.attendee.email } : {}),
              },
            }
          : {}),
      })),
      ...(withCustomer && c
        ? {
            customer: {
              email: c.email,
              givenName: c.givenName,
              familyName: c.familyName,
              ...(c.telephone ? { telephone: c.telephone } : {}),
            },
          }
        : {}),
      broker: { name: broker.name, url: broker.url },
    };
  }

  async function targetOf(s: SessionRow): Promise<BookingTarget> {
    return booking.targetFor(s.opportunity.publisherId!, s.opportunity.sellerId!);
  }

  type QuoteOutcome = { quote: QuoteSnapshot } | { problem: Problem; definite: boolean };

  async function runQuote(stage: 'C1' | 'C2', s: SessionRow, broker: BrokerRow): Promise<QuoteOutcome> {
    if (s.test_mode) {
      const t = totalOf(s)!;
      return {
        quote: {
          stage,
          items: (s.items ?? []).map((i) => {
            const offer = s.opportunity.offers.find((o) => o.id === i.offerId)!;
            return { offerId: i.offerId, price: offer.price, currency: offer.currency };
          }),
          total: t.amount,
          currency: t.currency,
          leaseExpires: null,
        },
      };
    }
    try {
      const target = await targetOf(s);
      const input = quoteInput(s, broker, target, stage === 'C2');
      const q = stage === 'C1' ? await booking.c1(input) : await booking.c2(input);
      if (!q.ok) {
        const first = q.items.flatMap((i) => i.errors)[0];
        const problem = first
          ? problemOf(first)
          : { code: 'not_bookable' as const, message: 'This can no longer be booked.' };
        return { problem, definite: true };
      }
      return {
        quote: {
          stage,
          items: q.items.map((i) => ({ offerId: i.offerId, price: i.price, currency: i.currency })),
          total: q.totalPaymentDue,
          currency: q.currency,
          leaseExpires: q.leaseExpires ? q.leaseExpires.toISOString() : null,
        },
      };
    } catch (err) {
      if (!isBookingError(err)) throw err;
      return { problem: problemOf(err.problem), definite: !err.retryable };
    }
  }

  /**
   * After a quote: the next state, or where a problem leaves the customer, written in one
   * statement with `changes` (what the customer chose or entered before the quote).
   */
  async function applyQuote(
    s: SessionRow,
    outcome: QuoteOutcome,
    next: 'details' | 'pay',
    stay: 'choose' | 'details',
    changes: Updateable<CheckoutSessionsTable> = {},
  ): Promise<SessionRow> {
    const now = clock.now();
    if ('quote' in outcome) {
      const needsPayment = next === 'pay' && outcome.quote.total > 0 && !s.test_mode;
      return (
        (await repo.transition(db, s.id, ['choose', 'details', 'pay'], {
          ...changes,
          state: next,
          quote: JSON.stringify(outcome.quote),
          problem: null,
          payment_id: needsPayment ? (s.payment_id ?? randomUUID()) : s.payment_id,
          updated_at: now,
        })) ?? s
      );
    }
    const failed = outcome.definite && outcome.problem.code === 'full';
    return (
      (await repo.transition(db, s.id, ['choose', 'details', 'pay'], {
        ...changes,
        state: failed ? 'failed' : stay,
        problem: JSON.stringify(outcome.problem),
        updated_at: now,
      })) ?? s
    );
  }

  // ---- pay: authorize → B → capture → confirm + email ----------------------------------------

  async function setProblem(id: string, from: SessionRow['state'][], state: SessionRow['state'], problem: Problem) {
    await repo.transition(db, id, from, { state, problem: JSON.stringify(problem), updated_at: clock.now() });
  }

  /**
   * pending → confirmed with the confirmation email and the session, in one transaction. Shared by
   * pay() and the recovery job; a second caller finds the order no longer pending and does nothing.
   */
  async function finish(orderId: string): Promise<boolean> {
    return (await confirm(orderId)) !== undefined;
  }

  /**
   * `finish`, telling what it wrote. pay() passes the broker and session it holds (the session's
   * order is `orderId`), which are then not read again.
   */
  async function confirm(
    orderId: string,
    known?: { broker: BrokerRow; session: SessionRow; order?: { order: OrderRow; items: OrderItemRow[] } },
  ): Promise<Confirmed | undefined> {
    // The order as pay() just wrote it (markBooked answers it), else read.
    const found = known?.order?.order.id === orderId ? known.order : await orders.findOrderWithItems(orderId);
    if (!found || found.order.status !== 'pending') return undefined;
    const { order, items } = found;
    const broker = known?.broker.id === order.broker_id ? known.broker : await repo.findBrokerById(db, order.broker_id);
    if (!broker) return undefined;
    const session = known?.session.order_uuid === orderId ? known.session : await repo.findSessionByOrder(db, orderId);
    const seller = order.seller ?? {};
    const first = items[0]?.opportunity ?? {};
    // The email is rendered by its delivery job, off the request path: what it needs goes with it.
    const confirmation: ConfirmationEmailInput = {
      broker: {
        name: broker.name,
        url: broker.url,
        logoUrl: broker.logo_url,
        primaryColor: broker.primary_color,
        contactEmail: broker.contact_email,
        termsUrl: broker.terms_url,
      },
      customer: {
        givenName: order.customer.givenName,
        familyName: order.customer.familyName,
        email: order.customer.email,
      },
      orderNumber: order.order_number,
      barcode: items.find((i) => i.access_code)?.access_code ?? order.order_number,
      items: items.map((i) => ({
        name: text(i.opportunity.name, 'Booking'),
        startDate: text(i.opportunity.startDate, ''),
        endDate: textOrNull(i.opportunity.endDate),
        locationName: textOrNull(i.opportunity.locationName),
        address: textOrNull(i.opportunity.address),
        attendeeName: i.attendee ? `${i.attendee.givenName} ${i.attendee.familyName}` : null,
        priceText: formatMoney(i.price, i.currency),
      })),
      totalText: formatMoney(order.total_price, order.currency),
      seller: {
        name: text(seller.name, text(first.sellerName, 'The venue')),
        termsUrl: textOrNull(first.sellerTermsUrl),
        email: typeof seller.email === 'string' ? seller.email : null,
        telephone: typeof seller.telephone === 'string' ? seller.telephone : null,
      },
      navigationLinks: session?.navigation_links.map((l) => ({ name: l.name, url: l.url })) ?? [],
      testMode: order.test_mode || order.mode === 'test',
    };
    const from = broker.email_from ?? deps.emailFromDefault ?? `${broker.name} <bookings@activehub.invalid>`;
    // The mailer adds a job in our transaction: pg-boss must be started before it opens (on
    // PGlite's single connection, starting it inside would wait for the transaction forever).
    await jobsStarted();
    return database.db.transaction().execute(async (trx): Promise<Confirmed | undefined> => {
      if (!(await orders.markConfirmed(trx, orderId))) return undefined;
      await mailer.enqueue(trx, {
        brokerId: broker.id,
        customerId: order.customer_id,
        orderId,
        kind: 'order-confirmation',
        from,
        to: order.customer.email,
        template: { name: 'order-confirmation', data: confirmation },
      });
      const confirmed = session
        ? await repo.updateSession(checkoutDb(trx), session.id, {
            state: 'confirmed',
            order_id: orderId,
            problem: null,
            updated_at: clock.now(),
          })
        : undefined;
      return { session: confirmed, order, items };
    });
  }

  /**
   * The pending order, in one statement: from here it is the durable record the recovery sweep
   * (recovery.ts) settles if we stop before it is decided. The order id may be taken by a pending
   * order of an earlier attempt that never reached the seller (a declined card discards its own,
   * so this is rare): that one is discarded and the insert tried once more. An order the seller
   * may have, or a settled one, is never replaced: the insert fails again.
   */
  async function writePendingOrder(
    s: SessionRow,
    broker: BrokerRow,
    paymentId: string | null,
    book: BookInput | null,
  ): Promise<void> {
    const total = totalOf(s)!;
    const quoted = s.quote?.items ?? [];
    const { target, ...request } = book ?? { target: null };
    const input: PendingOrderInput = {
      id: s.order_uuid,
      brokerId: broker.id,
      mode: s.mode,
      customerId: s.customer_id,
      customer: s.customer!,
      checkoutSessionId: s.id,
      publisherId: s.opportunity.publisherId,
      sellerId: s.opportunity.sellerId,
      seller: s.opportunity.seller,
      broker: brokerObject(broker),
      totalPrice: total.amount,
      currency: total.currency,
      paymentId,
      bookingTarget: target
        ? { publisherId: target.publisherId, endpointUrl: target.endpointUrl, sellerId: target.sellerId }
        : null,
      bookingRequest: book ? request : null,
      testMode: s.test_mode,
      items: (s.items ?? []).map((i, position) => {
        const offer = s.opportunity.offers.find((o) => o.id === i.offerId)!;
        const price = quoted[position]?.price ?? offer.price;
        return {
          opportunityType: s.opportunity.type,
          opportunityId: s.opportunity.oaId,
          opportunity: {
            type: s.opportunity.type,
            id: s.opportunity.oaId,
            name: s.opportunity.name,
            startDate: s.opportunity.startDate,
            endDate: s.opportunity.endDate,
            locationName: s.opportunity.locationName,
            address: s.opportunity.address,
            sellerName: s.opportunity.sellerName,
            sellerTermsUrl: s.opportunity.sellerTermsUrl,
            data: s.opportunity.data,
          },
          offerId: i.offerId,
          offer: { ...offer.data, 'activehub:price': price },
          price,
          currency: quoted[position]?.currency ?? offer.currency,
          attendee: i.attendee
            ? {
                givenName: i.attendee.givenName,
                familyName: i.attendee.familyName,
                email: i.attendee.email ?? null,
                identifier: i.attendee.identifier ?? null,
              }
            : null,
          attendeeCustomerId: i.attendee?.customerId ?? null,
        };
      }),
    };
    try {
      await orders.insertPendingOrder(database.db, input);
    } catch (err) {
      if ((err as { code?: unknown }).code !== '23505' || !(await orders.discardUnsent(s.order_uuid))) throw err;
      await orders.insertPendingOrder(database.db, input);
    }
  }

  const recovery = createOrderRecovery({
    orders,
    booking,
    payments,
    clock,
    log,
    finish,
    failSession: async (orderId, problem) => {
      const s = await repo.findSessionByOrder(db, orderId);
      if (s) await setProblem(s.id, ['paying', 'pay'], 'failed', problem);
    },
    stuckSessions: async (olderThanMs, limit) =>
      (await repo.findStuckPaying(db, new Date(clock.now().getTime() - olderThanMs), limit)).map((s) => ({
        id: s.id,
        orderId: s.order_uuid,
        paymentId: s.payment_id,
        updatedAt: s.updated_at,
      })),
    // Only if nobody touched it since it was found (a pay() still running would have moved it on);
    // a new payment id, since an authorization's outcome is fixed per id.
    releaseSession: async (session, problem) =>
      repo.releaseStuckPaying(db, session.id, session.updatedAt, {
        state: 'pay',
        payment_id: randomUUID(),
        problem: JSON.stringify(problem),
        updated_at: clock.now(),
      }),
  });

  /** Pays and books; what was confirmed when the order was confirmed here, else undefined. */
  async function payLive(
    s: SessionRow,
    broker: BrokerRow,
    input: { card?: CardDetails; providerReference?: string },
  ): Promise<Confirmed | undefined> {
    const total = totalOf(s)!;
    const paymentId = total.amount > 0 ? (s.payment_id ?? randomUUID()) : null;
    let target: BookingTarget;
    try {
      target = await targetOf(s);
    } catch (err) {
      if (!isBookingError(err)) throw err;
      await setProblem(s.id, ['paying'], err.retryable ? 'pay' : 'failed', problemOf(err.problem));
      return;
    }
    // The publisher changed mode since the session was made: never book across worlds (B is
    // refused by the booking client too; this stops before any money is held).
    if (target.mode !== s.mode) {
      log.warn({ orderId: s.order_uuid, mode: s.mode, publisherId: target.publisherId }, 'publisher of another mode');
      await setProblem(s.id, ['paying'], 'failed', {
        code: 'not_bookable',
        message: 'Sorry, this activity cannot be booked here any more. Nothing has been booked or charged.',
      });
      return;
    }
    const book: BookInput = {
      ...quoteInput(s, broker, target, true),
      totalPaymentDue: total.amount,
      ...(paymentId ? { payment: { identifier: paymentId, name: 'activehub' } } : {}),
    };
    await writePendingOrder(s, broker, paymentId, book);

    if (paymentId) {
      let result;
      try {
        result = await payments.authorize({
          paymentId,
          brokerId: broker.id,
          mode: s.mode,
          amount: total.amount,
          currency: total.currency,
          description: paymentDescription(s, broker),
          ...(input.card ? { card: input.card } : {}),
          ...(input.providerReference ? { providerReference: input.providerReference } : {}),
        });
      } catch (err) {
        log.error({ err, orderId: s.order_uuid }, 'payment authorization failed');
        await payments.void(paymentId).catch(() => undefined);
        result = { ok: false as const, code: 'processing_error', message: 'Your payment could not be processed.' };
      }
      if (!result.ok) {
        // Never sent to the seller: the order did not happen. A new payment id for the retry
        // (an authorization's outcome is fixed per id).
        await orders.discardUnsent(s.order_uuid);
        await repo.transition(db, s.id, ['paying'], {
          state: 'pay',
          payment_id: randomUUID(),
          problem: JSON.stringify({ code: 'declined', message: result.message } satisfies Problem),
          updated_at: clock.now(),
        });
        return;
      }
    }

    // From here the seller may book: the recovery sweep owns the outcome if we stop.
    if (!(await orders.advance(s.order_uuid, ['created', 'authorized'], 'booking'))) return;
    let booked;
    try {
      booked = await booking.book(book);
    } catch (err) {
      if (isBookingError(err) && !err.retryable) {
        if (paymentId) await payments.void(paymentId);
        await orders.markFailed(s.order_uuid, { code: err.problem.code, message: err.problem.message });
        await setProblem(s.id, ['paying'], 'failed', problemOf(err.problem));
        return;
      }
      // Unknown outcome (timeout, 5xx): the same idempotent B is re-issued by the recovery job.
      log.warn({ err, orderId: s.order_uuid }, 'B outcome unknown; left to the recovery job');
      await repo.transition(db, s.id, ['paying'], {
        problem: JSON.stringify({
          code: 'seller_unavailable',
          message:
            'We are waiting for the venue to confirm your booking. You will receive an email as soon as it is confirmed; you have not been charged yet.',
        } satisfies Problem),
        updated_at: clock.now(),
      });
      return;
    }
    await deps.hooks?.afterBook?.(s.order_uuid);
    const recorded = await orders.markBooked(s.order_uuid, bookedDetails(booked));
    if (paymentId) {
      try {
        await payments.capture(paymentId);
      } catch (err) {
        log.error({ err, orderId: s.order_uuid }, 'capture failed after booking; left to the recovery job');
        return;
      }
    }
    return confirm(s.order_uuid, { broker, session: s, ...(recorded ? { order: recorded } : {}) });
  }

  async function payTest(s: SessionRow, broker: BrokerRow): Promise<Confirmed | undefined> {
    // Testing mode (imin-booking §1.3.1): no payment, nothing booked, the order and email are real.
    await writePendingOrder(s, broker, null, null);
    return confirm(s.order_uuid, { broker, session: s });
  }

  /** Customer details (or the known customer's): runs C2; the session as it then stands. */
  async function detailsStep(
    brokerSlug: string,
    sessionId: string,
    input: { givenName: string; familyName: string; email: string },
  ): Promise<{ broker: BrokerRow; session: SessionRow }> {
    const { broker, session } = await load(brokerSlug, sessionId);
    if (isExpired(session) || !['details', 'pay'].includes(session.state) || !session.items) {
      return { broker, session };
    }
    let current = session;
    let entered: Updateable<CheckoutSessionsTable> = {};
    const fromBroker = session.customer !== null && (session.kind === 'authenticated' || session.kind === 'group');
    if (!fromBroker) {
      const givenName = (input.givenName ?? '').trim();
      const familyName = (input.familyName ?? '').trim();
      const email = (input.email ?? '').trim();
      const wrong: string[] = [];
      if (!givenName || givenName.length > 200) wrong.push('first name');
      if (!familyName || familyName.length > 200) wrong.push('last name');
      if (!EMAIL.test(email) || email.length > 254) wrong.push('email address');
      if (wrong.length) {
        const s = await repo.transition(db, session.id, ['details', 'pay'], {
          problem: JSON.stringify({
            code: 'invalid',
            message: `Please enter a valid ${wrong.join(', ')}.`,
          } satisfies Problem),
          updated_at: clock.now(),
        });
        return { broker, session: s ?? session };
      }
      // C2 with the details as entered; they are written with C2's outcome (one statement).
      const person: PersonSnapshot = { givenName, familyName, email };
      current = { ...session, customer: person };
      entered = { customer: JSON.stringify(person) };
    }
    const outcome = await runQuote('C2', current, broker);
    return { broker, session: await applyQuote(current, outcome, 'pay', 'details', entered) };
  }

  // ---- the service ---------------------------------------------------------------------------

  return {
    recovery,

    async createSession(
      auth: AuthContext,
      body: unknown,
      kind: 'authenticated' | 'standalone',
    ): Promise<{ status: 201; location: string; body: Record<string, unknown> }> {
      const b = body as CheckoutSessionBody;
      const broker = await repo.findBrokerById(db, auth.brokerId);
      if (!broker) throw new AppError('NOT_FOUND', 'There is no checkout at this address.');
      const sent = b['imin:initialOrder'];
      const base = '/imin:initialOrder';
      const errors: FieldError[] = [];
      // Account references by identifier from here on (the answer still echoes what was sent).
      const initial: typeof sent = {
        ...sent,
        ...(typeof sent.customer === 'string'
          ? { customer: accountIdentifier(sent.customer, `${base}/customer`, errors) }
          : {}),
        orderedItem: sent.orderedItem.map((item, i) =>
          item.attendee === undefined
            ? item
            : { ...item, attendee: accountIdentifier(item.attendee, `${base}/orderedItem/${i}/attendee`, errors) },
        ),
      };

      const refs = initial.orderedItem.map((item, i) => {
        const o = item.orderedItem;
        const type = o.type ?? o['@type'];
        const id = kind === 'standalone' ? (o.id ?? o.identifier) : (o.identifier ?? o.id);
        if (!type) errors.push({ path: `${base}/orderedItem/${i}/orderedItem/type`, message: 'is required' });
        if (!id) {
          errors.push({
            path: `${base}/orderedItem/${i}/orderedItem/${kind === 'standalone' ? 'id' : 'identifier'}`,
            message: 'is required',
          });
        }
        const source = parseDataSource(o['imin:dataSource']);
        if (source === 'invalid') {
          errors.push({
            path: `${base}/orderedItem/${i}/orderedItem/imin:dataSource`,
            message: 'must be an imin:dataSource ({ "identifier": "<data source identifier>" }) or its identifier',
          });
        }
        return { type: type!, id: id!, dataSource: source === 'invalid' ? null : source };
      });
      if (errors.length) throw bad(errors);

      const items = initial.orderedItem;
      const group = items.length > 1 || items.some((i) => i.attendee !== undefined);
      if (kind === 'standalone' && group) {
        throw bad(
          [{ path: `${base}/orderedItem`, message: 'must hold exactly one OrderItem without attendee' }],
          'Standalone checkout books one opportunity; group booking needs the authenticated checkout (/api/checkout-sessions).',
        );
      }
      if (group) {
        if (typeof initial.customer !== 'string') {
          errors.push({
            path: `${base}/customer`,
            message: 'must be a customer account identifier in a group booking',
          });
        }
        items.forEach((item, i) => {
          if (item.attendee === undefined) {
            errors.push({
              path: `${base}/orderedItem/${i}/attendee`,
              message: 'is required in a group booking (a customer account identifier)',
            });
          }
          if (item.acceptedOffer === undefined) {
            errors.push({ path: `${base}/orderedItem/${i}/acceptedOffer`, message: 'is required in a group booking' });
          }
          if (
            i > 0 &&
            (refs[i]!.id !== refs[0]!.id ||
              refs[i]!.type !== refs[0]!.type ||
              refs[i]!.dataSource !== refs[0]!.dataSource)
          ) {
            errors.push({
              path: `${base}/orderedItem/${i}/orderedItem`,
              message: 'must be the same opportunity on every OrderItem of a group booking',
            });
          }
          if (i > 0 && item.acceptedOffer !== items[0]!.acceptedOffer) {
            errors.push({
              path: `${base}/orderedItem/${i}/acceptedOffer`,
              message: 'must be the same offer on every OrderItem of a group booking',
            });
          }
        });
        if (errors.length)
          throw bad(
            errors,
            'The group booking breaks its rules: ' + errors.map((e) => `${e.path} ${e.message}`).join('; '),
          );
      }

      const resolved = await resolveOpportunity(refs[0]!.type, refs[0]!.id, auth.mode, {
        publisherId: refs[0]!.dataSource,
        how: 'name one in orderedItem["imin:dataSource"] (the imin:dataSource of the search result)',
        path: `${base}/orderedItem/0/orderedItem/imin:dataSource`,
      });
      const offerId = items[0]!.acceptedOffer ?? null;
      if (offerId && !resolved.snapshot.offers.some((o) => o.id === offerId)) {
        throw new AppError(
          'UNKNOWN_OFFER',
          `The offer "${offerId}" is not an offer of ${resolved.snapshot.type} "${resolved.snapshot.oaId}".`,
        );
      }

      // The customer: an account of this broker, or an inline Person.
      let customer: PersonSnapshot | null = null;
      let customerId: number | null = null;
      let isMember = false;
      if (typeof initial.customer === 'string') {
        const found = await account(auth, initial.customer);
        if (found) {
          customer = found.person;
          customerId = found.id;
        } else if (!resolved.testMode) {
          throw bad([
            { path: `${base}/customer`, message: `is not a customer account of this broker ("${initial.customer}")` },
          ]);
        }
        isMember = resolved.testMode && initial.customer === TEST_CUSTOMER_MEMBER;
      } else if (initial.customer) {
        customer = personOf(initial.customer);
        isMember = resolved.testMode && initial.customer.identifier === TEST_CUSTOMER_MEMBER;
      }

      // Attendees of a group booking: accounts of this broker.
      let selected: SelectedItem[] | null = null;
      if (group) {
        selected = [];
        for (const [i, item] of items.entries()) {
          const found = await account(auth, item.attendee!);
          if (!found && !resolved.testMode) {
            errors.push({
              path: `${base}/orderedItem/${i}/attendee`,
              message: `is not a customer account of this broker ("${item.attendee}")`,
            });
            continue;
          }
          selected.push({
            offerId: offerId!,
            attendee: found
              ? { ...found.person, customerId: found.id }
              : { givenName: 'Test', familyName: `Attendee ${i + 1}`, identifier: item.attendee!, email: '' },
          });
        }
        if (errors.length) throw bad(errors);
      } else if (offerId) {
        selected = [{ offerId, attendee: null }];
      }

      const offer = offerId ? resolved.snapshot.offers.find((o) => o.id === offerId) : undefined;
      if (offer?.membersOnly && !isMember) {
        throw new AppError(
          'OPPORTUNITY_NOT_BOOKABLE',
          `The offer "${offer.id}" is for members only; the customer is not a member.`,
        );
      }
      await checkLive(resolved, offerId, items.length, auth.mode);

      const response = structuredClone(b) as Record<string, unknown>;
      const { '@context': context, ...rest } = response;
      const out: Record<string, unknown> = {
        '@context': context ?? [OPENACTIVE_CONTEXT, IMIN_CONTEXT],
        ...rest,
      };
      if (!out.type && !out['@type']) out.type = 'imin:CheckoutSession';
      out['imin:initialOrder'] = { ...(out['imin:initialOrder'] as object), broker: brokerObject(broker) };
      // Written with the session (one statement): the answer names the session's own page.
      const session = await newSession({
        response: (id) => {
          out.potentialAction = [{ type: 'OrderAction', name: 'Checkout', target: `${baseUrlOf(broker)}/s/${id}` }];
          return out;
        },
        broker,
        auth,
        mode: auth.mode,
        kind: group ? 'group' : kind,
        resolved,
        request: body,
        customer,
        customerId,
        isMember,
        items: selected,
        navigationLinks: (b['imin:navigationLinks'] ?? []).map((l) => ({
          name: l.name,
          url: l.url,
          ...(l['imin:linkType'] ? { linkType: l['imin:linkType'] } : {}),
        })),
      });

      return { status: 201, location: `/checkout-sessions/${session.id}`, body: out };
    },

    /** `GET …/api/checkout-sessions/:id`: the session as created, with where it stands. */
    async getSession(auth: AuthContext, sessionId: string): Promise<Record<string, unknown>> {
      const session = await repo.findSession(db, auth, sessionId);
      if (!session) throw new AppError('NOT_FOUND', 'There is no checkout session with this id.');
      const broker = (await repo.findBrokerById(db, auth.brokerId))!;
      if (isExpired(session)) {
        throw new AppError('GONE', 'This checkout session has expired (sessions last 24 hours). Create a new one.');
      }
      const body = sessionBody(broker, session);
      body['activehub:state'] = stepOf(session);
      body['activehub:testMode'] = session.test_mode;
      body['activehub:expires'] = session.expires_at.toISOString();
      if (session.problem) body['activehub:problem'] = session.problem;
      if (session.order_id) {
        const order = await orders.findOrder(session.order_id);
        if (order) body['activehub:order'] = { type: 'Order', identifier: order.id, orderNumber: order.order_number };
      }
      return body;
    },

    /**
     * Guest checkout link (`/v1/scheduled-sessions/:id`, `/v1/slots/:id`): a new session, live
     * unless the link names test mode (`?mode=test`, as test keys' search results give it).
     */
    async startGuestSession(
      brokerSlug: string,
      kind: 'scheduled-sessions' | 'slots',
      opportunityId: string,
      mode: KeyMode = 'live',
      dataSource: number | null = null,
    ): Promise<{ sessionId: string }> {
      const broker = await brokerBySlug(brokerSlug);
      const resolved = await resolveOpportunity(kind === 'slots' ? 'Slot' : 'ScheduledSession', opportunityId, mode, {
        publisherId: dataSource,
        how: 'name one with ?dataSource=<identifier> (the checkout links of search results carry it)',
        path: 'dataSource',
      });
      await checkLive(resolved, null, 1, mode);
      const session = await newSession({
        broker,
        auth: null,
        mode,
        kind: 'guest',
        resolved,
        request: null,
        customer: null,
        customerId: null,
        isMember: false,
        items: null,
        navigationLinks: broker.url ? [{ name: `Back to ${broker.name}`, url: broker.url }] : [],
      });
      return { sessionId: session.id };
    },

    async view(brokerSlug: string, sessionId: string): Promise<CheckoutView> {
      const { broker, session } = await load(brokerSlug, sessionId);
      return buildView(broker, session);
    },

    /** The occurrence, ticket type and number of places: runs C1. */
    async choose(
      brokerSlug: string,
      sessionId: string,
      input: { opportunityId: string; offerId: string; quantity?: number },
    ): Promise<CheckoutView> {
      const { broker, session } = await load(brokerSlug, sessionId);
      if (isExpired(session) || !['choose', 'details', 'pay'].includes(session.state))
        return buildView(broker, session);
      const invalid = async (message: string) => {
        const s = await repo.transition(db, session.id, ['choose', 'details', 'pay'], {
          problem: JSON.stringify({ code: 'invalid', message } satisfies Problem),
          updated_at: clock.now(),
        });
        return buildView(broker, s ?? session);
      };
      if (input.opportunityId !== session.opportunity.oaId) return invalid('Please choose one of the times shown.');
      const offer = session.opportunity.offers.find((o) => o.id === input.offerId);
      if (!offer) return invalid('Please choose one of the tickets shown.');
      if (offer.membersOnly && !session.is_member) return invalid(`"${offer.name}" is for members only.`);
      let items: SelectedItem[];
      if (session.kind === 'group' && session.items) {
        items = session.items.map((i) => ({ ...i, offerId: offer.id }));
      } else {
        const quantity = input.quantity ?? 1;
        if (!Number.isInteger(quantity) || quantity < 1 || quantity > MAX_PLACES) {
          return invalid(`Please choose between 1 and ${MAX_PLACES} places.`);
        }
        items = Array.from({ length: quantity }, () => ({ offerId: offer.id, attendee: null }));
      }
      // C1 for the choice as made; the choice is written with C1's outcome (one statement).
      const chosen: SessionRow = { ...session, items, offer_id: offer.id, quote: null, problem: null };
      const outcome = await runQuote('C1', chosen, broker);
      return buildView(
        broker,
        await applyQuote(chosen, outcome, 'details', 'choose', {
          items: JSON.stringify(items),
          offer_id: offer.id,
          quote: null,
        }),
      );
    },

    /** Customer details (or the known customer's): runs C2, which may hold a lease. */
    async submitDetails(
      brokerSlug: string,
      sessionId: string,
      input: { givenName: string; familyName: string; email: string },
    ): Promise<CheckoutView> {
      const { broker, session } = await detailsStep(brokerSlug, sessionId, input);
      return buildView(broker, session);
    },

    /**
     * submitDetails for the hosted page's form, which answers with a redirect to the page: the
     * step without building a view (that would prepare the payment once more).
     */
    async submitDetailsForm(
      brokerSlug: string,
      sessionId: string,
      input: { givenName: string; familyName: string; email: string },
    ): Promise<void> {
      await detailsStep(brokerSlug, sessionId, input);
    },

    /** authorize → B → capture → order confirmed + email; or a problem the customer can act on. */
    async pay(
      brokerSlug: string,
      sessionId: string,
      input: { card?: CardDetails; providerReference?: string },
    ): Promise<CheckoutView> {
      const { broker, session } = await load(brokerSlug, sessionId);
      if (isExpired(session) || session.state !== 'pay' || !session.customer || !session.items) {
        return buildView(broker, session);
      }
      // The lock against double booking: exactly one caller moves the session to `paying`.
      const claimed = await repo.transition(db, session.id, ['pay'], {
        state: 'paying',
        problem: null,
        updated_at: clock.now(),
      });
      if (!claimed) return buildView(broker, (await repo.findSessionById(db, session.id)) ?? session);
      let confirmed: Confirmed | undefined;
      try {
        confirmed = claimed.test_mode ? await payTest(claimed, broker) : await payLive(claimed, broker, input);
      } catch (err) {
        // Before the order exists nothing happened: let the customer try again. After, the
        // recovery job decides.
        const order = await orders.findOrder(claimed.order_uuid).catch(() => undefined);
        if (!order) {
          await repo.transition(db, session.id, ['paying'], { state: 'pay', updated_at: clock.now() });
        }
        throw err;
      }
      // Confirmed here: the session and order as just written and read, not read again.
      if (confirmed?.session) return buildView(broker, confirmed.session, confirmed);
      return buildView(broker, (await repo.findSessionById(db, session.id)) ?? claimed);
    },
  };
}

export type CheckoutService = ReturnType<typeof createCheckoutService>;
