import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpdeTestServer } from '../rpde-server.js';
import { checkoutSessionBody, createAccount, startCheckoutWorld, type CheckoutWorld } from './checkout-fixture.js';

/*
 * Issue 15 point 5: two publishers publishing the same `@id`s. Publisher A is the bundled sandbox
 * booking system (so a checkout really books); publisher B republishes A's ScheduledSession and
 * Slot (with their series/facility) under the very same `@id`s but with its own names and seller.
 * No lookup may answer one publisher's item for the other's: an id held twice is refused with
 * an explicit 409 naming both data sources, unless the caller names one (`dataSource`), and what
 * we emit for such an item carries its publisher.
 */

type Json = Record<string, any>;

const CARD_OK = { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' };
const B_SELLER = { '@type': 'Organization', '@id': 'https://b.example.test/sellers/1', name: 'Bravo Leisure' };

let w: CheckoutWorld;
let b: RpdeTestServer;
let bId: number;
let broker: { slug: string; key: string; brokerId: number };
let account: string;
let session: { id: string; offers: string[] };
let slot: { id: string; offers: string[] };
let aSessionName: string;
let aSlotName: string;
let slotStart: Date;

const enc = encodeURIComponent;

async function get(url: string) {
  const res = await w.t.request({ method: 'GET', url, key: broker.key });
  return { status: res.statusCode, body: res.json<Json>() };
}

function expectAmbiguous(status: number, body: Json) {
  expect(status, JSON.stringify(body)).toBe(409);
  expect(body['@type']).toBe('AmbiguousIdentifierError');
  // The candidates are named by what our output exposes as imin:dataSource.identifier.
  expect(body.description).toContain(`"${w.publisherId}"`);
  expect(body.description).toContain(`"${bId}"`);
}

beforeAll(async () => {
  w = await startCheckoutWorld();
  broker = await w.t.newBroker({ products: ['search', 'booking', 'checkout'] });
  account = await createAccount(w.t, broker.key, 'Louis');
  session = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
  slot = await w.createOpportunity('Slot', 'TestOpportunityBookable');
  const s = (await w.t.services.catalog.findOpportunity(session.id))!;
  const sl = (await w.t.services.catalog.findOpportunity(slot.id))!;
  aSessionName = s.name;
  aSlotName = sl.name;
  slotStart = sl.startDate;

  // Publisher B: the same @ids, its own names and seller.
  b = await new RpdeTestServer().start();
  b.feed('session-series', 100);
  b.feed('scheduled-sessions', 100);
  b.feed('facility-uses', 100);
  b.feed('slots', 100);
  const ctx = { '@context': 'https://openactive.io/' };
  b.put('session-series', {
    id: 'series',
    kind: 'SessionSeries',
    data: { ...ctx, ...s.parent!.data, name: 'Bravo copy of the class', organizer: B_SELLER },
  });
  b.put('scheduled-sessions', {
    id: 'session',
    kind: 'ScheduledSession',
    data: { ...ctx, ...s.data, superEvent: s.parent!.oaId },
  });
  b.put('facility-uses', {
    id: 'facility',
    kind: 'FacilityUse',
    data: {
      ...ctx,
      ...sl.parent!.data,
      name: 'Bravo copy of the court',
      provider: B_SELLER,
      individualFacilityUse: (sl.parent!.data.individualFacilityUse as Json[]).map((u) => ({
        ...u,
        name: 'Bravo court',
        provider: B_SELLER,
      })),
    },
  });
  b.put('slots', { id: 'slot', kind: 'Slot', data: { ...ctx, ...sl.data } });
  b.dataset = {
    '@context': 'https://openactive.io/',
    '@type': 'Dataset',
    name: 'Bravo Leisure',
    distribution: ['SessionSeries', 'ScheduledSession', 'FacilityUse', 'Slot'].map((type, i) => ({
      '@type': 'DataDownload',
      additionalType: `https://openactive.io/${type}`,
      contentUrl: b.url(['session-series', 'scheduled-sessions', 'facility-uses', 'slots'][i]!),
    })),
  };
  const { publisher } = await w.t.services.catalog.addPublisher({ datasetUrl: `${b.base}/dataset` });
  bId = publisher.id;
  await w.harvest();
  await w.t.services.projector.runOnce();
}, 120_000);

afterAll(async () => {
  await b?.stop();
  await w?.close();
});

describe('By-ID with an @id two publishers hold', () => {
  const cases = [
    { kind: 'ScheduledSession', path: '/events-api/v2/scheduled-sessions/', opp: () => session, a: () => aSessionName },
    { kind: 'Slot', path: '/facilities-api/v2/slots/', opp: () => slot, a: () => aSlotName },
  ];
  for (const c of cases) {
    it(`${c.kind}: ambiguous → 409 naming both data sources; with dataSource → that publisher's only`, async () => {
      const url = `${c.path}${enc(c.opp().id)}`;
      const plain = await get(url);
      expectAmbiguous(plain.status, plain.body);

      const a = await get(`${url}?dataSource=${w.publisherId}`);
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      expect(a.body.identifier).toBe(c.opp().id);
      // Its own links carry the publisher, so following them never lands on the other one.
      expect(new URL(a.body.id as string).pathname + new URL(a.body.id as string).search).toBe(
        `${url}?dataSource=${w.publisherId}`,
      );
      const b2 = await get(`${url}?dataSource=${bId}`);
      expect(b2.status, JSON.stringify(b2.body)).toBe(200);
      expect(new URL(b2.body.id as string).pathname + new URL(b2.body.id as string).search).toBe(
        `${url}?dataSource=${bId}`,
      );
      // Security: neither answer holds anything of the other publisher.
      const aText = JSON.stringify(a.body);
      const bText = JSON.stringify(b2.body);
      expect(aText).not.toContain('Bravo');
      expect(bText).toContain('Bravo');
      expect(bText).not.toContain(w.urls.seller(1));
      expect(bText).not.toContain(c.a());
      if (a.body['imin:checkoutUrlTemplate'])
        expect(a.body['imin:checkoutUrlTemplate']).toContain(`dataSource=${w.publisherId}`);

      const unknown = await get(`${url}?dataSource=99999`);
      expect(unknown.status).toBe(404);
    });
  }

  it('an @id held once answers as before, and a dataSource naming another publisher is a 404', async () => {
    const only = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
    await w.t.services.projector.runOnce();
    const url = `/events-api/v2/scheduled-sessions/${enc(only.id)}`;
    const res = await get(url);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(new URL(res.body.id as string).pathname + new URL(res.body.id as string).search).toBe(url);
    expect(res.body['imin:checkoutUrlTemplate']).not.toContain('dataSource');
    expect((await get(`${url}?dataSource=${bId}`)).status).toBe(404);
    expect((await get(`${url}?dataSource=${w.publisherId}`)).status).toBe(200);
  });
});

/** Every object in a JSON answer whose `identifier` is `id`, with the nearest enclosing imin:dataSource. */
function occurrencesOf(node: unknown, id: string, source: Json | null = null, out: Json[] = []): Json[] {
  if (Array.isArray(node)) {
    for (const x of node) occurrencesOf(x, id, source, out);
  } else if (node && typeof node === 'object') {
    const o = node as Json;
    const here = (o['imin:dataSource'] as Json | undefined) ?? source;
    if (o.identifier === id) out.push({ ...o, source: here });
    for (const v of Object.values(o)) occurrencesOf(v, id, here, out);
  }
  return out;
}

describe('search with an @id two publishers hold', () => {
  it('returns both as distinct results whose links name their publisher; A’s checkout link checks out A’s item', async () => {
    const geo = '51.52875,-0.09413,1';
    const found = await get(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${geo}&limit=50`);
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    const hits = occurrencesOf(found.body['imin:item'], session.id);
    expect(hits.map((h) => h.source?.identifier).sort()).toEqual([String(w.publisherId), String(bId)].sort());
    const ids = hits.map((h) => h.id as string);
    expect(new Set(ids).size).toBe(2);
    for (const h of hits) {
      expect(h.id).toContain(`?dataSource=${h.source.identifier}`);
      const isB = h.source.identifier === String(bId);
      // The result's By-ID link answers that publisher's session.
      const byId = await get(new URL(h.id as string).pathname + new URL(h.id as string).search);
      expect(byId.status).toBe(200);
      expect(JSON.stringify(byId.body).includes('Bravo')).toBe(isB);
      // B has no booking endpoint, so no checkout link; A's link names A and starts A's checkout.
      if (isB) {
        expect(h['imin:checkoutUrlTemplate']).toBeUndefined();
        continue;
      }
      expect(h['imin:checkoutUrlTemplate']).toContain(`dataSource=${w.publisherId}`);
      const link = new URL(h['imin:checkoutUrlTemplate'] as string);
      const res = await w.t.request({ method: 'GET', url: link.pathname + link.search });
      expect(res.statusCode, res.body).toBe(303);
      const view = await w.t.services.checkout.view(broker.slug, (res.headers.location as string).split('/').pop()!);
      expect(JSON.stringify(view)).not.toContain('Bravo');
    }
  });
});

describe('security: one publisher’s items never appear under the other’s identity', () => {
  it('EventSeries and FacilityUse results of A hold nothing of B (and the reverse), in search and By-ID', async () => {
    const geo = '51.52875,-0.09413,1';
    const day = slotStart.toISOString().slice(0, 10);
    const answers = [
      await get(`/events-api/v2/event-series?mode=upcoming-sessions&geo[radial]=${geo}&limit=50`),
      await get(`/events-api/v2/event-series?mode=discovery-geo&geo[radial]=${geo}&limit=50`),
      await get(
        `/facilities-api/v2/facility-uses?mode=upcoming-slots&geo[radial]=${geo}&startDate[gte]=${day}T00:00:00Z&limit=50`,
      ),
    ];
    let seen = 0;
    for (const { status, body } of answers) {
      expect(status, JSON.stringify(body)).toBe(200);
      for (const item of body['imin:item'] as Json[]) {
        const source = (item['imin:dataSource'] as Json).identifier as string;
        const text = JSON.stringify(item);
        // Under A's identity: nothing of B's; under B's: nothing of A's seller.
        if (source === String(bId)) expect(text).not.toContain(w.urls.seller(1));
        else expect(text).not.toContain('Bravo');
        const byId = await get(new URL(item.id as string).pathname);
        expect(byId.status, JSON.stringify(byId.body)).toBe(200);
        if (source === String(bId)) expect(JSON.stringify(byId.body)).not.toContain(w.urls.seller(1));
        else expect(JSON.stringify(byId.body)).not.toContain('Bravo');
        if (text.includes(session.id) || text.includes(slot.id)) seen += 1;
      }
    }
    // Both publishers' copies were among the results checked (sessions twice, slots once each).
    expect(seen).toBeGreaterThanOrEqual(6);
  });
});

describe('checkout with an @id two publishers hold', () => {
  const body = (dataSource?: unknown) =>
    checkoutSessionBody(account, [
      {
        type: 'OrderItem',
        orderedItem: {
          type: 'ScheduledSession',
          identifier: session.id,
          ...(dataSource === undefined ? {} : { 'imin:dataSource': dataSource }),
        },
        acceptedOffer: session.offers[0],
      },
    ]);
  const post = (payload: Json) =>
    w.t.request({ method: 'POST', url: `/checkout/${broker.slug}/api/checkout-sessions`, key: broker.key, payload });

  it('API: no data source → 409 naming both; B named → B (which takes no bookings), never A', async () => {
    const plain = await post(body());
    expectAmbiguous(plain.statusCode, plain.json());
    const atB = await post(body({ type: 'WebAPI', identifier: String(bId) }));
    expect(atB.statusCode, atB.body).toBe(400);
    expect(atB.json().description).toContain('Bravo copy of the class');
  });

  it('API: A named (as imin:dataSource or its bare identifier) → booked at A’s seller', async () => {
    for (const named of [{ type: 'WebAPI', identifier: String(w.publisherId) }, String(w.publisherId)]) {
      const res = await post(body(named));
      expect(res.statusCode, res.body).toBe(201);
    }
    const res = await post(body({ identifier: String(w.publisherId) }));
    expect(res.statusCode, res.body).toBe(201);
    const id = (res.headers.location as string).split('/').pop()!;
    let view = await w.t.services.checkout.submitDetails(broker.slug, id, { givenName: '', familyName: '', email: '' });
    expect(view.step, JSON.stringify(view.problem)).toBe('pay');
    view = await w.t.services.checkout.pay(broker.slug, id, { card: CARD_OK });
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    const row = (
      await sql<Json>`select order_uuid, opportunity from checkout_sessions where id = ${id}`.execute(
        w.t.deps.database.db,
      )
    ).rows[0]!;
    const opp = (typeof row.opportunity === 'string' ? JSON.parse(row.opportunity) : row.opportunity) as Json;
    expect(opp.publisherId).toBe(w.publisherId);
    expect(opp.sellerId).toBe(w.urls.seller(1));
    const atSeller = await w.sellerOrder(row.order_uuid as string);
    expect(atSeller, 'the order exists at A').toBeDefined();
  });

  it('guest links: ambiguous → 409; with dataSource → a session for that publisher’s item', async () => {
    for (const [kind, opp] of [
      ['scheduled-sessions', session],
      ['slots', slot],
    ] as const) {
      const url = `/checkout/${broker.slug}/v1/${kind}/${enc(opp.id)}`;
      const plain = await w.t.request({ method: 'GET', url });
      // The hosted pages answer a person, in HTML: a 409 page saying the link is ambiguous.
      expect(plain.statusCode, plain.body).toBe(409);
      expect(plain.body).toContain('Which venue did you mean?');
      const atA = await w.t.request({ method: 'GET', url: `${url}?dataSource=${w.publisherId}` });
      expect(atA.statusCode, atA.body).toBe(303);
      const sessionId = (atA.headers.location as string).split('/').pop()!;
      const view = await w.t.services.checkout.view(broker.slug, sessionId);
      expect(JSON.stringify(view)).not.toContain('Bravo');
      const atB = await w.t.request({ method: 'GET', url: `${url}?dataSource=${bId}` });
      // B takes no bookings (no booking endpoint): refused, where A's item would have been a 303.
      expect(atB.statusCode, atB.body).toBe(409);
      expect(atB.body).toContain('This cannot be booked online');
    }
  });
});
