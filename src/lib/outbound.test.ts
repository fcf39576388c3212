import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpClient, HttpError } from './http-client.js';
import { classifyAddress, createOutboundPolicy, parseHostEntry, type OutboundPolicyOptions } from './outbound.js';

/*
 * The outbound-URL policy (issue 14 point 6) against real local servers: what is refused, that
 * the address refused is the one connected to (a name resolving to 127.0.0.1), redirects checked
 * hop by hop, and credentials never carried to another origin.
 */

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
}

/** A local server recording every request; `/to?u=URL` redirects there (status from `s`). */
async function startServer() {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ path: url.pathname, headers: req.headers });
    if (url.pathname === '/to') {
      res.writeHead(Number(url.searchParams.get('s') ?? 302), { location: url.searchParams.get('u')! }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: url.pathname }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    seen,
    port,
    base: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let a: Awaited<ReturnType<typeof startServer>>;
let b: Awaited<ReturnType<typeof startServer>>;
const policies: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  a = await startServer();
  b = await startServer();
});
afterAll(async () => {
  for (const p of policies) await p.close();
  await a?.close();
  await b?.close();
});

/** Public-looking names that resolve to this machine, as a hostile publisher's DNS would. */
const resolve = async (hostname: string) => {
  if (hostname === 'feeds.example.com' || hostname === 'booking.example.com')
    return [{ address: '127.0.0.1', family: 4 }];
  if (hostname === 'metadata.example.com') return [{ address: '169.254.169.254', family: 4 }];
  if (hostname === 'mixed.example.com')
    return [
      { address: '93.184.216.34', family: 4 },
      { address: '::1', family: 6 },
    ];
  throw Object.assign(new Error(`no such host ${hostname}`), { code: 'ENOTFOUND' });
};

function client(options: Partial<OutboundPolicyOptions> = {}) {
  const outbound = createOutboundPolicy({ allowPrivate: false, allowedHosts: [], resolve, ...options });
  policies.push(outbound);
  return createHttpClient({ userAgent: 'activehub-test', outbound, retries: 0, timeoutMs: 5000 });
}

async function refused(promise: Promise<unknown>, pattern: RegExp) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpError);
  expect((err as HttpError).kind).toBe('blocked');
  expect((err as HttpError).message).toMatch(pattern);
}

describe('address classes', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['169.254.10.10', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'multicast'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['2002:a00:1::', 'private'],
    ['fd00:ec2::254', 'metadata'],
    ['fd12:3456::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['[::1]', 'loopback'],
  ])('%s is %s', (address, cls) => {
    expect(classifyAddress(address)).toBe(cls);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:2800:220:1:248:1893:25c8:1946', '::ffff:8.8.8.8'])(
    '%s is public',
    (address) => {
      expect(classifyAddress(address)).toBeNull();
    },
  );

  it('parses allowed-host entries and refuses nonsense', () => {
    expect(parseHostEntry('Localhost:3100')).toEqual({ host: 'localhost', port: 3100 });
    expect(parseHostEntry('booking.internal')).toEqual({ host: 'booking.internal', port: null });
    expect(parseHostEntry('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    for (const bad of ['http://x', 'a:b:c', 'host:99999', 'host/path', '']) expect(() => parseHostEntry(bad)).toThrow();
  });
});

describe('the default (closed) policy', () => {
  it('refuses a loopback address without opening a connection', async () => {
    const before = a.seen.length;
    await refused(client().request(`${a.base}/feed`), /127\.0\.0\.1 is a loopback address/);
    await refused(client().request(`http://[::1]:${a.port}/feed`), /loopback/);
    await refused(client().request(`http://[::ffff:127.0.0.1]:${a.port}/feed`), /loopback/);
    expect(a.seen.length).toBe(before);
  });

  it('refuses a public-looking name that resolves to 127.0.0.1, at the connection', async () => {
    const before = a.seen.length;
    await refused(
      client().request(`http://feeds.example.com:${a.port}/feed`),
      /feeds\.example\.com resolves to 127\.0\.0\.1, a loopback address/,
    );
    // A name with one public and one private address is refused too.
    await refused(client().request(`http://mixed.example.com:${a.port}/feed`), /resolves to ::1/);
    expect(a.seen.length).toBe(before);
    // The same name, allowed: the resolver is what the connection used.
    const res = await client({ allowPrivate: true }).request(`http://feeds.example.com:${a.port}/feed`);
    expect(res.status).toBe(200);
    expect(a.seen.at(-1)!.headers.host).toBe(`feeds.example.com:${a.port}`);
  });

  it('refuses data:, file:, ftp:, javascript: URLs and URLs with credentials', async () => {
    for (const url of [
      'data:application/json,{"items":[]}',
      'file:///etc/passwd',
      'ftp://example.com/x',
      'javascript:alert(1)',
    ])
      await refused(client({ allowPrivate: true }).request(url), /Only http\(s\) URLs/);
    await refused(client({ allowPrivate: true }).request(`http://u:p@127.0.0.1:${a.port}/`), /credentials/);
  });

  it('never opens cloud metadata addresses, even with private addresses allowed', async () => {
    const c = client({ allowPrivate: true });
    await refused(c.request('http://169.254.169.254/latest/meta-data/'), /cloud metadata/);
    await refused(c.request('http://[fd00:ec2::254]/'), /cloud metadata/);
    await refused(c.request(`http://metadata.example.com:${a.port}/`), /resolves to 169\.254\.169\.254/);
  });

  it('opens exactly the allowed hosts (host:port), whatever they resolve to', async () => {
    const c = client({ allowedHosts: [`127.0.0.1:${a.port}`, `feeds.example.com:${a.port}`] });
    expect((await c.request(`${a.base}/ok`)).status).toBe(200);
    expect((await c.request(`http://feeds.example.com:${a.port}/ok`)).status).toBe(200);
    // Another port of the same address is not allowed.
    await refused(c.request(`${b.base}/ok`), /loopback/);
  });
});

describe('redirects', () => {
  it('checks every hop: a redirect from an allowed host to a private one is refused', async () => {
    const c = client({ allowedHosts: [`feeds.example.com:${a.port}`] });
    const before = b.seen.length;
    await refused(
      c.request(`http://feeds.example.com:${a.port}/to?u=${encodeURIComponent(`${b.base}/secret`)}`),
      /127\.0\.0\.1 is a loopback address/,
    );
    await refused(
      c.request(`http://feeds.example.com:${a.port}/to?u=${encodeURIComponent('http://169.254.169.254/')}`),
      /metadata/,
    );
    await refused(
      c.request(`http://feeds.example.com:${a.port}/to?u=${encodeURIComponent('data:text/plain,hi')}`),
      /Only http\(s\)/,
    );
    expect(b.seen.length).toBe(before);
  });

  it('follows allowed hops and reports where the answer came from; stops after 5', async () => {
    const c = client({ allowPrivate: true });
    const res = await c.request(`${a.base}/to?s=307&u=${encodeURIComponent(`${b.base}/landed`)}`);
    expect(res.status).toBe(200);
    expect(res.url).toBe(`${b.base}/landed`);
    let url = `${a.base}/end`;
    for (let i = 0; i < 6; i += 1) url = `${a.base}/to?u=${encodeURIComponent(url)}`;
    const err = await c.request(url).catch((e: unknown) => e);
    expect((err as HttpError).kind).toBe('redirect');
  });

  it('drops credentials on a hop to another origin, keeps them on the same origin', async () => {
    const c = client({ allowPrivate: true });
    const credentials = { authorization: 'Bearer s3cret', 'x-openactive-test-client-id': 'activehub' };
    await c.request(`${a.base}/to?u=${encodeURIComponent(`${b.base}/elsewhere`)}`, { credentials });
    const atB = b.seen.at(-1)!;
    expect(atB.path).toBe('/elsewhere');
    expect(atB.headers.authorization).toBeUndefined();
    expect(atB.headers['x-openactive-test-client-id']).toBeUndefined();
    expect(atB.headers['user-agent']).toBe('activehub-test');
    // An Authorization header given as an ordinary header is origin-bound too.
    await c.request(`${a.base}/to?u=${encodeURIComponent(`${b.base}/again`)}`, {
      headers: { Authorization: 'Basic eA==' },
    });
    expect(b.seen.at(-1)!.headers.authorization).toBeUndefined();

    await c.request(`${a.base}/to?u=${encodeURIComponent(`${a.base}/same`)}`, { credentials });
    const atA = a.seen.at(-1)!;
    expect(atA.path).toBe('/same');
    expect(atA.headers.authorization).toBe('Bearer s3cret');
    expect(atA.headers['x-openactive-test-client-id']).toBe('activehub');
  });

  it('with redirect: manual, answers the 3xx and follows nothing', async () => {
    const c = client({ allowPrivate: true });
    const before = b.seen.length;
    const res = await c.request(`${a.base}/to?u=${encodeURIComponent(`${b.base}/x`)}`, {
      redirect: 'manual',
      credentials: { authorization: 'Bearer s3cret' },
    });
    expect(res.status).toBe(302);
    expect(b.seen.length).toBe(before);
  });
});
