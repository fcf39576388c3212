import type { Selectable } from 'kysely';
import type { Logger } from 'pino';
import type { Database, Executor } from '../../db/database.js';
import type { FeedsTable } from '../../db/schema.js';
import type { Clock } from '../../lib/clock.js';
import { backoffDelay, HttpError, type HttpClient, type HttpResponse } from '../../lib/http-client.js';
import { compareModified, parseRpdePage, RpdePageError, type RpdeItem, type RpdePage } from '../../lib/rpde.js';
import type { Vocabularies } from '../../lib/vocabularies.js';
import * as repo from './catalog.repository.js';
import type { EntityRecord } from './catalog.repository.js';
import { extractEntities, type NormalisedEntity } from './normalise.js';

type Feed = Selectable<FeedsTable>;

export interface HarvesterOptions {
  database: Database;
  http: HttpClient;
  clock: Clock;
  log: Logger;
  vocab: Vocabularies;
  /** Wait before polling a feed's last page again (imin: at most once every 8 s). */
  pollIntervalMs?: number;
  /** Longest a single run of one feed holds on to it before yielding to others. */
  walkBudgetMs?: number;
  /** Feeds harvested at once by `runOnce`. */
  concurrency?: number;
  random?: () => number;
}

export interface PageProgress {
  feedId: number;
  updated: number;
  deleted: number;
  /** The feed's cursor after the page. */
  position: string;
}

export interface WalkResult {
  feedId: number;
  pages: number;
  updated: number;
  deleted: number;
  caughtUp: boolean;
  failed: boolean;
}

const FAILURE_BASE_MS = 8_000;
const FAILURE_CAP_MS = 30 * 60_000;
/** A feed that answered 404/410 is retried rarely: it may come back (publisher redeploys). */
const GONE_RETRY_MS = 30 * 60_000;

/** The record written for one entity; its `data` is left out when it is the item's own data. */
function toRecord(e: NormalisedEntity, item: RpdeItem): EntityRecord {
  return {
    item_id: item.id,
    oa_id: e.oaId,
    type: e.type,
    parent_oa_id: e.parentOaId,
    name: e.name,
    start_date: e.startDate,
    end_date: e.endDate,
    remaining_capacity: e.remainingCapacity,
    maximum_capacity: e.maximumCapacity,
    event_status: e.eventStatus,
    attendance_mode: e.attendanceMode,
    latitude: e.latitude,
    longitude: e.longitude,
    location: e.location,
    activity_ids: e.activityIds,
    activity_match_ids: e.activityMatchIds,
    activities: e.activities,
    facility_type_ids: e.facilityTypeIds,
    organizer_id: e.organizerId,
    organizer_name: e.organizerName,
    organizer: e.organizer,
    offers: e.offers,
    min_price: e.minPrice,
    age_min: e.ageMin,
    age_max: e.ageMax,
    gender_restriction: e.genderRestriction,
    levels: e.levels,
    accessibility_support: e.accessibilitySupport,
    event_schedule: e.eventSchedule,
    ...(e.data === item.data ? {} : { data: e.data }),
    modified: item.modified!,
  };
}

export interface AppliedPage {
  updated: number;
  deleted: number;
  stale: number;
  /** The feed row after the page; `undefined` if the feed was removed meanwhile (nothing written). */
  feed: Feed | undefined;
}

/**
 * Applies one RPDE page to the catalog: one read (what is stored of the page's items) and one
 * write statement, which is its own transaction and, given `advance`, also moves the feed's
 * cursor, so a crash between pages neither loses nor repeats an item (RPDE: the `next` URL is
 * the position). Items not newer than what is stored (a duplicate across pages, an out-of-order
 * replay, a re-harvest) are skipped and not written at all. `updated` replaces the whole item
 * and the entities it holds; `deleted` removes the item and its entities.
 */
export async function applyPage(
  db: Executor,
  feed: Feed,
  items: RpdeItem[],
  vocab: Vocabularies,
  now: Date,
  advance?: Omit<repo.FeedAdvance, 'updated' | 'deleted'>,
): Promise<AppliedPage> {
  // An item twice on one page (the parser already prevents it; callers may not): the newer copy
  // counts, as in parseRpdePage.
  const byId = new Map<string, RpdeItem>();
  for (const item of items) {
    const seen = byId.get(item.id);
    if (seen?.modified != null && item.modified !== null && compareModified(item.modified, seen.modified) < 0) continue;
    byId.set(item.id, item);
  }
  items = [...byId.values()];
  const stamps = await repo.findItemStamps(db, feed.id, [...byId.keys()]);
  const stored = new Map(stamps.map((s) => [s.item_id, s]));
  const isStale = (item: RpdeItem) => {
    const s = stored.get(item.id);
    return s !== undefined && item.modified !== null && compareModified(item.modified, s.modified) <= 0;
  };

  const toUpdate = items.filter((i) => i.state === 'updated' && !isStale(i));
  const toDelete = items.filter((i) => i.state === 'deleted' && stored.has(i.id) && !isStale(i));
  const stale = items.filter(isStale).length;

  // The same object can be embedded in several items (one EventSeries in many SessionSeries):
  // the latest copy on the page wins.
  const entities = new Map<string, EntityRecord>();
  for (const item of toUpdate) {
    for (const e of extractEntities(item.data!, `${feed.url}#${item.id}`, vocab)) {
      entities.set(e.oaId, toRecord(e, item));
    }
  }
  const replacedItemIds: number[] = [];
  for (const i of toUpdate) {
    const s = stored.get(i.id);
    if (s) replacedItemIds.push(s.id);
  }
  const nothingToWrite = toUpdate.length === 0 && toDelete.length === 0;
  const after =
    nothingToWrite && !advance
      ? feed
      : await repo.writePage(db, {
          feedId: feed.id,
          publisherId: feed.publisher_id,
          at: now,
          items: toUpdate.map((i) => ({ item_id: i.id, kind: i.kind, modified: i.modified!, data: i.data! })),
          entities: [...entities.values()],
          replacedItemIds,
          deletedItemIds: toDelete.map((i) => stored.get(i.id)!.id),
          ...(advance ? { advance: { ...advance, updated: toUpdate.length, deleted: toDelete.length } } : {}),
        });
  return { updated: toUpdate.length, deleted: toDelete.length, stale, feed: after };
}

export function createHarvester(options: HarvesterOptions) {
  const { database, http, clock, log, vocab } = options;
  const { db } = database;
  const pollIntervalMs = options.pollIntervalMs ?? 8_000;
  const walkBudgetMs = options.walkBudgetMs ?? 20_000;
  const concurrency = options.concurrency ?? 4;
  const random = options.random ?? Math.random;

  async function fail(feed: Feed, fault: string, message: string, retryInMs: number): Promise<void> {
    const now = clock.now();
    const failures = feed.consecutive_failures + 1;
    await db.transaction().execute(async (trx) => {
      await repo.recordFeedFaults(trx, feed.id, [{ fault, message, count: 1 }], now);
      await repo.updateFeed(trx, feed.id, {
        status: 'failing',
        consecutive_failures: failures,
        last_error: `${fault}: ${message}`.slice(0, 2000),
        last_error_at: now,
        next_poll_at: new Date(now.getTime() + retryInMs),
      });
    });
    log.warn({ feed: feed.url, fault, message, failures }, 'feed page failed');
  }

  const failureBackoff = (feed: Feed) =>
    FAILURE_BASE_MS + backoffDelay(feed.consecutive_failures, FAILURE_BASE_MS, FAILURE_CAP_MS, random);

  /**
   * Walks one feed from its cursor until it is caught up, fails, or has used its time budget.
   * Every page is committed with the cursor that follows it.
   */
  async function walkFeed(
    feedId: number,
    limits: { maxPages?: number; budgetMs?: number; onPage?: (p: PageProgress) => void } = {},
  ): Promise<WalkResult> {
    const result: WalkResult = { feedId, pages: 0, updated: 0, deleted: 0, caughtUp: false, failed: false };
    const started = Date.now();
    const visited = new Set<string>();
    // The next page is requested while the current one is being written, so the publisher's
    // response time and our database time overlap instead of adding up.
    let prefetched: { url: string; response: Promise<HttpResponse> } | null = null;
    const fetchPage = (u: string) => {
      const response = http.request(u);
      response.catch(() => undefined); // awaited later; never an unhandled rejection
      return response;
    };
    // Read once: each page's write returns the feed row as it leaves it.
    let feed = await repo.findFeedById(db, feedId);
    for (;;) {
      if (!feed) return result;
      const url = feed.next_url;

      let page: RpdePage;
      try {
        const pending = prefetched?.url === url ? prefetched.response : fetchPage(url);
        prefetched = null;
        const res = await pending;
        if (res.status === 404 || res.status === 410) {
          await fail(feed, 'gone', `HTTP ${res.status} from ${url}`, GONE_RETRY_MS);
          result.failed = true;
          return result;
        }
        if (res.status !== 200) {
          await fail(
            feed,
            res.status >= 500 || res.status === 429 ? 'http_5xx' : 'http_status',
            `HTTP ${res.status} from ${url}`,
            failureBackoff(feed),
          );
          result.failed = true;
          return result;
        }
        page = parseRpdePage(res.text, url);
      } catch (err) {
        if (err instanceof HttpError) {
          await fail(
            feed,
            err.kind === 'timeout' ? 'timeout' : err.kind === 'too_large' ? 'too_large' : 'network',
            err.message,
            failureBackoff(feed),
          );
        } else if (err instanceof RpdePageError) {
          await fail(feed, err.fault, err.message, failureBackoff(feed));
        } else {
          throw err;
        }
        result.failed = true;
        return result;
      }

      // A `next` chain that returns to a URL already read in this walk, with items each time,
      // would loop forever: treat the feed as caught up and report it.
      const loop = !page.isLastPage && visited.has(page.next);
      visited.add(url);
      const faults = new Map<string, { fault: string; message: string; count: number }>();
      for (const f of page.faults) {
        const seen = faults.get(f.fault);
        if (seen) seen.count += 1;
        else faults.set(f.fault, { ...f, count: 1 });
      }
      if (loop && !faults.has('next_loop'))
        faults.set('next_loop', { fault: 'next_loop', message: `next returns to ${page.next}`, count: 1 });
      const caughtUp = page.isLastPage || loop || faults.has('next_loop');
      const now = clock.now();
      let newest: string | null = null;
      for (const item of page.items) {
        if (item.modified !== null && (newest === null || compareModified(item.modified, newest) > 0))
          newest = item.modified;
      }
      if (newest !== null && feed.newest_modified !== null && compareModified(newest, feed.newest_modified) <= 0)
        newest = null;

      const morePages = !caughtUp && (limits.maxPages === undefined || result.pages + 1 < limits.maxPages);
      if (morePages) prefetched = { url: page.next, response: fetchPage(page.next) };

      const applied = await applyPage(db, feed, page.items, vocab, now, {
        nextUrl: caughtUp && !page.isLastPage ? url : page.next,
        newestModified: newest,
        status: caughtUp ? 'caught_up' : 'harvesting',
        nextPollAt: new Date(now.getTime() + (caughtUp ? pollIntervalMs : 0)),
        caughtUp,
        faults: [...faults.values()],
      });
      if (!applied.feed) return result; // the feed was removed while we walked it
      feed = applied.feed;
      result.pages += 1;
      result.updated += applied.updated;
      result.deleted += applied.deleted;
      limits.onPage?.({ feedId, updated: applied.updated, deleted: applied.deleted, position: page.next });
      if (caughtUp) {
        result.caughtUp = true;
        return result;
      }
      if (
        (limits.maxPages !== undefined && result.pages >= limits.maxPages) ||
        Date.now() - started > (limits.budgetMs ?? walkBudgetMs)
      ) {
        return result;
      }
    }
  }

  return {
    walkFeed,

    /**
     * Harvests every feed that is due now until each is caught up (or failing), `concurrency`
     * at a time. Operators' `activehub harvest --once` and tests use it; the server uses jobs.
     */
    async runOnce(opts: { maxPagesPerFeed?: number; onPage?: (p: PageProgress) => void } = {}): Promise<WalkResult[]> {
      const due = await repo.listDueFeedIds(db, clock.now());
      const queue = due.map((d) => d.id);
      const results: WalkResult[] = [];
      const worker = async () => {
        for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
          const total: WalkResult = { feedId: id, pages: 0, updated: 0, deleted: 0, caughtUp: false, failed: false };
          for (;;) {
            const r = await walkFeed(id, {
              budgetMs: Number.POSITIVE_INFINITY,
              ...(opts.maxPagesPerFeed ? { maxPages: opts.maxPagesPerFeed } : {}),
              ...(opts.onPage ? { onPage: opts.onPage } : {}),
            });
            total.pages += r.pages;
            total.updated += r.updated;
            total.deleted += r.deleted;
            if (r.caughtUp || r.failed || opts.maxPagesPerFeed) {
              total.caughtUp = r.caughtUp;
              total.failed = r.failed;
              break;
            }
          }
          results.push(total);
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
      return results.sort((a, b) => a.feedId - b.feedId);
    },

    dueFeedIds: async () => (await repo.listDueFeedIds(db, clock.now())).map((r) => r.id),
  };
}

export type Harvester = ReturnType<typeof createHarvester>;
