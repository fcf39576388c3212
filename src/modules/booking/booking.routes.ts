import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses } from '../../http/schemas.js';
import type { BookingService } from './booking.service.js';
import { CredentialsBody, CredentialsList, CredentialsResponse, PublisherIdParams } from './booking.schemas.js';

const tags = ['Admin: booking'];
const security = [{ adminKey: [] }];

/** Operator API for booking-partner credentials (X-API-KEY = ADMIN_API_KEY). Header values are write-only. */
export function bookingRoutes(booking: BookingService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.put(
      '/admin/publishers/:id/booking-credentials',
      {
        config: { product: 'admin' },
        schema: {
          tags,
          security,
          summary: "Set the booking-partner credentials for a publisher's Open Booking API",
          description:
            'Stores the HTTP headers activehub sends when it books with this publisher (or with one of its sellers, when sellerId is given). Replaces earlier credentials for the same publisher/seller. Header values are never returned.',
          params: PublisherIdParams,
          body: CredentialsBody,
          response: { 200: CredentialsResponse, ...errorResponses(404) },
        },
      },
      async (request) => {
        const { id } = request.params;
        await booking.setCredentials({
          publisherId: id,
          sellerId: request.body.sellerId ?? null,
          headers: request.body.headers,
        });
        const sellerId = request.body.sellerId ?? null;
        const row = (await booking.listCredentials(id)).find((c) => c.sellerId === sellerId)!;
        return { publisherId: id, sellerId, headerNames: row.headerNames, updatedAt: row.updatedAt.toISOString() };
      },
    );

    app.get(
      '/admin/publishers/:id/booking-credentials',
      {
        config: { product: 'admin' },
        schema: {
          tags,
          security,
          summary: 'List the booking-partner credentials of a publisher (header names only)',
          params: PublisherIdParams,
          response: { 200: CredentialsList, ...errorResponses(404) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const rows = await booking.listCredentials(id);
        return {
          items: rows.map((r) => ({
            publisherId: id,
            sellerId: r.sellerId,
            headerNames: r.headerNames,
            updatedAt: r.updatedAt.toISOString(),
          })),
        };
      },
    );
  };
}
