import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A small local server speaking the parts of Stripe's REST API activehub uses, for tests that
 * drive the real `stripe` SDK over real HTTP: PaymentIntents (create, retrieve, confirm,
 * capture, cancel) and Refunds (create). Form-encoded requests with bracket notation, Stripe's
 * JSON objects and error shape, API-key authentication (the publishable key may only confirm
 * or read a PaymentIntent with its client_secret, as Stripe.js does), and Idempotency-Key:
 * a POST repeated with the same key replays the first response; different parameters are an
 * idempotency_error. Test PaymentMethods follow Stripe's names (pm_card_visa, …).
 *
 * Fault injection for retry tests: `dropResponses(n)` processes the next n POSTs but closes the
 * connection instead of answering; `failRequests(n)` answers the next n requests with a 500.
 */

type Json = Record<string, unknown>;

interface TestCard {
  brand: string;
  last4: string;
  /** Outcome on confirmation. */
  outcome:
    | { ok: true }
    | { ok: false; code: string; declineCode?: string; message: string }
    | { ok: 'action' /* requires 3-D Secure */ };
}

const DECLINED = 'Your card was declined.';
export const TEST_PAYMENT_METHODS: Record<string, TestCard> = {
  pm_card_visa: { brand: 'visa', last4: '4242', outcome: { ok: true } },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', outcome: { ok: true } },
  pm_card_amex: { brand: 'amex', last4: '8431', outcome: { ok: true } },
  pm_card_chargeDeclined: {
    brand: 'visa',
    last4: '0002',
    outcome: { ok: false, code: 'card_declined', declineCode: 'generic_decline', message: DECLINED },
  },
  pm_card_chargeDeclinedInsufficientFunds: {
    brand: 'visa',
    last4: '9995',
    outcome: {
      ok: false,
      code: 'card_declined',
      declineCode: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
    },
  },
  pm_card_chargeDeclinedExpiredCard: {
    brand: 'visa',
    last4: '0069',
    outcome: { ok: false, code: 'expired_card', declineCode: 'expired_card', message: 'Your card has expired.' },
  },
  pm_card_chargeDeclinedIncorrectCvc: {
    brand: 'visa',
    last4: '0127',
    outcome: {
      ok: false,
      code: 'incorrect_cvc',
      declineCode: 'incorrect_cvc',
      message: "Your card's security code is incorrect.",
    },
  },
  pm_card_chargeDeclinedProcessingError: {
    brand: 'visa',
    last4: '0119',
    outcome: {
      ok: false,
      code: 'processing_error',
      declineCode: 'processing_error',
      message: 'An error occurred while processing your card. Try again in a little bit.',
    },
  },
  pm_card_authenticationRequired: { brand: 'visa', last4: '3184', outcome: { ok: 'action' } },
};

/** Stripe's nested form encoding (`a[b][0]=x`) back into objects and arrays. */
export function parseStripeForm(body: string): Json {
  const root: Json = {};
  for (const [rawKey, value] of new URLSearchParams(body)) {
    const match = /^([^[]+)((?:\[[^\]]*\])*)$/.exec(rawKey);
    if (!match) continue;
    const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!)];
    let node: Json | unknown[] = root;
    for (let i = 0; i < path.length; i += 1) {
      const key = path[i]!;
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d*$/.test(path[i + 1]!);
      if (Array.isArray(node)) {
        const index = key === '' ? node.length : Number(key);
        if (last) node[index] = value;
        else node = (node[index] ??= nextIsIndex ? [] : {}) as Json | unknown[];
      } else if (last) {
        node[key] = value;
      } else {
        node = (node[key] ??= nextIsIndex ? [] : {}) as Json | unknown[];
      }
    }
  }
  return root;
}

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(String(body.message));
  }
}

const invalid = (message: string, extra: Json = {}) =>
  new StripeApiError(400, { type: 'invalid_request_error', message, ...extra });
const missing = (kind: string, id: string, param = 'id') =>
  new StripeApiError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    param,
    message: `No such ${kind}: '${id}'`,
  });

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface Intent {
  id: string;
  clientSecret: string;
  amount: number;
  currency: string;
  captureMethod: string;
  status: string;
  description: string | null;
  metadata: Record<string, string>;
  paymentMethod: string | null;
  latestCharge: string | null;
  amountCapturable: number;
  amountReceived: number;
  refunded: number;
  lastPaymentError: Json | null;
  canceledAt: number | null;
  cancellationReason: string | null;
  created: number;
}

interface Refund {
  id: string;
  amount: number;
  currency: string;
  paymentIntent: string;
  charge: string | null;
  status: string;
  reason: string | null;
  metadata: Record<string, string>;
  created: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  replayed: boolean;
  status: number;
}

export interface StripeServer {
  url: string;
  secretKey: string;
  publishableKey: string;
  intents: Map<string, Intent>;
  refunds: Map<string, Refund>;
  requests: RecordedRequest[];
  /** Status new refunds get ('pending' simulates a bank that settles later). */
  refundStatus: 'succeeded' | 'pending';
  dropResponses(count: number): void;
  failRequests(count: number): void;
  /** What Stripe.js does in the browser: confirm a PaymentIntent with the publishable key. */
  confirmAsBrowser(intentId: string, paymentMethod: string): Promise<{ status: number; body: Json }>;
  close(): Promise<void>;
}

export async function startStripeServer(
  options: { secretKey?: string; publishableKey?: string } = {},
): Promise<StripeServer> {
  const secretKey = options.secretKey ?? `sk_test_${randomBytes(12).toString('hex')}`;
  const publishableKey = options.publishableKey ?? `pk_test_${randomBytes(12).toString('hex')}`;
  const intents = new Map<string, Intent>();
  const refunds = new Map<string, Refund>();
  const requests: RecordedRequest[] = [];
  const idempotent = new Map<string, { fingerprint: string; status: number; body: string }>();
  let dropCount = 0;
  let failCount = 0;

  function paymentMethodJson(id: string): Json {
    const card = TEST_PAYMENT_METHODS[id]!;
    return {
      id,
      object: 'payment_method',
      type: 'card',
      card: { brand: card.brand, last4: card.last4, exp_month: 12, exp_year: 2034, funding: 'credit', country: 'GB' },
      livemode: false,
    };
  }

  function chargeJson(intent: Intent): Json | null {
    if (!intent.latestCharge) return null;
    return {
      id: intent.latestCharge,
      object: 'charge',
      amount: intent.amount,
      amount_captured: intent.amountReceived,
      amount_refunded: intent.refunded,
      captured: intent.amountReceived > 0,
      currency: intent.currency,
      payment_intent: intent.id,
      refunded: intent.refunded > 0 && intent.refunded >= intent.amountReceived,
      status: intent.lastPaymentError ? 'failed' : 'succeeded',
    };
  }

  function intentJson(intent: Intent, expand: string[] = [], forBrowser = false): Json {
    const json: Json = {
      id: intent.id,
      object: 'payment_intent',
      amount: intent.amount,
      amount_capturable: intent.amountCapturable,
      amount_received: intent.amountReceived,
      capture_method: intent.captureMethod,
      client_secret: intent.clientSecret,
      confirmation_method: 'automatic',
      created: intent.created,
      currency: intent.currency,
      description: intent.description,
      last_payment_error: intent.lastPaymentError,
      latest_charge: expand.includes('latest_charge') ? chargeJson(intent) : intent.latestCharge,
      livemode: false,
      metadata: intent.metadata,
      next_action: intent.status === 'requires_action' ? { type: 'use_stripe_sdk', use_stripe_sdk: {} } : null,
      payment_method:
        intent.paymentMethod && expand.includes('payment_method')
          ? paymentMethodJson(intent.paymentMethod)
          : intent.paymentMethod,
      allowed_payment_method_types: ['card'],
      status: intent.status,
      canceled_at: intent.canceledAt,
      cancellation_reason: intent.cancellationReason,
    };
    // With a publishable key Stripe returns a reduced object (no metadata).
    if (forBrowser) delete json.metadata;
    return json;
  }

  function refundJson(refund: Refund): Json {
    return {
      id: refund.id,
      object: 'refund',
      amount: refund.amount,
      currency: refund.currency,
      payment_intent: refund.paymentIntent,
      charge: refund.charge,
      status: refund.status,
      reason: refund.reason,
      metadata: refund.metadata,
      created: refund.created,
    };
  }

  const stringMap = (value: unknown): Record<string, string> => {
    if (value === undefined || value === '') return {};
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid('Invalid object', { param: 'metadata' });
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
  };
  const expandOf = (params: Json): string[] => {
    const e = params.expand;
    return Array.isArray(e) ? e.map(String) : typeof e === 'string' ? [e] : [];
  };
  const positiveInt = (value: unknown, param: string): number => {
    if (typeof value !== 'string' || !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 99_999_999) {
      throw invalid(`Invalid integer: ${String(value)}`, { param });
    }
    return Number(value);
  };
  const intentFor = (id: string) => {
    const intent = intents.get(id);
    if (!intent) throw missing('payment_intent', id);
    return intent;
  };
  const unexpectedState = (intent: Intent, action: string, allowed: string[]) =>
    invalid(
      `This PaymentIntent's ${action} could not be performed because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be used: ${allowed.join(', ')}.`,
      { code: 'payment_intent_unexpected_state', payment_intent: intentJson(intent) },
    );

  function confirm(intent: Intent, params: Json, forBrowser: boolean): Json {
    const allowed = ['requires_payment_method', 'requires_confirmation'];
    if (!allowed.includes(intent.status)) throw unexpectedState(intent, 'confirm', allowed);
    const pm = typeof params.payment_method === 'string' ? params.payment_method : intent.paymentMethod;
    if (!pm) {
      throw invalid('You cannot confirm this PaymentIntent because it\u2019s missing a payment method.', {
        code: 'payment_intent_unexpected_state',
      });
    }
    const card = TEST_PAYMENT_METHODS[pm];
    if (!card) throw missing('PaymentMethod', pm, 'payment_method');
    const outcome = card.outcome;
    if (outcome.ok === 'action') {
      intent.paymentMethod = pm;
      intent.status = 'requires_action';
      return intentJson(intent, expandOf(params), forBrowser);
    }
    const charge = newId('ch');
    intent.latestCharge = charge;
    if (outcome.ok === false) {
      const error = {
        type: 'card_error',
        code: outcome.code,
        ...(outcome.declineCode ? { decline_code: outcome.declineCode } : {}),
        message: outcome.message,
        charge,
        payment_method: paymentMethodJson(pm),
        doc_url: `https://docs.stripe.com/error-codes/${outcome.code.replace(/_/g, '-')}`,
      };
      intent.status = 'requires_payment_method';
      intent.paymentMethod = null;
      intent.lastPaymentError = error;
      throw new StripeApiError(402, { ...error, payment_intent: intentJson(intent, [], forBrowser) });
    }
    intent.paymentMethod = pm;
    intent.lastPaymentError = null;
    if (intent.captureMethod === 'manual') {
      intent.status = 'requires_capture';
      intent.amountCapturable = intent.amount;
    } else {
      intent.status = 'succeeded';
      intent.amountReceived = intent.amount;
    }
    return intentJson(intent, expandOf(params), forBrowser);
  }

  /** One API call; returns [status, json]. `auth` says which key was used. */
  function handle(method: string, path: string, params: Json, auth: 'secret' | 'publishable'): [number, Json] {
    const browserAllowed = (intent: Intent) => {
      if (auth === 'publishable' && params.client_secret !== intent.clientSecret) {
        throw missing('payment_intent', intent.id);
      }
    };
    const secretOnly = () => {
      if (auth !== 'secret') {
        throw new StripeApiError(401, {
          type: 'invalid_request_error',
          message: 'This API call cannot be made with a publishable API key. Please use a secret API key.',
        });
      }
    };
    let m: RegExpExecArray | null;
    if (method === 'POST' && path === '/v1/payment_intents') {
      secretOnly();
      if (params.amount === undefined) {
        throw invalid('Missing required param: amount.', { code: 'parameter_missing', param: 'amount' });
      }
      if (typeof params.currency !== 'string' || !/^[a-z]{3}$/.test(params.currency)) {
        throw invalid('Missing required param: currency.', { code: 'parameter_missing', param: 'currency' });
      }
      const captureMethod = typeof params.capture_method === 'string' ? params.capture_method : 'automatic_async';
      if (!['automatic', 'automatic_async', 'manual'].includes(captureMethod)) {
        throw invalid(`Invalid capture_method: ${captureMethod}`, { param: 'capture_method' });
      }
      const id = newId('pi');
      const intent: Intent = {
        id,
        clientSecret: `${id}_secret_${randomBytes(12).toString('hex')}`,
        amount: positiveInt(params.amount, 'amount'),
        currency: params.currency,
        captureMethod,
        status: 'requires_payment_method',
        description: typeof params.description === 'string' ? params.description : null,
        metadata: stringMap(params.metadata),
        paymentMethod: null,
        latestCharge: null,
        amountCapturable: 0,
        amountReceived: 0,
        refunded: 0,
        lastPaymentError: null,
        canceledAt: null,
        cancellationReason: null,
        created: nowSeconds(),
      };
      if (typeof params.payment_method === 'string') {
        if (!TEST_PAYMENT_METHODS[params.payment_method]) {
          throw missing('PaymentMethod', params.payment_method, 'payment_method');
        }
        intent.paymentMethod = params.payment_method;
        intent.status = 'requires_confirmation';
      }
      intents.set(id, intent);
      if (params.confirm === 'true') return [200, confirm(intent, params, false)];
      return [200, intentJson(intent, expandOf(params))];
    }
    if (method === 'GET' && (m = /^\/v1\/payment_intents\/([^/]+)$/.exec(path))) {
      const intent = intentFor(m[1]!);
      browserAllowed(intent);
      return [200, intentJson(intent, expandOf(params), auth === 'publishable')];
    }
    if (method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/confirm$/.exec(path))) {
      const intent = intentFor(m[1]!);
      browserAllowed(intent);
      return [200, confirm(intent, params, auth === 'publishable')];
    }
    if (method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/capture$/.exec(path))) {
      secretOnly();
      const intent = intentFor(m[1]!);
      if (intent.status !== 'requires_capture') throw unexpectedState(intent, 'capture', ['requires_capture']);
      const amount =
        params.amount_to_capture === undefined
          ? intent.amountCapturable
          : positiveInt(params.amount_to_capture, 'amount_to_capture');
      if (amount > intent.amountCapturable) {
        throw invalid('The amount to capture is greater than the amount capturable.', {
          code: 'amount_too_large',
          param: 'amount_to_capture',
        });
      }
      intent.status = 'succeeded';
      intent.amountReceived = amount;
      intent.amountCapturable = 0;
      return [200, intentJson(intent, expandOf(params))];
    }
    if (method === 'POST' && (m = /^\/v1\/payment_intents\/([^/]+)\/cancel$/.exec(path))) {
      secretOnly();
      const intent = intentFor(m[1]!);
      const allowed = [
        'requires_payment_method',
        'requires_capture',
        'requires_confirmation',
        'requires_action',
        'processing',
      ];
      if (!allowed.includes(intent.status)) throw unexpectedState(intent, 'cancel', allowed);
      intent.status = 'canceled';
      intent.amountCapturable = 0;
      intent.canceledAt = nowSeconds();
      intent.cancellationReason =
        typeof params.cancellation_reason === 'string' ? params.cancellation_reason : 'requested_by_customer';
      return [200, intentJson(intent, expandOf(params))];
    }
    if (method === 'POST' && path === '/v1/refunds') {
      secretOnly();
      if (typeof params.payment_intent !== 'string') {
        throw invalid('One of the following params should be provided for this request: payment_intent or charge.', {
          code: 'parameter_missing',
        });
      }
      const intent = intents.get(params.payment_intent);
      if (!intent) throw missing('payment_intent', params.payment_intent, 'payment_intent');
      if (intent.status !== 'succeeded') {
        throw invalid(`This PaymentIntent (${intent.id}) does not have a successful charge to refund.`, {
          code: 'charge_not_refundable',
        });
      }
      const remaining = intent.amountReceived - intent.refunded;
      if (remaining <= 0) {
        throw invalid(`Charge ${intent.latestCharge} has already been refunded.`, { code: 'charge_already_refunded' });
      }
      const amount = params.amount === undefined ? remaining : positiveInt(params.amount, 'amount');
      if (amount > remaining) {
        throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, {
          code: 'amount_too_large',
          param: 'amount',
        });
      }
      intent.refunded += amount;
      const refund: Refund = {
        id: newId('re'),
        amount,
        currency: intent.currency,
        paymentIntent: intent.id,
        charge: intent.latestCharge,
        status: server.refundStatus,
        reason: typeof params.reason === 'string' ? params.reason : null,
        metadata: stringMap(params.metadata),
        created: nowSeconds(),
      };
      refunds.set(refund.id, refund);
      return [200, refundJson(refund)];
    }
    if (method === 'GET' && (m = /^\/v1\/refunds\/([^/]+)$/.exec(path))) {
      secretOnly();
      const refund = refunds.get(m[1]!);
      if (!refund) throw missing('refund', m[1]!);
      return [200, refundJson(refund)];
    }
    throw new StripeApiError(404, {
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs.`,
    });
  }

  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stripe.test');
      const method = req.method ?? 'GET';
      const body = Buffer.concat(chunks).toString('utf8');
      const idempotencyKey =
        typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : undefined;
      const requestId = newId('req');
      const send = (status: number, json: string, extraHeaders: Record<string, string> = {}, replayed = false) => {
        requests.push({ method, path: url.pathname, idempotencyKey, replayed, status });
        res.writeHead(status, {
          'content-type': 'application/json',
          'request-id': requestId,
          'stripe-version': String(req.headers['stripe-version'] ?? '2026-10-28.endive'),
          ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
          ...extraHeaders,
        });
        res.end(json);
      };

      if (failCount > 0) {
        failCount -= 1;
        send(500, JSON.stringify({ error: { type: 'api_error', message: 'Simulated failure.' } }));
        return;
      }
      const authorization = req.headers.authorization ?? '';
      const key = /^Bearer (.+)$/.exec(authorization)?.[1];
      const auth = key === secretKey ? 'secret' : key === publishableKey ? 'publishable' : undefined;
      if (!auth) {
        const shown = key ? `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}` : '';
        send(
          401,
          JSON.stringify({
            error: {
              type: 'invalid_request_error',
              message: key
                ? `Invalid API Key provided: ${shown}`
                : "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            },
          }),
        );
        return;
      }
      const params = method === 'GET' ? parseStripeForm(url.search.slice(1)) : parseStripeForm(body);

      const storeKey = idempotencyKey && method === 'POST' ? `${key}:${idempotencyKey}` : undefined;
      const fingerprint = createHash('sha256').update(`${method} ${url.pathname} ${body}`).digest('hex');
      if (storeKey) {
        const previous = idempotent.get(storeKey);
        if (previous) {
          if (previous.fingerprint !== fingerprint) {
            send(
              400,
              JSON.stringify({
                error: {
                  type: 'idempotency_error',
                  message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
                },
              }),
            );
            return;
          }
          send(previous.status, previous.body, { 'idempotent-replayed': 'true' }, true);
          return;
        }
      }

      let status: number;
      let json: string;
      try {
        const [s, result] = handle(method, url.pathname, params, auth);
        status = s;
        json = JSON.stringify(result);
      } catch (err) {
        const body: Json =
          err instanceof StripeApiError ? err.body : { type: 'api_error', message: `Internal error: ${String(err)}` };
        status = err instanceof StripeApiError ? err.status : 500;
        json = JSON.stringify({
          error: { ...body, request_log_url: `https://dashboard.stripe.test/logs/${requestId}` },
        });
      }
      if (storeKey) idempotent.set(storeKey, { fingerprint, status, body: json });
      if (dropCount > 0 && method === 'POST') {
        dropCount -= 1;
        requests.push({ method, path: url.pathname, idempotencyKey, replayed: false, status: 0 });
        req.socket.destroy();
        return;
      }
      send(status, json);
    });
  });
  httpServer.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;

  const server: StripeServer = {
    url,
    secretKey,
    publishableKey,
    intents,
    refunds,
    requests,
    refundStatus: 'succeeded',
    dropResponses(count) {
      dropCount = count;
    },
    failRequests(count) {
      failCount = count;
    },
    async confirmAsBrowser(intentId, paymentMethod) {
      const intent = intents.get(intentId);
      const response = await fetch(`${url}/v1/payment_intents/${intentId}/confirm`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${publishableKey}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ payment_method: paymentMethod, client_secret: intent?.clientSecret ?? '' }),
      });
      return { status: response.status, body: (await response.json()) as Json };
    },
    async close() {
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    },
  };
  return server;
}
