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
import { quoteUntrusted, repairText, truncateText } from '../../lib/untrusted-json.js';
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
/** Faults that mean an item was not stored (the others are repaired or only noted). */
const LEFT_OUT = new Set(['invalid_item', 'invalid_id', 'too_deep', 'item_too_large', 'rejected_item']);

const HTTP_FAULTS: Record<HttpError['kind'], string> = {
  timeout: 'timeout',
  too_large: 'too_large',
  network: 'network',
  http: 'network',
  redirect: 'redirect',
  blocked: 'blocked_url',
};
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
  /** Items the database refused (see `applyPage`): left out, counted as `rejected_item`. */
  rejected: number;
  /** The feed row after the page; `undefined` if the feed was removed meanwhile (nothing written). */
  feed: Feed | undefined;
}

/** At most this many messages are kept per fault kind and page (each names its item). */
const MESSAGES_PER_FAULT = 5;

/** Faults by kind: a count, and a message naming the first few items. */
export function tallyFaults(faults: { fault: string; message: string }[]): repo.FaultCount[] {
  const byKind = new Map<string, { messages: string[]; count: number }>();
  for (const f of faults) {
    const seen = byKind.get(f.fault) ?? { messages: [], count: 0 };
    seen.count += 1;
    if (seen.messages.length < MESSAGES_PER_FAULT) seen.messages.push(f.message);
    byKind.set(f.fault, seen);
  }
  return [...byKind].map(([fault, { messages, count }]) => ({
    fault,
    count,
    message: messages.join('; ') + (count > messages.length ? `; and ${count - messages.length} more on the page` : ''),
  }));
}

/**
 * Errors a write can get from the data it carries, not from the database being unwell:
 * PostgreSQL's data exceptions (class 22: bad text, dates, numbers, JSON) and program limits
 * (class 54: an index entry too large, nesting too deep), which PGlite reports with the same
 * codes, and a serialisation that exceeds JavaScript's own limits (RangeError).
 */
export function isDataError(err: unknown): boolean {
  if (err instanceof RangeError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

/**
 * Applies one RPDE page to the catalog: one read (what is stored of the page's items) and one
 * write statement, which is its own transaction and, given `advance`, also moves the feed's
 * cursor, so a crash between pages neither loses nor repeats an item (RPDE: the `next` URL is
 * the position). Items not newer than what is stored (a duplicate across pages, an out-of-order
 * replay, a re-harvest) are skipped and not written at all. `updated` replaces the whole item
 * and the entities it holds; `deleted` removes the item and its entities.
 *
 * Items were held to their limits when the page was parsed (lib/rpde.ts); should the database
 * still refuse the write because of something an item holds (`isDataError`), the page is split
 * in halves and each written on its own, down to the single items it refuses: those are left out
 * and counted (`rejected_item`, with their ids), the rest is written, and the cursor moves on in
 * a last statement. A good page costs one statement as before; k bad items cost about
 * 2·k·log2(n) more. `db` must not be a transaction (a refused statement would abort it).
 */
export async function applyPage(
  db: Executor,
  feed: Feed,
  items: RpdeItem[],
  vocab: Vocabularies,
  now: Date,
  advance?: Omit<repo.FeedAdvance, 'updated' | 'deleted'>,
  pageFaults: { fault: string; message: string }[] = [],
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

  const faults = [...pageFaults];
  const records = new Map<RpdeItem, EntityRecord[]>();
  for (const item of toUpdate) {
    const problems: string[] = [];
    records.set(
      item,
      extractEntities(item.data!, `${feed.url}#${item.id}`, vocab, problems).map((e) => toRecord(e, item)),
    );
    for (const p of problems) faults.push({ fault: 'invalid_date', message: `Item ${quoteUntrusted(item.id)}: ${p}` });
  }

  const write = (updates: RpdeItem[], deletes: RpdeItem[], last: boolean) => {
    // The same object can be embedded in several items (one EventSeries in many SessionSeries):
    // the latest copy on the page wins.
    const entities = new Map<string, EntityRecord>();
    for (const item of updates) for (const r of records.get(item)!) entities.set(r.oa_id, r);
    const replacedItemIds: number[] = [];
    for (const i of updates) {
      const s = stored.get(i.id);
      if (s) replacedItemIds.push(s.id);
    }
    return repo.writePage(db, {
      feedId: feed.id,
      publisherId: feed.publisher_id,
      at: now,
      items: updates.map((i) => ({ item_id: i.id, kind: i.kind, modified: i.modified!, data: i.data! })),
      entities: [...entities.values()],
      replacedItemIds,
      deletedItemIds: deletes.map((i) => stored.get(i.id)!.id),
      ...(last && advance ? { advance: { ...advance, updated: written.updated, deleted: written.deleted } } : {}),
      ...(last ? { faults: tallyFaults(faults) } : {}),
    });
  };
  const written = { updated: toUpdate.length, deleted: toDelete.length };

  if (toUpdate.length === 0 && toDelete.length === 0 && !advance && faults.length === 0) {
    return { updated: 0, deleted: 0, stale, rejected: 0, feed };
  }
  try {
    const after = await write(toUpdate, toDelete, true);
    return { ...written, stale, rejected: 0, feed: after };
  } catch (err) {
    if (!isDataError(err)) throw err;
  }

  // Some item made the database refuse the page: find it (them) by halves.
  written.updated = 0;
  written.deleted = 0;
  let rejected = 0;
  let gone = false;
  const isolate = async (part: RpdeItem[]): Promise<void> => {
    if (part.length === 0 || gone) return;
    const updates = part.filter((i) => i.state === 'updated');
    const deletes = part.filter((i) => i.state === 'deleted');
    try {
      if ((await write(updates, deletes, false)) === undefined) gone = true;
      written.updated += updates.length;
      written.deleted += deletes.length;
      return;
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (part.length === 1) {
        rejected += 1;
        faults.push({
          fault: 'rejected_item',
          message: `Item ${quoteUntrusted(part[0]!.id)} refused by the database: ${quoteUntrusted((err as Error).message, 200)}`,
        });
        return;
      }
    }
    const half = Math.ceil(part.length / 2);
    await isolate(part.slice(0, half));
    await isolate(part.slice(half));
  };
  await isolate([...toUpdate, ...toDelete]);
  const after = gone ? undefined : await write([], [], true);
  return { ...written, stale, rejected, feed: after };
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
        last_error: truncateText(repairText(`${fault}: ${message}`), 2000),
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
        if (err instanceof HttpError && err.kind === 'blocked') {
          // The outbound policy refuses the URL (lib/outbound.ts): it is not fetched, and is
          // tried again rarely (the operator may allow it, the publisher may fix its links).
          await fail(feed, 'blocked_url', err.message, GONE_RETRY_MS);
        } else if (err instanceof HttpError) {
          await fail(feed, HTTP_FAULTS[err.kind], err.message, failureBackoff(feed));
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
      const faults: { fault: string; message: string }[] = [...page.faults];
      const looped = faults.some((f) => f.fault === 'next_loop');
      if (loop && !looped) faults.push({ fault: 'next_loop', message: `next returns to ${page.next}` });
      const caughtUp = page.isLastPage || loop || looped;
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

      const applied = await applyPage(
        db,
        feed,
        page.items,
        vocab,
        now,
        {
          nextUrl: caughtUp && !page.isLastPage ? url : page.next,
          newestModified: newest,
          status: caughtUp ? 'caught_up' : 'harvesting',
          nextPollAt: new Date(now.getTime() + (caughtUp ? pollIntervalMs : 0)),
          caughtUp,
        },
        faults,
      );
      if (applied.rejected > 0 || faults.some((f) => LEFT_OUT.has(f.fault))) {
        const kinds = [...new Set([...faults.map((f) => f.fault), ...(applied.rejected ? ['rejected_item'] : [])])];
        log.warn({ feed: feed.url, url, faults: kinds }, 'items left out of a feed page');
      }
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
