import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectErrorShape, type ErrorBodyJson } from '../../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';

/**
 * Random bodies against create and both update forms: the API must never answer 5xx, every
 * rejection must be an OpenActive error object, and a rejected request must leave the stored
 * account exactly as it was (issue 2, "Bad input and isolation").
 */

let t: TestContext;
let broker: { key: string; brokerId: number };
beforeAll(async () => {
  // Thousands of requests from one key: lift the per-key rate limit out of the way.
  t = await createTestContext({ config: { rateLimit: { max: 1_000_000, windowMs: 60_000 } } });
  broker = await t.newBroker();
});
afterAll(async () => {
  await t?.close();
});

// ---- generators ----------------------------------------------------------------------------

const special = fc.constantFrom(
  '',
  ' ',
  '\t\n',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '\u202e',
  '😀',
  'Zoë 山田',
  '<script>alert(1)</script>',
  "'; drop table customers; --",
  '%00',
  '\\u0000',
  'null',
  '1e309',
  'https://schema.org/Female',
  'schema:Male',
  'GB',
  'gb',
  'UK',
  '2023-02-30',
  '2024-02-29',
  '0000-01-01',
  '9999-12-31',
  'a@b.co',
  'not-an-email',
  'a'.repeat(201),
  '1'.repeat(51),
);
const huge = fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'é'.repeat(n));
const junkString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  special,
  huge,
);
const junkKey = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('__proto__', 'constructor', '@id', '@type', 'identifier', 'id', 'state', 'broker_id', 'email', ''),
);
const { junk } = fc.letrec<{ junk: unknown }>((tie) => ({
  junk: fc.oneof(
    { depthSize: 'small' },
    junkString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('junk'), { maxLength: 4 }),
    fc.dictionary(junkKey, tie('junk'), { maxKeys: 4 }),
  ),
}));

/** Bodies that are not JSON, or JSON nested far deeper than any schema. */
const rawBody = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.integer({ min: 1, max: 50_000 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
  fc.integer({ min: 1, max: 50_000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
);

/** Arbitrary JSON values and raw text, serialised. */
const arbitraryBody = fc.oneof(
  junk.map((v) => JSON.stringify(v) ?? 'null'),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  rawBody,
);

/** Valid values by property name, so that some mutations keep a body valid. */
const validValues: Record<string, unknown[]> = {
  email: ['someone@example.com', 'a.b+c@example.co.uk'],
  givenName: ['Ann', 'Zoë', 'x'.repeat(200)],
  familyName: ['Lee', '山田'],
  telephone: ['020 7946 0000', '+44 7700 900000'],
  birthDate: ['1990-01-01', '2024-02-29'],
  gender: ['https://schema.org/Male', 'schema:Female'],
  'imin:is13OrOver': [true, false],
  addressCountry: ['GB', 'FR', 'US'],
  postalCode: ['SW1A 1AA'],
  streetAddress: ['1 High Street'],
  name: ['Mum'],
  text: ['BARCODE-1', '0123456789'],
};

type Path = (string | number)[];
interface Mutation {
  kind: 'set' | 'delete' | 'add' | 'valid' | 'unstorable';
  at: number;
  value: unknown;
  key: string;
  pick: number;
}
const mutation = fc.record<Mutation>({
  kind: fc.constantFrom('set', 'delete', 'add', 'valid', 'unstorable'),
  at: fc.nat(),
  value: junk,
  key: junkKey,
  pick: fc.nat(),
});
/** Text Postgres cannot store as sent, spliced into otherwise valid values. */
const UNSTORABLE = ['\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\udc00\ud800'];

function allPaths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((child, i) => out.push(...allPaths(child, [...prefix, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [k, child] of Object.entries(value)) out.push(...allPaths(child, [...prefix, k]));
  }
  return out;
}

/** Sets an own property, even `__proto__`, so it is really sent. */
function put(target: object, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function mutate(body: unknown, mutations: Mutation[]): unknown {
  let root: unknown = structuredClone(body);
  for (const m of mutations) {
    const paths = allPaths(root);
    const path = paths[m.at % paths.length]!;
    if (path.length === 0) {
      if (m.kind === 'set') root = m.value;
      else if (m.kind === 'add' && root !== null && typeof root === 'object') put(root, m.key, m.value);
      continue;
    }
    const parent = path.slice(0, -1).reduce<any>((node, k) => node[k], root) as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (m.kind === 'set') put(parent, last, m.value);
    else if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (m.kind === 'add') {
      const target = parent[last];
      if (target !== null && typeof target === 'object') put(target, m.key, m.value);
      else put(parent, m.key, m.value);
    } else if (m.kind === 'unstorable') {
      const current = parent[last];
      if (typeof current === 'string') put(parent, last, `${current}${UNSTORABLE[m.pick % UNSTORABLE.length]}`);
    } else {
      const pool = validValues[String(last)];
      if (pool) put(parent, last, pool[m.pick % pool.length]);
    }
  }
  return root;
}

const mutated = (valid: unknown) =>
  fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => JSON.stringify(mutate(valid, ms)) ?? 'null');

// ---- valid starting points -------------------------------------------------------------------

const person = {
  '@type': 'Person',
  email: 'geoffcapes@example.com',
  telephone: '020 811 8055',
  givenName: 'Geoff',
  familyName: 'Capes',
  birthDate: '1970-01-01',
  gender: 'https://schema.org/Female',
  'imin:is13OrOver': true,
  address: {
    '@type': 'PostalAddress',
    streetAddress: '46A West Barnes Lane',
    addressLocality: 'New Malden',
    addressRegion: 'London',
    postalCode: 'NW5 3DU',
    addressCountry: 'GB',
  },
  emergencyContact: { '@type': 'Person', name: 'Ralph Capes', telephone: '020 811 8055' },
};
const canonical = { '@context': 'https://openactive.io/', '@type': 'CustomerAccount', customer: person };
const flat = {
  '@context': 'https://openactive.io/',
  type: 'Person',
  ...Object.fromEntries(Object.entries(person).filter(([k]) => k !== '@type')),
};
const { '@type': _personType, 'imin:is13OrOver': _is13, ...updatable } = person;
const updateAction = {
  '@context': 'https://openactive.io/',
  '@type': 'CustomerUpdateAction',
  object: { '@type': 'Person', ...updatable, email: 'geoff.updated@example.com' },
  seller: ['https://id.example.com/organizers/1'],
};
const accessPassAction = {
  '@context': 'https://openactive.io/',
  '@type': 'imin:AccessPassUpdateAction',
  object: { '@type': 'Barcode', text: 'ABC123DEF' },
};
const flatPatch = { email: 'louis_new_email@imin.co', telephone: null, address: { addressCountry: 'IE' } };

// ---- checks ----------------------------------------------------------------------------------

function send(method: 'POST' | 'PATCH', url: string, payload: string): Promise<LightMyRequestResponse> {
  return t.request({ method, url, key: broker.key, headers: { 'content-type': 'application/json' }, payload });
}

function expectHandled(res: LightMyRequestResponse, payload: string): boolean {
  const context = `${res.statusCode} for ${payload.slice(0, 300)}: ${res.body.slice(0, 500)}`;
  expect(res.statusCode, context).toBeLessThan(500);
  if (res.statusCode >= 200 && res.statusCode < 300) return true;
  expect(res.statusCode, context).toBeGreaterThanOrEqual(400);
  expectErrorShape(res.json<ErrorBodyJson>(), res);
  return false;
}

async function countAccounts(): Promise<number> {
  const row = await t.deps.database.db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('broker_id', '=', broker.brokerId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function checkCreate(payload: string): Promise<void> {
  const before = await countAccounts();
  const res = await send('POST', '/api/v2/customer-accounts', payload);
  if (expectHandled(res, payload)) {
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.identifier).toMatch(/^[A-Za-z0-9]{10}$/);
    expect(res.headers.location).toBe(`/api/v2/customer-accounts/${body.identifier}`);
    const got = await t.request({ method: 'GET', url: res.headers.location, key: broker.key });
    expect(got.statusCode).toBe(200);
    if ('customer' in body) expect(got.json()).toStrictEqual(body);
    expect(await countAccounts()).toBe(before + 1);
  } else {
    expect(await countAccounts()).toBe(before);
  }
}

/** The account under update: its API view and its stored row (update time included). */
let target: string;
let reference: string;
async function snapshot(): Promise<string> {
  const got = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${target}`, key: broker.key });
  expect(got.statusCode).toBe(200);
  const row = await t.deps.database.db
    .selectFrom('customers')
    .selectAll()
    .where('identifier', '=', target)
    .executeTakeFirstOrThrow();
  return `${got.body}\n${JSON.stringify(row)}`;
}

async function checkUpdate(form: 'actions' | 'patch', payload: string): Promise<void> {
  const res =
    form === 'actions'
      ? await send('POST', `/api/v2/customer-accounts/${target}/actions`, payload)
      : await send('PATCH', `/api/v2/customer-accounts/${target}`, payload);
  if (expectHandled(res, payload)) {
    expect(res.statusCode).toBe(200);
    reference = await snapshot();
  } else {
    expect(await snapshot(), `unchanged after ${res.statusCode} for ${payload.slice(0, 300)}`).toBe(reference);
  }
}

const TIMEOUT = 120_000;

describe('create: random bodies (≥ 1,000)', () => {
  it(
    'arbitrary JSON values and raw text (300)',
    async () => {
      await fc.assert(fc.asyncProperty(arbitraryBody, checkCreate), { numRuns: 300 });
    },
    TIMEOUT,
  );
  it(
    'mutated canonical bodies (400)',
    async () => {
      await fc.assert(fc.asyncProperty(mutated(canonical), checkCreate), { numRuns: 400 });
    },
    TIMEOUT,
  );
  it(
    'mutated flat bodies (300)',
    async () => {
      await fc.assert(fc.asyncProperty(mutated(flat), checkCreate), { numRuns: 300 });
    },
    TIMEOUT,
  );
});

describe('update an existing account: random bodies (≥ 1,000)', () => {
  beforeAll(async () => {
    const res = await send('POST', '/api/v2/customer-accounts', JSON.stringify(canonical));
    expect(res.statusCode).toBe(201);
    target = res.json().identifier;
    reference = await snapshot();
  });

  it(
    'arbitrary JSON values and raw text at /actions and PATCH (250 × 2)',
    async () => {
      await fc.assert(
        fc.asyncProperty(arbitraryBody, async (payload) => {
          await checkUpdate('actions', payload);
          await checkUpdate('patch', payload);
        }),
        { numRuns: 250 },
      );
    },
    TIMEOUT,
  );
  it(
    'mutated CustomerUpdateAction bodies (300)',
    async () => {
      await fc.assert(
        fc.asyncProperty(mutated(updateAction), (p) => checkUpdate('actions', p)),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );
  it(
    'mutated imin:AccessPassUpdateAction bodies (100)',
    async () => {
      await fc.assert(
        fc.asyncProperty(mutated(accessPassAction), (p) => checkUpdate('actions', p)),
        { numRuns: 100 },
      );
    },
    TIMEOUT,
  );
  it(
    'mutated flat PATCH bodies (300)',
    async () => {
      await fc.assert(
        fc.asyncProperty(mutated(flatPatch), (p) => checkUpdate('patch', p)),
        { numRuns: 300 },
      );
    },
    TIMEOUT,
  );
});
