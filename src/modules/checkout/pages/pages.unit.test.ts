import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../../http/errors.js';
import { validatorCompiler } from '../../../http/validation.js';
import type { CardDetails, CheckoutView } from '../index.js';
import { createCsrf } from './csrf.js';
import { safeColour, safeEmail, safeUrl } from './html.js';
import { checkoutPagesRoutes, type CheckoutPagesService } from './pages.routes.js';
import { parseCard } from './pages.routes.js';
import { readableOn } from './views/layout.js';

/*
 * Rendering, escaping, CSRF and the post-redirect-get of the hosted pages, against a stand-in for
 * the checkout service that returns fixed CheckoutView fixtures (pages.test.ts and the browser
 * tests drive the real service). The app around the plugin is set up like src/app.ts: our
 * validator, and JSON as the only body type outside this plugin.
 */

const SLUG = 'acme';
const SID = 'AbCdEfGhIjKlMn';
const PAGE = `/checkout/${SLUG}/s/${SID}`;
const secret = Buffer.alloc(32, 7);
const csrf = createCsrf(secret);
const TOKEN = csrf.token(SLUG, SID);

function baseView(overrides: Partial<CheckoutView> = {}): CheckoutView {
  return {
    sessionId: SID,
    step: 'choose',
    testMode: false,
    branding: {
      slug: SLUG,
      name: 'Acme Fitness',
      url: 'https://acme.example.com',
      logoUrl: 'https://cdn.acme.example.com/logo.png',
      backgroundImageUrl: 'https://images.example.org/bg.jpg',
      primaryColor: '#ff0066',
      secondaryColor: 'rgb(10, 20, 30)',
      contactEmail: 'help@acme.example.com',
      termsUrl: 'https://acme.example.com/terms',
    },
    navigationLinks: [
      { name: 'Back to Acme Fitness', url: 'https://acme.example.com/' },
      { name: 'Back to Acme Fitness User Profile', url: 'https://acme.example.com/profile' },
    ],
    title: 'Yoga for Beginners',
    location: { name: 'Riverside Leisure Centre', address: '1 River Road, Oxford' },
    seller: { name: 'Riverside Leisure Ltd', termsUrl: 'https://riverside.example.com/terms' },
    choices: [
      {
        opportunityId: 'https://sandbox.example/sessions/1',
        type: 'ScheduledSession',
        name: 'Yoga for Beginners',
        startDate: '2026-11-28T18:30:00.000Z',
        endDate: '2026-11-28T19:30:00.000Z',
        remaining: 4,
        bookable: true,
        offers: [
          { id: 'offer-adult', name: 'Adult', price: 550, currency: 'GBP', priceText: '£5.50', ageRange: '18+' },
          { id: 'offer-junior', name: 'Junior', price: 300, currency: 'GBP', priceText: '£3.00' },
        ],
      },
    ],
    customer: null,
    needsCustomerDetails: true,
    ...overrides,
  };
}

/** The stand-in: answers with `current`, records what the pages sent. */
function standIn() {
  const calls: { method: string; args: unknown[] }[] = [];
  const state: { current: CheckoutView; fail?: unknown } = { current: baseView() };
  const known = (slug: string, id: string) => {
    if (state.fail) throw state.fail;
    if (slug !== SLUG || id !== SID) throw new AppError('NOT_FOUND', 'There is no checkout session with this id.');
    return state.current;
  };
  const service: CheckoutPagesService = {
    async startGuestSession(slug, kind, id) {
      calls.push({ method: 'startGuestSession', args: [slug, kind, id] });
      if (state.fail) throw state.fail;
      if (slug !== SLUG) throw new AppError('NOT_FOUND', 'There is no checkout at this address.');
      return { sessionId: SID };
    },
    async view(slug, id) {
      calls.push({ method: 'view', args: [slug, id] });
      return known(slug, id);
    },
    async choose(slug, id, input) {
      calls.push({ method: 'choose', args: [slug, id, input] });
      return known(slug, id);
    },
    async submitDetailsForm(slug, id, input) {
      calls.push({ method: 'submitDetailsForm', args: [slug, id, input] });
      known(slug, id);
    },
    async pay(slug, id, input) {
      calls.push({ method: 'pay', args: [slug, id, input] });
      return known(slug, id);
    },
  };
  return { service, calls, state };
}

let app: FastifyInstance;
const fake = standIn();

beforeAll(async () => {
  const a = Fastify({ routerOptions: { maxParamLength: 500 } }).withTypeProvider<TypeBoxTypeProvider>();
  a.setValidatorCompiler(validatorCompiler);
  a.removeAllContentTypeParsers();
  a.addContentTypeParser('application/json', { parseAs: 'string' }, a.getDefaultJsonParser('error', 'error'));
  await a.register(checkoutPagesRoutes(fake.service, { csrfSecret: secret }));
  // A JSON route outside the plugin: form bodies must not reach it.
  a.post('/elsewhere', async () => ({ ok: true }));
  await a.ready();
  app = a;
});
afterAll(async () => app?.close());
beforeEach(() => {
  fake.calls.length = 0;
  fake.state.current = baseView();
  delete fake.state.fail;
});

/** Whitespace-insensitive bodies: the templates' line breaks and indentation are not what is tested. */
const flat = (body: string) => body.replace(/\s+/g, ' ').replace(/ >/g, '>').replace(/> </g, '><');
const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await app.inject({ method: 'GET', url, headers });
  return Object.assign(res, { body: flat(res.body) });
};
const post = (url: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url,
    payload: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });

/** Every visible form control has a <label for> naming it. */
function expectLabelled(body: string) {
  const ids = [...body.matchAll(/<(?:input|select)\b(?![^>]*type="hidden")[^>]*\bid="([^"]+)"/g)].map((m) => m[1]);
  for (const id of ids) expect(body, `label for ${id}`).toContain(`for="${id}"`);
  const unnamed = [...body.matchAll(/<(?:input|select)\b(?![^>]*type="hidden")(?![^>]*\bid=)[^>]*>/g)];
  expect(unnamed).toEqual([]);
}

function expectSecurityHeaders(res: Awaited<ReturnType<typeof get>>) {
  expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(res.headers['x-frame-options']).toBe('DENY');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['cache-control']).toBe('no-store');
  const csp = String(res.headers['content-security-policy']);
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("form-action 'self'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
}

describe('step pages', () => {
  it('choose: the occurrence, ticket types and places, with labels, CSRF token and security headers', async () => {
    const res = await get(PAGE);
    expect(res.statusCode).toBe(200);
    expectSecurityHeaders(res);
    const b = res.body;
    expect(b).toMatch(/<h1>Yoga for Beginners<\/h1>/);
    expect(b).toContain(`action="${PAGE}/choose"`);
    expect(b).toContain(`name="_csrf" value="${TOKEN}"`);
    expect(b).toContain('Saturday 28 November 2026, 18:30–19:30');
    expect(b).toContain('value="offer-adult" checked');
    expect(b).toContain('£3.00');
    // places: 1..remaining (4)
    expect([...b.matchAll(/<option value="(\d+)"/g)].map((m) => m[1])).toEqual(['1', '2', '3', '4']);
    expect(b).toContain('aria-current="step"');
    expect(b).toContain('aria-live="polite"');
    expect(b).not.toMatch(/<script/i);
    expectLabelled(b);
  });

  it('choose: several occurrences become radio buttons; full ones are disabled', async () => {
    const first = baseView().choices[0]!;
    fake.state.current = baseView({
      choices: [
        first,
        {
          ...first,
          opportunityId: 'occ-2',
          startDate: '2026-11-29T10:00:00Z',
          endDate: null,
          remaining: 0,
          bookable: false,
        },
      ],
    });
    const b = (await get(PAGE)).body;
    expect(b).toContain('<legend>Choose a time</legend>');
    expect(b).toMatch(/value="occ-2"\s+disabled/);
    expect(b).toContain('Full');
  });

  it('choose: a group booking shows its attendees instead of a number of places', async () => {
    fake.state.current = baseView({
      selected: {
        opportunityId: 'https://sandbox.example/sessions/1',
        offerId: 'offer-adult',
        quantity: 3,
        attendees: [{ name: 'Ann A' }, { name: 'Bob B' }, { name: 'Cat C' }],
      },
    });
    const b = (await get(PAGE)).body;
    expect(b).toContain('Booking for 3 people');
    expect(b).not.toContain('name="quantity"');
    for (const n of ['Ann A', 'Bob B', 'Cat C']) expect(b).toContain(`<li>${n}</li>`);
  });

  it('details: a guest is asked for first name, last name and email', async () => {
    fake.state.current = baseView({
      step: 'details',
      selected: { opportunityId: 'x', offerId: 'offer-adult', quantity: 1, attendees: [] },
      total: { amount: 550, currency: 'GBP', text: '£5.50' },
    });
    const b = (await get(PAGE)).body;
    expect(b).toContain(`action="${PAGE}/details"`);
    for (const [id, ac] of [
      ['givenName', 'given-name'],
      ['familyName', 'family-name'],
      ['email', 'email'],
    ]) {
      expect(b).toMatch(new RegExp(`<input id="${id}" name="${id}"[^>]*autocomplete="${ac}"`));
    }
    expect(b).toContain('Continue to payment');
    expect(b).toContain('£5.50');
    expectLabelled(b);
  });

  it('details: an authenticated customer sees their own details, no inputs to fill', async () => {
    fake.state.current = baseView({
      step: 'details',
      needsCustomerDetails: false,
      customer: { givenName: 'Louis', familyName: 'Wu', email: 'louis@example.com' },
      total: { amount: 0, currency: 'GBP', text: 'Free' },
    });
    const b = (await get(PAGE)).body;
    expect(b).toContain('Booking as <strong>Louis Wu</strong> (louis@example.com)');
    expect(b).not.toMatch(/<input id="givenName"/);
    expect(b).toMatch(/<button class="button" type="submit">Continue<\/button>/);
  });

  it('pay (sandbox): card number, expiry MM/YY, CVC and name, each labelled; the decline message when there is one', async () => {
    fake.state.current = baseView({
      step: 'pay',
      customer: { givenName: 'Ann', familyName: 'Lee', email: 'ann@example.com' },
      total: { amount: 550, currency: 'GBP', text: '£5.50' },
      payment: { kind: 'card' },
      problem: { code: 'declined', message: 'Your card was declined.' },
    });
    const res = await get(PAGE);
    expect(res.statusCode).toBe(200);
    const b = res.body;
    expect(b).toContain(`action="${PAGE}/pay"`);
    for (const id of ['cardName', 'cardNumber', 'cardExpiry', 'cardCvc']) expect(b).toContain(`id="${id}"`);
    expect(b).toContain('autocomplete="cc-number"');
    expect(b).toContain('placeholder="MM/YY"');
    expect(b).toMatch(/role="alert"[^>]*>Your card was declined\.<\/div>/);
    expect(b).toContain('Pay £5.50');
    expect(b).not.toMatch(/<script/i);
    expectLabelled(b);
  });

  it('pay (free): a confirm button and no card fields', async () => {
    fake.state.current = baseView({ step: 'pay', total: { amount: 0, currency: 'GBP', text: 'Free' } });
    const b = (await get(PAGE)).body;
    expect(b).toContain('Confirm booking');
    expect(b).not.toContain('cardNumber');
  });

  it('pay (Stripe): Elements script and a CSP that allows Stripe and nothing else', async () => {
    fake.state.current = baseView({
      step: 'pay',
      total: { amount: 550, currency: 'GBP', text: '£5.50' },
      payment: {
        kind: 'stripe',
        publishableKey: 'pk_test_"x',
        clientSecret: 'pi_1_secret_<b>',
        providerReference: 'pi_1',
      },
    });
    const res = await get(PAGE);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self' https://js.stripe.com");
    expect(csp).toContain('frame-src https://js.stripe.com');
    expect(res.body).toContain('<script src="https://js.stripe.com/v3/"></script>');
    expect(res.body).toMatch(/<script src="\/checkout\/_assets\/stripe-checkout\.js\?v=[0-9a-f]+" defer>/);
    expect(res.body).toContain('data-publishable-key="pk_test_&quot;x"');
    expect(res.body).toContain('data-client-secret="pi_1_secret_&lt;b&gt;"');
    expect(res.body).toContain('name="providerReference" value="pi_1"');
    expect(res.body).not.toContain('name="cardNumber"');
  });

  it('pay while a payment is being processed: a page that refreshes itself', async () => {
    fake.state.current = baseView({ step: 'pay', total: { amount: 550, currency: 'GBP', text: '£5.50' } });
    const b = (await get(PAGE)).body;
    expect(b).toContain('Processing your payment');
    expect(b).toContain('<meta http-equiv="refresh" content="3" />');
  });

  it('confirmed: reference, entry barcode, items, email and the Back to Broker links', async () => {
    fake.state.current = baseView({
      step: 'confirmed',
      choices: [],
      customer: { givenName: 'Ann', familyName: 'Lee', email: 'ann@example.com' },
      order: {
        id: 'f2b0c1de-0000-4000-8000-000000000001',
        orderNumber: 'AH-7K3M9Q',
        barcode: 'AH-7K3M9Q-1',
        items: [{ name: 'Yoga for Beginners', startDate: '2026-11-28T18:30:00.000Z', priceText: '£5.50' }],
        totalText: '£5.50',
        emailSentTo: 'ann@example.com',
      },
    });
    const b = (await get(PAGE)).body;
    expect(b).toContain('<h1>Booking confirmed</h1>');
    expect(b).toContain('id="booking-reference">AH-7K3M9Q</strong>');
    expect(b).toMatch(
      /<img src="data:image\/png;base64,[A-Za-z0-9+/=]{100,}" alt="Entry barcode for booking AH-7K3M9Q"/,
    );
    expect(b).toContain('confirmation email to <strong>ann@example.com</strong>');
    expect(b).toContain('href="https://acme.example.com/">Back to Acme Fitness</a>');
    expect(b).toContain('href="https://acme.example.com/profile">Back to Acme Fitness User Profile</a>');
  });

  it('expired: 410 and a page saying so', async () => {
    fake.state.current = baseView({ step: 'expired' });
    const res = await get(PAGE);
    expect(res.statusCode).toBe(410);
    expect(res.body).toContain('This checkout has expired');
    expect(res.body).not.toContain('<form');
  });

  it('full at C2: 409 and a page saying so, with the way back to the broker', async () => {
    fake.state.current = baseView({ step: 'failed', problem: { code: 'full', message: 'Sorry, this is now full.' } });
    const res = await get(PAGE);
    expect(res.statusCode).toBe(409);
    expect(res.body).toContain('Sorry, Yoga for Beginners is now full');
    expect(res.body).toContain('href="https://acme.example.com/">Back to Acme Fitness</a>');
    expect(res.body).not.toContain('<form');
  });

  it('seller unavailable on a step: the message, and the form to try again', async () => {
    fake.state.current = baseView({
      step: 'details',
      problem: { code: 'seller_unavailable', message: 'The venue cannot be reached right now.' },
    });
    const res = await get(PAGE);
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/role="alert"[^>]*>The venue cannot be reached right now\.</);
    expect(res.body).toContain(`action="${PAGE}/details"`);
  });

  it('test mode: a banner on every step', async () => {
    fake.state.current = baseView({ testMode: true });
    expect((await get(PAGE)).body).toContain('class="test-banner"');
    fake.state.current = baseView({ testMode: false });
    expect((await get(PAGE)).body).not.toContain('class="test-banner"');
  });
});

describe('branding and escaping', () => {
  it("applies the broker's colours, logo, background, contact email, terms and navigation links", async () => {
    const res = await get(PAGE);
    const b = res.body;
    const nonce = /<style nonce="([^"]+)">/.exec(b)?.[1];
    expect(nonce).toBeTruthy();
    expect(String(res.headers['content-security-policy'])).toContain(`'nonce-${nonce}'`);
    expect(b).toContain('--brand-primary:#ff0066;');
    expect(b).toContain('--brand-on-primary:#111111;');
    expect(b).toContain('--brand-secondary:rgb(10, 20, 30);');
    expect(b).toContain('<img class="brand-logo" src="https://cdn.acme.example.com/logo.png" alt="Acme Fitness" />');
    expect(b).toContain('<img class="brand-background" src="https://images.example.org/bg.jpg" alt="" />');
    expect(b).toContain('href="mailto:help@acme.example.com"');
    expect(b).toContain('href="https://acme.example.com/terms"');
    expect(b).toContain('<nav class="site-nav" aria-label="Acme Fitness">');
    const imgSrc = String(res.headers['content-security-policy'])
      .split('; ')
      .find((d) => d.startsWith('img-src'));
    expect(imgSrc).toBe("img-src 'self' data: https://cdn.acme.example.com https://images.example.org");
    expect(b).toMatch(/<link rel="stylesheet" href="\/checkout\/_assets\/checkout\.css\?v=[0-9a-f]{12}" \/>/);
  });

  it('escapes every value: a hostile session name, offer, customer and broker cannot inject markup', async () => {
    const evil = '<script>alert(1)</script>';
    const quote = '"><img src=x onerror=alert(1)>';
    fake.state.current = baseView({
      step: 'details',
      title: evil,
      branding: {
        ...baseView().branding,
        name: `Acme ${evil}`,
        url: 'javascript:alert(1)',
        logoUrl: 'javascript:alert(2)',
        backgroundImageUrl: `https://x.example/${quote}`,
        primaryColor: 'red;} body{display:none',
        secondaryColor: 'url(https://evil.example/x)',
        contactEmail: `x@y.com"><script>alert(3)</script>`,
        termsUrl: 'data:text/html,<script>alert(4)</script>',
      },
      navigationLinks: [
        { name: quote, url: 'https://acme.example.com/?q="><script>' },
        { name: 'bad', url: 'javascript:alert(5)' },
      ],
      customer: { givenName: quote, familyName: evil, email: 'a@b.co' },
      location: { name: evil, address: quote },
      seller: { name: evil, termsUrl: 'vbscript:x' },
      selected: { opportunityId: 'x', offerId: 'offer-adult', quantity: 1, attendees: [{ name: evil }] },
    });
    const res = await get(PAGE);
    const b = res.body;
    expect(b).not.toContain('<script>');
    expect(b).not.toContain('<img src=x');
    expect(b).not.toMatch(/javascript:|vbscript:|data:text/);
    expect(b).not.toContain('onerror=alert(1)>');
    expect(b).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(b).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(b).not.toContain('<style nonce'); // neither colour was acceptable
    expect(b).not.toContain('mailto:');
    expect(b).not.toContain('>bad<');
    expect(b).toContain('href="https://acme.example.com/?q=%22%3E%3Cscript%3E"');
  });

  it('validates colours, URLs and emails before use', () => {
    for (const ok of ['#fff', '#A1B2C3', '#11223344', 'rgb(1, 2, 3)', 'hsl(200, 50%, 40%)', 'rebeccapurple']) {
      expect(safeColour(ok), ok).toBe(ok);
    }
    for (const bad of ['#ggg', 'red;', 'var(--x)', 'url(x)', 'rgb(1,2,3);x', 'expression(alert(1))', '', '#12345']) {
      expect(safeColour(bad), bad).toBeNull();
    }
    expect(safeUrl('https://a.example/x')).toBe('https://a.example/x');
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('/relative')).toBeNull();
    expect(safeEmail('help@acme.example.com')).toBe('help@acme.example.com');
    expect(safeEmail('a@b.com?subject=x')).toBeNull();
    expect(readableOn('#ffff00')).toBe('#111111');
    expect(readableOn('#003366')).toBe('#ffffff');
  });
});

describe('form posts', () => {
  it('choose: 303 back to the page (PRG), with what was chosen', async () => {
    const res = await post(`${PAGE}/choose`, {
      _csrf: TOKEN,
      opportunityId: 'https://sandbox.example/sessions/1',
      offerId: 'offer-junior',
      quantity: '2',
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(PAGE);
    expect(fake.calls).toEqual([
      {
        method: 'choose',
        args: [
          SLUG,
          SID,
          { opportunityId: 'https://sandbox.example/sessions/1', offerId: 'offer-junior', quantity: 2 },
        ],
      },
    ]);
  });

  it('details: passes the names and email', async () => {
    const res = await post(`${PAGE}/details`, {
      _csrf: TOKEN,
      givenName: 'Ann',
      familyName: 'Lee',
      email: 'ann@example.com',
    });
    expect(res.statusCode).toBe(303);
    expect(fake.calls[0]).toEqual({
      method: 'submitDetailsForm',
      args: [SLUG, SID, { givenName: 'Ann', familyName: 'Lee', email: 'ann@example.com' }],
    });
  });

  it('pay: the card fields become CardDetails; a free confirmation sends none', async () => {
    const res = await post(`${PAGE}/pay`, {
      _csrf: TOKEN,
      cardName: 'Ann Lee',
      cardNumber: '4242 4242 4242 4242',
      cardExpiry: '12 / 34',
      cardCvc: '123',
    });
    expect(res.statusCode).toBe(303);
    const card: CardDetails = { number: '4242424242424242', expMonth: 12, expYear: 2034, cvc: '123' };
    expect(fake.calls[0]).toEqual({ method: 'pay', args: [SLUG, SID, { card }] });
    await post(`${PAGE}/pay`, { _csrf: TOKEN });
    expect(fake.calls[1]).toEqual({ method: 'pay', args: [SLUG, SID, {}] });
    await post(`${PAGE}/pay`, { _csrf: TOKEN, providerReference: 'pi_123' });
    expect(fake.calls[2]).toEqual({ method: 'pay', args: [SLUG, SID, { providerReference: 'pi_123' }] });
  });

  it('pay: an unreadable expiry never reaches the service; the page then says what to fix, once', async () => {
    const res = await post(`${PAGE}/pay`, {
      _csrf: TOKEN,
      cardNumber: '4242424242424242',
      cardExpiry: '13/30',
      cardCvc: '123',
      cardName: 'A',
    });
    expect(res.statusCode).toBe(303);
    expect(fake.calls).toEqual([]);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(
      /^checkout_flash=card-expiry; Path=\/checkout\/acme\/s\/AbCdEfGhIjKlMn; Max-Age=120; HttpOnly; SameSite=Lax$/,
    );
    fake.state.current = baseView({
      step: 'pay',
      total: { amount: 550, currency: 'GBP', text: '£5.50' },
      payment: { kind: 'card' },
    });
    const page = await get(PAGE, { cookie: 'checkout_flash=card-expiry' });
    expect(page.body).toContain('Please enter the expiry date as MM/YY');
    expect(String(page.headers['set-cookie'])).toContain('Max-Age=0');
    // an unknown flash value shows nothing
    const other = await get(PAGE, { cookie: 'checkout_flash=%3Cscript%3E' });
    expect(other.body).not.toContain('role="alert"');
  });

  it('parses card fields strictly', () => {
    expect(parseCard({ cardNumber: '4000-0000-0000-0002', cardExpiry: '1/2030', cardCvc: '9999' })).toEqual({
      card: { number: '4000000000000002', expMonth: 1, expYear: 2030, cvc: '9999' },
    });
    expect(parseCard({ cardNumber: '4242', cardExpiry: '01/30', cardCvc: '123' })).toEqual({ problem: 'card-number' });
    expect(parseCard({ cardNumber: '4242424242424242', cardExpiry: '0130', cardCvc: '123' })).toEqual({
      problem: 'card-expiry',
    });
    expect(parseCard({ cardNumber: '4242424242424242', cardExpiry: '01/30', cardCvc: '12a' })).toEqual({
      problem: 'card-cvc',
    });
  });

  it('CSRF: a missing, wrong or other-session token, or a cross-site post, is a 403 page and changes nothing', async () => {
    const other = csrf.token(SLUG, 'ZZZZZZZZZZZZZZ');
    const foreign = createCsrf(Buffer.alloc(32, 9)).token(SLUG, SID);
    for (const token of ['', 'x'.repeat(43), other, foreign]) {
      const res = await post(`${PAGE}/choose`, { _csrf: token, opportunityId: 'a', offerId: 'b' });
      expect(res.statusCode, token).toBe(403);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('Please reload the page');
      expect(res.body).toContain(`href="${PAGE}"`);
    }
    const cross = await post(`${PAGE}/pay`, { _csrf: TOKEN }, { 'sec-fetch-site': 'cross-site' });
    expect(cross.statusCode).toBe(403);
    const noToken = await post(`${PAGE}/details`, { givenName: 'a', familyName: 'b', email: 'c@d.ef' });
    expect(noToken.statusCode).toBe(400);
    expect(fake.calls).toEqual([]);
  });

  it('rejects what a browser form would never send: repeated or unknown fields, other body types', async () => {
    const dup = await app.inject({
      method: 'POST',
      url: `${PAGE}/choose`,
      payload: `_csrf=${TOKEN}&opportunityId=a&offerId=b&offerId=c`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(dup.statusCode).toBe(400);
    expect(dup.body).toContain('We could not read that form');
    const extra = await post(`${PAGE}/choose`, { _csrf: TOKEN, opportunityId: 'a', offerId: 'b', admin: '1' });
    expect(extra.statusCode).toBe(400);
    const text = await app.inject({
      method: 'POST',
      url: `${PAGE}/choose`,
      payload: 'hello',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    expect(text.headers['content-type']).toBe('text/html; charset=utf-8');
    const big = await post(`${PAGE}/details`, {
      _csrf: TOKEN,
      givenName: 'x'.repeat(20_000),
      familyName: '',
      email: '',
    });
    expect(big.statusCode).toBe(413);
    expect(fake.calls).toEqual([]);
    // the form parser is this plugin's alone
    const elsewhere = await post('/elsewhere', { a: '1' });
    expect(elsewhere.statusCode).toBe(415);
  });
});

describe('guest links and error pages', () => {
  it('GET /v1/scheduled-sessions/:encodedIdentifier starts a session and 303s to its page', async () => {
    const id = 'https://sandbox.example/openactive/scheduled-sessions/12';
    const res = await get(`/checkout/${SLUG}/v1/scheduled-sessions/${encodeURIComponent(id)}`);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(PAGE);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(fake.calls[0]).toEqual({ method: 'startGuestSession', args: [SLUG, 'scheduled-sessions', id] });
    const slot = await get(`/checkout/${SLUG}/v1/slots/slot-9`);
    expect(slot.statusCode).toBe(303);
    expect(fake.calls[1]).toEqual({ method: 'startGuestSession', args: [SLUG, 'slots', 'slot-9'] });
  });

  it('unknown broker, unknown or malformed session: the 404 page', async () => {
    for (const url of [
      `/checkout/other/s/${SID}`,
      `/checkout/${SLUG}/s/NoSuchSession1`,
      `/checkout/${SLUG}/s/bad%3Cid%3E`,
      `/checkout/Not_A_Slug/s/${SID}`,
      `/checkout/nobody/v1/scheduled-sessions/x`,
    ]) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('<h1>Page not found</h1>');
      expect(res.body).not.toContain('bad<id>');
    }
    const post404 = await post(`/checkout/other/s/${SID}/choose`, {
      _csrf: csrf.token('other', SID),
      opportunityId: 'a',
      offerId: 'b',
    });
    expect(post404.statusCode).toBe(404);
  });

  it('why a guest link cannot start: full, unknown, not bookable', async () => {
    const cases: [AppError, number, string][] = [
      [new AppError('OPPORTUNITY_FULL', 'full'), 409, 'Sorry, this is full'],
      [new AppError('UNKNOWN_OPPORTUNITY', 'no such <b>thing</b>'), 404, 'Activity not found'],
      [new AppError('OPPORTUNITY_NOT_BOOKABLE', 'window'), 409, 'This cannot be booked online'],
    ];
    for (const [error, status, heading] of cases) {
      fake.state.fail = error;
      const res = await get(`/checkout/${SLUG}/v1/scheduled-sessions/x`);
      expect(res.statusCode).toBe(status);
      expect(res.body).toContain(`<h1>${heading}</h1>`);
      expect(res.body).not.toContain('<b>thing</b>');
    }
  });

  it('a seller that does not answer: the 503 page; anything else: a 500 page without internals', async () => {
    fake.state.fail = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), {
      problem: { code: 'seller_unavailable', message: 'x' },
      retryable: true,
    });
    const res = await post(`${PAGE}/pay`, { _csrf: TOKEN });
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('The venue is not answering');
    expect(res.body).toContain(`href="${PAGE}"`);
    expect(res.body).not.toContain('ECONNREFUSED');
    fake.state.fail = new Error('relation "secret_table" does not exist');
    const boom = await get(PAGE);
    expect(boom.statusCode).toBe(500);
    expect(boom.body).toContain('Something went wrong');
    expect(boom.body).not.toContain('secret_table');
  });

  it('serves the stylesheet with a cache header and an ETag', async () => {
    const res = await get('/checkout/_assets/checkout.css');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=86400');
    expect(res.body).toContain('--brand-primary');
    const again = await get('/checkout/_assets/checkout.css', { 'if-none-match': String(res.headers.etag) });
    expect(again.statusCode).toBe(304);
    expect((await get('/checkout/_assets/stripe-checkout.js')).headers['content-type']).toBe(
      'text/javascript; charset=utf-8',
    );
    expect((await get('/checkout/_assets/nothing.css')).statusCode).toBe(404);
  });
});
