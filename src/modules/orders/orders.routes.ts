import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { authOf } from '../../http/auth.js';
import { errorResponses } from '../../http/schemas.js';
import { compact } from '../../http/jsonld.js';
import type { OrdersApi } from './orders-api.service.js';
import type { OrdersFeedReader } from './orders-feed.js';
import {
  CancellationBody,
  CollectionQuery,
  OrderIdParam,
  OrderItemsCollection,
  OrderResponse,
  OrderFeedHealthList,
  OrdersCollection,
  ReceiptIdParam,
} from './orders.schemas.js';

const tags = ['Orders'];
const security = [{ apiKey: [] }];

export function ordersRoutes(orders: OrdersApi): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/api/v2/orders',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Order history of a customer',
          description: 'Completed orders made through checkout, newest first, 10 a page (imin:RestrictedCollection).',
          querystring: CollectionQuery,
          response: { 200: OrdersCollection, ...errorResponses() },
        },
      },
      async (request) => orders.listOrders(authOf(request), request.query.customerIdentifier, request.query.page),
    );

    app.get(
      '/api/v2/orders/:id',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'An order by its identifier',
          params: OrderIdParam,
          response: { 200: OrderResponse, ...errorResponses(404) },
        },
      },
      async (request) => orders.getOrder(authOf(request), request.params.id),
    );

    app.patch(
      '/api/v2/orders/:id',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Cancel items of an order (customer cancellation)',
          description:
            'OpenActive Order Cancellation. Answers 204 once the seller has accepted the cancellation; the refund and the refund email follow the seller’s Orders feed.',
          params: OrderIdParam,
          body: CancellationBody,
          response: {
            204: Type.Unsafe<undefined>({ type: 'null', description: 'Cancelled, no body' }),
            ...errorResponses(404, 413, 415, 503),
          },
        },
      },
      async (request, reply) => {
        await orders.cancel(authOf(request), request.params.id, request.body);
        return reply.code(204).send();
      },
    );

    app.get(
      '/api/v2/order-items',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'Upcoming order items of a customer',
          description:
            'Items the customer will attend, soonest first, 10 a page; imin:isPresentlyCancellable is worked out at the time of the request.',
          querystring: CollectionQuery,
          response: { 200: OrderItemsCollection, ...errorResponses() },
        },
      },
      async (request) =>
        orders.listUpcomingItems(authOf(request), request.query.customerIdentifier, request.query.page),
    );

    app.get(
      '/api/v2/receipts/:id',
      {
        config: { product: 'booking' },
        schema: {
          tags,
          security,
          summary: 'A receipt as a PDF',
          params: ReceiptIdParam,
          response: {
            200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'application/pdf' }),
            ...errorResponses(404),
          },
        },
      },
      async (request, reply) => {
        const { pdf, filename } = await orders.getReceiptPdf(authOf(request), request.params.id);
        return reply
          .header('content-type', 'application/pdf')
          .header('content-disposition', `inline; filename="${filename}"`)
          .header('cache-control', 'private, no-store')
          .send(pdf);
      },
    );
  };
}

/** Operators' view of the sellers' Orders feeds: cursor, failures and faults (operator key). */
export function orderFeedsAdminRoutes(reader: OrdersFeedReader): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/admin/order-feeds',
      {
        config: { product: 'admin' },
        schema: {
          tags: ['Admin: orders'],
          security: [{ adminKey: [] }],
          summary: "Sellers' Orders feeds: position, failures and faults per feed",
          response: { 200: OrderFeedHealthList, ...errorResponses() },
        },
      },
      async () => ({ items: (await reader.feedHealth()).map((f) => compact(f)) }),
    );
  };
}
