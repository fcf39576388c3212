import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { fixedClock } from '../../lib/clock.js';

// A fixed "now" so "birthDate not in the future" has an exact boundary (2026-06-15).
const clock = fixedClock(new Date('2026-06-15T10:00:00Z'));
const BASE = 'http://activehub.test';
const COMPLETED = 'https://schema.org/CompletedActionStatus';

let t: TestContext;
let key: string;
beforeAll(async () => {
  t = await createTestContext({ clock });
  ({ key } = await t.newBroker());
});
afterAll(async () => {
  await t?.close();
});

const geoffPerson = {
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
    streetAddress: 'Raynes Park High School, 46A West Barnes Lane',
    addressLocality: 'New Malden',
    addressRegion: 'London',
    postalCode: 'NW5 3DU',
    addressCountry: 'GB',
  },
  emergencyContact: { '@type': 'Person', name: 'Ralph Capes', telephone: '020 811 8055' },
};

/** imin-booking §2.1's request example. */
const geoff = { '@context': 'https://openactive.io/', '@type': 'CustomerAccount', customer: geoffPerson };

/** The Example Scenario's flat create body (imin-booking §2.5 step 1). */
const louis = { email: 'louis@imin.co', givenName: 'Louis', familyName: 'Wu', 'imin:is13OrOver': false };

type Headers = Record<string, string>;
const create = (payload: unknown, headers: Headers = {}, k = key) =>
  t.request({ method: 'POST', url: '/api/v2/customer-accounts', key: k, payload: payload as object, headers });
const get = (id: string, k = key) => t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}`, key: k });
const act = (id: string, payload: unknown, headers: Headers = {}, k = key) =>
  t.request({
    method: 'POST',
    url: `/api/v2/customer-accounts/${id}/actions`,
    key: k,
    payload: payload as object,
    headers,
  });
const patch = (id: string, payload: unknown, k = key) =>
  t.request({ method: 'PATCH', url: `/api/v2/customer-accounts/${id}`, key: k, payload: payload as object });
const del = (id: string, k = key) => t.request({ method: 'DELETE', url: `/api/v2/customer-accounts/${id}`, key: k });
const exportOf = (id: string, k = key) =>
  t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}/export`, key: k });

async function createAccount(payload: unknown = geoff, k = key): Promise<string> {
  const res = await create(payload, {}, k);
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ identifier: string }>().identifier;
}

async function countForBroker(brokerId: number): Promise<number> {
  const row = await t.deps.database.db
    .selectFrom('customers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('broker_id', '=', brokerId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Expects a 400 BadRequestError whose field errors are exactly `fieldErrors`. */
function expectFieldErrors(res: Awaited<ReturnType<typeof create>>, fieldErrors: { path: string; message: string }[]) {
  const body = expectError(res, 400, 'BadRequestError');
  expect(body['activehub:fieldErrors']).toEqual(fieldErrors);
}

const withCustomer = (changes: Record<string, unknown>) => ({ ...geoff, customer: { ...geoffPerson, ...changes } });
const withAddress = (changes: Record<string, unknown>) =>
  withCustomer({ address: { ...geoffPerson.address, ...changes } });
const without = <T extends object>(value: T, field: string): T => {
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  delete copy[field];
  return copy as T;
};

const GENDER_MESSAGE =
  'must be one of "https://schema.org/Female", "https://schema.org/Male", "schema:Female", "schema:Male"';
const COUNTRY_MESSAGE = 'must be an ISO 3166-1 alpha-2 country code, e.g. "GB"';
const NAME_SPACE_MESSAGE = 'must contain a non-space character (1-200 characters)';
const DATE_MESSAGE = 'must be a real date in the form YYYY-MM-DD';

describe('create', () => {
  it('creates (canonical form) and gets an account: the request echoed with @id and identifier', async () => {
    const res = await create(geoff);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.identifier).toMatch(/^[A-Za-z0-9]{10}$/);
    expect(res.headers.location).toBe(`/api/v2/customer-accounts/${body.identifier}`);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(body).toStrictEqual({
      ...geoff,
      '@id': `${BASE}/api/v2/customer-accounts/${body.identifier}`,
      identifier: body.identifier,
    });

    const got = await get(body.identifier);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toStrictEqual(body);
  });

  it('creates with only the required fields and omits every absent one (no nulls)', async () => {
    const minimal = {
      '@context': 'https://openactive.io/',
      '@type': 'CustomerAccount',
      customer: { '@type': 'Person', email: 'min@example.com', givenName: 'Min', familyName: 'Imal' },
    };
    const res = await create(minimal);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toStrictEqual({
      ...minimal,
      '@id': `${BASE}/api/v2/customer-accounts/${body.identifier}`,
      identifier: body.identifier,
    });
    expect((await get(body.identifier)).json()).toStrictEqual(body);
  });

  it('accepts the flat form of the Example Scenario and answers in that form (imin-booking §2.5)', async () => {
    const res = await create(louis);
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toStrictEqual({
      type: 'Person',
      email: 'louis@imin.co',
      givenName: 'Louis',
      familyName: 'Wu',
      'imin:is13OrOver': false,
      identifier: body.identifier,
      id: `${BASE}/api/v2/customer-accounts/${body.identifier}`,
    });
    expect(body.identifier).toMatch(/^[A-Za-z0-9]{10}$/);
    expect(res.headers.location).toBe(`/api/v2/customer-accounts/${body.identifier}`);

    // Get always answers in the canonical form.
    const got = await get(body.identifier);
    expect(got.json()).toStrictEqual({
      '@context': 'https://openactive.io/',
      '@type': 'CustomerAccount',
      '@id': body.id,
      identifier: body.identifier,
      customer: {
        '@type': 'Person',
        email: 'louis@imin.co',
        givenName: 'Louis',
        familyName: 'Wu',
        'imin:is13OrOver': false,
      },
    });
  });

  it('accepts the flat form with every optional field, @context and type', async () => {
    const { '@type': _type, ...person } = geoffPerson;
    const res = await create({ '@context': 'https://openactive.io/', type: 'Person', ...person });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toStrictEqual({
      type: 'Person',
      ...person,
      identifier: body.identifier,
      id: `${BASE}/api/v2/customer-accounts/${body.identifier}`,
    });
  });

  it('accepts application/ld+json bodies', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key,
      headers: { 'content-type': 'application/ld+json' },
      payload: JSON.stringify(louis),
    });
    expect(res.statusCode).toBe(201);
  });

  it('normalises the schema: short forms of gender', async () => {
    const female = await create(withCustomer({ gender: 'schema:Female' }));
    expect(female.statusCode).toBe(201);
    expect(female.json().customer.gender).toBe('https://schema.org/Female');
    expect((await get(female.json().identifier)).json().customer.gender).toBe('https://schema.org/Female');

    const male = await create({ ...louis, gender: 'schema:Male' });
    expect(male.statusCode).toBe(201);
    expect(male.json().gender).toBe('https://schema.org/Male');
  });

  it('gives each account a new identifier and does not make emails unique (families share one)', async () => {
    const { key: k, brokerId } = await t.newBroker();
    const a = await createAccount(louis, k);
    const b = await createAccount(louis, k);
    expect(a).not.toBe(b);
    expect(await countForBroker(brokerId)).toBe(2);
  });

  it('accepts the boundaries: 1- and 200-character names, a 50-character telephone, birthDate today, a leap day', async () => {
    for (const changes of [
      { givenName: 'A', familyName: 'x'.repeat(200) },
      { telephone: '1'.repeat(50) },
      { birthDate: '2026-06-15' },
      { birthDate: '2024-02-29' },
      { givenName: '  Zoë  ', familyName: 'Ōtsuka-Ñúñez 山田' },
    ]) {
      const res = await create(withCustomer(changes));
      expect(res.statusCode, JSON.stringify(changes)).toBe(201);
      expect(res.json().customer).toMatchObject(changes);
    }
  });
});

describe('create: validation (DECISIONS §4)', () => {
  const cases: [string, unknown, { path: string; message: string }[]][] = [
    [
      'email syntax',
      withCustomer({ email: 'not-an-email' }),
      [{ path: '/customer/email', message: 'must be an email address' }],
    ],
    [
      'email with spaces',
      withCustomer({ email: 'geoff capes@example.com' }),
      [{ path: '/customer/email', message: 'must be an email address' }],
    ],
    [
      'email missing',
      { ...geoff, customer: without(geoffPerson, 'email') },
      [{ path: '/customer/email', message: 'is required' }],
    ],
    [
      'givenName empty',
      withCustomer({ givenName: '' }),
      [{ path: '/customer/givenName', message: 'must not be empty' }],
    ],
    [
      'givenName whitespace',
      withCustomer({ givenName: ' \t ' }),
      [{ path: '/customer/givenName', message: NAME_SPACE_MESSAGE }],
    ],
    [
      'familyName 201 characters',
      withCustomer({ familyName: 'x'.repeat(201) }),
      [{ path: '/customer/familyName', message: 'must be at most 200 characters' }],
    ],
    [
      'familyName missing',
      { ...geoff, customer: without(geoffPerson, 'familyName') },
      [{ path: '/customer/familyName', message: 'is required' }],
    ],
    [
      'birthDate not a real date',
      withCustomer({ birthDate: '2023-02-30' }),
      [{ path: '/customer/birthDate', message: DATE_MESSAGE }],
    ],
    [
      'birthDate 29 Feb in a common year',
      withCustomer({ birthDate: '2023-02-29' }),
      [{ path: '/customer/birthDate', message: DATE_MESSAGE }],
    ],
    [
      'birthDate not ISO',
      withCustomer({ birthDate: '15/06/1990' }),
      [{ path: '/customer/birthDate', message: DATE_MESSAGE }],
    ],
    [
      'birthDate a date-time',
      withCustomer({ birthDate: '1990-06-15T00:00:00Z' }),
      [{ path: '/customer/birthDate', message: DATE_MESSAGE }],
    ],
    [
      'birthDate year 0',
      withCustomer({ birthDate: '0000-01-01' }),
      [{ path: '/customer/birthDate', message: DATE_MESSAGE }],
    ],
    [
      'birthDate tomorrow',
      withCustomer({ birthDate: '2026-06-16' }),
      [{ path: '/customer/birthDate', message: 'must not be in the future' }],
    ],
    [
      'gender not allowed',
      withCustomer({ gender: 'https://schema.org/Other' }),
      [{ path: '/customer/gender', message: GENDER_MESSAGE }],
    ],
    ['gender bare word', withCustomer({ gender: 'female' }), [{ path: '/customer/gender', message: GENDER_MESSAGE }]],
    [
      'addressCountry unknown code',
      withAddress({ addressCountry: 'XX' }),
      [{ path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'addressCountry lower case',
      withAddress({ addressCountry: 'gb' }),
      [{ path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'addressCountry alpha-3',
      withAddress({ addressCountry: 'GBR' }),
      [{ path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    // Reserved or withdrawn codes are not ISO 3166-1 country codes, though Intl knows names for them.
    [
      'addressCountry UK (reserved)',
      withAddress({ addressCountry: 'UK' }),
      [{ path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'addressCountry SU (withdrawn)',
      withAddress({ addressCountry: 'SU' }),
      [{ path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'addressCountry EU (not a country)',
      withAddress({ addressCountry: 'EU' }),
      [{ path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'telephone 51 characters',
      withCustomer({ telephone: '1'.repeat(51) }),
      [{ path: '/customer/telephone', message: 'must be at most 50 characters' }],
    ],
    [
      'unknown property, top level',
      { ...geoff, nickname: 'G' },
      [{ path: '/nickname', message: 'is not an allowed property' }],
    ],
    [
      'unknown property in customer',
      withCustomer({ nickname: 'G' }),
      [{ path: '/customer/nickname', message: 'is not an allowed property' }],
    ],
    [
      'unknown property in address',
      withAddress({ county: 'Surrey' }),
      [{ path: '/customer/address/county', message: 'is not an allowed property' }],
    ],
    [
      'unknown property in emergencyContact',
      withCustomer({ emergencyContact: { ...geoffPerson.emergencyContact, relationship: 'brother' } }),
      [{ path: '/customer/emergencyContact/relationship', message: 'is not an allowed property' }],
    ],
    ['wrong @type', { ...geoff, '@type': 'Customer' }, [{ path: '/@type', message: 'must be "CustomerAccount"' }]],
    [
      'wrong customer @type',
      withCustomer({ '@type': 'Organization' }),
      [{ path: '/customer/@type', message: 'must be "Person"' }],
    ],
    [
      'wrong address @type',
      withAddress({ '@type': 'Place' }),
      [{ path: '/customer/address/@type', message: 'must be "PostalAddress"' }],
    ],
    ['@context missing', without(geoff, '@context'), [{ path: '/@context', message: 'is required' }]],
    ['email not a string', withCustomer({ email: 42 }), [{ path: '/customer/email', message: 'must be a string' }]],
    [
      'is13OrOver not a boolean',
      withCustomer({ 'imin:is13OrOver': 'yes' }),
      [{ path: '/customer/imin:is13OrOver', message: 'must be true or false' }],
    ],
    [
      'address not an object',
      withCustomer({ address: '1 High St' }),
      [{ path: '/customer/address', message: 'must be an object' }],
    ],
    [
      'givenName with a NUL character',
      withCustomer({ givenName: 'Ge\u0000off' }),
      [{ path: '/customer/givenName', message: 'must not contain NUL characters or unpaired surrogates' }],
    ],
    [
      'address with a NUL character',
      withAddress({ streetAddress: '1\u0000High St' }),
      [{ path: '/customer/address/streetAddress', message: 'must not contain NUL characters or unpaired surrogates' }],
    ],
    [
      'familyName with an unpaired surrogate',
      withCustomer({ familyName: 'Capes\ud800' }),
      [{ path: '/customer/familyName', message: 'must not contain NUL characters or unpaired surrogates' }],
    ],
    [
      'several problems at once',
      withCustomer({ email: 'nope', birthDate: '1990-13-01', gender: 'x', telephone: 7 }),
      [
        { path: '/customer/email', message: 'must be an email address' },
        { path: '/customer/telephone', message: 'must be a string' },
        { path: '/customer/birthDate', message: DATE_MESSAGE },
        { path: '/customer/gender', message: GENDER_MESSAGE },
      ],
    ],
    [
      'future birthDate and unknown country together',
      withCustomer({ birthDate: '2099-01-01', address: { addressCountry: 'XX' } }),
      [
        { path: '/customer/birthDate', message: 'must not be in the future' },
        { path: '/customer/address/addressCountry', message: COUNTRY_MESSAGE },
      ],
    ],
    ['flat: email syntax', { ...louis, email: 'louis' }, [{ path: '/email', message: 'must be an email address' }]],
    [
      'flat: unknown property',
      { ...louis, nickname: 'Lou' },
      [{ path: '/nickname', message: 'is not an allowed property' }],
    ],
    ['flat: wrong @type', { ...louis, '@type': 'Organization' }, [{ path: '/@type', message: 'must be "Person"' }]],
    [
      'flat: whitespace familyName',
      { ...louis, familyName: '   ' },
      [{ path: '/familyName', message: NAME_SPACE_MESSAGE }],
    ],
    [
      'flat: birthDate in the future',
      { ...louis, birthDate: '2030-01-01' },
      [{ path: '/birthDate', message: 'must not be in the future' }],
    ],
    [
      'flat: unknown nested property',
      { ...louis, address: { addressCountry: 'GB', flat: 3 } },
      [{ path: '/address/flat', message: 'is not an allowed property' }],
    ],
  ];

  it.each(cases)('rejects %s with a field error and creates nothing', async (_name, body, fieldErrors) => {
    const { key: k, brokerId } = await t.newBroker();
    expectFieldErrors(await create(body, {}, k), fieldErrors);
    expect(await countForBroker(brokerId)).toBe(0);
  });

  it('rejects a body that is not an object', async () => {
    for (const body of ['[]', '"geoff"', '42', 'null', 'true']) {
      const res = await t.request({
        method: 'POST',
        url: '/api/v2/customer-accounts',
        key,
        headers: { 'content-type': 'application/json' },
        payload: body,
      });
      const err = expectError(res, 400, 'BadRequestError');
      expect(err['activehub:fieldErrors']?.[0]?.path, body).toBe('/');
    }
  });
});

describe('update with actions (imin-booking §2.2, §2.9)', () => {
  it('applies a partial CustomerUpdateAction and returns only the updated properties', async () => {
    const id = await createAccount();
    const res = await act(id, {
      '@context': 'https://openactive.io/',
      '@type': 'CustomerUpdateAction',
      object: { '@type': 'Person', email: 'geoff.new@example.com', telephone: '07700 900000' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toStrictEqual({
      '@context': 'https://openactive.io/',
      '@type': 'CustomerUpdateAction',
      actionStatus: COMPLETED,
      object: { '@type': 'Person', email: 'geoff.new@example.com', telephone: '07700 900000' },
    });
    const got = (await get(id)).json();
    expect(got.customer).toStrictEqual({ ...geoffPerson, email: 'geoff.new@example.com', telephone: '07700 900000' });
  });

  it('applies the documented example update (every field) and normalises gender', async () => {
    const id = await createAccount(louis);
    const { 'imin:is13OrOver': _is13, ...object } = { ...geoffPerson, gender: 'schema:Male' };
    const res = await act(id, { '@context': 'https://openactive.io/', '@type': 'CustomerUpdateAction', object });
    expect(res.statusCode).toBe(200);
    expect(res.json().object).toStrictEqual({ ...object, gender: 'https://schema.org/Male' });
    expect((await get(id)).json().customer).toStrictEqual({
      ...object,
      gender: 'https://schema.org/Male',
      'imin:is13OrOver': false,
    });
  });

  it('reports each listed seller it could not update in `error` (no linked accounts yet)', async () => {
    const id = await createAccount();
    const sellers = ['https://id.bookingsystem.example.com/organizers/1', 'https://id.example.org/sellers/2'];
    const res = await act(id, { '@type': 'CustomerUpdateAction', object: { givenName: 'Geoffrey' }, seller: sellers });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.object).toStrictEqual({ '@type': 'Person', givenName: 'Geoffrey' });
    expect(body.error).toHaveLength(2);
    body.error.forEach((e: Record<string, unknown>, i: number) => {
      expect(e).toStrictEqual({
        '@context': 'https://openactive.io/',
        '@type': 'NotLinkedError',
        name: expect.any(String),
        seller: { '@id': sellers[i] },
      });
    });
    expect((await get(id)).json().customer.givenName).toBe('Geoffrey');
  });

  it('clears optional fields set to null', async () => {
    const id = await createAccount();
    const res = await act(id, {
      '@type': 'CustomerUpdateAction',
      object: { telephone: null, address: null, familyName: 'Capes-Smith' },
    });
    expect(res.statusCode).toBe(200);
    const customer = (await get(id)).json().customer;
    expect(customer).toStrictEqual({
      ...without(without(geoffPerson, 'telephone'), 'address'),
      familyName: 'Capes-Smith',
    });
  });

  it('stores an access pass (imin:AccessPassUpdateAction) that Get then returns', async () => {
    const id = await createAccount();
    const res = await act(id, {
      '@context': 'https://openactive.io/',
      '@type': 'imin:AccessPassUpdateAction',
      object: { '@type': 'Barcode', text: 'ABC123DEF' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toStrictEqual({
      '@context': 'https://openactive.io/',
      '@type': 'imin:AccessPassUpdateAction',
      actionStatus: COMPLETED,
      object: { '@type': 'Barcode', text: 'ABC123DEF' },
    });
    const got = (await get(id)).json();
    expect(got.accessPass).toStrictEqual({ '@type': 'Barcode', text: 'ABC123DEF' });
    expect(got.customer).toStrictEqual(geoffPerson);

    // Setting it again replaces it.
    expect(
      (await act(id, { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'XYZ' } }))
        .statusCode,
    ).toBe(200);
    expect((await get(id)).json().accessPass).toStrictEqual({ '@type': 'Barcode', text: 'XYZ' });
  });

  const actionCases: [string, unknown, { path: string; message: string }[]][] = [
    [
      'no fields to update',
      { '@type': 'CustomerUpdateAction', object: { '@type': 'Person' } },
      [{ path: '/object', message: 'must contain at least one field to update' }],
    ],
    [
      'empty object',
      { '@type': 'CustomerUpdateAction', object: {} },
      [{ path: '/object', message: 'must contain at least one field to update' }],
    ],
    ['object missing', { '@type': 'CustomerUpdateAction' }, [{ path: '/object', message: 'is required' }]],
    [
      'bad email',
      { '@type': 'CustomerUpdateAction', object: { email: 'geoff@' } },
      [{ path: '/object/email', message: 'must be an email address' }],
    ],
    [
      'whitespace givenName',
      { '@type': 'CustomerUpdateAction', object: { givenName: '   ' } },
      [{ path: '/object/givenName', message: NAME_SPACE_MESSAGE }],
    ],
    [
      'clearing a required field',
      { '@type': 'CustomerUpdateAction', object: { familyName: null } },
      [{ path: '/object/familyName', message: 'must be a string' }],
    ],
    [
      'birthDate in the future',
      { '@type': 'CustomerUpdateAction', object: { birthDate: '2027-01-01' } },
      [{ path: '/object/birthDate', message: 'must not be in the future' }],
    ],
    [
      'birthDate not real',
      { '@type': 'CustomerUpdateAction', object: { birthDate: '2023-02-30' } },
      [{ path: '/object/birthDate', message: DATE_MESSAGE }],
    ],
    [
      'gender not allowed',
      { '@type': 'CustomerUpdateAction', object: { gender: 'https://schema.org/Unknown' } },
      [{ path: '/object/gender', message: GENDER_MESSAGE }],
    ],
    [
      'addressCountry not a country',
      { '@type': 'CustomerUpdateAction', object: { address: { addressCountry: 'XX' } } },
      [{ path: '/object/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'telephone too long',
      { '@type': 'CustomerUpdateAction', object: { telephone: '0'.repeat(51) } },
      [{ path: '/object/telephone', message: 'must be at most 50 characters' }],
    ],
    [
      'unknown property in object',
      { '@type': 'CustomerUpdateAction', object: { nickname: 'G' } },
      [{ path: '/object/nickname', message: 'is not an allowed property' }],
    ],
    [
      'unknown property at top level',
      { '@type': 'CustomerUpdateAction', object: { givenName: 'G' }, extra: 1 },
      [{ path: '/extra', message: 'is not an allowed property' }],
    ],
    [
      'unknown @type',
      { '@type': 'CustomerDeleteAction', object: { givenName: 'G' } },
      [{ path: '/@type', message: 'must be "CustomerUpdateAction"' }],
    ],
    [
      'seller not a URL',
      { '@type': 'CustomerUpdateAction', object: { givenName: 'G' }, seller: ['acme'] },
      [{ path: '/seller/0', message: 'must be an absolute URL' }],
    ],
    [
      'several problems at once',
      { '@type': 'CustomerUpdateAction', object: { email: 'x', telephone: 5, gender: 'x' } },
      [
        { path: '/object/email', message: 'must be an email address' },
        { path: '/object/telephone', message: 'must be a string' },
        { path: '/object/gender', message: GENDER_MESSAGE },
      ],
    ],
    [
      'access pass without text',
      { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode' } },
      [{ path: '/object/text', message: 'is required' }],
    ],
    [
      'access pass empty',
      { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: '' } },
      [{ path: '/object/text', message: 'must not be empty' }],
    ],
    [
      'access pass wrong object @type',
      { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'QRCode', text: 'A' } },
      [{ path: '/object/@type', message: 'must be "Barcode"' }],
    ],
    [
      'access pass unknown property',
      { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'A', format: 'ean' } },
      [{ path: '/object/format', message: 'is not an allowed property' }],
    ],
  ];

  it.each(actionCases)('rejects %s and leaves the account unchanged', async (_name, body, fieldErrors) => {
    const id = await createAccount();
    const before = await exportOf(id);
    expectFieldErrors(await act(id, body), fieldErrors);
    expect((await exportOf(id)).body).toBe(before.body);
  });

  it('answers 404 for an unknown account', async () => {
    const res = await act('NoSuchAcct', { '@type': 'CustomerUpdateAction', object: { givenName: 'G' } });
    expectError(res, 404, 'NotFoundError');
    const pass = await act('NoSuchAcct', {
      '@type': 'imin:AccessPassUpdateAction',
      object: { '@type': 'Barcode', text: 'A' },
    });
    expectError(pass, 404, 'NotFoundError');
  });
});

describe('update with PATCH (flat partial Person, imin-booking §2.5 step 2)', () => {
  it('changes only the fields given and answers with the flat account', async () => {
    const id = await createAccount(louis);
    const res = await patch(id, { email: 'louis_new_email@imin.co' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toStrictEqual({
      type: 'Person',
      email: 'louis_new_email@imin.co',
      givenName: 'Louis',
      familyName: 'Wu',
      'imin:is13OrOver': false,
      identifier: id,
      id: `${BASE}/api/v2/customer-accounts/${id}`,
    });
  });

  it('clears every optional field set to null and keeps the rest', async () => {
    const id = await createAccount();
    const res = await patch(id, {
      telephone: null,
      birthDate: null,
      gender: null,
      'imin:is13OrOver': null,
      address: null,
      emergencyContact: null,
    });
    expect(res.statusCode).toBe(200);
    const expected = { email: geoffPerson.email, givenName: 'Geoff', familyName: 'Capes' };
    expect(res.json()).toStrictEqual({
      type: 'Person',
      ...expected,
      identifier: id,
      id: `${BASE}/api/v2/customer-accounts/${id}`,
    });
    expect((await get(id)).json().customer).toStrictEqual({ '@type': 'Person', ...expected });
  });

  it('sets optional fields that were absent, normalising gender', async () => {
    const id = await createAccount(louis);
    const res = await patch(id, {
      telephone: '01234 567890',
      gender: 'schema:Female',
      address: { addressCountry: 'IE' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      telephone: '01234 567890',
      gender: 'https://schema.org/Female',
      address: { '@type': 'PostalAddress', addressCountry: 'IE' },
    });
  });

  const patchCases: [string, unknown, { path: string; message: string }[]][] = [
    ['no fields', {}, [{ path: '/', message: 'must contain at least one field to update' }]],
    [
      'only type markers',
      { type: 'Person', '@context': 'https://openactive.io/' },
      [{ path: '/', message: 'must contain at least one field to update' }],
    ],
    ['bad email', { email: 'louis' }, [{ path: '/email', message: 'must be an email address' }]],
    ['clearing email', { email: null }, [{ path: '/email', message: 'must be a string' }]],
    ['clearing givenName', { givenName: null }, [{ path: '/givenName', message: 'must be a string' }]],
    ['empty familyName', { familyName: '' }, [{ path: '/familyName', message: 'must not be empty' }]],
    [
      '201-character givenName',
      { givenName: 'g'.repeat(201) },
      [{ path: '/givenName', message: 'must be at most 200 characters' }],
    ],
    [
      'telephone too long',
      { telephone: '0'.repeat(51) },
      [{ path: '/telephone', message: 'must be at most 50 characters' }],
    ],
    ['birthDate not real', { birthDate: '2023-02-30' }, [{ path: '/birthDate', message: DATE_MESSAGE }]],
    [
      'birthDate in the future',
      { birthDate: '2026-06-16' },
      [{ path: '/birthDate', message: 'must not be in the future' }],
    ],
    ['gender not allowed', { gender: 'm' }, [{ path: '/gender', message: GENDER_MESSAGE }]],
    [
      'country lower case',
      { address: { addressCountry: 'gb' } },
      [{ path: '/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    [
      'country unknown',
      { address: { addressCountry: 'XX' } },
      [{ path: '/address/addressCountry', message: COUNTRY_MESSAGE }],
    ],
    ['unknown property', { nickname: 'Lou' }, [{ path: '/nickname', message: 'is not an allowed property' }]],
    [
      'unknown nested property',
      { emergencyContact: { name: 'Mum', email: 'mum@example.com' } },
      [{ path: '/emergencyContact/email', message: 'is not an allowed property' }],
    ],
    [
      'wrong @type',
      { '@type': 'CustomerAccount', email: 'a@example.com' },
      [{ path: '/@type', message: 'must be "Person"' }],
    ],
    [
      'several problems at once',
      { telephone: 5, birthDate: 7, gender: 'x' },
      [
        { path: '/telephone', message: 'must be a string' },
        { path: '/birthDate', message: 'must be a string' },
        { path: '/gender', message: GENDER_MESSAGE },
      ],
    ],
  ];

  it.each(patchCases)('rejects %s and leaves the account unchanged', async (_name, body, fieldErrors) => {
    const id = await createAccount();
    const before = await exportOf(id);
    expectFieldErrors(await patch(id, body), fieldErrors);
    expect((await exportOf(id)).body).toBe(before.body);
  });

  it('answers 404 for an unknown account', async () => {
    expectError(await patch('NoSuchAcct', { email: 'a@example.com' }), 404, 'NotFoundError');
  });
});

describe('get', () => {
  it('answers 404 NotFoundError for an unknown identifier', async () => {
    const body = expectError(await get('NoSuchAcct'), 404, 'NotFoundError');
    expect(body.description).toContain('NoSuchAcct');
  });

  it('answers 400 for an identifier longer than 64 characters', async () => {
    const body = expectError(await get('a'.repeat(65)), 400, 'BadRequestError');
    expect(body['activehub:fieldErrors']).toEqual([{ path: '/id', message: 'must be at most 64 characters' }]);
  });

  it('answers 400, not 500, for a NUL character in the identifier', async () => {
    const body = expectError(await get('%00'), 400, 'BadRequestError');
    expect(body['activehub:fieldErrors']?.[0]?.path).toBe('/id');
  });
});

describe('delete (imin-booking §2.4) and export', () => {
  it('answers 202 with no body; the account is gone at once and erased by the job', async () => {
    const id = await createAccount();
    const res = await del(id);
    expect(res.statusCode).toBe(202);
    expect(res.body).toBe('');

    for (const r of [
      await get(id),
      await exportOf(id),
      await patch(id, { givenName: 'Back' }),
      await act(id, { '@type': 'CustomerUpdateAction', object: { givenName: 'Back' } }),
      await del(id),
    ]) {
      expectError(r, 404, 'NotFoundError');
    }

    expect(await t.deps.jobs.runDue('customers.erase')).toBeGreaterThanOrEqual(1);
    expectError(await get(id), 404, 'NotFoundError');
    expectError(await del(id), 404, 'NotFoundError');
    const row = await t.deps.database.db
      .selectFrom('customers')
      .select(['state', 'given_name', 'family_name', 'email', 'telephone', 'address'])
      .where('identifier', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({
      state: 'erased',
      given_name: 'Deleted',
      family_name: 'Customer',
      email: `deleted-${id}@invalid`,
      telephone: null,
      address: null,
    });
  });

  it('answers 404 for an unknown identifier', async () => {
    expectError(await del('NoSuchAcct'), 404, 'NotFoundError');
  });

  it('exports everything held about the customer', async () => {
    const id = await createAccount();
    await act(id, { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'PASS-1' } });
    const res = await exportOf(id);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toStrictEqual({
      '@context': 'https://openactive.io/',
      '@type': 'activehub:CustomerDataExport',
      'activehub:exportedAt': '2026-06-15T10:00:00.000Z',
      customerAccount: (await get(id)).json(),
      'activehub:accountCreated': expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      'activehub:accountUpdated': '2026-06-15T10:00:00.000Z',
      // Nothing booked yet (test/flows/erasure-export.test.ts exports a customer with an order).
      'activehub:orders': [],
      'activehub:payments': [],
      'activehub:emails': [],
      'activehub:checkoutSessions': [],
    });
    expect(body.customerAccount.accessPass).toStrictEqual({ '@type': 'Barcode', text: 'PASS-1' });
  });

  it('export answers 404 for an unknown identifier', async () => {
    expectError(await exportOf('NoSuchAcct'), 404, 'NotFoundError');
  });
});

describe('the Example Scenario: Louis at Acme Fitness', () => {
  it('create flat → PATCH email → action update → access pass → get → delete → get 404', async () => {
    const { key: acme } = await t.newBroker();
    const created = await create(louis, {}, acme);
    expect(created.statusCode).toBe(201);
    const id: string = created.json().identifier;
    expect(created.headers.location).toBe(`/api/v2/customer-accounts/${id}`);

    const patched = await patch(id, { email: 'louis_new_email@imin.co' }, acme);
    expect(patched.statusCode).toBe(200);
    expect(patched.json().email).toBe('louis_new_email@imin.co');

    const updated = await act(
      id,
      { '@type': 'CustomerUpdateAction', object: { '@type': 'Person', telephone: '020 7946 0000' } },
      {},
      acme,
    );
    expect(updated.statusCode).toBe(200);
    expect(updated.json().object).toStrictEqual({ '@type': 'Person', telephone: '020 7946 0000' });

    const pass = await act(
      id,
      { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'LOUIS-42' } },
      {},
      acme,
    );
    expect(pass.statusCode).toBe(200);

    const got = await get(id, acme);
    expect(got.statusCode).toBe(200);
    expect(got.json()).toStrictEqual({
      '@context': 'https://openactive.io/',
      '@type': 'CustomerAccount',
      '@id': `${BASE}/api/v2/customer-accounts/${id}`,
      identifier: id,
      customer: {
        '@type': 'Person',
        email: 'louis_new_email@imin.co',
        telephone: '020 7946 0000',
        givenName: 'Louis',
        familyName: 'Wu',
        'imin:is13OrOver': false,
      },
      accessPass: { '@type': 'Barcode', text: 'LOUIS-42' },
    });

    expect((await del(id, acme)).statusCode).toBe(202);
    expectError(await get(id, acme), 404, 'NotFoundError');
    await t.deps.jobs.runDue('customers.erase');
    expectError(await get(id, acme), 404, 'NotFoundError');
  });
});

describe('Idempotency-Key (DECISIONS §4)', () => {
  it('replays the same response for the same key and body, creating one account', async () => {
    const { key: k, brokerId } = await t.newBroker();
    const headers = { 'idempotency-key': 'create-louis-1' };
    const first = await create(louis, headers, k);
    expect(first.statusCode).toBe(201);
    const second = await create(louis, headers, k);
    expect(second.statusCode).toBe(201);
    expect(second.body).toBe(first.body);
    expect(second.headers.location).toBe(first.headers.location);
    expect(second.headers['content-type']).toBe(first.headers['content-type']);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(await countForBroker(brokerId)).toBe(1);
  });

  it('answers 422 IdempotencyKeyReusedError for the same key with a different body', async () => {
    const { key: k, brokerId } = await t.newBroker();
    const headers = { 'idempotency-key': 'create-2' };
    expect((await create(louis, headers, k)).statusCode).toBe(201);
    expectError(await create({ ...louis, givenName: 'Lucy' }, headers, k), 422, 'IdempotencyKeyReusedError');
    expectError(await create(geoff, headers, k), 422, 'IdempotencyKeyReusedError');
    expect(await countForBroker(brokerId)).toBe(1);
  });

  it('keeps keys per broker: another broker with the same key gets its own account', async () => {
    const a = await t.newBroker();
    const b = await t.newBroker();
    const headers = { 'idempotency-key': 'shared-key' };
    const ra = await create(louis, headers, a.key);
    const rb = await create(louis, headers, b.key);
    expect(ra.statusCode).toBe(201);
    expect(rb.statusCode).toBe(201);
    expect(rb.headers['idempotent-replayed']).toBeUndefined();
    expect(rb.json().identifier).not.toBe(ra.json().identifier);
    // And a different body under the same key is fine for the other broker.
    const rb2 = await create(geoff, { 'idempotency-key': 'shared-key-2' }, b.key);
    expect((await create(louis, { 'idempotency-key': 'shared-key-2' }, a.key)).statusCode).toBe(201);
    expect(rb2.statusCode).toBe(201);
    expect(await countForBroker(a.brokerId)).toBe(2);
    expect(await countForBroker(b.brokerId)).toBe(2);
  });

  it('replays an action response and applies the action once', async () => {
    const id = await createAccount();
    const headers = { 'idempotency-key': `act-${id}` };
    const action = { '@type': 'CustomerUpdateAction', object: { givenName: 'Geoffrey' } };
    const first = await act(id, action, headers);
    expect(first.statusCode).toBe(200);
    const updatedBefore = (await exportOf(id)).json()['activehub:accountUpdated'];
    clock.advance(60_000);
    try {
      const second = await act(id, action, headers);
      expect(second.statusCode).toBe(200);
      expect(second.body).toBe(first.body);
      expect(second.headers['idempotent-replayed']).toBe('true');
      // Not applied again: the update time did not move.
      expect((await exportOf(id)).json()['activehub:accountUpdated']).toBe(updatedBefore);
      expectError(
        await act(id, { '@type': 'CustomerUpdateAction', object: { givenName: 'Geo' } }, headers),
        422,
        'IdempotencyKeyReusedError',
      );
    } finally {
      clock.set(new Date('2026-06-15T10:00:00Z'));
    }
  });

  it('does not let a request rejected by validation use up the key', async () => {
    const { key: k, brokerId } = await t.newBroker();
    const headers = { 'idempotency-key': 'first-try-was-bad' };
    expectError(await create({ ...louis, email: 'bad' }, headers, k), 400, 'BadRequestError');
    expect((await create(louis, headers, k)).statusCode).toBe(201);
    expect(await countForBroker(brokerId)).toBe(1);
  });

  it('stores no failure: a key whose request was refused by the checks in the service is free for the corrected request', async () => {
    const { key: k, brokerId } = await t.newBroker();
    const headers = { 'idempotency-key': 'born-in-the-future' };
    // Passes the schema, refused by the service's own checks: nothing was created.
    const refused = await create({ ...louis, birthDate: '2999-01-01' }, headers, k);
    expectError(refused, 400, 'BadRequestError');
    // The same request again is executed again (not a replay of the stored failure).
    const again = await create({ ...louis, birthDate: '2999-01-01' }, headers, k);
    expectError(again, 400, 'BadRequestError');
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    // The corrected request under the same key is executed: 201, and its success is what is kept.
    const fixed = await create(louis, headers, k);
    expect(fixed.statusCode).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    const replayed = await create(louis, headers, k);
    expect(replayed.statusCode).toBe(201);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body).toBe(fixed.body);
    expect(await countForBroker(brokerId)).toBe(1);
  });

  it('stores no 404: an action on an unknown account leaves the key free', async () => {
    const headers = { 'idempotency-key': 'act-on-unknown-then-known' };
    const action = { '@type': 'CustomerUpdateAction', object: { givenName: 'Geoffrey' } };
    expectError(await act('AAAAAAAAAA', action, headers), 404, 'NotFoundError');
    const id = await createAccount();
    // Another path is another request: with the 404 released, the key is free for it.
    const done = await act(id, action, headers);
    expect(done.statusCode).toBe(200);
    expect(done.headers['idempotent-replayed']).toBeUndefined();
  });

  it('still answers 409 to a duplicate sent while the first is running, and leaves the first its claim', async () => {
    const { key: k, brokerId } = await t.newBroker();
    const key = 'concurrent-duplicates';
    // The first request's claim, as it stands while that request runs (same route and body).
    const hash = createHash('sha256')
      .update(`POST /api/v2/customer-accounts\n${JSON.stringify(louis)}`)
      .digest('hex');
    await t.deps.database.db
      .insertInto('idempotency_keys')
      .values({
        broker_id: brokerId,
        mode: 'live',
        key,
        route: 'POST /api/v2/customer-accounts',
        request_hash: hash,
        created_at: clock.now(),
      })
      .execute();
    const duplicate = await create(louis, { 'idempotency-key': key }, k);
    expectError(duplicate, 409, 'ConflictError');
    expect(duplicate.headers['retry-after']).toBe('1');
    const claim = await t.deps.database.db
      .selectFrom('idempotency_keys')
      .select(['status_code'])
      .where('broker_id', '=', brokerId)
      .where('key', '=', key)
      .executeTakeFirst();
    expect(claim).toEqual({ status_code: null });
    expect(await countForBroker(brokerId)).toBe(0);
  });

  it('rejects a malformed key', async () => {
    for (const bad of ['has space', 'x'.repeat(256), 'naïve']) {
      const res = await create(louis, { 'idempotency-key': bad });
      const body = expectError(res, 400, 'BadRequestError');
      expect(body['activehub:fieldErrors']).toEqual([
        { path: 'Idempotency-Key', message: 'must be 1-255 visible ASCII characters' },
      ]);
    }
  });
});
