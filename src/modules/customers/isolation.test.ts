import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { randomAlphanumeric } from '../../lib/ids.js';

let t: TestContext;
let a: { key: string; brokerId: number };
let b: { key: string; brokerId: number };
beforeAll(async () => {
  t = await createTestContext();
  a = await t.newBroker();
  b = await t.newBroker();
});
afterAll(async () => {
  await t?.close();
});

const geoff = {
  '@context': 'https://openactive.io/',
  '@type': 'CustomerAccount',
  customer: {
    '@type': 'Person',
    email: 'geoffcapes@example.com',
    telephone: '020 811 8055',
    givenName: 'Geoff',
    familyName: 'Capes',
    birthDate: '1970-01-01',
    address: { '@type': 'PostalAddress', postalCode: 'NW5 3DU', addressCountry: 'GB' },
  },
};

async function createFor(key: string): Promise<string> {
  const res = await t.request({ method: 'POST', url: '/api/v2/customer-accounts', key, payload: geoff });
  expect(res.statusCode).toBe(201);
  const id: string = res.json().identifier;
  const pass = await t.request({
    method: 'POST',
    url: `/api/v2/customer-accounts/${id}/actions`,
    key,
    payload: { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'A-PASS' } },
  });
  expect(pass.statusCode).toBe(200);
  return id;
}

/** An identifier of the same form as a real one that no broker has. */
async function unknownIdentifier(): Promise<string> {
  for (;;) {
    const id = randomAlphanumeric(10);
    const row = await t.deps.database.db
      .selectFrom('customers')
      .select('id')
      .where('identifier', '=', id)
      .executeTakeFirst();
    if (!row) return id;
  }
}

/** What A's account looks like, down to its update time. */
async function snapshot(id: string): Promise<{ get: string; export: string; row: string }> {
  const got = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}`, key: a.key });
  const exported = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}/export`, key: a.key });
  expect(got.statusCode).toBe(200);
  const row = await t.deps.database.db
    .selectFrom('customers')
    .selectAll()
    .where('identifier', '=', id)
    .executeTakeFirstOrThrow();
  return {
    get: got.body,
    export: exported.body.replace(/"activehub:exportedAt":"[^"]*"/, ''),
    row: JSON.stringify(row),
  };
}

type Request = (id: string) => { method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; url: string; payload?: object };

const endpoints: [string, Request][] = [
  ['GET', (id) => ({ method: 'GET', url: `/api/v2/customer-accounts/${id}` })],
  ['GET export', (id) => ({ method: 'GET', url: `/api/v2/customer-accounts/${id}/export` })],
  [
    'POST actions CustomerUpdateAction',
    (id) => ({
      method: 'POST',
      url: `/api/v2/customer-accounts/${id}/actions`,
      payload: { '@type': 'CustomerUpdateAction', object: { email: 'attacker@example.com' } },
    }),
  ],
  [
    'POST actions imin:AccessPassUpdateAction',
    (id) => ({
      method: 'POST',
      url: `/api/v2/customer-accounts/${id}/actions`,
      payload: { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'STOLEN' } },
    }),
  ],
  [
    'PATCH',
    (id) => ({ method: 'PATCH', url: `/api/v2/customer-accounts/${id}`, payload: { telephone: null, givenName: 'X' } }),
  ],
  ['DELETE', (id) => ({ method: 'DELETE', url: `/api/v2/customer-accounts/${id}` })],
];

/** The parts of a response that must not tell "someone else's" from "nobody's". */
function observable(res: LightMyRequestResponse, id: string) {
  const body = res.json<Record<string, unknown>>();
  const headers = { ...res.headers };
  for (const h of ['x-request-id', 'date', 'ratelimit-remaining', 'ratelimit-reset']) delete headers[h];
  return {
    status: res.statusCode,
    headers,
    body: {
      ...body,
      instance: '<request id>',
      description: String(body.description).split(id).join('<identifier>'),
    },
  };
}

describe('tenant isolation (DECISIONS §2): another broker’s account is indistinguishable from none', () => {
  it.each(endpoints)(
    '%s with broker B’s key on broker A’s account answers 404 as for an unknown one',
    async (_name, build) => {
      const id = await createFor(a.key);
      const unknown = await unknownIdentifier();
      const before = await snapshot(id);

      const theirs = await t.request({ ...build(id), key: b.key });
      const nobodys = await t.request({ ...build(unknown), key: b.key });
      expectError(theirs, 404, 'NotFoundError');
      expectError(nobodys, 404, 'NotFoundError');
      expect(observable(theirs, id)).toEqual(observable(nobodys, unknown));
      // Same length identifiers, so even the byte count cannot differ.
      expect(theirs.rawPayload.length).toBe(nobodys.rawPayload.length);

      expect(await snapshot(id)).toEqual(before);
      // And the erasure queue holds nothing for A's account.
      expect(await t.deps.jobs.runDue('customers.erase')).toBe(0);
    },
  );

  it('B’s key gets 404 on A’s account with an Idempotency-Key too, and stores nothing that A could be served', async () => {
    const id = await createFor(a.key);
    const before = await snapshot(id);
    const action = { '@type': 'CustomerUpdateAction', object: { givenName: 'Mallory' } };
    const headers = { 'idempotency-key': 'b-tries-a' };
    const res = await t.request({
      method: 'POST',
      url: `/api/v2/customer-accounts/${id}/actions`,
      key: b.key,
      headers,
      payload: action,
    });
    expectError(res, 404, 'NotFoundError');
    expect(await snapshot(id)).toEqual(before);
    // A using the same key and body gets its own, real result.
    const mine = await t.request({
      method: 'POST',
      url: `/api/v2/customer-accounts/${id}/actions`,
      key: a.key,
      headers,
      payload: action,
    });
    expect(mine.statusCode).toBe(200);
    expect(mine.headers['idempotent-replayed']).toBeUndefined();
  });

  it('B cannot replay A’s Idempotency-Key response', async () => {
    const headers = { 'idempotency-key': 'a-create-key' };
    const mine = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: a.key,
      headers,
      payload: geoff,
    });
    expect(mine.statusCode).toBe(201);

    // Same key, same body: B gets a new account of its own, not A's stored response.
    const replayAttempt = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: b.key,
      headers,
      payload: geoff,
    });
    expect(replayAttempt.statusCode).toBe(201);
    expect(replayAttempt.headers['idempotent-replayed']).toBeUndefined();
    expect(replayAttempt.json().identifier).not.toBe(mine.json().identifier);
    expect(replayAttempt.headers.location).not.toBe(mine.headers.location);

    // Same key, another body: not a 422 for B either (keys are per broker).
    const other = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: b.key,
      headers: { 'idempotency-key': 'a-create-key-2' },
      payload: geoff,
    });
    expect(other.statusCode).toBe(201);
    const aSecond = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: a.key,
      headers: { 'idempotency-key': 'a-create-key-2' },
      payload: { ...geoff, customer: { ...geoff.customer, givenName: 'Other' } },
    });
    expect(aSecond.statusCode).toBe(201);

    // A's own replay still works and B's account is B's.
    const again = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: a.key,
      headers,
      payload: geoff,
    });
    expect(again.body).toBe(mine.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const bOwn = replayAttempt.json().identifier as string;
    expect((await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${bOwn}`, key: b.key })).statusCode).toBe(
      200,
    );
    expectError(
      await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${bOwn}`, key: a.key }),
      404,
      'NotFoundError',
    );
  });
});
