import type { FastifyInstance, InjectOptions } from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../app.js';
import type { Config } from '../config.js';
import { expectError } from '../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../test/helpers.js';

// /metrics: the operator key or the metrics token; with neither configured, this machine only.

const ADMIN = 'admin-key-0123456789abcdef';
const TOKEN = 'metrics-token-0123456789abcdef';

let t: TestContext;
let brokerKey: string;
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  t = await createTestContext();
  brokerKey = (await t.newBroker()).key;
});
afterAll(async () => {
  for (const app of apps) await app.close();
  await t?.close();
});

/** The app with these settings (on the test's database and services). */
async function appWith(settings: Partial<Config>): Promise<FastifyInstance> {
  const app = await buildApp(
    { ...t.deps, config: { ...t.deps.config, ...settings }, metrics: new Registry() },
    t.services,
  );
  apps.push(app);
  return app;
}

const scrape = (app: FastifyInstance, options: Omit<InjectOptions, 'method' | 'url'> = {}) =>
  app.inject({ method: 'GET', url: '/metrics', ...options });

function expectMetrics(res: Awaited<ReturnType<typeof scrape>>): void {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  expect(res.body).toContain('# TYPE http_requests_total counter');
}

describe('/metrics with neither ADMIN_API_KEY nor METRICS_TOKEN', () => {
  it('answers a loopback peer with no forwarding header, and no one else', async () => {
    const app = await appWith({ adminApiKey: undefined, metricsToken: undefined });
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1'])
      expectMetrics(await scrape(app, { remoteAddress }));
    for (const remoteAddress of ['203.0.113.7', '10.0.0.2', '2001:db8::1']) {
      const res = await scrape(app, { remoteAddress });
      expectError(res, 401, 'UnauthenticatedError');
      expect(res.body).not.toContain('process_cpu');
    }
    for (const headers of [
      { 'x-forwarded-for': '203.0.113.7' },
      { forwarded: 'for=203.0.113.7' },
      { via: '1.1 proxy' },
    ]) {
      expectError(await scrape(app, { remoteAddress: '127.0.0.1', headers }), 401, 'UnauthenticatedError');
    }
  });
});

describe('/metrics with ADMIN_API_KEY set', () => {
  it('needs the operator key in X-API-KEY, even from this machine', async () => {
    const app = await appWith({ adminApiKey: ADMIN, metricsToken: undefined });
    expectError(await scrape(app, { remoteAddress: '127.0.0.1' }), 401, 'UnauthenticatedError');
    expectError(await scrape(app, { headers: { 'x-api-key': 'not-the-admin-key-000' } }), 401, 'InvalidAPITokenError');
    expectError(await scrape(app, { headers: { 'x-api-key': brokerKey } }), 401, 'InvalidAPITokenError');
    // The operator key is not a bearer token.
    expectError(await scrape(app, { headers: { authorization: `Bearer ${ADMIN}` } }), 401, 'InvalidAPITokenError');
    expectMetrics(await scrape(app, { headers: { 'x-api-key': ADMIN } }));
    expectMetrics(await scrape(app, { remoteAddress: '203.0.113.7', headers: { 'x-api-key': ADMIN } }));
  });
});

describe('/metrics with METRICS_TOKEN set', () => {
  it('takes Authorization: Bearer <METRICS_TOKEN>', async () => {
    const app = await appWith({ adminApiKey: undefined, metricsToken: TOKEN });
    expectError(await scrape(app), 401, 'UnauthenticatedError');
    expectError(
      await scrape(app, { headers: { authorization: 'Bearer wrong-token-0123456789' } }),
      401,
      'InvalidAPITokenError',
    );
    expectError(await scrape(app, { headers: { authorization: `Basic ${TOKEN}` } }), 401, 'InvalidAPITokenError');
    expectError(await scrape(app, { headers: { 'x-api-key': TOKEN } }), 401, 'InvalidAPITokenError');
    const refused = await scrape(app);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expectMetrics(await scrape(app, { remoteAddress: '203.0.113.7', headers: { authorization: `Bearer ${TOKEN}` } }));
    expectMetrics(await scrape(app, { headers: { authorization: `bearer ${TOKEN}` } }));
  });

  it('with both set, takes either', async () => {
    const app = await appWith({ adminApiKey: ADMIN, metricsToken: TOKEN });
    expectMetrics(await scrape(app, { headers: { authorization: `Bearer ${TOKEN}` } }));
    expectMetrics(await scrape(app, { headers: { 'x-api-key': ADMIN } }));
    expectError(await scrape(app, { remoteAddress: '127.0.0.1' }), 401, 'UnauthenticatedError');
  });
});
