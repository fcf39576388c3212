import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { normaliseError } from '../../../http/error-handler.js';
import type { ErrorCode } from '../../../http/errors.js';
import { qrCodePng } from '../../notifications/index.js';
import type { CardDetails, CheckoutService, CheckoutView } from '../index.js';
import { ASSET_PATHS, ASSETS } from './assets.js';
import { createCsrf, isCrossSite } from './csrf.js';
import { renderErrorPage, type ErrorPageKind } from './views/errors.js';
import { imageOrigins } from './views/layout.js';
import { renderCheckoutPage } from './views/steps.js';

/** What the pages need of the checkout service (checkout contracts, "checkout service ↔ hosted pages"). */
export type CheckoutPagesService = Pick<
  CheckoutService,
  'startGuestSession' | 'view' | 'choose' | 'submitDetailsForm' | 'pay'
>;

export interface CheckoutPagesOptions {
  /** HMAC key for CSRF tokens; a random one per process when absent. */
  csrfSecret?: Buffer;
}

const FORM_BODY_LIMIT = 16 * 1024;
const FLASH_COOKIE = 'checkout_flash';

/* ---- request schemas ------------------------------------------------------------------------ */

const Slug = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$', description: 'Broker slug' });
const SessionId = Type.String({ pattern: '^[A-Za-z0-9]{1,64}$', description: 'Checkout session id' });
const GuestParams = Type.Object({
  brokerSlug: Slug,
  encodedIdentifier: Type.String({ minLength: 1, maxLength: 500, description: 'URI-encoded identifier' }),
});
// `mode=test`: the guest link of a test key's search result (a test booking system, test
// payments). Other query parameters (a broker's tracking) are left alone.
// `dataSource`: the publisher meant, when more than one publishes the id (lib/data-source.ts).
const GuestQuery = Type.Object({
  mode: Type.Optional(Type.Union([Type.Literal('live'), Type.Literal('test')])),
  dataSource: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,11}$' })),
});
const PageParams = Type.Object({ brokerSlug: Slug, sessionId: SessionId });
const Csrf = Type.String({ maxLength: 100 });
const Text = (max: number) => Type.String({ maxLength: max });
const ChooseBody = Type.Object(
  {
    _csrf: Csrf,
    opportunityId: Type.String({ minLength: 1, maxLength: 2000 }),
    offerId: Type.String({ minLength: 1, maxLength: 2000 }),
    quantity: Type.Optional(Type.String({ pattern: '^[0-9]{1,3}$' })),
  },
  { additionalProperties: false },
);
const DetailsBody = Type.Object(
  { _csrf: Csrf, givenName: Text(400), familyName: Text(400), email: Text(400) },
  { additionalProperties: false },
);
const PayBody = Type.Object(
  {
    _csrf: Csrf,
    cardName: Type.Optional(Text(400)),
    cardNumber: Type.Optional(Text(60)),
    cardExpiry: Type.Optional(Text(20)),
    cardCvc: Type.Optional(Text(20)),
    providerReference: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  },
  { additionalProperties: false },
);
const AssetParams = Type.Object({ file: Type.String({ maxLength: 100 }) });

/* ---- messages carried across the post-redirect-get by a short-lived cookie ------------------- */

const FLASH_MESSAGES = {
  'card-number': 'Please enter the long number on the front of your card.',
  'card-expiry': 'Please enter the expiry date as MM/YY, for example 04/29.',
  'card-cvc': 'Please enter the 3 or 4 digit security code from your card.',
} as const;
type FlashCode = keyof typeof FLASH_MESSAGES;

function readFlash(request: FastifyRequest): string | null {
  const header = request.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === FLASH_COOKIE && value && Object.hasOwn(FLASH_MESSAGES, value)) {
      return FLASH_MESSAGES[value as FlashCode];
    }
  }
  return null;
}

function flashCookie(request: FastifyRequest, path: string, code: FlashCode | null): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  return `${FLASH_COOKIE}=${code ?? ''}; Path=${path}; Max-Age=${code ? 120 : 0}; HttpOnly; SameSite=Lax${secure}`;
}

/** The sandbox card form's fields → CardDetails, or which field is unreadable. */
export function parseCard(body: {
  cardNumber?: string | undefined;
  cardExpiry?: string | undefined;
  cardCvc?: string | undefined;
}): { card: CardDetails } | { problem: FlashCode } {
  const number = (body.cardNumber ?? '').replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(number)) return { problem: 'card-number' };
  const expiry = /^\s*(\d{1,2})\s*\/\s*(\d{2}|\d{4})\s*$/.exec(body.cardExpiry ?? '');
  const month = Number(expiry?.[1]);
  if (!expiry || month < 1 || month > 12) return { problem: 'card-expiry' };
  const year = expiry[2]!.length === 2 ? 2000 + Number(expiry[2]) : Number(expiry[2]);
  const cvc = (body.cardCvc ?? '').trim();
  if (!/^\d{3,4}$/.test(cvc)) return { problem: 'card-cvc' };
  return { card: { number, expMonth: month, expYear: year, cvc } };
}

/* ---- responses -------------------------------------------------------------------------------- */

function contentSecurityPolicy(nonce: string, images: string[], stripe: boolean): string {
  return [
    "default-src 'none'",
    `style-src 'self' 'nonce-${nonce}'`,
    ['img-src', "'self'", 'data:', ...images, ...(stripe ? ['https://*.stripe.com'] : [])].join(' '),
    ...(stripe
      ? [
          "script-src 'self' https://js.stripe.com",
          'frame-src https://js.stripe.com https://hooks.stripe.com',
          'connect-src https://api.stripe.com',
        ]
      : []),
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function sendHtml(
  reply: FastifyReply,
  page: { status: number; body: string },
  csp: { nonce: string; images: string[]; stripe: boolean },
) {
  return reply
    .code(page.status)
    .headers({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': contentSecurityPolicy(csp.nonce, csp.images, csp.stripe),
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })
    .send(page.body);
}

const ERROR_PAGES: Partial<Record<ErrorCode, ErrorPageKind>> = {
  NOT_FOUND: 'not-found',
  UNKNOWN_ENDPOINT: 'not-found',
  UNKNOWN_OPPORTUNITY: 'unknown-opportunity',
  UNKNOWN_OFFER: 'unknown-opportunity',
  OPPORTUNITY_FULL: 'full',
  OPPORTUNITY_NOT_BOOKABLE: 'not-bookable',
  AMBIGUOUS_IDENTIFIER: 'ambiguous',
  GONE: 'expired',
  FORBIDDEN: 'forbidden',
  TOO_MANY_REQUESTS: 'too-many',
  SERVICE_UNAVAILABLE: 'seller-unavailable',
};

/** An error from a seller's booking system that reached us unhandled (BookingError, by shape). */
function sellerProblem(error: unknown): string | null {
  const e = error as { problem?: { code?: unknown }; retryable?: unknown } | null;
  return typeof e?.retryable === 'boolean' && typeof e.problem?.code === 'string' ? e.problem.code : null;
}

/**
 * The hosted checkout pages (imin-booking §1.1, §1.6; checkout contracts): server-rendered HTML
 * under `/checkout/:brokerSlug`, form posts answered with 303 to the session's page.
 */
export function checkoutPagesRoutes(
  checkout: CheckoutPagesService,
  options: CheckoutPagesOptions = {},
): FastifyPluginAsyncTypebox {
  const csrf = createCsrf(options.csrfSecret);
  return async (app) => {
    // Form posts are accepted here only; the rest of the app takes JSON alone.
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT },
      (_request, body, done) => {
        const fields = new Map<string, string | string[]>();
        for (const [key, value] of new URLSearchParams(body as string)) {
          const seen = fields.get(key);
          // A repeated field stays a list so validation rejects it rather than one copy winning.
          fields.set(key, seen === undefined ? value : ([] as string[]).concat(seen, value));
        }
        done(null, Object.fromEntries(fields));
      },
    );

    const pagePath = (slug: string, sessionId: string) =>
      `/checkout/${encodeURIComponent(slug)}/s/${encodeURIComponent(sessionId)}`;

    app.setErrorHandler(async (error: FastifyError & { validationContext?: string }, request, reply) => {
      const params = (request.params ?? {}) as { brokerSlug?: unknown; sessionId?: unknown };
      const known = typeof params.brokerSlug === 'string' && typeof params.sessionId === 'string';
      let kind: ErrorPageKind;
      let status: number | undefined;
      const seller = sellerProblem(error);
      if (error.validation) {
        kind = error.validationContext === 'params' ? 'not-found' : 'bad-form';
      } else if (seller) {
        kind = seller === 'seller_unavailable' ? 'seller-unavailable' : seller === 'full' ? 'full' : 'not-bookable';
      } else {
        const appError = normaliseError(error);
        kind = ERROR_PAGES[appError.code] ?? (appError.statusCode >= 500 ? 'internal' : 'bad-form');
        if (appError.statusCode < 500 && !ERROR_PAGES[appError.code]) status = appError.statusCode;
        if (appError.headers) void reply.headers(appError.headers);
      }
      if (kind === 'internal') request.log.error({ err: error }, 'checkout page failed');
      else request.log.info({ kind, err: error.message }, 'checkout page refused');
      const nonce = randomBytes(16).toString('base64');
      const retryPath =
        known && kind !== 'not-found' && request.method === 'POST'
          ? pagePath(params.brokerSlug as string, params.sessionId as string)
          : null;
      const page = renderErrorPage(kind, { nonce, assets: ASSET_PATHS, retryPath });
      return sendHtml(reply, { status: status ?? page.status, body: page.body }, { nonce, images: [], stripe: false });
    });

    const hide = { hide: true } as const;

    app.get('/checkout/_assets/:file', { schema: { ...hide, params: AssetParams } }, async (request, reply) => {
      const asset =
        request.params.file === 'checkout.css'
          ? ASSETS.css
          : request.params.file === 'stripe-checkout.js'
            ? ASSETS.stripeJs
            : undefined;
      if (!asset) {
        const nonce = randomBytes(16).toString('base64');
        return sendHtml(reply, renderErrorPage('not-found', { nonce, assets: ASSET_PATHS }), {
          nonce,
          images: [],
          stripe: false,
        });
      }
      const etag = `"${asset.version}"`;
      void reply.headers({
        'content-type': asset.contentType,
        'cache-control': 'public, max-age=86400',
        etag,
        'x-content-type-options': 'nosniff',
      });
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.send(asset.body);
    });

    for (const kind of ['scheduled-sessions', 'slots'] as const) {
      app.get(
        `/checkout/:brokerSlug/v1/${kind}/:encodedIdentifier`,
        { schema: { ...hide, params: GuestParams, querystring: GuestQuery } },
        async (request, reply) => {
          const { brokerSlug, encodedIdentifier } = request.params;
          const { sessionId } = await checkout.startGuestSession(
            brokerSlug,
            kind,
            encodedIdentifier,
            request.query.mode ?? 'live',
            request.query.dataSource ? Number(request.query.dataSource) : null,
          );
          return reply
            .code(303)
            .headers({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
            .redirect(pagePath(brokerSlug, sessionId), 303);
        },
      );
    }

    app.get(
      '/checkout/:brokerSlug/s/:sessionId',
      { schema: { ...hide, params: PageParams } },
      async (request, reply) => {
        const { brokerSlug, sessionId } = request.params;
        const view = await checkout.view(brokerSlug, sessionId);
        const path = pagePath(brokerSlug, sessionId);
        const flash = readFlash(request);
        if (flash) void reply.header('set-cookie', flashCookie(request, path, null));
        const nonce = randomBytes(16).toString('base64');
        const page = renderCheckoutPage(view, {
          pagePath: path,
          csrfToken: csrf.token(brokerSlug, sessionId),
          nonce,
          assets: ASSET_PATHS,
          flash,
          barcodeDataUrl: barcodeOf(view),
        });
        return sendHtml(reply, page, { nonce, images: imageOrigins(view.branding), stripe: page.stripe });
      },
    );

    type Target = { brokerSlug: string; sessionId: string };
    /** CSRF check shared by the three posts. */
    const guard = (request: FastifyRequest, target: Target, token: string) =>
      !isCrossSite(request.headers) && csrf.verify(target.brokerSlug, target.sessionId, token);
    const refuse = (request: FastifyRequest, reply: FastifyReply, target: Target) => {
      const nonce = randomBytes(16).toString('base64');
      request.log.info('checkout form refused: CSRF token missing or wrong, or a cross-site post');
      const page = renderErrorPage('forbidden', {
        nonce,
        assets: ASSET_PATHS,
        retryPath: pagePath(target.brokerSlug, target.sessionId),
      });
      return sendHtml(reply, page, { nonce, images: [], stripe: false });
    };
    const backToPage = (reply: FastifyReply, target: Target) =>
      reply.header('cache-control', 'no-store').redirect(pagePath(target.brokerSlug, target.sessionId), 303);

    app.post(
      '/checkout/:brokerSlug/s/:sessionId/choose',
      { schema: { ...hide, params: PageParams, body: ChooseBody } },
      async (request, reply) => {
        if (!guard(request, request.params, request.body._csrf)) return refuse(request, reply, request.params);
        const { brokerSlug, sessionId } = request.params;
        const { opportunityId, offerId, quantity } = request.body;
        await checkout.choose(brokerSlug, sessionId, {
          opportunityId,
          offerId,
          ...(quantity !== undefined ? { quantity: Number(quantity) } : {}),
        });
        return backToPage(reply, request.params);
      },
    );

    app.post(
      '/checkout/:brokerSlug/s/:sessionId/details',
      { schema: { ...hide, params: PageParams, body: DetailsBody } },
      async (request, reply) => {
        if (!guard(request, request.params, request.body._csrf)) return refuse(request, reply, request.params);
        const { brokerSlug, sessionId } = request.params;
        const { givenName, familyName, email } = request.body;
        await checkout.submitDetailsForm(brokerSlug, sessionId, { givenName, familyName, email });
        return backToPage(reply, request.params);
      },
    );

    app.post(
      '/checkout/:brokerSlug/s/:sessionId/pay',
      { schema: { ...hide, params: PageParams, body: PayBody } },
      async (request, reply) => {
        if (!guard(request, request.params, request.body._csrf)) return refuse(request, reply, request.params);
        const { brokerSlug, sessionId } = request.params;
        const body = request.body;
        if (body.cardNumber !== undefined) {
          const parsed = parseCard(body);
          if ('problem' in parsed) {
            void reply.header('set-cookie', flashCookie(request, pagePath(brokerSlug, sessionId), parsed.problem));
            return backToPage(reply, request.params);
          }
          await checkout.pay(brokerSlug, sessionId, { card: parsed.card });
        } else if (body.providerReference !== undefined) {
          await checkout.pay(brokerSlug, sessionId, { providerReference: body.providerReference });
        } else {
          await checkout.pay(brokerSlug, sessionId, {});
        }
        return backToPage(reply, request.params);
      },
    );
  };
}

function barcodeOf(view: CheckoutView): string | null {
  const value = view.order?.barcode;
  if (view.step !== 'confirmed' || !value) return null;
  try {
    return `data:image/png;base64,${qrCodePng(value, 5).toString('base64')}`;
  } catch {
    return null; // a value too long for a QR code: the reference is still shown as text
  }
}
