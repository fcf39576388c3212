import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { authOf } from '../../http/auth.js';
import { errorResponses } from '../../http/schemas.js';
import type { RawQuery } from './query.js';
import {
  CollectionResponse,
  EventSeriesItem,
  EventSeriesQuery,
  FacetsResponse,
  FacilityUseItem,
  FacilityUsesQuery,
  ByIdQuery,
  IdParam,
  NoQuery,
  PlacesQuery,
  RestrictedCollection,
  ScheduledSessionItem,
  SlotItem,
  SlugParam,
} from './search.schemas.js';
import type { SearchService } from './search.service.js';

const security = [{ apiKey: [] }];
const config = { product: 'search', displayKeyAllowed: true } as const;

/** JSON-LD documents are serialised once, here (the schemas describe them, fields vary by provider). */
const send = (reply: FastifyReply, body: unknown, cacheSeconds = 0) =>
  reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('cache-control', cacheSeconds ? `public, max-age=${cacheSeconds}` : 'no-cache')
    .send(JSON.stringify(body));

export function searchRoutes(search: SearchService): FastifyPluginAsyncTypebox {
  return async (app) => {
    const events = { tags: ['Events API'], security };
    const facilities = { tags: ['Facilities API'], security };

    app.get(
      '/events-api/v2/event-series',
      {
        config,
        schema: {
          ...events,
          summary: 'Search EventSeries',
          description:
            'Sessions in the next 14 days matching every filter given (repeat a parameter for "any of"). HighFrequencySessions are left out unless iminTag=HighFrequencySession or showAllSessions=true.',
          querystring: EventSeriesQuery,
          response: { 200: RestrictedCollection, ...errorResponses(414) },
        },
      },
      async (request, reply) =>
        send(reply, await search.searchEventSeries(authOf(request), request.query as RawQuery, request.url)),
    );

    app.get(
      '/events-api/v2/event-series/:id',
      {
        config,
        schema: {
          ...events,
          summary: 'Get an EventSeries by id (full form)',
          params: IdParam,
          querystring: NoQuery,
          response: { 200: EventSeriesItem, ...errorResponses(404) },
        },
      },
      async (request, reply) => send(reply, await search.getEventSeries(authOf(request), request.params.id)),
    );

    app.get(
      '/events-api/v2/scheduled-sessions/:id',
      {
        config,
        schema: {
          ...events,
          summary: 'Get an upcoming ScheduledSession by its URL-encoded identifier',
          params: IdParam,
          querystring: ByIdQuery,
          response: { 200: ScheduledSessionItem, ...errorResponses(404, 409) },
        },
      },
      async (request, reply) =>
        send(
          reply,
          await search.getScheduledSession(
            authOf(request),
            request.params.id,
            request.query.dataSource ? Number(request.query.dataSource) : null,
          ),
        ),
    );

    app.get(
      '/events-api/v2/places',
      {
        config,
        schema: {
          ...events,
          summary: 'Places with matching events (one per location, for map pins)',
          description: 'Takes the event-series parameters; mode is optional (default discovery-geo).',
          querystring: EventSeriesQuery,
          response: { 200: RestrictedCollection, ...errorResponses(414) },
        },
      },
      async (request, reply) =>
        send(reply, await search.searchEventPlaces(authOf(request), request.query as RawQuery, request.url)),
    );

    app.get(
      '/events-api/v2/facets',
      {
        config,
        schema: {
          ...events,
          summary: 'Activity index and activity concept collections',
          querystring: NoQuery,
          response: { 200: FacetsResponse, ...errorResponses() },
        },
      },
      async (_request, reply) => send(reply, search.facets(), 3600),
    );

    app.get(
      '/events-api/v2/activity-concept-collections/:slug',
      {
        config,
        schema: {
          ...events,
          summary: 'An activity concept collection with its member activities',
          params: SlugParam,
          querystring: NoQuery,
          response: { 200: CollectionResponse, ...errorResponses(404) },
        },
      },
      async (request, reply) => send(reply, search.getCollection(request.params.slug), 3600),
    );

    app.get(
      '/facilities-api/v2/facility-uses',
      {
        config,
        schema: {
          ...facilities,
          summary: 'Search FacilityUses',
          description:
            'mode=discovery-geo: facilities with slots in the next 14 days, nearest first, without slots. mode=upcoming-slots: one day of slots (startDate[gte] and/or startDate[lte] on one date).',
          querystring: FacilityUsesQuery,
          response: { 200: RestrictedCollection, ...errorResponses(414) },
        },
      },
      async (request, reply) =>
        send(reply, await search.searchFacilityUses(authOf(request), request.query as RawQuery, request.url)),
    );

    app.get(
      '/facilities-api/v2/facility-uses/:id',
      {
        config,
        schema: {
          ...facilities,
          summary: 'Get a FacilityUse with 7 days of slots',
          params: IdParam,
          querystring: NoQuery,
          response: { 200: FacilityUseItem, ...errorResponses(404) },
        },
      },
      async (request, reply) => send(reply, await search.getFacilityUse(authOf(request), request.params.id)),
    );

    app.get(
      '/facilities-api/v2/slots/:id',
      {
        config,
        schema: {
          ...facilities,
          summary: 'Get an upcoming Slot by its URL-encoded identifier',
          params: IdParam,
          querystring: ByIdQuery,
          response: { 200: SlotItem, ...errorResponses(404, 409) },
        },
      },
      async (request, reply) =>
        send(
          reply,
          await search.getSlot(
            authOf(request),
            request.params.id,
            request.query.dataSource ? Number(request.query.dataSource) : null,
          ),
        ),
    );

    app.get(
      '/places-api/v1/places',
      {
        config,
        schema: {
          tags: ['Places API'],
          security,
          summary: 'Places with bookable facilities and the activities at each',
          querystring: PlacesQuery,
          response: { 200: RestrictedCollection, ...errorResponses(414) },
        },
      },
      async (request, reply) =>
        send(reply, await search.searchPlaces(authOf(request), request.query as RawQuery, request.url)),
    );
  };
}
