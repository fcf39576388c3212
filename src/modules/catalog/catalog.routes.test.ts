import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import { createHarvestScheduler, HARVEST_JOB } from './index.js';

const ADMIN = 'admin-key-for-tests-0123456789';
let t: TestContext;
let server: RpdeTestServer;

beforeAll(async () => {
  t = await createTestContext({ config: { adminApiKey: ADMIN } });
  server = await new RpdeTestServer().start();
  server.dataset = {
    '@context': ['https://schema.org/', 'https://openactive.io/'],
    '@type': 'Dataset',
    name: 'Example Leisure Sessions and Facilities',
    description: 'Sessions and facilities of Example Leisure',
    url: `${server.base}/dataset`,
    license: 'https://creativecommons.org/licenses/by/4.0/',
    publisher: {
      '@type': 'Organization',
      name: 'Example Leisure',
      url: 'https://example-leisure.test',
      logo: { '@type': 'ImageObject', url: 'https://example-leisure.test/logo.png' },
    },
    accessService: { '@type': 'WebAPI', endpointUrl: `${server.base}/api/openbooking` },
    distribution: [
      {
        '@type': 'DataDownload',
        name: 'SessionSeries',
        additionalType: 'https://openactive.io/SessionSeries',
        encodingFormat: 'application/vnd.openactive.rpde+json; version=1',
        contentUrl: `${server.base}/feeds/ds-series`,
      },
      {
        '@type': 'DataDownload',
        name: 'ScheduledSession',
        additionalType: 'https://openactive.io/ScheduledSession',
        encodingFormat: 'application/vnd.openactive.rpde+json; version=1',
        contentUrl: `${server.base}/feeds/ds-sessions`,
      },
      {
        '@type': 'DataDownload',
        identifier: 'IndividualFacilityUseSlot',
        additionalType: 'https://openactive.io/Slot',
        contentUrl: `${server.base}/feeds/ds-slots`,
      },
    ],
  };
  server.feed('ds-series');
  server.feed('ds-sessions');
  server.feed('ds-slots');
});
afterAll(async () => {
  await server?.stop();
  await t?.close();
});

describe('admin catalog API', () => {
  it('requires the operator key: none → 401, a broker key → 401, the admin key → 200', async () => {
    const { key } = await t.newBroker();
    for (const url of ['/admin/publishers', '/admin/feeds', '/admin/order-feeds']) {
      expect((await t.request({ method: 'GET', url })).statusCode).toBe(401);
      const broker = await t.request({ method: 'GET', url, key });
      expect(broker.statusCode).toBe(401);
      expect(broker.json()['@type']).toBe('InvalidAPITokenError');
      const admin = await t.request({ method: 'GET', url, key: ADMIN });
      expect(admin.statusCode).toBe(200);
      expect(Array.isArray(admin.json().items ?? admin.json())).toBe(true);
    }
  });

  it('registers a publisher from its dataset site, lists it with feed health, and removes it', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/admin/publishers',
      key: ADMIN,
      payload: { datasetUrl: `${server.base}/dataset` },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      name: 'Example Leisure Sessions and Facilities',
      license: 'https://creativecommons.org/licenses/by/4.0/',
      publisherName: 'Example Leisure',
      bookingEndpointUrl: `${server.base}/api/openbooking`,
    });
    expect(body.feeds.map((f: { kind: string }) => f.kind).sort()).toEqual([
      'ScheduledSession',
      'SessionSeries',
      'Slot',
    ]);

    // registering again refreshes instead of duplicating
    const again = await t.request({
      method: 'POST',
      url: '/admin/publishers',
      key: ADMIN,
      payload: { datasetUrl: `${server.base}/dataset` },
    });
    expect(again.json().id).toBe(body.id);

    await t.services.harvester.runOnce();
    const health = await t.request({ method: 'GET', url: `/admin/feeds?publisherId=${body.id}`, key: ADMIN });
    expect(health.statusCode, health.body).toBe(200);
    expect(health.json().items).toHaveLength(3);
    expect(health.json().items.every((f: { status: string }) => f.status === 'caught_up')).toBe(true);

    const del = await t.request({ method: 'DELETE', url: `/admin/publishers/${body.id}`, key: ADMIN });
    expect(del.statusCode).toBe(204);
    const list = await t.request({ method: 'GET', url: '/admin/publishers', key: ADMIN });
    expect(list.json().items.map((p: { id: number }) => p.id)).not.toContain(body.id);
    expect((await t.request({ method: 'DELETE', url: `/admin/publishers/${body.id}`, key: ADMIN })).statusCode).toBe(
      404,
    );
  });

  it('marks a publisher test or live (issue 14 point 3): registering again keeps the mode unless given', async () => {
    const post = (payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: '/admin/publishers', key: ADMIN, payload });
    const datasetUrl = `${server.base}/dataset`;
    const first = await post({ datasetUrl, mode: 'test' });
    expect(first.statusCode, first.body).toBe(201);
    const id = first.json().id as number;
    expect(first.json()).toMatchObject({ id, mode: 'test' });
    // Again without a mode: it stays a test publisher; with one, it changes.
    expect((await post({ datasetUrl })).json()).toMatchObject({ id, mode: 'test' });
    const modes = async () => (await t.services.catalog.publisherModes()).get(id);
    expect(await modes()).toBe('test');
    expect((await post({ datasetUrl, mode: 'live' })).json()).toMatchObject({ id, mode: 'live' });
    expect(await modes()).toBe('live');
    const list = await t.request({ method: 'GET', url: '/admin/publishers', key: ADMIN });
    expect(list.json().items.find((p: { id: number }) => p.id === id)).toMatchObject({ mode: 'live' });
    // Named feeds: new publishers are live unless marked.
    const named = await post({ name: 'Named', feeds: [{ url: `${server.base}/feeds/ds-slots`, kind: 'Slot' }] });
    expect(named.json()).toMatchObject({ mode: 'live' });
    const namedTest = await post({
      name: 'Named test',
      mode: 'test',
      feeds: [{ url: `${server.base}/feeds/ds-slots`, kind: 'Slot' }],
    });
    expect(namedTest.json()).toMatchObject({ mode: 'test' });
    const bad = await post({ datasetUrl, mode: 'sandbox' });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/mode/);
    for (const p of [id, named.json().id, namedTest.json().id]) {
      expect((await t.request({ method: 'DELETE', url: `/admin/publishers/${p}`, key: ADMIN })).statusCode).toBe(204);
    }
  });

  it('rejects bad input with 400s naming the problem', async () => {
    const cases = [
      { payload: {}, expect: /datasetUrl/ },
      { payload: { datasetUrl: 'not a url' }, expect: /uri|URL/ },
      { payload: { name: 'X', feeds: [{ url: 'https://x.test/f', kind: 'Nonsense' }] }, expect: /kind/ },
      { payload: { datasetUrl: `${server.base}/nothing-here` }, expect: /HTTP 404/ },
      { payload: { datasetUrl: `${server.base}/dataset`, extra: 1 }, expect: /extra/ },
    ];
    for (const c of cases) {
      const res = await t.request({ method: 'POST', url: '/admin/publishers', key: ADMIN, payload: c.payload });
      expect(res.statusCode, JSON.stringify(c.payload)).toBe(400);
      expect(JSON.stringify(res.json())).toMatch(c.expect);
    }
    expect((await t.request({ method: 'GET', url: '/admin/feeds?publisherId=abc', key: ADMIN })).statusCode).toBe(400);
  });

  it('harvests through durable jobs: due feeds become one queued job each, and a job walks its feed', async () => {
    server.put('job-series', {
      id: 'j1',
      kind: 'SessionSeries',
      data: {
        '@context': 'https://openactive.io/',
        '@type': 'SessionSeries',
        '@id': `${server.base}/job/1`,
        name: 'Swim',
      },
    });
    const res = await t.request({
      method: 'POST',
      url: '/admin/publishers',
      key: ADMIN,
      payload: { name: 'Job publisher', feeds: [{ url: server.url('job-series'), kind: 'SessionSeries' }] },
    });
    const publisherId = res.json().id as number;
    const scheduler = createHarvestScheduler({ harvester: t.services.harvester, jobs: t.deps.jobs, log: t.deps.log });
    const sent = await scheduler.tick();
    expect(sent).toBeGreaterThanOrEqual(1);
    // a second tick while the job is still queued adds nothing for the same feed
    expect(await scheduler.tick()).toBe(0);
    expect(await t.deps.jobs.runDue(HARVEST_JOB)).toBe(sent);
    const counts = await t.services.catalog.countEntitiesByType(publisherId);
    expect(counts).toEqual([{ type: 'SessionSeries', count: 1 }]);
  });
});
