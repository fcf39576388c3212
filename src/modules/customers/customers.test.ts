import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';

let t: TestContext;
beforeAll(async () => {
  t = await createTestContext();
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
  },
};

describe('customer accounts', () => {
  it('creates (canonical form) and gets an account', async () => {
    const { key } = await t.newBroker();
    const res = await t.request({ method: 'POST', url: '/api/v2/customer-accounts', key, payload: geoff });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.identifier).toMatch(/^[A-Za-z0-9]{10}$/);
    expect(body['@id']).toBe(`http://activehub.test/api/v2/customer-accounts/${body.identifier}`);
    expect(res.headers.location).toBe(`/api/v2/customer-accounts/${body.identifier}`);
    expect(body).toEqual({ ...geoff, '@id': body['@id'], identifier: body.identifier });

    const got = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${body.identifier}`, key });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual(body);
  });
});
