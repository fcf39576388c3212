import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBookingError } from '../../src/modules/booking/index.js';
import { createTestContext, type TestContext } from '../helpers.js';
import { RpdeTestServer } from '../rpde-server.js';

/*
 * The outbound-URL policy through the real app with its default, closed configuration (issue 14
 * point 6): everything a publisher chooses — dataset site, feeds and their `next`, the booking
 * endpoint, the Orders feed — is refused when it points at a private address, by literal or by
 * a name that resolves there, with a 400 at registration or a recorded fault later; booking
 * credentials never leave the booking endpoint's origin.
 */

const ADMIN = 'admin-key-for-tests-0123456789';
let t: TestContext;
let server: RpdeTestServer;
/** A local "booking system": every request recorded; answers an empty RPDE page or a redirect. */
let booking: Awaited<ReturnType<typeof recorder>>;
/** Another origin, which must never see a request carrying credentials. */
let elsewhere: Awaited<ReturnType<typeof recorder>>;

async function recorder(respond: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  const srv = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '/', headers: req.headers });
    respond(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  return {
    seen,
    port,
    base: `http://127.0.0.1:${port}`,
    close: () => {
      srv.closeAllConnections();
      return new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** Public-looking names that resolve to this machine (a hostile publisher's DNS). */
const resolve = async (hostname: string) => {
  if (hostname.endsWith('.example.com')) return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`no such host ${hostname}`), { code: 'ENOTFOUND' });
};

beforeAll(async () => {
  server = await new RpdeTestServer().start();
  elsewhere = await recorder((_req, res) => res.writeHead(200).end('{}'));
  booking = await recorder((req, res) => {
    if (req.url?.startsWith('/api/openbooking/redirect/')) {
      res.writeHead(307, { location: `${elsewhereAllowed()}/stolen` }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        next: `http://${req.headers.host}${req.url}`,
        items: [],
        license: 'https://creativecommons.org/licenses/by/4.0/',
      }),
    );
  });
  // Closed policy; only the "publisher" names are let through, as an operator would list them.
  t = await createTestContext({
    config: {
      adminApiKey: ADMIN,
      outbound: {
        allowPrivate: false,
        allowedHosts: [
          `publisher.example.com:${server.base.split(':')[2]}`,
          `booking.example.com:${booking.port}`,
          `elsewhere.example.com:${elsewhere.port}`,
        ],
      },
    },
    resolve,
  });
});
afterAll(async () => {
  await t?.close();
  await server?.stop();
  await booking?.close();
  await elsewhere?.close();
});

const allowed = () => server.base.replace('127.0.0.1', 'publisher.example.com');
/** Another origin the policy lets through: what keeps credentials from it is not the address check. */
const elsewhereAllowed = () => elsewhere.base.replace('127.0.0.1', 'elsewhere.example.com');

function dataset(feedUrl: string, endpointUrl: string) {
  return {
    '@context': ['https://schema.org/', 'https://openactive.io/'],
    '@type': 'Dataset',
    name: 'Policy Test Leisure',
    accessService: { '@type': 'WebAPI', endpointUrl },
    distribution: [
      { '@type': 'DataDownload', additionalType: 'https://openactive.io/ScheduledSession', contentUrl: feedUrl },
    ],
  };
}

async function addPublisher(payload: Record<string, unknown>) {
  return t.request({ method: 'POST', url: '/admin/publishers', key: ADMIN, payload });
}

function expectRefused(res: Awaited<ReturnType<typeof addPublisher>>, pattern: RegExp) {
  expect(res.statusCode, res.body).toBe(400);
  const body = res.json();
  expect(body).toMatchObject({ '@context': 'https://openactive.io/', '@type': 'BadRequestError', statusCode: 400 });
  expect(body.description).toMatch(pattern);
}

describe('registering a publisher', () => {
  it('refuses a dataset site at 127.0.0.1 with a 400, without fetching it', async () => {
    server.dataset = dataset(`${allowed()}/feeds/a`, `${booking.base}/api/openbooking`);
    const before = server.requests;
    expectRefused(await addPublisher({ datasetUrl: `${server.base}/dataset` }), /127\.0\.0\.1 is a loopback address/);
    expectRefused(await addPublisher({ datasetUrl: 'http://[::1]/dataset' }), /loopback/);
    expectRefused(await addPublisher({ datasetUrl: 'http://169.254.169.254/latest/meta-data/' }), /metadata/);
    expect(server.requests).toBe(before);
  });

  it('refuses a dataset site whose public-looking name resolves to 127.0.0.1', async () => {
    const before = server.requests;
    const res = await addPublisher({ datasetUrl: server.base.replace('127.0.0.1', 'sneaky.example.com') + '/dataset' });
    expectRefused(res, /sneaky\.example\.com resolves to 127\.0\.0\.1/);
    expect(server.requests).toBe(before);
  });

  it('refuses feeds named at private addresses, and non-http(s) URLs', async () => {
    const res = await addPublisher({
      name: 'Direct',
      feeds: [{ url: 'http://10.0.0.7/feeds/sessions', kind: 'ScheduledSession' }],
    });
    expectRefused(res, /10\.0\.0\.7 is a private address/);
    expect(res.json()['activehub:fieldErrors'][0].path).toBe('/feeds/0/url');
    for (const url of ['data:application/json,{}', 'file:///etc/passwd', 'ftp://example.org/feed']) {
      const r = await addPublisher({ datasetUrl: url });
      expect(r.statusCode, r.body).toBe(400);
      expect(r.json()['@type']).toBe('BadRequestError');
    }
    expectRefused(
      await addPublisher({ name: 'Direct', feeds: [{ url: 'javascript:alert(1)', kind: 'ScheduledSession' }] }),
      /absolute http\(s\) URL/,
    );
  });

  it('refuses a dataset site (at an allowed host) that names a feed or booking endpoint at a private address', async () => {
    server.dataset = dataset(`${server.base}/feeds/x`, `${allowed()}/api/openbooking`);
    expectRefused(await addPublisher({ datasetUrl: `${allowed()}/dataset` }), /127\.0\.0\.1 is a loopback address/);
    server.dataset = dataset(`${allowed()}/feeds/x`, 'http://169.254.169.254/api/openbooking');
    expectRefused(await addPublisher({ datasetUrl: `${allowed()}/dataset` }), /cloud metadata/);
  });
});

describe('harvesting', () => {
  it("does not follow a page's next link to a private address: a blocked_url fault, the page's items kept", async () => {
    server.feed('policy-next', 2).faults = { nextBase: server.base };
    for (const id of ['a', 'b', 'c'])
      server.put('policy-next', {
        id,
        kind: 'ScheduledSession',
        data: { '@type': 'ScheduledSession', '@id': `https://policy.example/sessions/${id}`, name: id },
      });
    server.dataset = dataset(`${allowed()}/feeds/policy-next`, `${allowed()}/api/openbooking`);
    const res = await addPublisher({ datasetUrl: `${allowed()}/dataset` });
    expect(res.statusCode, res.body).toBe(201);
    const publisherId = res.json().id as number;
    const pathsBefore = server.paths.length;
    const [feed] = await t.services.catalog.feedHealth(publisherId);
    await t.services.harvester.walkFeed(feed!.id);

    const [health] = await t.services.catalog.feedHealth(publisherId);
    expect(health!.status).toBe('failing');
    expect(health!.faults.map((f) => f.fault)).toEqual(['blocked_url']);
    expect(health!.lastError).toMatch(/blocked_url: 127\.0\.0\.1 is a loopback address/);
    expect(health!.itemsUpdated).toBe(2);
    // The first page was read from the allowed name; nothing was asked of the private address.
    expect(server.paths.slice(pathsBefore)).toEqual(['/feeds/policy-next']);
    // Retried rarely: the refusal will not go away by itself.
    expect(new Date(health!.nextPollAt).getTime() - Date.now()).toBeGreaterThan(20 * 60_000);
  });

  it('refuses, at the connection, a feed whose name resolves to 127.0.0.1', async () => {
    server.feed('policy-dns');
    const res = await addPublisher({
      name: 'Sneaky feeds',
      feeds: [{ url: server.url('policy-dns').replace('127.0.0.1', 'sneaky.example.com'), kind: 'ScheduledSession' }],
    });
    expect(res.statusCode, res.body).toBe(201);
    const before = server.requests;
    const [feed] = await t.services.catalog.feedHealth(res.json().id as number);
    await t.services.harvester.walkFeed(feed!.id);
    const [health] = await t.services.catalog.feedHealth(res.json().id as number);
    expect(health!.faults.map((f) => f.fault)).toEqual(['blocked_url']);
    expect(health!.lastError).toMatch(/sneaky\.example\.com resolves to 127\.0\.0\.1/);
    expect(server.requests).toBe(before);
  });
});

describe('booking', () => {
  async function publisherWithEndpoint(endpointUrl: string) {
    server.feed('policy-booking');
    server.dataset = dataset(`${allowed()}/feeds/policy-booking`, endpointUrl);
    const res = await addPublisher({ datasetUrl: `${allowed()}/dataset?${randomUUID()}` });
    expect(res.statusCode, res.body).toBe(201);
    const publisherId = res.json().id as number;
    await t.services.booking.setCredentials({ publisherId, headers: { Authorization: 'Bearer seller-secret' } });
    return t.services.booking.targetFor(publisherId, 'https://policy.example/sellers/1');
  }

  it('refuses a booking endpoint whose name resolves to 127.0.0.1: not bookable, nothing sent', async () => {
    const target = await publisherWithEndpoint(`http://sneaky.example.com:${booking.port}/api/openbooking`);
    const before = booking.seen.length;
    const err = await t.services.booking.getOrder(target, randomUUID()).catch((e: unknown) => e);
    expect(isBookingError(err)).toBe(true);
    expect(err).toMatchObject({ retryable: false, problem: { code: 'not_bookable' } });
    expect((err as Error).message).toMatch(/resolves to 127\.0\.0\.1/);
    expect(booking.seen.length).toBe(before);
  });

  it('sends the credentials to the booking endpoint, and does not follow its redirect elsewhere', async () => {
    const target = await publisherWithEndpoint(`http://booking.example.com:${booking.port}/api/openbooking/redirect`);
    const err = await t.services.booking.getOrder(target, randomUUID()).catch((e: unknown) => e);
    expect(isBookingError(err)).toBe(true);
    expect(booking.seen.at(-1)!.headers.authorization).toBe('Bearer seller-secret');
    expect(elsewhere.seen).toEqual([]);
  });

  it("reads an Orders feed with the credentials only on the booking endpoint's origin", async () => {
    const target = await publisherWithEndpoint(`http://booking.example.com:${booking.port}/api/openbooking`);
    const insert = (nextUrl: string | null) =>
      sql<{ id: number }>`insert into seller_order_feeds (feed_key, publisher_id, seller_id, endpoint_url, next_url)
        values (${randomUUID()}, ${target.publisherId}, ${target.sellerId}, ${target.endpointUrl}, ${nextUrl})
        returning id`.execute(t.deps.database.db);

    // From its first page on the endpoint's origin: read, with the credentials.
    const own = (await insert(null)).rows[0]!.id;
    const read = await t.services.ordersFeed.readFeed(own);
    expect(read.error, read.error).toBeUndefined();
    expect(booking.seen.at(-1)!.url).toBe('/api/openbooking/orders-rpde');
    expect(booking.seen.at(-1)!.headers.authorization).toBe('Bearer seller-secret');

    // A `next` on another origin is not followed: a recorded failure, no request there.
    const away = (await insert(`${elsewhereAllowed()}/orders-rpde?afterTimestamp=1`)).rows[0]!.id;
    const run = await t.services.ordersFeed.readFeed(away);
    expect(run.error).toMatch(/not on the booking endpoint's origin/);
    expect(elsewhere.seen).toEqual([]);
    const row = (
      await sql<{ failures: number; last_error: string | null }>`select failures, last_error
        from seller_order_feeds where id = ${away}`.execute(t.deps.database.db)
    ).rows[0]!;
    expect(row.failures).toBe(1);
    expect(row.last_error).toMatch(/origin/);
  });
});
