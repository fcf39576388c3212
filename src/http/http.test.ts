import net from 'node:net';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../test/helpers.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

let t: TestContext;
let broker: { slug: string; key: string; brokerId: number };
let customerId: string;

const louis = { email: 'louis@imin.co', givenName: 'Louis', familyName: 'Wu', 'imin:is13OrOver': false };

beforeAll(async () => {
  t = await createTestContext();
  broker = await t.newBroker();
  const res = await t.request({ method: 'POST', url: '/api/v2/customer-accounts', key: broker.key, payload: louis });
  expect(res.statusCode).toBe(201);
  customerId = res.json().identifier;
});
afterAll(async () => {
  await t?.close();
});

/** Every customer-accounts route, aimed at an account that exists, with a valid body. */
const customerRoutes = () =>
  [
    { method: 'POST', url: '/api/v2/customer-accounts', payload: louis },
    { method: 'GET', url: `/api/v2/customer-accounts/${customerId}` },
    {
      method: 'POST',
      url: `/api/v2/customer-accounts/${customerId}/actions`,
      payload: { '@type': 'CustomerUpdateAction', object: { givenName: 'Hacked' } },
    },
    { method: 'PATCH', url: `/api/v2/customer-accounts/${customerId}`, payload: { givenName: 'Hacked' } },
    { method: 'DELETE', url: `/api/v2/customer-accounts/${customerId}` },
    { method: 'GET', url: `/api/v2/customer-accounts/${customerId}/export` },
  ] as const;

/** The routes that take a body. */
const bodyRoutes = () => customerRoutes().filter((r) => 'payload' in r);

async function expectCustomerUntouched(before: string): Promise<void> {
  const now = await t.request({
    method: 'GET',
    url: `/api/v2/customer-accounts/${customerId}/export`,
    key: broker.key,
  });
  expect(now.statusCode).toBe(200);
  expect(stripExportTime(now.body)).toBe(stripExportTime(before));
}
const stripExportTime = (body: string) => body.replace(/"activehub:exportedAt":"[^"]*"/, '');
const exportBody = async () =>
  (await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${customerId}/export`, key: broker.key })).body;

describe('authentication (DECISIONS §2)', () => {
  it('answers 401 UnauthenticatedError without a key, on every route', async () => {
    const before = await exportBody();
    for (const route of customerRoutes()) {
      const res = await t.request({ ...route });
      expectError(res, 401, 'UnauthenticatedError');
      const empty = await t.request({ ...route, headers: { 'x-api-key': '' } });
      expectError(empty, 401, 'UnauthenticatedError');
    }
    await expectCustomerUntouched(before);
  });

  it('answers 401 InvalidAPITokenError for an unknown key, on every route', async () => {
    const before = await exportBody();
    for (const route of customerRoutes()) {
      expectError(
        await t.request({ ...route, key: 'ah_live_NotARealKeyAtAllxxxxxxxxxxxxxx' }),
        401,
        'InvalidAPITokenError',
      );
      expectError(await t.request({ ...route, key: 'k'.repeat(500) }), 401, 'InvalidAPITokenError');
      // Near-misses of a real key are unknown keys too.
      expectError(await t.request({ ...route, key: `${broker.key}x` }), 401, 'InvalidAPITokenError');
      expectError(await t.request({ ...route, key: broker.key.toUpperCase() }), 401, 'InvalidAPITokenError');
    }
    await expectCustomerUntouched(before);
  });

  it('answers 401 InvalidAPITokenError for a revoked key, on every route', async () => {
    const before = await exportBody();
    const issued = await t.services.brokers.createKey(broker.slug, { name: 'to revoke' });
    // The key works before it is revoked…
    const ok = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${customerId}`, key: issued.key });
    expect(ok.statusCode).toBe(200);
    await t.services.brokers.revokeKey(issued.id);
    for (const route of customerRoutes()) {
      expectError(await t.request({ ...route, key: issued.key }), 401, 'InvalidAPITokenError');
    }
    await expectCustomerUntouched(before);
  });

  it('answers 403 ForbiddenError for a key without the booking product, on every route', async () => {
    const before = await exportBody();
    const issued = await t.services.brokers.createKey(broker.slug, { products: ['search', 'firehose', 'checkout'] });
    for (const route of customerRoutes()) {
      const body = expectError(await t.request({ ...route, key: issued.key }), 403, 'ForbiddenError');
      expect(body.description).toContain('booking');
    }
    await expectCustomerUntouched(before);
  });

  it('reads the key header case-insensitively', async () => {
    const res = await t.request({
      method: 'GET',
      url: `/api/v2/customer-accounts/${customerId}`,
      headers: { 'X-Api-Key': broker.key },
    });
    expect(res.statusCode).toBe(200);
  });
});

describe('request bodies (DECISIONS §3)', () => {
  it('answers 400 for malformed JSON on every route with a body', async () => {
    for (const route of bodyRoutes()) {
      for (const payload of ['{"email": ', '{email: "a"}', "{'a': 1}", '{"a":1}}', '', '{"__proto__": {"x": 1}}']) {
        const res = await t.request({
          method: route.method,
          url: route.url,
          key: broker.key,
          headers: { 'content-type': 'application/json' },
          payload,
        });
        const body = expectError(res, 400, 'BadRequestError');
        expect(body.description, payload).toMatch(/JSON/);
      }
    }
  });

  it('answers 415 for a content type other than JSON on every route with a body', async () => {
    for (const route of bodyRoutes()) {
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
        'application/jsonx',
      ]) {
        const res = await t.request({
          method: route.method,
          url: route.url,
          key: broker.key,
          headers: { 'content-type': type },
          payload: JSON.stringify(route.payload),
        });
        expectError(res, 415, 'UnsupportedMediaTypeError');
      }
    }
  });

  it('accepts a JSON content type with parameters', async () => {
    const res = await t.request({
      method: 'PATCH',
      url: `/api/v2/customer-accounts/${customerId}`,
      key: broker.key,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      payload: JSON.stringify({ familyName: 'Wu' }),
    });
    expect(res.statusCode).toBe(200);
  });

  it('answers 413 for a body over 1 MB on every route with a body', async () => {
    const huge = JSON.stringify({ ...louis, givenName: 'x'.repeat(1024 * 1024) });
    for (const route of bodyRoutes()) {
      const res = await t.request({
        method: route.method,
        url: route.url,
        key: broker.key,
        headers: { 'content-type': 'application/json' },
        payload: huge,
      });
      expectError(res, 413, 'PayloadTooLargeError');
    }
  });

  it('answers 400 (not 413) for a body just under 1 MB that breaks the schema', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: broker.key,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ ...louis, givenName: 'x'.repeat(1000 * 1000) }),
    });
    const body = expectError(res, 400, 'BadRequestError');
    expect(body['activehub:fieldErrors']).toEqual([{ path: '/givenName', message: 'must be at most 200 characters' }]);
  });
});

describe('routing (DECISIONS §3)', () => {
  it('answers 404 UnknownOrIncorrectEndpointError for an unknown route, with or without a key', async () => {
    for (const url of [
      '/api/v2/nothing',
      '/api/v3/customer-accounts',
      '/api/v2/customer-account',
      '/',
      '/api/v2/customer-accounts/a/b/c',
    ]) {
      for (const key of [undefined, broker.key]) {
        const body = expectError(await t.request({ method: 'GET', url, key }), 404, 'UnknownOrIncorrectEndpointError');
        expect(body.description).toContain(url);
      }
    }
  });

  it('answers 405 MethodNotAllowedError with Allow for a wrong method on a known path', async () => {
    const cases: [string, string, string][] = [
      ['PUT', '/api/v2/customer-accounts', 'POST'],
      ['GET', '/api/v2/customer-accounts', 'POST'],
      ['DELETE', '/api/v2/customer-accounts', 'POST'],
      ['POST', `/api/v2/customer-accounts/${customerId}`, 'GET, PATCH, DELETE'],
      ['PUT', `/api/v2/customer-accounts/${customerId}`, 'GET, PATCH, DELETE'],
      ['GET', `/api/v2/customer-accounts/${customerId}/actions`, 'POST'],
      ['DELETE', `/api/v2/customer-accounts/${customerId}/actions`, 'POST'],
      ['POST', `/api/v2/customer-accounts/${customerId}/export`, 'GET'],
      ['POST', '/health', 'GET'],
    ];
    for (const [method, url, allow] of cases) {
      const res = await t.request({ method, url, key: broker.key });
      expectError(res, 405, 'MethodNotAllowedError');
      expect(res.headers.allow, `${method} ${url}`).toBe(allow);
    }
  });

  it('answers 414 URITooLongError for a URL over 2048 characters', async () => {
    const long = `/api/v2/customer-accounts/${customerId}?pad=${'x'.repeat(2100)}`;
    expectError(await t.request({ method: 'GET', url: long, key: broker.key }), 414, 'URITooLongError');
    expectError(await t.request({ method: 'GET', url: long }), 414, 'URITooLongError');
    expectError(await t.request({ method: 'GET', url: `/${'y'.repeat(2100)}` }), 414, 'URITooLongError');
    // A long path parameter is caught by the router before any hook runs.
    expectError(
      await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${'z'.repeat(600)}`, key: broker.key }),
      414,
      'URITooLongError',
    );
  });

  it('answers a request Node refuses before routing (URL and headers over 16 KB) in the same shape', async () => {
    // Node's HTTP parser refuses these itself; app.inject() never reaches that code, so listen.
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    // A raw socket: the server may close the connection while the request is still being sent.
    const raw = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; headers: Record<string, string>; body: string }>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1');
        let received = '';
        socket.setEncoding('utf8');
        socket.on('data', (c: string) => (received += c));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          const [head = '', body = ''] = received.split('\r\n\r\n');
          const [statusLine = '', ...lines] = head.split('\r\n');
          resolve({
            status: Number(statusLine.split(' ')[1]),
            headers: Object.fromEntries(
              lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
            ),
            body,
          });
        });
        const lines = Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}`);
        socket.write(`GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\nconnection: close\r\n\r\n`);
      });
    const answers = [
      await raw(`/api/v2/customer-accounts/${customerId}?pad=${'x'.repeat(20_000)}`, { 'x-api-key': broker.key }),
      await raw('/health', { 'x-padding': 'p'.repeat(20_000) }),
    ];
    for (const res of answers) {
      expect(res.status, res.body).toBe(431);
      expect(res.headers['content-type']).toMatch(/^application\/json\b/);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(body['@context']).toBe('https://openactive.io/');
      expect(body['@type']).toBe('RequestHeaderFieldsTooLargeError');
      expect(body.statusCode).toBe(431);
      expect(Object.keys(body).sort()).toEqual(['@context', '@type', 'description', 'instance', 'name', 'statusCode']);
      expect(body.instance).toBe(res.headers['x-request-id']);
    }
  });

  it('answers 400 in the same shape for a URL with broken percent-encoding', async () => {
    for (const url of ['/api/v2/customer-accounts/%E0%A4%A', '/api/v2/customer-accounts/%zz/export']) {
      expectError(await t.request({ method: 'GET', url, key: broker.key }), 400, 'BadRequestError');
    }
  });

  it('ignores a trailing slash', async () => {
    const res = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${customerId}/`, key: broker.key });
    expect(res.statusCode).toBe(200);
  });
});

describe('request ids', () => {
  it('gives every response an X-Request-Id, the error instance of error responses', async () => {
    const ok = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${customerId}`, key: broker.key });
    expect(ok.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const a = expectError(await t.request({ method: 'GET', url: '/nope' }), 404, 'UnknownOrIncorrectEndpointError');
    const b = expectError(await t.request({ method: 'GET', url: '/nope' }), 404, 'UnknownOrIncorrectEndpointError');
    expect(a.instance).not.toBe(b.instance);
  });

  it("uses the caller's X-Request-Id when it is well-formed, a new one otherwise", async () => {
    const mine = await t.request({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'trace-123.abc:4' } });
    expect(expectError(mine, 404, 'UnknownOrIncorrectEndpointError').instance).toBe('trace-123.abc:4');
    const bad = await t.request({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'has spaces <script>' } });
    expect(expectError(bad, 404, 'UnknownOrIncorrectEndpointError').instance).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('rate limiting (per API key)', () => {
  let limited: TestContext;
  beforeAll(async () => {
    limited = await createTestContext({ config: { rateLimit: { max: 3, windowMs: 60_000 } } });
  });
  afterAll(async () => {
    await limited?.close();
  });

  it('answers the 4th request in the window with 429 and RateLimit-* headers; other keys are unaffected', async () => {
    const a = await limited.newBroker();
    const b = await limited.newBroker();
    const url = '/api/v2/customer-accounts/NoSuchAcct';
    const remaining: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await limited.request({ method: 'GET', url, key: a.key });
      expect(res.statusCode).toBe(404);
      expect(res.headers['ratelimit-limit']).toBe('3');
      expect(Number(res.headers['ratelimit-reset'])).toBeGreaterThan(0);
      remaining.push(String(res.headers['ratelimit-remaining']));
    }
    expect(remaining).toEqual(['2', '1', '0']);

    const limitedRes = await limited.request({ method: 'GET', url, key: a.key });
    expectError(limitedRes, 429, 'TooManyRequestsError');
    const retryAfter = Number(limitedRes.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limitedRes.headers['ratelimit-limit']).toBe('3');
    expect(limitedRes.headers['ratelimit-remaining']).toBe('0');
    expect(Number(limitedRes.headers['ratelimit-reset'])).toBeGreaterThan(0);
    // Every route counts against the same key, writes too.
    expectError(
      await limited.request({ method: 'POST', url: '/api/v2/customer-accounts', key: a.key, payload: louis }),
      429,
      'TooManyRequestsError',
    );

    const other = await limited.request({ method: 'GET', url, key: b.key });
    expect(other.statusCode).toBe(404);
    expect(other.headers['ratelimit-remaining']).toBe('2');

    // A second key of the same broker has its own allowance.
    const second = await limited.services.brokers.createKey(a.slug);
    expect((await limited.request({ method: 'GET', url, key: second.key })).statusCode).toBe(404);

    // Operations endpoints are never limited.
    for (let i = 0; i < 5; i += 1) {
      expect((await limited.request({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    }
  });
});

describe('operations endpoints', () => {
  it('/health answers 200 with the database kind', async () => {
    const res = await t.request({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toStrictEqual({
      status: 'ok',
      database: t.deps.database.kind,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
  });

  it('/metrics serves Prometheus text with request counts by route and status', async () => {
    await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${customerId}`, key: broker.key });
    const res = await t.request({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.body).toContain('# TYPE http_requests_total counter');
    expect(res.body).toMatch(
      /http_requests_total\{method="GET",route="\/api\/v2\/customer-accounts\/:id",status="200"\} \d+/,
    );
    expect(res.body).toContain('http_request_duration_seconds_bucket');
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('/docs serves the interactive documentation page', async () => {
    const res = await t.request({ method: 'GET', url: '/docs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/<html/i);
    expect(res.body).toMatch(/swagger-ui/i);
  });
});

describe('/openapi.json', () => {
  type Json = Record<string, any>;
  let spec: Json;
  let ajv: Ajv2020;
  const SPEC_ID = 'https://activehub.test/openapi.json';

  beforeAll(async () => {
    const res = await t.request({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    spec = res.json();
    // OpenAPI 3.1 schemas are JSON Schema 2020-12: the whole document is loaded so that
    // `#/components/...` references resolve, and each schema below is reached by pointer.
    ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
    ajv.addSchema({ ...spec, $id: SPEC_ID });
  });

  const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const validatorAt = (...parts: string[]) => ajv.compile({ $ref: `${SPEC_ID}#/${pointer(...parts)}` });

  const operations: [string, string, { body: boolean; success: string; params: boolean }][] = [
    ['/api/v2/customer-accounts', 'post', { body: true, success: '201', params: false }],
    ['/api/v2/customer-accounts/{id}', 'get', { body: false, success: '200', params: true }],
    ['/api/v2/customer-accounts/{id}', 'patch', { body: true, success: '200', params: true }],
    ['/api/v2/customer-accounts/{id}', 'delete', { body: false, success: '202', params: true }],
    ['/api/v2/customer-accounts/{id}/actions', 'post', { body: true, success: '200', params: true }],
    ['/api/v2/customer-accounts/{id}/export', 'get', { body: false, success: '200', params: true }],
  ];

  it('is an OpenAPI 3.1 document', () => {
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(spec.components.securitySchemes.apiKey).toEqual(
      expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-KEY' }),
    );
    // Every reference resolves within the document.
    const refs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, child] of Object.entries(v)) {
          if (k === '$ref' && typeof child === 'string') refs.push(child);
          else walk(child);
        }
      }
    };
    walk(spec);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref, ref).toMatch(/^#\//);
      const target = ref
        .slice(2)
        .split('/')
        .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
        .reduce<any>((node, key) => node?.[key], spec);
      expect(target, ref).toBeTypeOf('object');
    }
  });

  it.each(operations)('documents %s %s with request and response schemas', (path, method, expected) => {
    const op = spec.paths[path]?.[method];
    expect(op, `${method} ${path}`).toBeDefined();
    expect(op.summary).toEqual(expect.any(String));
    expect(op.security).toEqual([{ apiKey: [] }]);
    if (expected.params) {
      expect(op.parameters).toEqual([expect.objectContaining({ in: 'path', name: 'id', required: true })]);
    }
    if (expected.body) {
      expect(op.requestBody.content['application/json'].schema).toBeTypeOf('object');
      expect(() =>
        validatorAt('paths', path, method, 'requestBody', 'content', 'application/json', 'schema'),
      ).not.toThrow();
    } else {
      expect(op.requestBody).toBeUndefined();
    }
    const success = op.responses[expected.success];
    expect(success).toBeDefined();
    if (expected.success === '202') expect(success.content).toBeUndefined();
    else validatorAt('paths', path, method, 'responses', expected.success, 'content', 'application/json', 'schema');
    for (const status of ['400', '401', '403', '429']) {
      expect(op.responses[status]?.content['application/json'].schema, `${method} ${path} ${status}`).toEqual({
        $ref: '#/components/schemas/ErrorResponse',
      });
    }
    if (path !== '/api/v2/customer-accounts') expect(op.responses['404']).toBeDefined();
  });

  it('describes the bodies the API really accepts and sends', async () => {
    const check = (validate: ReturnType<typeof validatorAt>, value: unknown) => {
      expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
    };
    const createBody = validatorAt(
      'paths',
      '/api/v2/customer-accounts',
      'post',
      'requestBody',
      'content',
      'application/json',
      'schema',
    );
    check(createBody, louis);
    expect(createBody({ ...louis, nickname: 'x' })).toBe(false);

    const created = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: broker.key,
      payload: louis,
    });
    check(
      validatorAt(
        'paths',
        '/api/v2/customer-accounts',
        'post',
        'responses',
        '201',
        'content',
        'application/json',
        'schema',
      ),
      created.json(),
    );
    const id = created.json().identifier;
    const got = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}`, key: broker.key });
    check(
      validatorAt(
        'paths',
        '/api/v2/customer-accounts/{id}',
        'get',
        'responses',
        '200',
        'content',
        'application/json',
        'schema',
      ),
      got.json(),
    );
    const exported = await t.request({ method: 'GET', url: `/api/v2/customer-accounts/${id}/export`, key: broker.key });
    check(
      validatorAt(
        'paths',
        '/api/v2/customer-accounts/{id}/export',
        'get',
        'responses',
        '200',
        'content',
        'application/json',
        'schema',
      ),
      exported.json(),
    );
    const action = { '@type': 'imin:AccessPassUpdateAction', object: { '@type': 'Barcode', text: 'A1' } };
    check(
      validatorAt(
        'paths',
        '/api/v2/customer-accounts/{id}/actions',
        'post',
        'requestBody',
        'content',
        'application/json',
        'schema',
      ),
      action,
    );
    const acted = await t.request({
      method: 'POST',
      url: `/api/v2/customer-accounts/${id}/actions`,
      key: broker.key,
      payload: action,
    });
    check(
      validatorAt(
        'paths',
        '/api/v2/customer-accounts/{id}/actions',
        'post',
        'responses',
        '200',
        'content',
        'application/json',
        'schema',
      ),
      acted.json(),
    );
    const notFound = await t.request({ method: 'GET', url: '/api/v2/customer-accounts/NoSuchAcct', key: broker.key });
    check(validatorAt('components', 'schemas', 'ErrorResponse'), notFound.json());
  });

  it('is not behind a key', async () => {
    const res: LightMyRequestResponse = await t.request({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
  });
});
