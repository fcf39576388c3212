import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { authOf } from '../../http/auth.js';
import { AppError } from '../../http/errors.js';
import { errorResponses } from '../../http/schemas.js';
import type { AuthContext } from '../brokers/index.js';
import type { CheckoutService } from './checkout.service.js';
import { BrokerSlugParams, CheckoutSessionBody, CheckoutSessionResponse, SessionParams } from './checkout.schemas.js';

const tags = ['Checkout'];
const security = [{ apiKey: [] }];

/**
 * The key's broker must be the broker in the path; any other broker (or none) answers 404 like
 * an unknown one (DECISIONS §2: no existence oracle).
 */
function brokerAuth(request: FastifyRequest, brokerSlug: string): AuthContext {
  const auth = authOf(request);
  if (auth.brokerSlug !== brokerSlug) throw new AppError('NOT_FOUND', 'There is no checkout at this address.');
  return auth;
}

/** Checkout-sessions JSON API (imin-booking §1.3, §1.4; DECISIONS §5), under `{checkoutBaseUrl}`. */
export function checkoutRoutes(checkout: CheckoutService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/checkout/:brokerSlug/api/checkout-sessions',
      {
        config: { product: 'checkout', idempotent: true },
        schema: {
          tags,
          security,
          summary: 'Create a checkout session (authenticated checkout, group booking)',
          description:
            '`imin:initialOrder.orderedItem[].orderedItem.identifier` is the opportunity `identifier` from the Events/Facilities API; `customer` a customer account identifier (or its `id` URL, `<PUBLIC_BASE_URL>/api/v2/customer-accounts/<identifier>`) or an inline Person. Group booking: one OrderItem per attendee (account identifiers), all for the same opportunity and offer, `customer` an account identifier. The response echoes the request, adds the broker and `potentialAction[0].target`, the page to send the customer to. Sessions last 24 hours. Send an Idempotency-Key header to make retries safe.',
          params: BrokerSlugParams,
          body: CheckoutSessionBody,
          response: { 201: CheckoutSessionResponse, ...errorResponses(404, 409, 413, 415, 422) },
        },
      },
      async (request, reply) => {
        const auth = brokerAuth(request, request.params.brokerSlug);
        const result = await checkout.createSession(auth, request.body, 'authenticated');
        request.resourceRef = result.location.split('/').pop() ?? null;
        return reply
          .code(201)
          .header('location', result.location)
          .send(result.body as CheckoutSessionResponse);
      },
    );

    const standalone = {
      config: { product: 'checkout' as const, idempotent: true },
      schema: {
        tags,
        security,
        summary: 'Create a checkout session (standalone checkout, open-data id)',
        description:
          'For open-data users: `imin:initialOrder.orderedItem[0].orderedItem.id` is the open-data `@id` of the ScheduledSession or Slot. POST and PUT are equivalent (imin documents both).',
        params: BrokerSlugParams,
        body: CheckoutSessionBody,
        response: { 201: CheckoutSessionResponse, ...errorResponses(404, 409, 413, 415, 422) },
      },
    };
    for (const method of ['POST', 'PUT'] as const) {
      app.route({
        method,
        url: '/checkout/:brokerSlug/checkout-sessions',
        ...standalone,
        handler: async (request, reply) => {
          const auth = brokerAuth(request, request.params.brokerSlug);
          const result = await checkout.createSession(auth, request.body, 'standalone');
          request.resourceRef = result.location.split('/').pop() ?? null;
          return reply
            .code(201)
            .header('location', result.location)
            .send(result.body as CheckoutSessionResponse);
        },
      });
    }

    app.get(
      '/checkout/:brokerSlug/api/checkout-sessions/:id',
      {
        config: { product: 'checkout' },
        schema: {
          tags,
          security,
          summary: 'Get a checkout session and where the customer is in it',
          description:
            '`activehub:state` is the checkout step; `activehub:order` appears once the booking is confirmed. 410 after the session expired.',
          params: SessionParams,
          response: { 200: CheckoutSessionResponse, ...errorResponses(404, 410) },
        },
      },
      async (request) => {
        const auth = brokerAuth(request, request.params.brokerSlug);
        return (await checkout.getSession(auth, request.params.id)) as CheckoutSessionResponse;
      },
    );
  };
}
