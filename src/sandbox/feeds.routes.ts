import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { SandboxDeps } from './app.js';
import { badRequest, sendJson } from './errors.js';
import { FEEDS, type FeedPosition } from './feeds.js';

export const FEED_LICENSE = 'https://creativecommons.org/licenses/by/4.0/';
export const DEFAULT_FEED_PAGE_SIZE = 500;
const MAX_ID = 2_147_483_647;

const FeedQuery = Type.Object({
  afterTimestamp: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,16}$', description: 'must be a non-negative integer (a `modified` value)' }),
  ),
  afterId: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,16}$', description: 'must be a non-negative integer (an item id)' }),
  ),
});

function position(query: { afterTimestamp?: string | undefined; afterId?: string | undefined }): FeedPosition {
  if (query.afterTimestamp === undefined && query.afterId === undefined) return { afterTimestamp: -1, afterId: 0 };
  // RPDE 1.0 "modified + id": both or neither (a lone afterTimestamp would re-send the item at it).
  if (query.afterTimestamp === undefined || query.afterId === undefined)
    throw badRequest('afterTimestamp and afterId must be given together (RPDE modified + id ordering).');
  const afterTimestamp = Number(query.afterTimestamp);
  if (!Number.isSafeInteger(afterTimestamp)) throw badRequest('afterTimestamp is out of range.');
  // Ids are 32-bit; every id is below MAX_ID, so clamping leaves the set of later items unchanged.
  return { afterTimestamp, afterId: Math.min(Number(query.afterId), MAX_ID) };
}

/**
 * `GET /feeds/<feed>`: the open-data RPDE feeds. `next` is built from the last item of the page
 * (or is this very URL when the page is empty: the last-page rule); full pages may be cached
 * for an hour by any cache, the last page for 8 seconds (openactive.md §2.4).
 */
export function feedRoutes(deps: SandboxDeps): FastifyPluginAsync {
  const pageSize = deps.feedPageSize ?? DEFAULT_FEED_PAGE_SIZE;
  return async (app) => {
    for (const feed of FEEDS) {
      app.get(`/feeds/${feed.path}`, { schema: { querystring: FeedQuery } }, async (request, reply) => {
        const after = position(request.query as { afterTimestamp?: string; afterId?: string });
        const items = await feed.page(deps.db, deps.urls, after, pageSize);
        const last = items.at(-1);
        const next = last
          ? deps.urls.feed(`${feed.path}?afterTimestamp=${last.modified}&afterId=${last.id}`)
          : deps.urls.feed(request.url.slice('/feeds/'.length));
        void reply.header('cache-control', items.length > 0 ? 'public, max-age=3600' : 'public, max-age=8');
        await sendJson(reply, 200, { next, items, license: FEED_LICENSE }, 'application/json; charset=utf-8');
      });
    }
  };
}
