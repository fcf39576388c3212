import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/lib/clock.js';
import { expectError } from '../http-assertions.js';
import { startCheckoutWorld, type CheckoutWorld } from './checkout-fixture.js';
import { hostName, rewriteForHost } from '../../src/modules/checkout/index.js';

/*
 * The checkout-sessions API (imin-booking §1.3, §1.3.1, §1.3.2, §1.4; DECISIONS §2, §5) over
 * HTTP (app.inject) against opportunities harvested from the sandbox booking system.
 */

type Json = Record<string, any>;

const clock = fixedClock(new Date());
let w: CheckoutWorld;
let broker: { slug: string; key: string; brokerId: number };
let other: { slug: string; key: string; brokerId: number };
let bookable: { id: string; offers: string[] };
let free: { id: string; offers: string[] };
let slot: { id: string; offers: string[] };
let full: { id: string; offers: string[] };
let past: { id: string; offers: string[] };
let outsideWindow: { id: string; offers: string[] };
let otherSeller: { id: string; offers: string[] };
const accounts: string[] = [];
let otherAccount: string;

const api = (slug = broker.slug) => `/checkout/${slug}/api/checkout-sessions`;
const standalonePath = (slug = broker.slug) => `/checkout/${slug}/checkout-sessions`;

function sessionBody(
  opportunity: { id: string; offers?: string[] },
  options: { offer?: string | null; customer?: unknown; type?: string; idKey?: 'identifier' | 'id' } = {},
): Json {
  const item: Json = {
    type: 'OrderItem',
    orderedItem: { type: options.type ?? 'ScheduledSession', [options.idKey ?? 'identifier']: opportunity.id },
  };
  if (options.offer !== null) item.acceptedOffer = options.offer ?? opportunity.offers?.[0];
  return {
    '@context': ['https://openactive.io/', 'https://imin.co/'],
    type: 'imin:CheckoutSession',
    'imin:initialOrder': {
      type: 'OrderQuote',
      ...(options.customer === undefined ? { customer: accounts[0] } : { customer: options.customer }),
      broker: { type: 'Organization', name: 'Acme Sports Finder', url: 'https://acme.example.com' },
      orderedItem: [item],
    },
    'imin:navigationLinks': [
      {
        type: 'WebPage',
        name: 'Back to Broker',
        'imin:linkType': 'https://imin.co/BackToBrokerLink',
        url: 'https://acme.example.com/search',
      },
    ],
  };
}

function groupBody(
  opportunity: { id: string; offers: string[] },
  attendees: string[],
  customer: unknown = accounts[0],
): Json {
  return {
    '@context': ['https://openactive.io/', 'https://imin.co/'],
    type: 'imin:CheckoutSession',
    'imin:initialOrder': {
      type: 'OrderQuote',
      customer,
      orderedItem: attendees.map((attendee) => ({
        type: 'OrderItem',
        orderedItem: { type: 'ScheduledSession', identifier: opportunity.id },
        acceptedOffer: opportunity.offers[0],
        attendee,
      })),
    },
  };
}

const post = (
  payload: unknown,
  options: { key?: string; url?: string; method?: 'POST' | 'PUT'; headers?: Json } = {},
) =>
  w.t.request({
    method: options.method ?? 'POST',
    url: options.url ?? api(),
    key: options.key ?? broker.key,
    payload: payload as Json,
    ...(options.headers ? { headers: options.headers } : {}),
  });

async function createAccount(key: string, givenName: string): Promise<string> {
  const res = await w.t.request({
    method: 'POST',
    url: '/api/v2/customer-accounts',
    key,
    payload: { email: `${givenName.toLowerCase()}@example.com`, givenName, familyName: 'Wu' },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<Json>().identifier as string;
}

beforeAll(async () => {
  w = await startCheckoutWorld({ clock, credentialsSellerId: 1 });
  bookable = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
  free = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableFree');
  slot = await w.createOpportunity('Slot', 'TestOpportunityBookable');
  full = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableNoSpaces');
  past = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableInPast');
  outsideWindow = await w.createOpportunity(
    'ScheduledSession',
    'TestOpportunityBookableOutsideValidFromBeforeStartDate',
  );
  otherSeller = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable', 2);
  broker = await w.t.newBroker({ products: ['booking', 'checkout'] });
  other = await w.t.newBroker({ products: ['booking', 'checkout'] });
  for (const name of ['Louis', 'Ana', 'Ben']) accounts.push(await createAccount(broker.key, name));
  otherAccount = await createAccount(other.key, 'Olga');
}, 120_000);

afterAll(async () => {
  await w?.close();
});

describe('POST {checkoutBaseUrl}/api/checkout-sessions (authenticated checkout)', () => {
  it('answers 201 + Location, echoes the request, adds the broker and the checkout target', async () => {
    const body = sessionBody(bookable);
    const res = await post(body);
    expect(res.statusCode, res.body).toBe(201);
    const json = res.json<Json>();
    const id = /^\/checkout-sessions\/([A-Za-z0-9]{14})$/.exec(res.headers.location as string)?.[1];
    expect(id).toBeDefined();
    expect(json['@context']).toEqual(body['@context']);
    expect(json.type).toBe('imin:CheckoutSession');
    expect(json['imin:initialOrder'].orderedItem).toEqual(body['imin:initialOrder'].orderedItem);
    expect(json['imin:initialOrder'].customer).toBe(accounts[0]);
    expect(json['imin:navigationLinks']).toEqual(body['imin:navigationLinks']);
    // The broker comes from the broker record, not from the request.
    expect(json['imin:initialOrder'].broker).toEqual({
      type: 'Organization',
      name: expect.stringMatching(/^Test broker/),
    });
    expect(json.potentialAction).toEqual([
      { type: 'OrderAction', name: 'Checkout', target: `http://activehub.test/checkout/${broker.slug}/s/${id}` },
    ]);

    const got = await w.t.request({ method: 'GET', url: `${api()}/${id}`, key: broker.key });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json<Json>()['activehub:state']).toBe('details');
    expect(got.json<Json>().potentialAction).toEqual(json.potentialAction);

    const view = await w.t.services.checkout.view(broker.slug, id!);
    expect(view).toMatchObject({
      step: 'details',
      testMode: false,
      needsCustomerDetails: false,
      customer: { givenName: 'Louis', familyName: 'Wu', email: 'louis@example.com' },
      selected: { opportunityId: bookable.id, offerId: bookable.offers[0], quantity: 1 },
      navigationLinks: [
        {
          name: 'Back to Broker',
          url: 'https://acme.example.com/search',
          linkType: 'https://imin.co/BackToBrokerLink',
        },
      ],
    });
  });

  it('takes an inline Person as the customer, and leaves the offer to the page when none is given', async () => {
    const person = { type: 'Person', email: 'rebekah@example.com', givenName: 'Rebekah', familyName: 'Spinoza' };
    const res = await post(sessionBody(bookable, { customer: person, offer: null }));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json<Json>()['imin:initialOrder'].customer).toEqual(person);
    const id = (res.headers.location as string).split('/').pop()!;
    const view = await w.t.services.checkout.view(broker.slug, id);
    expect(view.step).toBe('choose');
    expect(view.customer).toEqual({ givenName: 'Rebekah', familyName: 'Spinoza', email: 'rebekah@example.com' });
    expect(view.choices).toHaveLength(1);
    expect(view.choices[0]!.offers.map((o) => o.id)).toEqual(bookable.offers);
    expect(view.choices[0]!.offers[0]).toMatchObject({ price: 1495, currency: 'GBP', priceText: '£14.95' });
  });

  it("takes the account's id URL as the customer and as an attendee, as well as the bare identifier", async () => {
    // imin-booking §2.5 (Example Scenario): Create Customer Account answers Louis with
    // "identifier": "MAlnTNiZut" and "id": "https://book.imin.co/api/v2/customer-accounts/MAlnTNiZut";
    // a broker that keeps the `id` sends that URL as `imin:initialOrder.customer`.
    const url = (identifier: string) => `http://activehub.test/api/v2/customer-accounts/${identifier}`;
    const res = await post(sessionBody(bookable, { customer: url(accounts[0]!) }));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json<Json>()['imin:initialOrder'].customer).toBe(url(accounts[0]!));
    const view = await w.t.services.checkout.view(broker.slug, (res.headers.location as string).split('/').pop()!);
    expect(view.customer).toEqual({ givenName: 'Louis', familyName: 'Wu', email: 'louis@example.com' });
    expect(view.needsCustomerDetails).toBe(false);

    const group = await post(groupBody(bookable, [url(accounts[1]!), accounts[2]!], url(accounts[0]!)));
    expect(group.statusCode, group.body).toBe(201);
    const groupView = await w.t.services.checkout.view(
      broker.slug,
      (group.headers.location as string).split('/').pop()!,
    );
    expect(groupView.selected).toMatchObject({ quantity: 2, attendees: [{ name: 'Ana Wu' }, { name: 'Ben Wu' }] });

    // Only this server's customer-accounts URLs: another host, another path, a query, another
    // broker's account → 400 naming the field.
    const refused: [Json, string][] = [
      [
        sessionBody(bookable, { customer: `https://book.imin.co/api/v2/customer-accounts/${accounts[0]}` }),
        '/imin:initialOrder/customer',
      ],
      [
        sessionBody(bookable, { customer: `http://activehub.test/api/v2/orders/${accounts[0]}` }),
        '/imin:initialOrder/customer',
      ],
      [sessionBody(bookable, { customer: `${url(accounts[0]!)}?x=1` }), '/imin:initialOrder/customer'],
      [sessionBody(bookable, { customer: url(otherAccount) }), '/imin:initialOrder/customer'],
      [
        groupBody(bookable, [accounts[0]!, `https://elsewhere.example/api/v2/customer-accounts/${accounts[1]}`]),
        '/imin:initialOrder/orderedItem/1/attendee',
      ],
    ];
    for (const [body, path] of refused) {
      const err = expectError(await post(body), 400, 'BadRequestError');
      expect(
        err['activehub:fieldErrors']!.map((e) => e.path),
        JSON.stringify(err),
      ).toContain(path);
    }
  });

  it("books with the offer id a search result's imin:aggregateOffer.publicAdult names", async () => {
    // imin-booking §2.8.3: without an entitlement, "use the id of publicAdult or publicJunior from
    // imin:aggregateOffer" as acceptedOffer.
    await w.t.services.projector.runOnce();
    const search = await w.t.newBroker({ products: ['search'] });
    const res = await w.t.request({
      method: 'GET',
      url: `/events-api/v2/scheduled-sessions/${encodeURIComponent(bookable.id)}`,
      key: search.key,
    });
    expect(res.statusCode, res.body).toBe(200);
    const offerId = res.json<Json>().superEvent['imin:aggregateOffer'].publicAdult.id as string;
    expect(bookable.offers).toContain(offerId);
    const booked = await post(sessionBody(bookable, { offer: offerId }));
    expect(booked.statusCode, booked.body).toBe(201);
  });

  it('books Slots by their identifier too', async () => {
    const res = await post(sessionBody(slot, { type: 'Slot' }));
    expect(res.statusCode, res.body).toBe(201);
  });

  it('group booking: one OrderItem per attendee account, all the same opportunity and offer', async () => {
    const res = await post(groupBody(bookable, accounts));
    expect(res.statusCode, res.body).toBe(201);
    const id = (res.headers.location as string).split('/').pop()!;
    const view = await w.t.services.checkout.view(broker.slug, id);
    expect(view.selected).toEqual({
      opportunityId: bookable.id,
      offerId: bookable.offers[0],
      quantity: 3,
      attendees: [{ name: 'Louis Wu' }, { name: 'Ana Wu' }, { name: 'Ben Wu' }],
    });
    expect(view.total).toEqual({ amount: 3 * 1495, currency: 'GBP', text: '£44.85' });
  });

  it('group booking rules are enforced with the path of every broken rule', async () => {
    const person = { email: 'a@example.com', givenName: 'A', familyName: 'B' };
    const cases: [Json, string][] = [
      [groupBody(bookable, accounts, person), '/imin:initialOrder/customer'],
      [
        (() => {
          const b = groupBody(bookable, accounts.slice(0, 2));
          delete b['imin:initialOrder'].orderedItem[1]!.attendee;
          return b;
        })(),
        '/imin:initialOrder/orderedItem/1/attendee',
      ],
      [
        (() => {
          const b = groupBody(bookable, accounts.slice(0, 2));
          b['imin:initialOrder'].orderedItem[1]!.acceptedOffer = `${bookable.offers[0]}x`;
          return b;
        })(),
        '/imin:initialOrder/orderedItem/1/acceptedOffer',
      ],
      [
        (() => {
          const b = groupBody(bookable, accounts.slice(0, 2));
          b['imin:initialOrder'].orderedItem[1]!.orderedItem.identifier = free.id;
          return b;
        })(),
        '/imin:initialOrder/orderedItem/1/orderedItem',
      ],
      [groupBody(bookable, [accounts[0]!, otherAccount]), '/imin:initialOrder/orderedItem/1/attendee'],
    ];
    for (const [body, path] of cases) {
      const err = expectError(await post(body), 400, 'BadRequestError');
      expect(
        err['activehub:fieldErrors']!.map((e) => e.path),
        JSON.stringify(err),
      ).toContain(path);
    }
  });

  it('answers 400 with the OpenActive reason for everything that cannot be booked', async () => {
    const cases: [Json, string, RegExp][] = [
      [
        sessionBody({ id: `${w.urls.base}/api/identifiers/scheduled-sessions/999999` }, { offer: 'x' }),
        'UnknownOpportunityError',
        /no bookable ScheduledSession/,
      ],
      [sessionBody(bookable, { type: 'Slot' }), 'UnknownOpportunityError', /no bookable Slot/],
      [sessionBody(bookable, { offer: `${bookable.offers[0]}-nope` }), 'UnknownOfferError', /is not an offer of/],
      [sessionBody(full), 'OpportunityIsFullError', /full/],
      [sessionBody(past), 'OpportunityOfferPairNotBookableError', /already started/],
      [sessionBody(outsideWindow), 'OpportunityOfferPairNotBookableError', /booking window: booking opens at/],
      [sessionBody(otherSeller), 'OpportunityOfferPairNotBookableError', /does not take bookings through activehub/],
    ];
    for (const [body, type, description] of cases) {
      const err = expectError(await post(body), 400, type);
      expect(err.description).toMatch(description);
    }
  });

  it('answers 400 BadRequestError with field errors for invalid bodies, never 500', async () => {
    const good = sessionBody(bookable);
    const cases: [unknown, string][] = [
      [{}, '/imin:initialOrder'],
      [{ ...good, extra: true }, '/extra'],
      [
        { ...good, 'imin:initialOrder': { ...good['imin:initialOrder'], orderedItem: [] } },
        '/imin:initialOrder/orderedItem',
      ],
      [
        sessionBody(bookable, { customer: { email: 'not-an-email', givenName: 'A', familyName: 'B' } }),
        '/imin:initialOrder/customer',
      ],
      [sessionBody(bookable, { customer: 'NoSuchAccount' }), '/imin:initialOrder/customer'],
      [sessionBody(bookable, { customer: otherAccount }), '/imin:initialOrder/customer'],
      [
        (() => {
          const b = sessionBody(bookable);
          delete (b['imin:initialOrder'].orderedItem[0].orderedItem as Json).identifier;
          return b;
        })(),
        '/imin:initialOrder/orderedItem/0/orderedItem/identifier',
      ],
      [
        (() => {
          const b = sessionBody(bookable);
          b['imin:navigationLinks'][0].url = 'javascript:alert(1)';
          return b;
        })(),
        '/imin:navigationLinks/0/url',
      ],
    ];
    for (const [body, path] of cases) {
      const err = expectError(await post(body), 400, 'BadRequestError');
      expect(
        err['activehub:fieldErrors']!.some((e) => e.path.startsWith(path)),
        `${path}: ${JSON.stringify(err['activehub:fieldErrors'])}`,
      ).toBe(true);
    }
    const malformed = await w.t.request({
      method: 'POST',
      url: api(),
      key: broker.key,
      headers: { 'content-type': 'application/json' },
      payload: '{"imin:initialOrder":',
    });
    expectError(malformed, 400, 'BadRequestError');
  });

  it('Idempotency-Key: a retry gets the same session, another body with the key is 422', async () => {
    const headers = { 'idempotency-key': 'checkout-retry-1' };
    const first = await post(sessionBody(bookable), { headers });
    expect(first.statusCode).toBe(201);
    const again = await post(sessionBody(bookable), { headers });
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers.location).toBe(first.headers.location);
    expect(again.json()).toEqual(first.json());
    expectError(await post(sessionBody(free), { headers }), 422, 'IdempotencyKeyReusedError');
  });

  it('Idempotency-Key: a refused request (full, unknown opportunity) keeps nothing, the key books the next body', async () => {
    const headers = { 'idempotency-key': 'checkout-after-refusal' };
    expectError(await post(sessionBody(full), { headers }), 400, 'OpportunityIsFullError');
    expectError(
      await post(sessionBody({ id: 'no-such-opportunity', offers: [] }, { offer: null }), { headers }),
      400,
      'UnknownOpportunityError',
    );
    const created = await post(sessionBody(bookable), { headers });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers['idempotent-replayed']).toBeUndefined();
    const again = await post(sessionBody(bookable), { headers });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.headers.location).toBe(created.headers.location);
  });
});

describe('POST|PUT {checkoutBaseUrl}/checkout-sessions (standalone checkout)', () => {
  it('takes the open-data @id in orderedItem.id, by POST and by PUT', async () => {
    for (const method of ['POST', 'PUT'] as const) {
      const body = {
        '@context': ['https://openactive.io/', 'https://imin.co/'],
        type: 'imin:CheckoutSession',
        'imin:initialOrder': {
          type: 'OrderQuote',
          orderedItem: [{ type: 'OrderItem', orderedItem: { type: 'ScheduledSession', id: bookable.id } }],
        },
      };
      const res = await post(body, { url: standalonePath(), method });
      expect(res.statusCode, res.body).toBe(201);
      const json = res.json<Json>();
      expect(json['imin:initialOrder'].orderedItem).toEqual(body['imin:initialOrder'].orderedItem);
      expect(json['imin:initialOrder'].broker.name).toMatch(/^Test broker/);
      expect(json.potentialAction[0].target).toMatch(
        new RegExp(`^http://activehub\\.test/checkout/${broker.slug}/s/[A-Za-z0-9]{14}$`),
      );
      const view = await w.t.services.checkout.view(broker.slug, json.potentialAction[0].target.split('/').pop());
      expect(view).toMatchObject({ step: 'choose', needsCustomerDetails: true, customer: null });
    }
  });

  it('refuses more than one OrderItem and unbookable opportunities', async () => {
    const two = {
      'imin:initialOrder': {
        orderedItem: [
          { orderedItem: { type: 'ScheduledSession', id: bookable.id } },
          { orderedItem: { type: 'ScheduledSession', id: bookable.id } },
        ],
      },
    };
    expectError(await post(two, { url: standalonePath() }), 400, 'BadRequestError');
    const fullBody = {
      'imin:initialOrder': { orderedItem: [{ orderedItem: { type: 'ScheduledSession', id: full.id } }] },
    };
    expectError(await post(fullBody, { url: standalonePath() }), 400, 'OpportunityIsFullError');
  });
});

describe('guest checkout links ({checkoutBaseUrl}/v1/scheduled-sessions/:encodedIdentifier)', () => {
  it('start a session at the choose step with the opportunity and its offers', async () => {
    const { sessionId } = await w.t.services.checkout.startGuestSession(broker.slug, 'scheduled-sessions', bookable.id);
    const view = await w.t.services.checkout.view(broker.slug, sessionId);
    expect(view).toMatchObject({ step: 'choose', needsCustomerDetails: true, title: expect.any(String) });
    expect(view.choices[0]).toMatchObject({ opportunityId: bookable.id, type: 'ScheduledSession', bookable: true });
    expect(view.branding.slug).toBe(broker.slug);
    // The API of the same broker can read it; it echoes an identifier-based order.
    const got = await w.t.request({ method: 'GET', url: `${api()}/${sessionId}`, key: broker.key });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.json<Json>()['imin:initialOrder'].orderedItem[0].orderedItem.identifier).toBe(bookable.id);
  });

  it('refuse what cannot be booked with the same errors as the API, and unknown brokers with 404', async () => {
    await expect(
      w.t.services.checkout.startGuestSession(broker.slug, 'scheduled-sessions', full.id),
    ).rejects.toMatchObject({
      code: 'OPPORTUNITY_FULL',
    });
    await expect(w.t.services.checkout.startGuestSession(broker.slug, 'slots', bookable.id)).rejects.toMatchObject({
      code: 'UNKNOWN_OPPORTUNITY',
    });
    await expect(
      w.t.services.checkout.startGuestSession('no-such-broker', 'scheduled-sessions', bookable.id),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });
});

describe("a broker's own checkout host (DECISIONS §1: matched on the Host header)", () => {
  it('serves the API, guest links and pages without the /checkout/<slug> prefix, and only for that broker', async () => {
    const slug = `hosted-${Date.now().toString(36)}`;
    const host = `checkout.${slug}.example.com`;
    await w.t.services.brokers.createBroker({ slug, name: 'Hosted Fitness', checkoutHost: host });
    const key = (await w.t.services.brokers.createKey(slug, { products: ['checkout', 'booking'] })).key;
    const account = await createAccount(key, 'Hosta');
    await w.t.services.checkoutHosts.refresh();
    const on = (h: string, port = '') => ({ host: `${h}${port}` });

    // The authenticated API at {checkoutBaseUrl}/api/checkout-sessions; its page is on the host.
    const created = await w.t.request({
      method: 'POST',
      url: '/api/checkout-sessions',
      key,
      headers: on(host.toUpperCase(), ':443'),
      payload: sessionBody(bookable, { customer: account }),
    });
    expect(created.statusCode, created.body).toBe(201);
    const target = created.json<Json>().potentialAction[0].target as string;
    expect(target).toMatch(new RegExp(`^https://${host.replace(/\./g, '\\.')}/s/[A-Za-z0-9]+$`));
    const id = target.split('/').pop()!;
    const page = await w.t.request({ method: 'GET', url: `/s/${id}`, headers: on(host) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Hosted Fitness');
    const read = await w.t.request({ method: 'GET', url: `/api/checkout-sessions/${id}`, key, headers: on(host) });
    expect(read.statusCode, read.body).toBe(200);

    // A guest link starts a session and sends the browser to its page.
    const guest = await w.t.request({
      method: 'GET',
      url: `/v1/scheduled-sessions/${encodeURIComponent(bookable.id)}`,
      headers: on(host),
    });
    expect(guest.statusCode, guest.body).toBe(303);
    expect(guest.headers.location).toMatch(new RegExp(`^/checkout/${slug}/s/[A-Za-z0-9]+$`));
    // Standalone checkout too.
    const standalone = await w.t.request({
      method: 'POST',
      url: '/checkout-sessions',
      key,
      headers: on(host),
      payload: sessionBody(bookable, {
        idKey: 'id',
        customer: { email: 'g@example.com', givenName: 'G', familyName: 'H' },
      }),
    });
    expect(standalone.statusCode, standalone.body).toBe(201);

    // Another broker's key on this host is refused like an unknown broker; its session is not shown.
    expectError(
      await w.t.request({
        method: 'POST',
        url: '/api/checkout-sessions',
        key: other.key,
        headers: on(host),
        payload: sessionBody(bookable),
      }),
      404,
      'NotFoundError',
    );
    expectError(
      await w.t.request({ method: 'GET', url: `/api/checkout-sessions/${id}`, key: other.key, headers: on(host) }),
      404,
      'NotFoundError',
    );
    // The same paths on another host are not checkout paths.
    expect(
      (await w.t.request({ method: 'GET', url: `/s/${id}`, headers: on('checkout.unknown.example.com') })).statusCode,
    ).toBe(404);
    // The rest of the API answers on the host as anywhere.
    const health = await w.t.request({ method: 'GET', url: '/health', headers: on(host) });
    expect(health.statusCode).toBe(200);
  });

  it('reads Host headers and rewrites only the checkout paths', () => {
    expect(hostName('Checkout.Acme.example.com:8443')).toBe('checkout.acme.example.com');
    expect(hostName('[::1]:3000')).toBe('[::1]');
    expect(hostName(undefined)).toBeUndefined();
    expect(rewriteForHost('/s/abc?x=1', 'acme')).toBe('/checkout/acme/s/abc?x=1');
    expect(rewriteForHost('/api/checkout-sessions', 'acme')).toBe('/checkout/acme/api/checkout-sessions');
    expect(rewriteForHost('/v1/slots/a%2Fb', 'acme')).toBe('/checkout/acme/v1/slots/a%2Fb');
    expect(rewriteForHost('/checkout/acme/s/abc', 'acme')).toBe('/checkout/acme/s/abc');
    expect(rewriteForHost('/events-api/v2/event-series', 'acme')).toBe('/events-api/v2/event-series');
    expect(rewriteForHost('/super/s/abc', 'acme')).toBe('/super/s/abc');
    expect(rewriteForHost('/s/abc', undefined)).toBe('/s/abc');
  });
});

describe('authentication and tenant isolation', () => {
  it('401 without or with a bad key, 403 without the checkout product, 404 for another broker or an unknown one', async () => {
    const body = sessionBody(bookable);
    expectError(await w.t.request({ method: 'POST', url: api(), payload: body }), 401, 'UnauthenticatedError');
    expectError(await post(body, { key: 'ah_live_nope' }), 401, 'InvalidAPITokenError');
    const searchOnly = await w.t.newBroker({ products: ['search'] });
    expectError(await post(body, { key: searchOnly.key, url: api(searchOnly.slug) }), 403, 'ForbiddenError');
    // Another broker's key on this broker's checkout: exactly like an unknown broker.
    const a = expectError(await post(body, { key: other.key }), 404, 'NotFoundError');
    const b = expectError(await post(body, { key: other.key, url: api('no-such-broker') }), 404, 'NotFoundError');
    expect(a.description).toBe(b.description);
    expectError(await post(body, { key: other.key, url: standalonePath(), method: 'PUT' }), 404, 'NotFoundError');
  });

  it("another broker can neither read nor continue this broker's session", async () => {
    const res = await post(sessionBody(bookable));
    const id = (res.headers.location as string).split('/').pop()!;
    // Its key on its own path: unknown session.
    const theirs = await w.t.request({ method: 'GET', url: `${api(other.slug)}/${id}`, key: other.key });
    const unknown = await w.t.request({ method: 'GET', url: `${api(other.slug)}/NoSuchSession1`, key: other.key });
    expectError(theirs, 404, 'NotFoundError');
    expect(expectError(unknown, 404, 'NotFoundError').description).toBe(theirs.json<Json>().description);
    // Its key on this broker's path.
    expectError(await w.t.request({ method: 'GET', url: `${api()}/${id}`, key: other.key }), 404, 'NotFoundError');
    // The pages under the other broker's slug.
    await expect(w.t.services.checkout.view(other.slug, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      w.t.services.checkout.pay(other.slug, id, {
        card: { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' },
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // …and this broker's session is untouched.
    expect((await w.t.services.checkout.view(broker.slug, id)).step).toBe('details');
  });
});

describe('expiry (24 h)', () => {
  it('answers 410 GoneError after 24 hours, and the pages say expired', async () => {
    const res = await post(sessionBody(bookable));
    const id = (res.headers.location as string).split('/').pop()!;
    clock.advance(24 * 60 * 60 * 1000 - 1000);
    expect((await w.t.request({ method: 'GET', url: `${api()}/${id}`, key: broker.key })).statusCode).toBe(200);
    clock.advance(2000);
    try {
      expectError(await w.t.request({ method: 'GET', url: `${api()}/${id}`, key: broker.key }), 410, 'GoneError');
      const view = await w.t.services.checkout.view(broker.slug, id);
      expect(view.step).toBe('expired');
      expect(view.problem?.code).toBe('expired');
      // Nothing moves on an expired session.
      const after = await w.t.services.checkout.submitDetails(broker.slug, id, {
        givenName: 'L',
        familyName: 'W',
        email: 'l@example.com',
      });
      expect(after.step).toBe('expired');
    } finally {
      clock.set(new Date());
    }
  });
});

describe('testing mode (imin-booking §1.3.1)', () => {
  const testBody = (item: string, type: string, offer: string, customer: unknown) => ({
    '@context': ['https://openactive.io/', 'https://imin.co/'],
    type: 'imin:CheckoutSession',
    'imin:initialOrder': {
      type: 'OrderQuote',
      customer,
      orderedItem: [{ type: 'OrderItem', orderedItem: { type, identifier: item }, acceptedOffer: offer }],
    },
  });
  const person = { email: 'tess@example.com', givenName: 'Tess', familyName: 'Ting' };

  it('runs the whole flow with no payment and no seller booking; the order and the email are real', async () => {
    const sellerOrders = async () =>
      (
        await w.sandboxDb.db
          .selectFrom('orders')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n;
    const sellerOrdersBefore = await sellerOrders();
    const res = await post(
      testBody('test-item-ScheduledSession-paid', 'ScheduledSession', 'test-offer-adult-guest', person),
    );
    expect(res.statusCode, res.body).toBe(201);
    const id = (res.headers.location as string).split('/').pop()!;
    const checkout = w.t.services.checkout;
    let view = await checkout.view(broker.slug, id);
    expect(view).toMatchObject({ step: 'details', testMode: true, total: { amount: 650, text: '£6.50' } });
    view = await checkout.submitDetails(broker.slug, id, { givenName: '', familyName: '', email: '' });
    expect(view.step).toBe('pay');
    expect(view.payment).toEqual({ kind: 'card' });
    // Any card number books in testing mode.
    view = await checkout.pay(broker.slug, id, {
      card: { number: '4000000000000002', expMonth: 1, expYear: 2041, cvc: '1' },
    });
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    expect(view.order).toMatchObject({ totalText: '£6.50', emailSentTo: 'tess@example.com' });
    const order = await w.t.services.orders.findOrder(view.order!.id);
    expect(order).toMatchObject({ status: 'confirmed', test_mode: true, payment_id: null, total_price: 650 });
    const emails = await w.t.services.mailer.list({ to: 'tess@example.com' });
    expect(emails).toHaveLength(1);
    expect(emails[0]).toMatchObject({ kind: 'order-confirmation', orderId: order!.id, brokerId: broker.brokerId });
    const got = await w.t.request({ method: 'GET', url: `${api()}/${id}`, key: broker.key });
    expect(got.json<Json>()).toMatchObject({
      'activehub:state': 'confirmed',
      'activehub:testMode': true,
      'activehub:order': { type: 'Order', identifier: order!.id, orderNumber: order!.order_number },
    });
    expect(await sellerOrders()).toBe(sellerOrdersBefore);
  });

  it('free test items need no card; member offers need the member test customer; the type must match the item', async () => {
    const res = await post(
      testBody('test-item-Slot-free', 'Slot', 'test-offer-adult-member', {
        ...person,
        identifier: 'test-customer-member',
      }),
    );
    expect(res.statusCode, res.body).toBe(201);
    const id = (res.headers.location as string).split('/').pop()!;
    await w.t.services.checkout.submitDetails(broker.slug, id, { givenName: '', familyName: '', email: '' });
    const view = await w.t.services.checkout.pay(broker.slug, id, {});
    expect(view.step).toBe('confirmed');
    expect(view.order?.totalText).toBe('Free');

    expectError(
      await post(testBody('test-item-Slot-free', 'Slot', 'test-offer-adult-member', person)),
      400,
      'OpportunityOfferPairNotBookableError',
    );
    expectError(
      await post(testBody('test-item-Slot-free', 'ScheduledSession', 'test-offer-adult-guest', person)),
      400,
      'UnknownOpportunityError',
    );
    // A real offer id on a test item is not one of its offers.
    expectError(
      await post(testBody('test-item-Slot-free', 'Slot', bookable.offers[0]!, person)),
      400,
      'UnknownOfferError',
    );
  });
});

describe('erasure of a customer (DECISIONS §4)', () => {
  it('replaces their personal data in checkout sessions and orders', async () => {
    const name = await createAccount(broker.key, 'Erin');
    const res = await post({
      'imin:initialOrder': {
        customer: name,
        orderedItem: [
          {
            orderedItem: { type: 'ScheduledSession', identifier: 'test-item-ScheduledSession-free' },
            acceptedOffer: 'test-offer-adult-guest',
          },
        ],
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    const id = (res.headers.location as string).split('/').pop()!;
    await w.t.services.checkout.submitDetails(broker.slug, id, { givenName: '', familyName: '', email: '' });
    const view = await w.t.services.checkout.pay(broker.slug, id, {});
    expect(view.step).toBe('confirmed');
    expect(view.customer?.email).toBe('erin@example.com');

    const del = await w.t.request({ method: 'DELETE', url: `/api/v2/customer-accounts/${name}`, key: broker.key });
    expect(del.statusCode).toBe(202);
    expect(await w.t.deps.jobs.runDue('customers.erase')).toBe(1);

    const after = await w.t.services.checkout.view(broker.slug, id);
    expect(after.customer).toEqual({ givenName: 'Deleted', familyName: 'Customer', email: `deleted-${name}@invalid` });
    const order = await w.t.services.orders.findOrder(view.order!.id);
    expect(order?.customer).toMatchObject({ givenName: 'Deleted', email: `deleted-${name}@invalid` });
    const got = await w.t.request({ method: 'GET', url: `${api()}/${id}`, key: broker.key });
    expect(got.statusCode, got.body).toBe(200);
    expect(got.body).not.toContain('erin@example.com');
  });
});
