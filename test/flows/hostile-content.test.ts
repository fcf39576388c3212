import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkoutSessionBody,
  createAccount,
  orderItemFor,
  startCheckoutWorld,
  type CheckoutWorld,
} from './checkout-fixture.js';

/*
 * A seller whose published data is hostile (issue 14 point 9): a 1 MB name and description,
 * and javascript:, data: and vbscript: links on the series, its venue and its organiser. The
 * sandbox publishes it over RPDE as any publisher would; activehub harvests it, projects it into
 * search, shows it on the checkout pages, books it and emails the confirmation. None of the
 * links may reach any of those, and no answer may carry the megabyte.
 */

type Json = Record<string, any>;

const MB = 1_000_000;
/** The hostile links, or anything left of them (the payloads are unique to them). */
const HOSTILE = /javascript:|vbscript:|data:text\/html|alert\(|msgbox\(/i;
/** Around the sandbox's generated venues (the UK), wide enough for all of them. */
const GEO = 'geo%5Bradial%5D=54.0,-2.0,1000';
let w: CheckoutWorld;
let broker: { slug: string; key: string; brokerId: number };
let opp: { id: string; offers: string[] };
let seriesIdentifier: string;

beforeAll(async () => {
  w = await startCheckoutWorld();
  opp = await w.createOpportunity('ScheduledSession', 'TestOpportunityBookable');
  const sessionRow = Number(/\/scheduled-sessions\/(\d+)$/.exec(opp.id)![1]);
  const db = w.sandboxDb.db;
  const { rows } = await sql<{ series: number; seller: number; place: number | null }>`
    select ss.id as series, ss.seller_id as seller, ss.place_id as place
    from scheduled_sessions s join session_series ss on ss.id = s.session_series_id
    where s.id = ${sessionRow}`.execute(db);
  const { series, seller, place } = rows[0]!;
  const hostile = (n: number) => ({
    url: `javascript:alert(${n})`,
    sameAs: [`vbscript:msgbox(${n})`, 'https://safe.example/profile'],
    image: [{ '@type': 'ImageObject', url: `data:text/html,<script>alert(${n})</script>` }],
  });
  await sql`update session_series set data = coalesce(data, '{}'::jsonb) || ${JSON.stringify({
    ...hostile(1),
    name: `Hostile ${'N'.repeat(MB)}`,
    description: `Long ${'D'.repeat(MB)}`,
  })}::jsonb where id = ${series}`.execute(db);
  await sql`update sellers set data = coalesce(data, '{}'::jsonb) || ${JSON.stringify({
    ...hostile(2),
    logo: { '@type': 'ImageObject', url: 'javascript:alert(22)' },
  })}::jsonb where id = ${seller}`.execute(db);
  if (place !== null)
    await sql`update places set data = coalesce(data, '{}'::jsonb) || ${JSON.stringify(hostile(3))}::jsonb
      where id = ${place}`.execute(db);
  await w.harvest();
  const projector = w.t.services.projector;
  while (await projector.pending()) await projector.runOnce({ budgetMs: 60_000 });
  broker = await w.t.newBroker({ products: ['search', 'booking', 'checkout'] });
  const session = await w.t.request({
    method: 'GET',
    url: `/events-api/v2/scheduled-sessions/${encodeURIComponent(opp.id)}`,
    key: broker.key,
  });
  expect(session.statusCode, session.body.slice(0, 300)).toBe(200);
  seriesIdentifier = session.json<Json>().superEvent.superEvent.identifier as string;
}, 120_000);

afterAll(async () => {
  await w?.close();
});

function expectInert(body: string, what: string) {
  expect(body.match(HOSTILE)?.[0], `${what} carries a hostile link`).toBeUndefined();
  // The megabyte name and description are cut to their caps (500 and 5,000 characters).
  expect(body.length, `${what} is ${body.length} characters`).toBeLessThan(200_000);
  expect(body).not.toMatch(/N{501}/);
  expect(body).not.toMatch(/D{5001}/);
}

describe('hostile publisher data', () => {
  it('is stored capped and without its non-http(s) links', async () => {
    const item = await w.t.deps.database.db
      .selectFrom('catalog_entities')
      .select(['name', 'data'])
      .where('type', '=', 'SessionSeries')
      .where('name', 'like', 'Hostile %')
      .executeTakeFirstOrThrow();
    expect(item.name!.length).toBeLessThanOrEqual(500);
    expectInert(JSON.stringify(item.data), 'the catalog entity');
    // The safe link next to the hostile one is kept.
    expect(JSON.stringify(item.data)).toContain('https://safe.example/profile');
    const [health] = await w.t.services.catalog.feedHealth(w.publisherId);
    expect(health).toBeDefined();
    const faults = (await w.t.services.catalog.feedHealth(w.publisherId)).flatMap((f) => f.faults.map((x) => x.fault));
    expect(faults).toEqual(expect.arrayContaining(['non_http_url', 'text_truncated']));
  });

  it('reaches no search answer: By-ID and lists', async () => {
    const paths = [
      `/events-api/v2/scheduled-sessions/${encodeURIComponent(opp.id)}`,
      `/events-api/v2/event-series/${seriesIdentifier}`,
      `/events-api/v2/event-series?mode=upcoming-sessions&${GEO}&limit=50`,
      `/events-api/v2/event-series?mode=discovery-geo&${GEO}&limit=50`,
      `/events-api/v2/places?${GEO}`,
      `/places-api/v1/places?${GEO}`,
    ];
    for (const url of paths) {
      const res = await w.t.request({ method: 'GET', url, key: broker.key });
      expect(res.statusCode, `${url}: ${res.body.slice(0, 300)}`).toBe(200);
      expectInert(res.body, url);
    }
    // The series is in those answers, capped: what was checked is what a broker gets.
    for (const url of paths.slice(0, 4)) {
      const res = await w.t.request({ method: 'GET', url, key: broker.key });
      expect(res.body, url).toContain('Hostile NNN');
    }
  });

  it('reaches neither the checkout pages nor the confirmation email', async () => {
    const louis = await createAccount(w.t, broker.key, 'Louis', 'louis.hostile@example.com');
    const created = await w.t.request({
      method: 'POST',
      url: `/checkout/${broker.slug}/api/checkout-sessions`,
      key: broker.key,
      payload: checkoutSessionBody(louis, [orderItemFor(opp)]),
    });
    expect(created.statusCode, created.body).toBe(201);
    expectInert(created.body, 'the checkout session');
    const id = (created.headers.location as string).split('/').pop()!;
    const guest = await w.t.request({
      method: 'GET',
      url: `/checkout/${broker.slug}/v1/scheduled-sessions/${encodeURIComponent(opp.id)}`,
    });
    expect(guest.statusCode).toBeLessThan(400);
    expectInert(guest.body, 'the guest checkout link');
    const page = await w.t.request({ method: 'GET', url: `/checkout/${broker.slug}/s/${id}` });
    expect(page.statusCode).toBe(200);
    expectInert(page.body, 'the checkout page');

    const checkout = w.t.services.checkout;
    let view = await checkout.view(broker.slug, id);
    if (view.step === 'details')
      view = await checkout.submitDetails(broker.slug, id, { givenName: '', familyName: '', email: '' });
    expect(view.step, JSON.stringify(view.problem)).toBe('pay');
    view = await checkout.pay(broker.slug, id, {
      card: { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' },
    });
    expect(view.step, JSON.stringify(view.problem)).toBe('confirmed');
    const confirmed = await w.t.request({ method: 'GET', url: `/checkout/${broker.slug}/s/${id}` });
    expectInert(confirmed.body, 'the confirmation page');

    const emails = await w.t.services.mailer.list({ to: 'louis.hostile@example.com' });
    expect(emails.length).toBeGreaterThan(0);
    for (const e of emails) {
      expectInert(e.html, 'the email (HTML)');
      expectInert(e.text, 'the email (text)');
      expect(e.subject.length).toBeLessThan(1000);
    }
  });
});
