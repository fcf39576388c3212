import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../test/helpers.js';

// Security headers on every response (issue 14 point 9): nosniff, a referrer policy, and a CSP
// that forbids framing and (for JSON) everything else; /docs gets a policy Swagger UI works under.

let t: TestContext;
let key: string;

beforeAll(async () => {
  t = await createTestContext();
  key = (await t.newBroker()).key;
});
afterAll(async () => {
  await t?.close();
});

const JSON_CSP = "default-src 'none'; frame-ancestors 'none'";

function expectCommon(res: LightMyRequestResponse): void {
  expect(res.headers['x-content-type-options'], res.body).toBe('nosniff');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
}

function cspOf(res: LightMyRequestResponse): Map<string, string> {
  const header = res.headers['content-security-policy'];
  expect(typeof header, `no CSP on ${res.raw.req.url}`).toBe('string');
  return new Map(
    String(header)
      .split(';')
      .map((d) => d.trim())
      .filter((d) => d !== '')
      .map((d) => [d.split(/\s+/)[0]!, d.slice(d.split(/\s+/)[0]!.length).trim()] as const),
  );
}

describe('security headers', () => {
  it('a JSON answer: nosniff, no referrer, nothing allowed and no framing', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key,
      payload: { email: 'a@b.example', givenName: 'A', familyName: 'B' },
    });
    expect(res.statusCode, res.body).toBe(201);
    expectCommon(res);
    expect(res.headers['content-security-policy']).toBe(JSON_CSP);
  });

  it('error answers carry them too: 404 unknown path, 404 unknown resource, 400, 401, 405, 414', async () => {
    const cases: [Promise<LightMyRequestResponse>, number, string][] = [
      [t.request({ method: 'GET', url: '/no/such/path' }), 404, 'UnknownOrIncorrectEndpointError'],
      [t.request({ method: 'GET', url: '/api/v2/customer-accounts/AAAAAAAAAA', key }), 404, 'NotFoundError'],
      [
        t.request({ method: 'POST', url: '/api/v2/customer-accounts', key, payload: { email: 'bad' } }),
        400,
        'BadRequestError',
      ],
      [t.request({ method: 'GET', url: '/api/v2/customer-accounts/AAAAAAAAAA' }), 401, 'UnauthenticatedError'],
      [t.request({ method: 'DELETE', url: '/health' }), 405, 'MethodNotAllowedError'],
      [t.request({ method: 'GET', url: `/${'x'.repeat(3000)}` }), 414, 'URITooLongError'],
    ];
    for (const [pending, status, type] of cases) {
      const res = await pending;
      expectError(res, status, type);
      expectCommon(res);
      expect(res.headers['content-security-policy']).toBe(JSON_CSP);
    }
  });

  it('/health and /openapi.json', async () => {
    for (const url of ['/health', '/openapi.json']) {
      const res = await t.request({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expectCommon(res);
      expect(res.headers['content-security-policy']).toBe(JSON_CSP);
    }
  });

  it('/docs and its assets: scripts, styles and requests from this origin only, no framing, no plugins', async () => {
    for (const url of [
      '/docs',
      '/docs/',
      '/docs/static/swagger-ui-bundle.js',
      '/docs/static/swagger-initializer.js',
      '/docs/json',
    ]) {
      const res = await t.request({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expectCommon(res);
      const csp = cspOf(res);
      expect(csp.get('default-src')).toBe("'none'");
      expect(csp.get('script-src')).toBe("'self'");
      expect(csp.get('connect-src')).toBe("'self'");
      expect(csp.get('frame-ancestors')).toBe("'none'");
      expect(csp.get('object-src') ?? csp.get('default-src')).toBe("'none'");
      expect(csp.get('base-uri')).toBe("'none'");
      expect(String(res.headers['content-security-policy'])).not.toContain("'unsafe-eval'");
    }
  });

  it("keeps the hosted checkout pages' and dev mailbox's own policies", async () => {
    const page = await t.request({
      method: 'GET',
      url: '/checkout/no-such-broker/s/00000000-0000-4000-8000-000000000000',
    });
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expectCommon(page);
    expect(page.headers['x-frame-options']).toBe('DENY');
    const csp = cspOf(page);
    expect(csp.get('style-src')).toMatch(/^'self' 'nonce-/);
    expect(csp.get('frame-ancestors')).toBe("'none'");
    const mailbox = await t.request({ method: 'GET', url: '/dev/mailbox' });
    expect(mailbox.statusCode).toBe(200);
    expect(cspOf(mailbox).get('style-src')).toBe("'unsafe-inline'");
  });
});
