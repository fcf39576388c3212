import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import { HttpError, type HttpClient } from '../../lib/http-client.js';
import type { Jobs } from '../../lib/jobs.js';
import { parseRpdePage, RpdePageError } from '../../lib/rpde.js';
import { createTicker } from '../../lib/ticker.js';
import type { BookingTarget } from '../booking/index.js';
import * as repo from './orders-api.repository.js';
import type { OrdersApi } from './orders-api.service.js';
import { ordersApiDb } from './orders-api.tables.js';

/*
 * Reader of the sellers' Orders feeds (openactive.md §1.12): one RPDE feed per booking endpoint
 * and booking-partner credential, since the feed is scoped to the credentials. Each page is
 * applied to our orders and the cursor (`next_url`) moves in the same transaction, so a crash
 * re-reads at most the page it was on, and re-reading is harmless (refunds are keyed by cause).
 */

export const ORDERS_FEED_JOB = 'orders.read-feed';

const MAX_BACKOFF_MS = 10 * 60_000;

export interface OrdersFeedReaderDeps {
  database: Database;
  http: HttpClient;
  clock: Clock;
  log: Logger;
  booking: { targetFor(publisherId: number, sellerId: string): Promise<BookingTarget> };
  orders: Pick<OrdersApi, 'applySellerOrder' | 'issueMissingReceipts' | 'ready'>;
  /** Wait before polling a caught-up feed again (the spec asks for at least once a minute). */
  pollIntervalMs?: number;
}

export interface FeedRun {
  pages: number;
  items: number;
  applied: number;
  caughtUp: boolean;
  error?: string;
}

/** One feed per endpoint + credentials: the same headers in any order or case are one feed. */
export function feedKey(target: BookingTarget): string {
  const headers = Object.entries(target.headers)
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify([target.endpointUrl.replace(/\/+$/, ''), headers]))
    .digest('hex');
}

export function createOrdersFeedReader(deps: OrdersFeedReaderDeps) {
  const { clock, log } = deps;
  const db = ordersApiDb(deps.database.db);
  const pollIntervalMs = deps.pollIntervalMs ?? 10_000;

  /** Registers the feed of every (publisher, seller) orders were booked with. */
  async function discoverFeeds(): Promise<number> {
    let added = 0;
    const seen = new Set<string>();
    for (const { publisher_id, seller_id } of await repo.findBookedSellers(db)) {
      if (publisher_id === null || seller_id === null) continue;
      let target: BookingTarget;
      try {
        target = await deps.booking.targetFor(publisher_id, seller_id);
      } catch (err) {
        log.warn(
          { publisherId: publisher_id, sellerId: seller_id, err: (err as Error).message },
          'no Orders feed for seller',
        );
        continue;
      }
      // One feed per publisher and (endpoint, credentials): a feed speaks for its publisher only.
      const key = feedKey(target);
      if (seen.has(`${publisher_id} ${key}`)) continue;
      seen.add(`${publisher_id} ${key}`);
      const now = clock.now();
      const inserted = await repo.upsertFeed(db, {
        feed_key: key,
        publisher_id,
        seller_id,
        endpoint_url: target.endpointUrl.replace(/\/+$/, ''),
        next_url: null,
        next_poll_at: now,
        created_at: now,
        updated_at: now,
      });
      if (inserted) added += 1;
    }
    return added;
  }

  async function dueFeedIds(): Promise<number[]> {
    const now = clock.now().getTime();
    return (await repo.findFeeds(db)).filter((f) => f.next_poll_at.getTime() <= now).map((f) => f.id);
  }

  async function recordFailure(feedId: number, failures: number, message: string) {
    const delay = Math.min(MAX_BACKOFF_MS, 5_000 * 2 ** Math.min(failures, 10));
    const now = clock.now();
    await repo.updateFeed(db, feedId, {
      failures: failures + 1,
      last_error: message.slice(0, 1000),
      next_poll_at: new Date(now.getTime() + delay),
      updated_at: now,
    });
  }

  /** Walks one feed page by page until it is caught up or `budgetMs` has passed. */
  async function readFeed(feedId: number, { budgetMs = 20_000 }: { budgetMs?: number } = {}): Promise<FeedRun> {
    const started = Date.now();
    const run: FeedRun = { pages: 0, items: 0, applied: 0, caughtUp: false };
    for (;;) {
      const feed = (await repo.findFeeds(db)).find((f) => f.id === feedId);
      if (!feed) return run;
      const url = feed.next_url ?? `${feed.endpoint_url}/orders-rpde`;
      let text: string;
      try {
        const target = await deps.booking.targetFor(feed.publisher_id, feed.seller_id);
        const res = await deps.http.request(url, {
          headers: { ...target.headers, accept: 'application/json, application/vnd.openactive.booking+json' },
        });
        if (res.status !== 200) throw new HttpError('http', `HTTP ${res.status}`, res.status, url);
        text = res.text;
      } catch (err) {
        run.error = `${url}: ${(err as Error).message}`;
        log.warn({ feedId, url, err: (err as Error).message }, 'Orders feed could not be read');
        await recordFailure(feedId, feed.failures, run.error);
        return run;
      }
      let page;
      try {
        page = parseRpdePage(text, url);
      } catch (err) {
        run.error = `${url}: ${err instanceof RpdePageError ? err.message : String(err)}`;
        log.warn({ feedId, url, err: run.error }, 'Orders feed page is not RPDE');
        await recordFailure(feedId, feed.failures, run.error);
        return run;
      }
      for (const fault of page.faults) log.warn({ feedId, url, ...fault }, 'Orders feed fault');
      await deps.orders.ready();
      const applied = await deps.database.db.transaction().execute(async (trx) => {
        const x = ordersApiDb(trx);
        const locked = await repo.lockFeed(x, feedId);
        // Another reader moved the cursor meanwhile: its transaction applied this page.
        if (!locked || (locked.next_url ?? null) !== (feed.next_url ?? null)) return -1;
        let n = 0;
        const faults = new Map<string, repo.FeedFault>();
        const fault = (kind: string, itemId: string | null, message: string) => {
          const seen = faults.get(kind);
          if (seen) Object.assign(seen, { count: seen.count + 1, itemId, message });
          else faults.set(kind, { fault: kind, itemId, message, count: 1 });
        };
        for (const item of page.items) {
          if (item.state === 'deleted') {
            // Only Order Deletion (which we never ask for after B) or revoked access delete an
            // Order; the order stays as it is (openactive.md §1.12).
            log.error({ feedId, orderId: item.id }, 'seller deleted an order from its Orders feed');
            fault('order_deleted', item.id, 'The seller deleted an order from its Orders feed; it is kept as it was.');
            continue;
          }
          if (!/^[0-9a-f-]{36}$/i.test(item.id) || !item.data) {
            log.error({ feedId, id: item.id }, 'Orders feed item is not an Order with a UUID');
            fault('not_an_order', item.id, 'The item is not an Order with a UUID identifier.');
            continue;
          }
          const outcome = await deps.orders.applySellerOrder(
            trx,
            { publisherId: feed.publisher_id },
            item.id.toLowerCase(),
            { data: item.data, modified: item.modified },
          );
          if (outcome === 'unknown_order') {
            // Unknown, or booked with another publisher: never acted on (issue 14, point 2).
            log.error(
              { feedId, publisherId: feed.publisher_id, orderId: item.id },
              'Orders feed names an unknown order',
            );
            fault('unknown_order', item.id, "The item names an order this publisher's sellers do not hold; ignored.");
          } else if (outcome === 'not_completed')
            log.warn({ feedId, orderId: item.id }, 'Orders feed names an order not yet confirmed');
          else if (outcome === 'applied') n += 1;
        }
        await repo.recordFeedFaults(x, feedId, [...faults.values()], clock.now());
        const now = clock.now();
        await repo.updateFeed(x, feedId, {
          next_url: page.next,
          items_applied: Number(locked.items_applied) + page.items.length,
          failures: 0,
          last_error: null,
          last_success_at: now,
          next_poll_at: page.isLastPage ? new Date(now.getTime() + pollIntervalMs) : now,
          updated_at: now,
        });
        return n;
      });
      if (applied < 0) return run;
      run.pages += 1;
      run.items += page.items.length;
      run.applied += applied;
      if (page.isLastPage) {
        run.caughtUp = true;
        return run;
      }
      if (Date.now() - started > budgetMs) return run;
    }
  }

  /** Every feed with its faults, for operators (GET /admin/order-feeds). */
  async function feedHealth() {
    return (await repo.findFeedsWithFaults(db)).map((f) => ({
      id: f.id,
      publisherId: f.publisher_id,
      sellerId: f.seller_id,
      endpointUrl: f.endpoint_url,
      position: f.next_url ?? undefined,
      itemsApplied: Number(f.items_applied),
      failures: f.failures,
      lastError: f.last_error ?? undefined,
      lastSuccessAt: f.last_success_at?.toISOString(),
      nextPollAt: f.next_poll_at.toISOString(),
      faults: f.faults.map((x) => ({
        fault: x.fault,
        count: Number(x.count),
        lastItemId: x.last_item_id ?? undefined,
        lastMessage: x.last_message ?? undefined,
        lastAt: new Date(x.last_at).toISOString(),
      })),
    }));
  }

  return {
    discoverFeeds,
    dueFeedIds,
    readFeed,
    feedHealth,
    /** Everything at once, to the end of every feed (tests, CLI). */
    async runOnce(): Promise<FeedRun[]> {
      await discoverFeeds();
      const runs: FeedRun[] = [];
      for (const feed of await repo.findFeeds(db)) {
        let run = await readFeed(feed.id, { budgetMs: 60_000 });
        while (!run.caughtUp && !run.error) run = await readFeed(feed.id, { budgetMs: 60_000 });
        runs.push(run);
      }
      await deps.orders.issueMissingReceipts();
      return runs;
    },
    /** Starts every feed again from its first page (e.g. after restoring a backup). */
    async resetFeeds(): Promise<void> {
      await db.updateTable('seller_order_feeds').set({ next_url: null, next_poll_at: clock.now() }).execute();
    },
  };
}

export type OrdersFeedReader = ReturnType<typeof createOrdersFeedReader>;

/**
 * Turns due feeds into durable jobs (a `stately` queue: one queued + one running per feed), and
 * finds new feeds and orders still without a receipt every few ticks. Same pattern as the
 * harvest scheduler.
 */
export function createOrdersFeedScheduler({
  reader,
  orders,
  jobs,
  log,
  tickMs = 5_000,
}: {
  reader: OrdersFeedReader;
  orders: Pick<OrdersApi, 'issueMissingReceipts'>;
  jobs: Jobs;
  log: Logger;
  tickMs?: number;
}) {
  let ticks = 0;
  const ticker = createTicker(
    async () => {
      if (ticks % 6 === 0) {
        await reader.discoverFeeds();
        await orders.issueMissingReceipts();
      }
      ticks += 1;
      let sent = 0;
      for (const feedId of await reader.dueFeedIds()) {
        if (await jobs.send(ORDERS_FEED_JOB, { feedId }, { singletonKey: `orders-feed-${feedId}` })) sent += 1;
      }
      return sent;
    },
    { intervalMs: tickMs, log, what: 'Orders feed scheduling' },
  );
  return { ...ticker, tick: async (): Promise<number> => (await ticker.tick()) ?? 0 };
}
