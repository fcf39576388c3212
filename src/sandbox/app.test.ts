import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxTestContext, type SandboxTestContext } from '../../test/sandbox-helpers.js';

let t: SandboxTestContext;
beforeAll(async () => {
  t = await createSandboxTestContext();
});
afterAll(async () => {
  await t.close();
});

describe('sandbox app', () => {
  it('answers an unknown Open Booking API path with UnknownOrIncorrectEndpointError in the booking media type', async () => {
    const res = await t.request({ method: 'GET', url: '/api/openbooking/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('application/vnd.openactive.booking+json; version=1');
    expect(res.json()).toMatchObject({
      '@context': 'https://openactive.io/',
      '@type': 'UnknownOrIncorrectEndpointError',
    });
  });

  it('answers other unknown paths with the same error as plain JSON', async () => {
    const res = await t.request({ method: 'POST', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()['@type']).toBe('UnknownOrIncorrectEndpointError');
  });
});
