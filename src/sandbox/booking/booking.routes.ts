import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { BOOKING_MEDIA_TYPE, OPEN_BOOKING_PREFIX } from '../errors.js';
import type { SandboxUrls } from '../ids.js';
import { bookingError } from './booking.errors.js';
import { orderId } from './booking.render.js';
import { readUuid } from './booking.requests.js';
import type { BookingService, Credentials } from './booking.service.js';

/*
 * The Open Booking API endpoints (openactive.md §1.3), under the Base URI `{base}/api/openbooking`.
 * Bodies are JSON-LD and are checked by the service, which answers with the specific
 * OpenActive errors the API defines rather than a generic schema failure.
 */

const JSON_TYPES = ['application/json', 'application/ld+json', 'application/vnd.openactive.booking+json'];

const UuidParams = Type.Object({ uuid: Type.String({ maxLength: 64 }) });
const FeedQuery = Type.Object(
  {
    afterChangeNumber: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  // RPDE consumers may send parameters of other ordering strategies; they are ignored.
  { additionalProperties: true },
);

function credentialsOf(request: FastifyRequest): Credentials {
  const header = (name: string): string | undefined => {
    const v = request.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  return {
    testClientId: header('x-openactive-test-client-id'),
    testSellerId: header('x-openactive-test-seller-id'),
    authorization: header('authorization'),
  };
}

// Serialised to bytes here so the media type goes out exactly as the API names it (Fastify
// rewrites the type of a JSON string or object payload, quoting `version` and adding a charset).
const send = (reply: FastifyReply, status: number, body: unknown) =>
  reply
    .code(status)
    .header('content-type', BOOKING_MEDIA_TYPE)
    .send(Buffer.from(JSON.stringify(body)));

export interface BookingRoutesOptions {
  urls: SandboxUrls;
  /** How often expired leases give their spaces back; 0 = only when C1/C2/B run. */
  leaseSweepIntervalMs: number;
}

export function bookingRoutes(service: BookingService, options: BookingRoutesOptions): FastifyPluginAsyncTypebox {
  const ordersFeedUrl = `${options.urls.openBookingBase}/orders-rpde`;
  const orderProposalsFeedUrl = `${options.urls.openBookingBase}/order-proposals-rpde`;
  return async (app) => {
    if (options.leaseSweepIntervalMs > 0) {
      const timer = setInterval(() => {
        service.sweepExpiredLeases().catch((err: unknown) => app.log.error({ err }, 'lease sweep failed'));
      }, options.leaseSweepIntervalMs);
      timer.unref();
      app.addHook('onClose', async () => clearInterval(timer));
    }

    const partnerOf = (request: FastifyRequest) => service.authenticate(credentialsOf(request));

    const endpoints: FastifyPluginAsyncTypebox = async (api) => {
      // Brokers send the booking media type on every request, DELETE included, usually with no
      // body: an empty body is "no body" here rather than malformed JSON.
      api.removeAllContentTypeParsers();
      api.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (_request, body, done) => {
        if (body === '') {
          done(null, undefined);
          return;
        }
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(bookingError('BadRequestError', 'The request body is not valid JSON.'), undefined);
        }
      });
      api.put('/order-quote-templates/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        const result = await service.quote(
          partner,
          'C1',
          readUuid(request.params.uuid),
          request.body,
          credentialsOf(request),
        );
        return send(reply, result.status, result.body);
      });

      api.put('/order-quotes/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        const result = await service.quote(
          partner,
          'C2',
          readUuid(request.params.uuid),
          request.body,
          credentialsOf(request),
        );
        return send(reply, result.status, result.body);
      });

      // 204 whether or not there was a quote or lease to delete (§1.3).
      api.delete('/order-quotes/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        await service.deleteQuote(partner, readUuid(request.params.uuid));
        return reply.code(204).send();
      });

      api.put('/orders/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        const uuid = readUuid(request.params.uuid);
        const result = await service.book(partner, uuid, request.body, credentialsOf(request));
        if (result.status === 201) void reply.header('location', orderId(options.urls, uuid));
        return send(reply, result.status, result.body);
      });

      api.patch('/orders/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        await service.cancel(partner, readUuid(request.params.uuid), request.body);
        return reply.code(204).send();
      });

      api.delete('/orders/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        await service.deleteOrder(partner, readUuid(request.params.uuid));
        return reply.code(204).send();
      });

      api.get('/orders/:uuid', { schema: { params: UuidParams } }, async (request, reply) => {
        const partner = await partnerOf(request);
        return send(reply, 200, await service.getOrder(partner, readUuid(request.params.uuid)));
      });

      // Orders feeds carry no licence and must not be cached publicly (openactive.md §2.4–2.5).
      api.get('/orders-rpde', { schema: { querystring: FeedQuery } }, async (request, reply) => {
        const partner = await partnerOf(request);
        const page = await service.ordersFeedPage(partner, ordersFeedUrl, request.query);
        void reply.header('cache-control', 'no-store');
        return send(reply, 200, page);
      });

      // No approval flow here, so no proposals: the feed exists (the test suite harvests it)
      // and is always at its end.
      api.get('/order-proposals-rpde', { schema: { querystring: FeedQuery } }, async (request, reply) => {
        await partnerOf(request);
        const { afterChangeNumber, limit } = request.query;
        const params = new URLSearchParams();
        if (afterChangeNumber !== undefined) params.set('afterChangeNumber', String(afterChangeNumber));
        if (limit !== undefined) params.set('limit', String(limit));
        const query = params.toString();
        void reply.header('cache-control', 'no-store');
        return send(reply, 200, { next: `${orderProposalsFeedUrl}${query ? `?${query}` : ''}`, items: [] });
      });

      // Test interface (never in production; openactive.md §6.4). Credentials, when sent,
      // limit the action to that partner's orders.
      api.post('/test-interface/actions', async (request, reply) => {
        const credentials = credentialsOf(request);
        const partner =
          credentials.testClientId !== undefined || credentials.authorization !== undefined
            ? await service.authenticate(credentials)
            : undefined;
        await service.runAction(partner, request.body);
        return reply.code(204).send();
      });
    };
    await app.register(endpoints, { prefix: OPEN_BOOKING_PREFIX });
  };
}
