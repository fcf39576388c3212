import type { LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomAlphanumeric } from '../../src/lib/ids.js';
import { expectError } from '../http-assertions.js';
import { createTestContext, type TestContext } from '../helpers.js';

/*
 * Test mode is a separate world (issue 14 point 3; DECISIONS §2): one broker, one live key and
 * one test key. Each key's customer accounts, orders (items, receipts), checkout sessions and
 * idempotent responses are invisible to the other key: every endpoint answers exactly what it
 * answers for an id nobody has, and nothing the other key sends changes them. The orders are
 * made in imin's testing mode (no seller), so the file needs no booking system.
 */

type Json = Record<string, any>;
type Mode = 'live' | 'test';

let t: TestContext;
let slug: string;
const keys = {} as Record<Mode, string>;

/** What one key owns: an account, a confirmed order of it (item, receipt), its checkout session. */
interface Owned {
  account: string;
  orderId: string;
  itemUrl: string;
  receiptId: string;
  sessionId: string;
}
const owned = {} as Record<Mode, Owned>;

const person = (givenName: string) => ({
  email: `${givenName.toLowerCase()}@example.com`,
  givenName,
  familyName: 'Wu',
});

function testingSession(customer: unknown, attendees?: string[]) {
  const item = {
    type: 'OrderItem',
    orderedItem: { type: 'ScheduledSession', identifier: 'test-item-ScheduledSession-paid' },
    acceptedOffer: 'test-offer-adult-guest',
  };
  return {
    '@context': ['https://openactive.io/', 'https://imin.co/'],
    type: 'imin:CheckoutSession',
    'imin:initialOrder': {
      type: 'OrderQuote',
      customer,
      orderedItem: attendees ? attendees.map((attendee) => ({ ...item, attendee })) : [item],
    },
  };
}

async function createSession(key: string, body: object): Promise<string> {
  const res = await t.request({ method: 'POST', url: `/checkout/${slug}/api/checkout-sessions`, key, payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return (res.headers.location as string).split('/').pop()!;
}

/** Books a testing-mode order through the hosted checkout's steps; its id. */
async function book(sessionId: string): Promise<string> {
  const checkout = t.services.checkout;
  await checkout.submitDetails(slug, sessionId, { givenName: 'Ann', familyName: 'Guest', email: 'ann@example.com' });
  const view = await checkout.pay(slug, sessionId, {
    card: { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' },
  });
  expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
  return view.order!.id;
}

async function ownWorld(mode: Mode): Promise<Owned> {
  const key = keys[mode];
  const created = await t.request({
    method: 'POST',
    url: '/api/v2/customer-accounts',
    key,
    payload: person(mode === 'live' ? 'Lola' : 'Tess'),
  });
  expect(created.statusCode, created.body).toBe(201);
  const account = created.json<Json>().identifier as string;
  const pass = await t.request({
    method: 'POST',
    url: `/api/v2/customer-accounts/${account}/actions`,
    key,
    payload: { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: `${mode}-PASS` } },
  });
  expect(pass.statusCode, pass.body).toBe(200);
  const sessionId = await createSession(key, testingSession(account));
  const orderId = await book(sessionId);
  const order = await t.request({ method: 'GET', url: `/api/v2/orders/${orderId}`, key });
  expect(order.statusCode, order.body).toBe(200);
  const body = order.json<Json>();
  return {
    account,
    orderId,
    itemUrl: body.orderedItem[0].id as string,
    receiptId: (body['imin:receipt'][0].url as string).split('/').pop()!,
    sessionId,
  };
}

beforeAll(async () => {
  t = await createTestContext();
  const broker = await t.newBroker({ products: ['booking', 'checkout'] });
  slug = broker.slug;
  keys.live = broker.key;
  keys.test = (await t.services.brokers.createKey(slug, { mode: 'test', products: ['booking', 'checkout'] })).key;
  owned.live = await ownWorld('live');
  owned.test = await ownWorld('test');
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const other = (mode: Mode): Mode => (mode === 'live' ? 'test' : 'live');
const directions: [Mode, Mode][] = [
  ['live', 'test'],
  ['test', 'live'],
];

/** Everything the owner can see of its world, and its database rows: must not change. */
async function snapshot(mode: Mode) {
  const o = owned[mode];
  const key = keys[mode];
  const read = async (url: string) => {
    const res = await t.request({ method: 'GET', url, key });
    expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
    return res.body;
  };
  const rows = await t.deps.database.db
    .selectFrom('customers')
    .selectAll()
    .where('identifier', '=', o.account)
    .executeTakeFirstOrThrow();
  return {
    account: await read(`/api/v2/customer-accounts/${o.account}`),
    exported: (await read(`/api/v2/customer-accounts/${o.account}/export`)).replace(
      /"activehub:exportedAt":"[^"]*"/,
      '',
    ),
    order: await read(`/api/v2/orders/${o.orderId}`),
    history: await read(`/api/v2/orders?customerIdentifier=${o.account}`),
    upcoming: await read(`/api/v2/order-items?customerIdentifier=${o.account}`),
    session: await read(`/checkout/${slug}/api/checkout-sessions/${o.sessionId}`),
    row: JSON.stringify(rows),
  };
}

/** The parts of a response that must not tell "the other mode's" from "nobody's". */
function observable(res: LightMyRequestResponse, ids: string[]) {
  const headers = { ...res.headers };
  for (const h of ['x-request-id', 'date', 'ratelimit-remaining', 'ratelimit-reset', 'content-length'])
    delete headers[h];
  // Checkout answers time themselves (Server-Timing): the names must match, not the durations.
  if (typeof headers['server-timing'] === 'string') {
    headers['server-timing'] = headers['server-timing'].replace(/dur=[0-9.]+/g, 'dur=<ms>');
  }
  let text = res.body;
  for (const id of ids) text = text.split(id).join('<id>');
  text = text.replace(/"instance":"[^"]*"/, '"instance":"<request id>"');
  return { status: res.statusCode, headers, body: text };
}

const uuid = () => crypto.randomUUID();
const cancel = (itemUrl: string) => ({
  '@context': 'https://openactive.io/',
  '@type': 'Order',
  orderedItem: [{ '@type': 'OrderItem', '@id': itemUrl, orderItemStatus: 'https://openactive.io/CustomerCancelled' }],
});

/**
 * Each endpoint, asked about the owner's resource and about a resource of the same form that no
 * one has (`unknown`), so the two answers can be compared byte for byte.
 */
function unknownLike(o: Owned): Owned {
  const orderId = uuid();
  return {
    account: randomAlphanumeric(10),
    orderId,
    itemUrl: o.itemUrl.replace(o.orderId, orderId),
    receiptId: randomAlphanumeric(o.receiptId.length),
    sessionId: randomAlphanumeric(o.sessionId.length),
  };
}

const endpoints: [
  string,
  (o: Owned) => { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: object },
][] = [
  ['GET customer account', (o) => ({ method: 'GET', url: `/api/v2/customer-accounts/${o.account}` })],
  ['GET export', (o) => ({ method: 'GET', url: `/api/v2/customer-accounts/${o.account}/export` })],
  [
    'POST actions CustomerUpdateAction',
    (o) => ({
      method: 'POST',
      url: `/api/v2/customer-accounts/${o.account}/actions`,
      payload: { '@type': 'CustomerUpdateAction', object: { email: 'intruder@example.com' } },
    }),
  ],
  [
    'POST actions imin:AccessPassUpdateAction',
    (o) => ({
      method: 'POST',
      url: `/api/v2/customer-accounts/${o.account}/actions`,
      payload: { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'STOLEN' } },
    }),
  ],
  [
    'PATCH customer account',
    (o) => ({ method: 'PATCH', url: `/api/v2/customer-accounts/${o.account}`, payload: { givenName: 'X' } }),
  ],
  ['DELETE customer account', (o) => ({ method: 'DELETE', url: `/api/v2/customer-accounts/${o.account}` })],
  ['GET order history', (o) => ({ method: 'GET', url: `/api/v2/orders?customerIdentifier=${o.account}` })],
  ['GET order', (o) => ({ method: 'GET', url: `/api/v2/orders/${o.orderId}` })],
  [
    'PATCH order (cancel)',
    (o) => ({ method: 'PATCH', url: `/api/v2/orders/${o.orderId}`, payload: cancel(o.itemUrl) }),
  ],
  ['GET upcoming order items', (o) => ({ method: 'GET', url: `/api/v2/order-items?customerIdentifier=${o.account}` })],
  ['GET receipt', (o) => ({ method: 'GET', url: `/api/v2/receipts/${o.receiptId}` })],
  ['GET checkout session', (o) => ({ method: 'GET', url: `/checkout/${slug}/api/checkout-sessions/${o.sessionId}` })],
];

describe('test mode is a separate world: the other mode’s data is indistinguishable from none', () => {
  for (const [owner, intruder] of directions) {
    it.each(endpoints)(
      `%s with the ${intruder} key on the ${owner} key’s data answers as for an unknown id`,
      async (_n, build) => {
        const o = owned[owner];
        const nobody = unknownLike(o);
        const before = await snapshot(owner);
        const theirs = await t.request({ ...build(o), key: keys[intruder] });
        const nobodys = await t.request({ ...build(nobody), key: keys[intruder] });
        expect(theirs.statusCode, theirs.body).toBeLessThan(500);
        expect(observable(theirs, Object.values(o))).toEqual(observable(nobodys, Object.values(nobody)));
        expect(theirs.rawPayload.length).toBe(nobodys.rawPayload.length);
        // Nothing changed in the owner's world, and no erasure was queued for its account.
        expect(await snapshot(owner)).toEqual(before);
        expect(await t.deps.jobs.runDue('customers.erase')).toBe(0);
      },
    );
  }

  it.each(directions)(
    'a %s account is not a customer of the other key’s checkout sessions (nor an attendee)',
    async (owner) => {
      const intruder = other(owner);
      const created = await t.request({
        method: 'POST',
        url: '/api/v2/customer-accounts',
        key: keys[owner],
        payload: person('Cleo'),
      });
      expect(created.statusCode, created.body).toBe(201);
      const account = created.json<Json>().identifier as string;
      for (const body of [testingSession(account), testingSession(account, [account, account])]) {
        const sessionId = await createSession(keys[intruder], body);
        const view = await t.services.checkout.view(slug, sessionId);
        // As for an unknown account in testing mode: no customer known, made-up attendees.
        expect(view.customer).toBeNull();
        expect(JSON.stringify(view)).not.toContain('cleo@example.com');
        const { rows } = await sql`select customer, items from checkout_sessions where id = ${sessionId}`.execute(
          t.deps.database.db,
        );
        expect(JSON.stringify(rows)).not.toContain('cleo@example.com');
      }
    },
  );

  it.each(directions)('the %s key’s Idempotency-Key responses are never replayed to the other key', async (owner) => {
    const intruder = other(owner);
    const headers = { 'idempotency-key': `shared-${owner}-${randomAlphanumeric(6)}` };
    const first = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: keys[owner],
      headers,
      payload: person('Ida'),
    });
    expect(first.statusCode).toBe(201);
    const second = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: keys[intruder],
      headers,
      payload: person('Ida'),
    });
    expect(second.statusCode).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.json<Json>().identifier).not.toBe(first.json<Json>().identifier);
    // Each key's account is its own; the owner's replay still works.
    const again = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: keys[owner],
      headers,
      payload: person('Ida'),
    });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toBe(first.body);
    expectError(
      await t.request({
        method: 'GET',
        url: `/api/v2/customer-accounts/${first.json<Json>().identifier}`,
        key: keys[intruder],
      }),
      404,
      'NotFoundError',
    );
  });

  it('one customer identifier booked in both modes: each key’s history counts and lists only its own order', async () => {
    const identifier = `family-${randomAlphanumeric(8)}`;
    const mine = {} as Record<Mode, string>;
    for (const mode of ['live', 'test'] as const) {
      const sessionId = await createSession(keys[mode], testingSession({ ...person('Sam'), identifier }));
      mine[mode] = await book(sessionId);
    }
    for (const mode of ['live', 'test'] as const) {
      const history = (
        await t.request({ method: 'GET', url: `/api/v2/orders?customerIdentifier=${identifier}`, key: keys[mode] })
      ).json<Json>();
      expect(history['imin:totalItems']).toBe(1);
      expect(history['imin:item'].map((i: Json) => i.identifier)).toEqual([mine[mode]]);
      const items = (
        await t.request({ method: 'GET', url: `/api/v2/order-items?customerIdentifier=${identifier}`, key: keys[mode] })
      ).json<Json>();
      expect(items['imin:totalItems']).toBe(1);
      expect(JSON.stringify(items)).toContain(mine[mode]);
      expect(JSON.stringify(items)).not.toContain(mine[other(mode)]);
    }
  });

  it('the owner still reads, changes and cancels its own data', async () => {
    for (const mode of ['live', 'test'] as const) {
      const o = owned[mode];
      const res = await t.request({
        method: 'PATCH',
        url: `/api/v2/orders/${o.orderId}`,
        key: keys[mode],
        payload: cancel(o.itemUrl),
      });
      expect(res.statusCode, res.body).toBe(204);
      const order = (
        await t.request({ method: 'GET', url: `/api/v2/orders/${o.orderId}`, key: keys[mode] })
      ).json<Json>();
      expect(order.orderedItem[0].orderItemStatus).toBe('https://openactive.io/CustomerCancelled');
    }
  });
});
