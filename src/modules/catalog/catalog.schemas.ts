import { Type } from 'typebox';
import { StringEnum } from '../../http/schemas.js';
import { FEED_KINDS } from './dataset-site.js';

export const AddPublisherBody = Type.Object(
  {
    datasetUrl: Type.Optional(Type.String({ format: 'uri', description: "The publisher's OpenActive dataset site" })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    mode: Type.Optional(
      StringEnum(['live', 'test'] as const, {
        description: 'test: a test booking system, booked by test keys only. Default live (new) or unchanged.',
      }),
    ),
    feeds: Type.Optional(
      Type.Array(
        Type.Object(
          { url: Type.String({ format: 'uri' }), kind: StringEnum(FEED_KINDS) },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 50 },
      ),
    ),
  },
  {
    additionalProperties: false,
    description: 'Either a datasetUrl (feeds discovered from its Dataset JSON-LD), or a name and explicit feeds.',
  },
);

const Feed = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  kind: Type.String(),
  status: Type.String(),
});

export const Publisher = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  datasetUrl: Type.Optional(Type.String()),
  url: Type.Optional(Type.String()),
  license: Type.Optional(Type.String()),
  publisherName: Type.Optional(Type.String()),
  publisherUrl: Type.Optional(Type.String()),
  bookingEndpointUrl: Type.Optional(Type.String()),
  mode: StringEnum(['live', 'test'] as const, { description: 'test: booked by test keys only' }),
  feeds: Type.Optional(Type.Array(Feed)),
});

export const PublisherList = Type.Object({ items: Type.Array(Publisher) });

export const FeedHealth = Type.Object({
  id: Type.Integer(),
  publisherId: Type.Integer(),
  url: Type.String(),
  kind: Type.String(),
  status: Type.String(),
  position: Type.String({ description: 'The next URL the harvester will read (its cursor)' }),
  pages: Type.Integer(),
  itemsUpdated: Type.Integer(),
  itemsDeleted: Type.Integer(),
  lastPageAt: Type.Optional(Type.String()),
  caughtUpAt: Type.Optional(Type.String()),
  newestModified: Type.Optional(Type.String()),
  lagSeconds: Type.Optional(Type.Integer({ description: 'now − newest modified seen, when modified is a timestamp' })),
  consecutiveFailures: Type.Integer(),
  lastError: Type.Optional(Type.String()),
  lastErrorAt: Type.Optional(Type.String()),
  nextPollAt: Type.String(),
  overdueSeconds: Type.Integer({
    description:
      'How long the feed has been due (past nextPollAt) without a harvest reaching it; a few seconds at most while harvesting works',
  }),
  stalled: Type.Boolean({
    description: 'True when overdueSeconds exceeds JOBS_STALL_AFTER_SECONDS: nothing is harvesting this feed',
  }),
  faults: Type.Optional(
    Type.Array(
      Type.Object({
        fault: Type.String({
          description: 'e.g. http_5xx, timeout, invalid_json, relative_next, duplicate_item, next_loop',
        }),
        count: Type.Integer(),
        firstAt: Type.String(),
        lastAt: Type.String(),
        lastMessage: Type.String(),
      }),
    ),
  ),
});

export const HarvestQueueHealth = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('stalled')], {
      description: 'stalled: harvest jobs are due and none has started for longer than JOBS_STALL_AFTER_SECONDS',
    }),
    dueJobs: Type.Integer({ description: 'Harvest jobs due and not yet running (all processes)' }),
    activeJobs: Type.Integer({ description: 'Harvest jobs running (all processes)' }),
    oldestDueSeconds: Type.Optional(Type.Integer()),
    reason: Type.Optional(Type.Union([Type.Literal('abandoned_job'), Type.Literal('no_progress')])),
    description: Type.Optional(Type.String()),
    stalledSince: Type.Optional(Type.String({ description: 'When this server first saw the stall' })),
  },
  { description: 'The harvest job queue as a whole (a stalled queue stops every feed)' },
);

export const FeedHealthList = Type.Object({
  items: Type.Array(FeedHealth),
  harvestQueue: Type.Optional(HarvestQueueHealth),
});

export const PublisherIdParam = Type.Object({ id: Type.Integer({ minimum: 1 }) });
export const FeedHealthQuery = Type.Object(
  { publisherId: Type.Optional(Type.Integer({ minimum: 1 })) },
  { additionalProperties: false },
);
