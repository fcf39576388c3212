import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Selectable } from 'kysely';
import { Type } from 'typebox';
import type { FeedsTable, PublishersTable } from '../../db/schema.js';
import { compact } from '../../http/jsonld.js';
import { errorResponses } from '../../http/schemas.js';
import type { CatalogService } from './catalog.service.js';
import {
  AddPublisherBody,
  FeedHealthList,
  FeedHealthQuery,
  Publisher,
  PublisherIdParam,
  PublisherList,
} from './catalog.schemas.js';

const tags = ['Admin: catalog'];
const security = [{ adminKey: [] }];

function toPublisher(p: Selectable<PublishersTable>, feeds?: Selectable<FeedsTable>[]) {
  return compact({
    id: p.id,
    name: p.name,
    datasetUrl: p.dataset_url,
    url: p.url,
    license: p.license,
    publisherName: p.publisher_name,
    publisherUrl: p.publisher_url,
    bookingEndpointUrl: p.booking_endpoint_url,
    mode: p.mode,
    feeds: feeds?.map((f) => ({ id: f.id, url: f.url, kind: f.kind, status: f.status })),
  });
}

/** Operator API for publishers and feed health (X-API-KEY = ADMIN_API_KEY). */
export function catalogRoutes(catalog: CatalogService): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post(
      '/admin/publishers',
      {
        config: { product: 'admin' },
        schema: {
          tags,
          security,
          summary: 'Register a data publisher',
          description:
            'By its dataset site, or by a name and explicit feeds. `mode: "test"` marks a test booking system: only test keys book its sellers (and a live key never does). Registering a known dataset site again refreshes it, and sets its mode when one is given.',
          body: AddPublisherBody,
          response: { 201: Publisher, ...errorResponses(409) },
        },
      },
      async (request, reply) => {
        const { publisher, feeds } = await catalog.addPublisher(request.body);
        return reply
          .code(201)
          .header('location', `/admin/publishers/${publisher.id}`)
          .send(toPublisher(publisher, feeds));
      },
    );

    app.get(
      '/admin/publishers',
      {
        config: { product: 'admin' },
        schema: { tags, security, summary: 'List publishers', response: { 200: PublisherList, ...errorResponses() } },
      },
      async () => ({ items: (await catalog.listPublishers()).map((p) => toPublisher(p)) }),
    );

    app.delete(
      '/admin/publishers/:id',
      {
        config: { product: 'admin' },
        schema: {
          tags,
          security,
          summary: 'Remove a publisher and everything harvested from it',
          params: PublisherIdParam,
          response: { 204: Type.Null(), ...errorResponses(404) },
        },
      },
      async (request, reply) => {
        await catalog.removePublisher(request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/admin/feeds',
      {
        config: { product: 'admin' },
        schema: {
          tags,
          security,
          summary: 'Feed health: position, progress, lag, errors and faults per feed',
          querystring: FeedHealthQuery,
          response: { 200: FeedHealthList, ...errorResponses() },
        },
      },
      async (request) => {
        const harvestQueue = await catalog.harvestQueueHealth();
        return {
          items: (await catalog.feedHealth(request.query.publisherId)).map((f) => compact(f)),
          ...(harvestQueue ? { harvestQueue: compact(harvestQueue) } : {}),
        };
      },
    );
  };
}
