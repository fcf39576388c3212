import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../../test/helpers.js';

/*
 * The hosted pages in the real app with the real checkout service (app.inject), using imin's
 * documented test items (testing mode: full UI, no payment, no seller booking, a real order and
 * email). The browser tests (test/browser) cover live bookings against the sandbox seller.
 */

let t: TestContext;
let acme: { slug: string; key: string; brokerId: number };
let other: { slug: string; key: string; brokerId: number };

beforeAll(async () => {
  t = await createTestContext();
  acme = await t.newBroker();
  other = await t.newBroker();
  await t.deps.database.db
    .updateTable('brokers')
    .set({
      name: 'Acme <script>alert(1)</script> Fitness',
      url: 'https://acme.example.com',
      logo_url: 'https://cdn.acme.example.com/logo.png',
      background_image_url: 'https://cdn.acme.example.com/bg.jpg',
      primary_color: '#0a7d32',
      secondary_color: 'not a colour; } body { display: none',
      contact_email: 'help@acme.example.com',
      terms_url: 'https://acme.example.com/terms',
    })
    .where('id', '=', acme.brokerId)
    .execute();
});
afterAll(async () => t?.close());

const flat = (body: string) => body.replace(/\s+/g, ' ').replace(/ >/g, '>').replace(/> </g, '><');

async function page(url: string): Promise<LightMyRequestResponse & { text: string }> {
  const res = await t.request({ method: 'GET', url });
  return Object.assign(res, { text: flat(res.body) });
}

function tokenOf(body: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
  if (!token) throw new Error('no CSRF token on the page');
  return token;
}

function submit(url: string, form: Record<string, string>) {
  return t.request({
    method: 'POST',
    url,
    payload: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

async function startGuest(slug: string, item = 'test-item-ScheduledSession-paid') {
  const res = await t.request({ method: 'GET', url: `/checkout/${slug}/v1/scheduled-sessions/${item}` });
  expect(res.statusCode).toBe(303);
  const location = String(res.headers.location);
  expect(location).toMatch(new RegExp(`^/checkout/${slug}/s/[A-Za-z0-9]{14}$`));
  return location;
}

describe('hosted checkout with the real service (testing mode)', () => {
  it('guest: choose → details → pay → confirmation, with the order and email recorded', async () => {
    const path = await startGuest(acme.slug);
    const choose = await page(path);
    expect(choose.statusCode).toBe(200);
    expect(choose.text).toContain('<h1>Test fitness class</h1>');
    expect(choose.text).toContain('class="test-banner"');
    expect(choose.text).toContain('value="test-offer-adult-guest" checked');
    expect(choose.text).not.toContain('test-offer-adult-member'); // members only, and this guest is not one

    let res = await submit(`${path}/choose`, {
      _csrf: tokenOf(choose.body),
      opportunityId: 'test-item-ScheduledSession-paid',
      offerId: 'test-offer-adult-guest',
      quantity: '2',
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(path);

    const details = await page(path);
    expect(details.text).toContain(`action="${path}/details"`);
    expect(details.text).toContain('£13.00');
    res = await submit(`${path}/details`, {
      _csrf: tokenOf(details.body),
      givenName: 'Ann',
      familyName: "O'Neill",
      email: 'ann@example.com',
    });
    expect(res.statusCode).toBe(303);

    const pay = await page(path);
    expect(pay.text).toContain(`action="${path}/pay"`);
    expect(pay.text).toContain('Booking as <strong>Ann O&#39;Neill</strong>');
    expect(pay.text).toContain('Pay £13.00');
    res = await submit(`${path}/pay`, {
      _csrf: tokenOf(pay.body),
      cardName: "Ann O'Neill",
      cardNumber: '4242 4242 4242 4242',
      cardExpiry: '12/34',
      cardCvc: '123',
    });
    expect(res.statusCode).toBe(303);

    const done = await page(path);
    expect(done.statusCode).toBe(200);
    expect(done.text).toContain('<h1>Booking confirmed</h1>');
    const reference = /id="booking-reference">([^<]+)</.exec(done.text)?.[1];
    expect(reference).toBeTruthy();
    expect(done.text).toMatch(/<img src="data:image\/png;base64,[^"]+" alt="Entry barcode/);
    expect(done.text).toContain('confirmation email to <strong>ann@example.com</strong>');

    const order = await t.deps.database.db
      .selectFrom('orders' as never)
      .selectAll()
      .where('order_number' as never, '=', reference as never)
      .executeTakeFirstOrThrow();
    const o = order as unknown as { broker_id: number; status: string; total_price: number; test_mode: boolean };
    expect(o).toMatchObject({ broker_id: acme.brokerId, status: 'confirmed', total_price: 1300, test_mode: true });
    const emails = await t.services.mailer.list({ to: 'ann@example.com' });
    expect(emails).toHaveLength(1);
    expect(emails[0]!.text).toContain(reference!);

    // a replayed post after confirmation changes nothing
    res = await submit(`${path}/pay`, { _csrf: tokenOf(pay.body) });
    expect(res.statusCode).toBe(303);
    expect(await t.services.mailer.list({ to: 'ann@example.com' })).toHaveLength(1);
  });

  it("applies the broker's branding and escapes its hostile name; rejects the bad colour", async () => {
    const path = await startGuest(acme.slug, 'test-item-ScheduledSession-free');
    const res = await page(path);
    expect(res.text).toContain('--brand-primary:#0a7d32;');
    expect(res.text).not.toContain('--brand-secondary');
    expect(res.text).not.toContain('display: none');
    expect(res.text).toContain('alt="Acme &lt;script&gt;alert(1)&lt;/script&gt; Fitness"');
    expect(res.text).not.toContain('<script>');
    expect(res.text).toContain('src="https://cdn.acme.example.com/bg.jpg"');
    expect(res.text).toContain('href="mailto:help@acme.example.com"');
    expect(String(res.headers['content-security-policy'])).toContain(
      "img-src 'self' data: https://cdn.acme.example.com",
    );
  });

  it('a hostile customer and navigation links from the API are escaped or dropped', async () => {
    const created = await t.request({
      method: 'POST',
      url: `/checkout/${acme.slug}/api/checkout-sessions`,
      key: acme.key,
      payload: {
        '@context': ['https://openactive.io/', 'https://imin.co/'],
        type: 'imin:CheckoutSession',
        'imin:initialOrder': {
          type: 'OrderQuote',
          customer: {
            type: 'Person',
            givenName: '<script>alert(1)</script>',
            familyName: '"><b>x',
            email: 'h@example.com',
          },
          broker: { type: 'Organization', name: 'Acme', url: 'https://acme.example.com' },
          orderedItem: [
            {
              type: 'OrderItem',
              orderedItem: { type: 'ScheduledSession', identifier: 'test-item-ScheduledSession-free' },
              acceptedOffer: 'test-offer-adult-guest',
            },
          ],
        },
        'imin:navigationLinks': [
          { type: 'WebPage', name: 'Back to <i>Broker</i>', url: 'https://acme.example.com/search?q="><script>' },
        ],
      },
    });
    expect(created.statusCode, created.body).toBe(201);
    const target = created.json<{ potentialAction: { target: string }[] }>().potentialAction[0]!.target;
    const path = new URL(target).pathname;
    const res = await page(path);
    expect(res.statusCode).toBe(200);
    expect(res.text).not.toContain('<script>');
    expect(res.text).not.toContain('<b>x');
    expect(res.text).not.toContain('<i>Broker');
    expect(res.text).toContain(
      'Booking as <strong>&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;b&gt;x</strong>',
    );
    expect(res.text).toContain('>Back to &lt;i&gt;Broker&lt;/i&gt;</a>');
  });

  it("another broker's session id is a 404 page, for pages and posts alike", async () => {
    const path = await startGuest(acme.slug);
    const sessionId = path.split('/').pop()!;
    const res = await page(`/checkout/${other.slug}/s/${sessionId}`);
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.text).toContain('<h1>Page not found</h1>');
    expect(res.text).not.toContain('Test fitness class');
    const choose = await page(path);
    const post = await submit(`/checkout/${other.slug}/s/${sessionId}/choose`, {
      _csrf: tokenOf(choose.body),
      opportunityId: 'test-item-ScheduledSession-paid',
      offerId: 'test-offer-adult-guest',
    });
    expect([403, 404]).toContain(post.statusCode);
    expect((await page(`/checkout/no-such-broker/s/${sessionId}`)).statusCode).toBe(404);
    expect((await page(`/checkout/${acme.slug}/s/AAAAAAAAAAAAAA`)).statusCode).toBe(404);
  });

  it('CSRF: a post without the right token is a 403 page and the session does not move', async () => {
    const path = await startGuest(acme.slug);
    const res = await submit(`${path}/choose`, {
      _csrf: 'A'.repeat(43),
      opportunityId: 'test-item-ScheduledSession-paid',
      offerId: 'test-offer-adult-guest',
    });
    expect(res.statusCode).toBe(403);
    expect(flat(res.body)).toContain('<h1>Please reload the page</h1>');
    expect((await page(path)).text).toContain(`action="${path}/choose"`); // still choosing
  });

  it('an unknown guest item is a human 404 page; forms are not accepted anywhere else', async () => {
    const res = await page(
      `/checkout/${acme.slug}/v1/scheduled-sessions/${encodeURIComponent('https://nowhere.example/s/1')}`,
    );
    expect(res.statusCode).toBe(404);
    expect(res.text).toContain('<h1>Activity not found</h1>');
    const form = await t.request({
      method: 'POST',
      url: '/api/v2/customer-accounts',
      key: acme.key,
      payload: 'email=a%40b.co&givenName=A&familyName=B',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.statusCode).toBe(415);
  });
});
