/**
 * The worked example of the README (Louis at Acme Fitness), run against an activehub that is
 * already running, the way a new user would try it: HTTP calls with the demo key, and the hosted
 * checkout paid in headless Chromium (Debian `chromium`, driven by playwright-core).
 *
 *   node --import tsx scripts/try-louis.ts [--url http://localhost:3000] [--key KEY]
 *
 * The key defaults to `$DATA_DIR/demo-api-key.txt` (./data). Each step prints what it saw; the
 * first thing that is not as documented stops the run with exit code 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const BASE = (args.get('url') ?? 'http://localhost:3000').replace(/\/$/, '');
const KEY =
  args.get('key') ?? fs.readFileSync(path.join(process.env.DATA_DIR ?? 'data', 'demo-api-key.txt'), 'utf8').trim();
const started = Date.now();

type Json = Record<string, any>;

function step(text: string) {
  process.stdout.write(`${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s  ${text}\n`);
}

function fail(text: string): never {
  process.stderr.write(`\nFAILED: ${text}\n`);
  process.exit(1);
}

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Json | null }> {
  const res = await fetch(url.startsWith('http') ? url : BASE + url, {
    method,
    headers: { 'x-api-key': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Json | null = null;
  try {
    json = text ? (JSON.parse(text) as Json) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json };
}

async function expectStatus(method: string, url: string, status: number, body?: unknown): Promise<Json | null> {
  const res = await call(method, url, body);
  if (res.status !== status)
    fail(`${method} ${url} answered ${res.status}, not ${status}: ${JSON.stringify(res.json)}`);
  return res.json;
}

async function waitFor<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  for (const deadline = Date.now() + seconds * 1000; Date.now() < deadline;) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return fail(`${what}: not seen within ${seconds} s`);
}

async function mailboxSubjects(to: string): Promise<string[]> {
  const res = await fetch(`${BASE}/dev/mailbox?to=${encodeURIComponent(to)}`);
  if (!res.ok) fail(`/dev/mailbox answered ${res.status} (it is served to this machine when SMTP_URL is unset)`);
  const html = await res.text();
  return [...html.matchAll(/<a href="\/dev\/mailbox\/[^"]+">([^<]*)<\/a>/g)].map((m) => m[1]!);
}

async function main() {
  step(`activehub at ${BASE}`);
  const email = `louis.${Date.now()}@example.com`;
  const louis = (await expectStatus('POST', '/api/v2/customer-accounts', 201, {
    email,
    givenName: 'Louis',
    familyName: 'Wu',
    'imin:is13OrOver': false,
  }))!;
  const id = louis.identifier as string;
  step(`created Louis: ${id}`);

  // A paid, refundable session near London that starts in more than a day.
  const from = new Date(Date.now() + 26 * 3_600_000).toISOString();
  const search = (await expectStatus(
    'GET',
    `/events-api/v2/event-series?mode=upcoming-sessions&geo%5Bradial%5D=51.5074,-0.1278,50&startDate%5Bgte%5D=${encodeURIComponent(from)}&limit=25`,
    200,
  ))!;
  step(`search near London: ${search['imin:totalItems']} series, ${search['imin:item'].length} on the page`);
  let chosen: { session: Json; offer: Json } | undefined;
  for (const series of search['imin:item'] as Json[]) {
    for (const sessionSeries of series.subEvent ?? []) {
      for (const occurrence of sessionSeries.subEvent ?? []) {
        if (chosen || occurrence.remainingAttendeeCapacity < 1) continue;
        const session = (await expectStatus('GET', new URL(occurrence.id as string).pathname, 200))!;
        const offer = ((session.superEvent?.offers ?? []) as Json[]).find(
          (o) => o.price > 0 && o.allowCustomerCancellationFullRefund === true && !o.latestCancellationBeforeStartDate,
        );
        if (offer) chosen = { session, offer };
      }
    }
  }
  if (!chosen) fail('no paid, refundable session found near London');
  step(
    `chose "${chosen.session.superEvent?.name}" at ${chosen.session.startDate}, ${chosen.offer.name} £${chosen.offer.price}`,
  );

  const checkout = (await expectStatus('POST', '/checkout/acme/api/checkout-sessions', 201, {
    '@context': ['https://openactive.io/', 'https://imin.co/'],
    type: 'imin:CheckoutSession',
    'imin:initialOrder': {
      type: 'OrderQuote',
      customer: id,
      orderedItem: [
        {
          type: 'OrderItem',
          orderedItem: { type: 'ScheduledSession', identifier: chosen.session.identifier },
          acceptedOffer: chosen.offer.id,
        },
      ],
    },
  }))!;
  const target = checkout.potentialAction[0].target as string;
  step(`checkout session: ${target}`);

  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  let reference: string;
  try {
    const page = await (await browser.newContext({ locale: 'en-GB' })).newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(target);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel('Name on card').fill('Louis Wu');
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel(/Expiry date/).fill('12/34');
    await page.getByLabel(/Security code/).fill('123');
    await page.getByRole('button', { name: /^Pay £/ }).click();
    await page.getByRole('heading', { name: 'Booking confirmed' }).waitFor();
    reference = (await page.locator('#booking-reference').textContent())!.trim();
  } finally {
    await browser.close();
  }
  step(`paid with 4242 in Chromium: "Booking confirmed", reference ${reference}`);

  const confirmation = await waitFor('confirmation email', 60, async () => {
    const subjects = await mailboxSubjects(email);
    return subjects.length > 0 ? subjects : undefined;
  });
  step(`mailbox: ${confirmation.join(' | ')}`);

  const items = (await expectStatus('GET', `/api/v2/order-items?customerIdentifier=${id}`, 200))!;
  const item = (items['imin:item'] as Json[])[0];
  if (!item) fail('no upcoming order item');
  step(`order items: ${items['imin:totalItems']}, presently cancellable: ${item['imin:isPresentlyCancellable']}`);
  const history = (await expectStatus('GET', `/api/v2/orders?customerIdentifier=${id}`, 200))!;
  const orderUrl = (history['imin:item'] as Json[])[0]?.id as string;
  if (!orderUrl) fail('empty order history');
  const order = (await expectStatus('GET', new URL(orderUrl).pathname, 200))!;
  if (order.confirmationNumber !== reference && order.orderNumber !== reference)
    step(`(order ${order.identifier ?? orderUrl}; booking reference shown was ${reference})`);
  step(
    `order history: ${history['imin:totalItems']}; order ${new URL(orderUrl).pathname}: ${order.orderedItem.length} item, ${order.totalPaymentDue.price} ${order.totalPaymentDue.priceCurrency}, ${order['imin:receipt'].length} receipt`,
  );

  await expectStatus('PATCH', new URL(orderUrl).pathname, 204, {
    '@context': 'https://openactive.io/',
    '@type': 'Order',
    orderedItem: [
      {
        '@type': 'OrderItem',
        '@id': order.orderedItem[0].id,
        orderItemStatus: 'https://openactive.io/CustomerCancelled',
      },
    ],
  });
  step('cancelled the item: 204');
  const refunded = await waitFor('refund and its receipt', 90, async () => {
    const o = (await call('GET', new URL(orderUrl).pathname)).json;
    return o && o['imin:receipt']?.length >= 2 ? o : undefined;
  });
  step(`order now: ${refunded.orderedItem[0].orderItemStatus}, ${refunded['imin:receipt'].length} receipts`);
  const after = await waitFor('refund email', 60, async () => {
    const subjects = await mailboxSubjects(email);
    return subjects.length > confirmation.length ? subjects : undefined;
  });
  step(`mailbox: ${after.join(' | ')}`);
  const receipt = await fetch(new URL(refunded['imin:receipt'][0].url as string).href, {
    headers: { 'x-api-key': KEY },
  });
  const pdf = Buffer.from(await receipt.arrayBuffer());
  if (receipt.status !== 200 || !pdf.subarray(0, 5).equals(Buffer.from('%PDF-')))
    fail(`receipt answered ${receipt.status}`);
  step(`newest receipt: ${pdf.length} bytes of PDF`);
  step('the worked example works end to end');
}

main().catch((err: unknown) => fail((err as Error).stack ?? String(err)));
