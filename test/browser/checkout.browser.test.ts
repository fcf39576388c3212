import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkoutSessionBody,
  createAccount,
  startCheckoutWorld,
  type CheckoutWorld,
} from '../flows/checkout-fixture.js';
import { chromiumInstalled, launchChromium, openTab, type Tab } from './browser.js';

/*
 * The hosted checkout in headless Chromium against the real server: activehub listening on a
 * port, the bundled sandbox booking system on another, harvested into the catalog, the real
 * checkout, payments (sandbox provider: Stripe test cards), booking and email services. Each
 * journey asserts what the customer sees and what was recorded (our order and email, the
 * seller's order).
 */

type Json = Record<string, any>;

// CI installs Chromium (.ci/run); elsewhere, without it, the suite is skipped rather than failed.
const run = chromiumInstalled() || process.env.CI === 'true';

let w: CheckoutWorld;
let browser: Browser;
let base: string;
let broker: { slug: string; key: string; brokerId: number };
let tab: Tab | undefined;

beforeAll(async () => {
  if (!run) return;
  const launching = launchChromium();
  // The seller-unavailable test moves the seller's endpoint in the database: read it every time.
  w = await startCheckoutWorld({ credentialsSellerId: 1, sessions: 4, bookingTargetCacheMs: 0 });
  await w.t.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(w.t.app.server.address() as AddressInfo).port}`;
  broker = await w.t.newBroker({ products: ['booking', 'checkout'] });
  await w.t.deps.database.db
    .updateTable('brokers')
    .set({
      name: 'Acme Fitness',
      url: 'https://acme.example.com',
      primary_color: '#0a7d32',
      contact_email: 'help@acme.example.com',
    })
    .where('id', '=', broker.brokerId)
    .execute();
  browser = await launching;
}, 120_000);

afterEach(async () => {
  await tab?.close();
  tab = undefined;
});

afterAll(async () => {
  await browser?.close();
  await w?.close();
});

async function newTab(): Promise<Page> {
  tab = await openTab(browser);
  return tab.page;
}

const guestUrl = (opportunityId: string) =>
  `${base}/checkout/${broker.slug}/v1/scheduled-sessions/${encodeURIComponent(opportunityId)}`;

const account = (givenName: string) => createAccount(w.t, broker.key, givenName);

/** POST …/api/checkout-sessions as the broker's server would; the page to send the customer to. */
async function checkoutSession(customer: string, items: Json[]): Promise<string> {
  const res = await w.t.request({
    method: 'POST',
    url: `/checkout/${broker.slug}/api/checkout-sessions`,
    key: broker.key,
    payload: checkoutSessionBody(customer, items, {
      'imin:navigationLinks': [
        {
          type: 'WebPage',
          name: 'Back to Acme',
          'imin:linkType': 'https://imin.co/BackToBrokerLink',
          url: 'https://acme.example.com/search',
        },
        {
          type: 'WebPage',
          name: 'Back to Acme User Profile',
          'imin:linkType': 'https://imin.co/BackToBrokerUserProfileLink',
          url: 'https://acme.example.com/users/louis',
        },
      ],
    }),
  });
  expect(res.statusCode, res.body).toBe(201);
  return base + new URL(res.json<Json>().potentialAction[0].target as string).pathname;
}

async function fillCard(page: Page, number: string) {
  await page.getByLabel('Name on card').fill('Ann Lee');
  await page.getByLabel('Card number').fill(number);
  await page.getByLabel(/Expiry date/).fill('12/34');
  await page.getByLabel(/Security code/).fill('123');
}

async function guestDetails(page: Page, email: string) {
  await page.getByLabel('First name').fill('Ann');
  await page.getByLabel('Last name').fill('Lee');
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: /^Continue/ }).click();
}

interface OrderRow {
  id: string;
  status: string;
  total_price: number;
  customer_id: number | null;
  payment_id: string | null;
  order_number: string;
}

async function orderByNumber(orderNumber: string): Promise<OrderRow> {
  const { rows } = await sql<OrderRow>`select id, status, total_price, customer_id, payment_id, order_number
    from orders where order_number = ${orderNumber}`.execute(w.t.deps.database.db);
  expect(rows).toHaveLength(1);
  return rows[0]!;
}

async function confirmation(page: Page): Promise<OrderRow> {
  await expect.poll(() => page.locator('h1').textContent()).toBe('Booking confirmed');
  const reference = (await page.locator('#booking-reference').textContent())!.trim();
  await expect(page.getByRole('img', { name: /Entry barcode/ }).isVisible()).resolves.toBe(true);
  return orderByNumber(reference);
}

describe.runIf(run)('hosted checkout in a browser', () => {
  it('guest paid booking with card 4242: branded pages, booking at the seller, order and email', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableNonFree');
    const page = await newTab();
    const response = await page.goto(guestUrl(opp.id));
    expect(response?.status()).toBe(200);
    expect(page.url()).toMatch(new RegExp(`/checkout/${broker.slug}/s/[A-Za-z0-9]{14}$`));
    // branding: the header takes the broker's colour, the footer its contact email
    const header = await page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor");
    expect(header).toBe('rgb(10, 125, 50)');
    await expect(page.getByRole('link', { name: 'help@acme.example.com' }).count()).resolves.toBe(1);
    // the first Tab reaches the skip link
    await page.keyboard.press('Tab');
    await expect(page.evaluate('document.activeElement.textContent')).resolves.toBe('Skip to main content');

    await page.getByRole('button', { name: 'Continue' }).click();
    await guestDetails(page, 'ann.paid@example.com');
    await expect(page.getByRole('heading', { name: 'Payment' }).isVisible()).resolves.toBe(true);
    await fillCard(page, '4242 4242 4242 4242');
    await page.getByRole('button', { name: /^Pay £/ }).click();

    const order = await confirmation(page);
    expect(order.status).toBe('confirmed');
    expect(order.total_price).toBeGreaterThan(0);
    expect(order.payment_id).not.toBeNull();
    await expect(page.getByText('ann.paid@example.com').count()).resolves.toBeGreaterThan(0);
    const seller = await w.sellerOrder(order.id);
    expect(seller?.orderedItem?.[0]?.orderItemStatus).toBe('https://openactive.io/OrderItemConfirmed');
    const emails = await w.t.services.mailer.list({ to: 'ann.paid@example.com' });
    expect(emails.map((e) => e.orderId)).toEqual([order.id]);
    expect(tab!.problems).toEqual([]);
  });

  it('authenticated free booking: the customer only confirms; Back to Broker links at the end', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableFree');
    const louis = await account('Louis');
    const page = await newTab();
    await page.goto(
      await checkoutSession(louis, [
        {
          type: 'OrderItem',
          orderedItem: { type: 'ScheduledSession', identifier: opp.id },
          acceptedOffer: opp.offers[0],
        },
      ]),
    );
    await expect(page.getByText('Booking as').textContent()).resolves.toContain('Louis Wu');
    await expect(page.getByLabel('First name').count()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByText('This booking is free').isVisible()).resolves.toBe(true);
    await expect(page.getByLabel('Card number').count()).resolves.toBe(0);
    await page.getByRole('button', { name: 'Confirm booking' }).click();

    const order = await confirmation(page);
    expect(order).toMatchObject({ status: 'confirmed', total_price: 0, payment_id: null });
    expect(order.customer_id).not.toBeNull();
    const next = page.getByRole('navigation', { name: 'Where next' });
    await expect(next.getByRole('link', { name: 'Back to Acme', exact: true }).getAttribute('href')).resolves.toBe(
      'https://acme.example.com/search',
    );
    await expect(next.getByRole('link', { name: 'Back to Acme User Profile' }).getAttribute('href')).resolves.toBe(
      'https://acme.example.com/users/louis',
    );
    expect((await w.t.services.mailer.list({ to: 'louis@example.com' })).length).toBe(1);
    expect(tab!.problems).toEqual([]);
  });

  it('group booking of 3 attendees: one place each, one payment, one order of 3 items', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableFiveSpaces');
    const people = [await account('Gina'), await account('Hugo'), await account('Iris')];
    const page = await newTab();
    await page.goto(
      await checkoutSession(
        people[0]!,
        people.map((attendee) => ({
          type: 'OrderItem',
          orderedItem: { type: 'ScheduledSession', identifier: opp.id },
          acceptedOffer: opp.offers[0],
          attendee,
        })),
      ),
    );
    for (const name of ['Gina Wu', 'Hugo Wu', 'Iris Wu']) {
      await expect(page.locator('.attendees li', { hasText: name }).count()).resolves.toBe(1);
    }
    await page.getByRole('button', { name: /^Continue/ }).click();
    const paid = (await page.locator('.summary__total dd').textContent())!;
    expect(paid).toMatch(/^£\d/);
    if (await page.getByLabel('Card number').count()) {
      await fillCard(page, '4242424242424242');
      await page.getByRole('button', { name: /^Pay £/ }).click();
    } else {
      await page.getByRole('button', { name: 'Confirm booking' }).click();
    }
    const order = await confirmation(page);
    await expect(page.locator('.items li').count()).resolves.toBe(3);
    const { rows } = await sql<{
      n: number;
    }>`select count(*)::int as n from order_items where order_id = ${order.id}`.execute(w.t.deps.database.db);
    expect(rows[0]!.n).toBe(3);
    const seller = await w.sellerOrder(order.id);
    expect(seller?.orderedItem).toHaveLength(3);
    expect(tab!.problems).toEqual([]);
  });

  it('declined card (4000 0000 0000 0002): the message on the pay step, then a good card books once', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableNonFree');
    const page = await newTab();
    await page.goto(guestUrl(opp.id));
    await page.getByRole('button', { name: 'Continue' }).click();
    await guestDetails(page, 'declined.then.ok@example.com');
    await fillCard(page, '4000 0000 0000 0002');
    await page.getByRole('button', { name: /^Pay £/ }).click();
    const alert = page.getByRole('alert');
    await expect(alert.textContent()).resolves.toMatch(/declined/i);
    await expect(page.getByLabel('Card number').inputValue()).resolves.toBe(''); // never echoed back

    await fillCard(page, '4242 4242 4242 4242');
    await page.getByRole('button', { name: /^Pay £/ }).click();
    const order = await confirmation(page);
    expect(order.status).toBe('confirmed');
    expect((await w.t.services.mailer.list({ to: 'declined.then.ok@example.com' })).length).toBe(1);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from orders
      where status = 'confirmed' and customer->>'email' = 'declined.then.ok@example.com'`.execute(w.t.deps.database.db);
    expect(rows[0]!.n).toBe(1);
    expect(tab!.problems).toEqual([]);
  });

  it('session full at C2: the place went while the customer was on the details page', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableOneSpace');
    const page = await newTab();
    await page.goto(guestUrl(opp.id));
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByLabel('First name').isVisible()).resolves.toBe(true);
    // C1 leased the one place to us. The customer dawdles: the lease lapses and someone else
    // books the place (the lease row goes, the place stays taken).
    expect(await w.remaining(opp.id)).toBe(0);
    const sessionRowId = Number(/\/scheduled-sessions\/(\d+)$/.exec(opp.id)![1]);
    const dropped =
      await sql`delete from leases where opportunity_type = 'ScheduledSession' and opportunity_id = ${sessionRowId}`.execute(
        w.sandboxDb.db,
      );
    expect(Number(dropped.numAffectedRows)).toBe(1);
    await guestDetails(page, 'too.late@example.com');
    await expect.poll(() => page.locator('h1').textContent()).toMatch(/is now full/);
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/no money was taken/i);
    await expect(page.locator('form').count()).resolves.toBe(0);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from orders
      where status = 'confirmed' and customer->>'email' = 'too.late@example.com'`.execute(w.t.deps.database.db);
    expect(rows[0]!.n).toBe(0);
    expect(await w.remaining(opp.id)).toBe(0);
    expect(tab!.problems).toEqual([]);
  });

  it('seller unavailable at C2: the message on the same step, and the retry works once it answers', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableNonFree');
    const page = await newTab();
    await page.goto(guestUrl(opp.id));
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByLabel('First name').isVisible()).resolves.toBe(true);
    // the seller's booking system stops answering (nothing listens on port 1)
    const setEndpoint = (url: string) =>
      sql`update publishers set booking_endpoint_url = ${url} where id = ${w.publisherId}`.execute(
        w.t.deps.database.db,
      );
    await setEndpoint('http://127.0.0.1:1/api/openbooking');
    try {
      await guestDetails(page, 'patient@example.com');
      await expect(page.getByRole('alert').textContent()).resolves.toMatch(/reach|unavailable|try again/i);
      // still on the details step, with what the customer entered kept
      await expect(page.getByText('Booking as').textContent()).resolves.toContain('patient@example.com');
    } finally {
      await setEndpoint(`${w.urls.openBookingBase}`);
    }
    await page.getByRole('button', { name: /^Continue/ }).click();
    await expect(page.getByRole('heading', { name: 'Payment' }).isVisible()).resolves.toBe(true);
    expect(tab!.problems).toEqual([]);
  });

  it('expired session (24 h): the page says so, and a late form post books nothing', async () => {
    const opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookableNonFree');
    const page = await newTab();
    await page.goto(guestUrl(opp.id));
    const sessionId = page.url().split('/').pop()!;
    // the customer leaves the tab open for more than a day
    await sql`update checkout_sessions set expires_at = now() - interval '1 minute' where id = ${sessionId}`.execute(
      w.t.deps.database.db,
    );
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('This checkout has expired');
    const reload = await page.reload();
    expect(reload?.status()).toBe(410);
    await expect(page.getByRole('link', { name: /Back to/ }).count()).resolves.toBeGreaterThan(0);
    const { rows } = await sql<{ state: string; order_id: string | null }>`select state, order_id from checkout_sessions
      where id = ${sessionId}`.execute(w.t.deps.database.db);
    expect(rows[0]).toEqual({ state: 'choose', order_id: null });
    expect(tab!.problems).toEqual([]);
  });
});
