import type { Selectable } from 'kysely';
import type { Database } from '../../db/database.js';
import type { CatalogEntitiesTable, FeedsTable, Mode } from '../../db/schema.js';
import { AppError } from '../../http/errors.js';
import { ambiguousIdentifier } from '../../lib/data-source.js';
import type { Clock } from '../../lib/clock.js';
import { HttpError, type HttpClient } from '../../lib/http-client.js';
import type { QueueStatus } from '../../lib/jobs.js';
import { createTtlCache } from '../../lib/ttl-cache.js';
import * as repo from './catalog.repository.js';
import { FEED_KINDS, parseDatasetSite } from './dataset-site.js';

/** A bookable occurrence as checkout needs it (see `findOpportunity`). */
export interface Opportunity {
  publisherId: number;
  /** The publisher's mode: a test publisher is a test booking system, booked by test keys only. */
  publisherMode: Mode;
  oaId: string;
  type: 'ScheduledSession' | 'Slot';
  /** Its own name, else its series'/facility's. */
  name: string;
  startDate: Date;
  endDate: Date | null;
  remainingCapacity: number | null;
  /** As published, e.g. https://schema.org/EventScheduled. */
  eventStatus: string | null;
  /** The SessionSeries, or the FacilityUse of a Slot (else the nearest parent found). */
  parent: { oaId: string; type: string; name: string | null; data: Record<string, unknown> } | null;
  sellerId: string | null;
  sellerName: string | null;
  /** The organizer/provider object as published. */
  seller: Record<string, unknown> | null;
  location: Record<string, unknown> | null;
  /** Its own offers, else the nearest parent's. */
  offers: Record<string, unknown>[];
  /** The harvested occurrence as published. */
  data: Record<string, unknown>;
  /** The publisher's Open Booking API Base URI. */
  bookingEndpointUrl: string | null;
}

type Entity = Selectable<CatalogEntitiesTable>;

function toOpportunity(
  row: Entity,
  ancestors: Entity[],
  bookingEndpointUrl: string | null,
  publisherMode: Mode,
): Opportunity {
  const chain = [row, ...ancestors];
  const first = <T>(pick: (e: Entity) => T | null | undefined): T | null => {
    for (const e of chain) {
      const v = pick(e);
      if (v !== null && v !== undefined) return v;
    }
    return null;
  };
  const parent = ancestors.find((a) => a.type === 'SessionSeries' || a.type === 'FacilityUse') ?? ancestors[0] ?? null;
  const status = row.data.eventStatus;
  return {
    publisherId: row.publisher_id,
    publisherMode,
    oaId: row.oa_id,
    type: row.type as 'ScheduledSession' | 'Slot',
    name: first((e) => e.name) ?? '',
    startDate: new Date(row.start_date!),
    endDate: row.end_date ? new Date(row.end_date) : null,
    remainingCapacity: row.remaining_capacity,
    eventStatus:
      typeof status === 'string' && status
        ? status
        : row.event_status
          ? `https://schema.org/${row.event_status}`
          : null,
    parent: parent ? { oaId: parent.oa_id, type: parent.type, name: parent.name, data: parent.data } : null,
    sellerId: first((e) => e.organizer_id),
    sellerName: first((e) => e.organizer_name),
    seller: first((e) => e.organizer),
    location: first((e) => e.location),
    offers: first((e) => (e.offers && e.offers.length > 0 ? e.offers : null)) ?? [],
    data: row.data,
    bookingEndpointUrl,
  };
}

export interface PublisherInput {
  datasetUrl?: string | undefined;
  name?: string | undefined;
  feeds?: { url: string; kind: string }[] | undefined;
  /** `test` for a test booking system; absent: live when new, unchanged when registered again. */
  mode?: Mode | undefined;
}

/** How long the publisher → mode map is reused (publishers changed through this process: at once). */
const PUBLISHER_MODES_TTL_MS = 10_000;

function absoluteHttpUrl(value: string, field: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return u.toString();
  } catch {
    throw new AppError('BAD_REQUEST', `${field} must be an absolute http(s) URL.`, {
      fieldErrors: [{ path: `/${field}`, message: 'must be an absolute http(s) URL' }],
    });
  }
}

/** The 400 for a URL the outbound policy refuses (lib/outbound.ts). */
function refusedUrl(field: string, err: HttpError): AppError {
  return new AppError('BAD_REQUEST', `${field} is refused by the outbound policy: ${err.message}`, {
    fieldErrors: [{ path: `/${field}`, message: `refused by the outbound policy: ${err.message}` }],
  });
}

/** Feed lag: how far behind the feed's newest change we are, when `modified` is a time. */
function lagSeconds(feed: Selectable<FeedsTable>, now: Date): number | null {
  if (!feed.newest_modified) return null;
  const m = Number(feed.newest_modified);
  if (!Number.isFinite(m)) return null;
  // RPDE `modified` is often epoch seconds or milliseconds, sometimes a change counter.
  const ms = m > 1e12 && m < 1e14 ? m : m > 1e9 && m < 1e11 ? m * 1000 : null;
  if (ms === null) return null;
  return Math.max(0, Math.round((now.getTime() - ms) / 1000));
}

/**
 * How long a feed has been due without a harvest reaching it (each page a harvest writes moves
 * `next_poll_at` on), and whether that is longer than the stall time.
 */
function overdue(f: Selectable<FeedsTable>, now: Date, stallAfterSeconds: number) {
  const overdueSeconds = Math.max(0, Math.floor((now.getTime() - f.next_poll_at.getTime()) / 1000));
  return { overdueSeconds, stalled: overdueSeconds > stallAfterSeconds };
}

export function createCatalogService({
  database,
  http,
  clock,
  harvestQueue,
  stallAfterSeconds = 120,
}: {
  database: Database;
  http: HttpClient;
  clock: Clock;
  /** The harvest job queue's latest stall check (absent: not reported). */
  harvestQueue?: () => Promise<QueueStatus | undefined>;
  /** A feed due for longer than this without being harvested is reported stalled. */
  stallAfterSeconds?: number;
}) {
  const { db } = database;
  // Publisher → mode, read by every search answer (bookability per key mode). Kept for a few
  // seconds; a change made through this service clears it and tells the listeners (the booking
  // targets' cache) at once; one made by another process shows within the TTL.
  const modes = createTtlCache<'all', Map<number, Mode>>(PUBLISHER_MODES_TTL_MS, 1);
  const listeners: (() => void)[] = [];
  const changed = () => {
    modes.clear();
    for (const listener of listeners) listener();
  };

  /** An absolute http(s) URL the outbound policy does not refuse outright; else a 400 naming `field`. */
  function checkUrl(value: string, field: string): string {
    const url = absoluteHttpUrl(value, field);
    try {
      http.checkUrl(url);
    } catch (err) {
      if (err instanceof HttpError) throw refusedUrl(field, err);
      throw err;
    }
    return url;
  }

  async function discover(datasetUrl: string) {
    let res;
    try {
      res = await http.request(datasetUrl, { headers: { accept: 'text/html, application/ld+json, application/json' } });
    } catch (err) {
      // A host name whose addresses the policy refuses is found out only when it is fetched.
      if (err instanceof HttpError && err.kind === 'blocked') throw refusedUrl('datasetUrl', err);
      throw new AppError('BAD_REQUEST', `Could not fetch the dataset site: ${(err as Error).message}`);
    }
    if (res.status !== 200) throw new AppError('BAD_REQUEST', `The dataset site answered HTTP ${res.status}.`);
    try {
      return parseDatasetSite(res.text, datasetUrl);
    } catch (err) {
      throw new AppError('BAD_REQUEST', `The dataset site has no usable Dataset: ${(err as Error).message}`);
    }
  }

  /**
   * A bookable occurrence (ScheduledSession or Slot) by its OpenActive `@id`, with what it
   * inherits from its parents (series/facility: name, organizer, location, offers) resolved,
   * and the booking endpoint of its publisher. Used by checkout.
   *
   * Two publishers can publish the same `@id` (lib/data-source.ts): `publisherId` names the
   * one meant. Unnamed, the id must be held by one publisher of the caller's mode (`preferMode`;
   * failing that, by one of the other mode, which checkout then refuses by mode); otherwise the
   * answer is `{ ambiguous }` with the candidates' publisher ids, never a silent pick.
   */
  async function lookupOpportunity(
    oaId: string,
    options: { preferMode?: Mode; publisherId?: number | null } = {},
  ): Promise<Opportunity | { ambiguous: number[] } | undefined> {
    let publisherId = options.publisherId ?? null;
    if (publisherId === null) {
      const holders = await repo.findOccurrenceHolders(db, oaId);
      const mine = holders.filter((h) => h.mode === (options.preferMode ?? 'live'));
      const pool = mine.length ? mine : holders;
      if (pool.length === 0) return undefined;
      if (pool.length > 1) return { ambiguous: pool.map((h) => h.publisher_id) };
      publisherId = pool[0]!.publisher_id;
    }
    // With its parents, in one statement: SessionSeries (→ EventSeries), or IndividualFacilityUse → FacilityUse.
    const found = await repo.findOccurrenceWithAncestors(db, publisherId, oaId, 3);
    if (!found) return undefined;
    return toOpportunity(found.row, found.ancestors, found.row.booking_endpoint_url, found.row.publisher_mode);
  }

  return {
    /**
     * Registers a publisher by its dataset site (feeds discovered from `distribution`) or by
     * explicit feed URLs. Re-adding a known dataset site refreshes its metadata and feed list,
     * and its mode when one is given (else the mode stays).
     */
    async addPublisher(input: PublisherInput) {
      if (input.datasetUrl) {
        const datasetUrl = checkUrl(input.datasetUrl, 'datasetUrl');
        const found = await discover(datasetUrl);
        if (found.feeds.length === 0) {
          throw new AppError(
            'BAD_REQUEST',
            'The dataset site lists no RPDE feeds of a known kind in its distribution.',
          );
        }
        // What the dataset names is fetched later (feeds) or sent credentials (the booking
        // endpoint): the same policy applies to it now, so a refusal is seen at registration.
        const refused: string[] = [];
        for (const u of [
          ...found.feeds.map((f) => f.url),
          ...(found.bookingEndpointUrl ? [found.bookingEndpointUrl] : []),
        ]) {
          try {
            http.checkUrl(u);
          } catch (err) {
            if (!(err instanceof HttpError)) throw err;
            refused.push(err.message);
          }
        }
        if (refused.length > 0) {
          throw new AppError(
            'BAD_REQUEST',
            `The dataset site names URLs the outbound policy refuses: ${refused.slice(0, 5).join('; ')}`,
            { fieldErrors: [{ path: '/datasetUrl', message: 'names URLs the outbound policy refuses' }] },
          );
        }
        const registered = await db.transaction().execute(async (trx) => {
          const values = {
            name: input.name ?? found.name,
            description: found.description,
            url: found.url,
            license: found.license,
            publisher_name: found.publisherName,
            publisher_url: found.publisherUrl,
            logo_url: found.logoUrl,
            booking_endpoint_url: found.bookingEndpointUrl,
            dataset: JSON.stringify(found.dataset),
          };
          const existing = await repo.findPublisherByDatasetUrl(trx, datasetUrl);
          const mode = input.mode ? { mode: input.mode } : {};
          const publisher = existing
            ? (await repo.updatePublisher(trx, existing.id, { ...values, ...mode, updated_at: clock.now() }))!
            : await repo.insertPublisher(trx, { ...values, ...mode, dataset_url: datasetUrl });
          for (const f of found.feeds)
            await repo.insertFeed(trx, {
              publisher_id: publisher.id,
              url: f.url,
              kind: f.kind,
              next_poll_at: clock.now(),
            });
          return { publisher, feeds: await repo.listFeeds(trx, publisher.id) };
        });
        changed();
        return registered;
      }
      if (!input.name || !input.feeds?.length) {
        throw new AppError('BAD_REQUEST', 'Give a datasetUrl, or a name and at least one feed {url, kind}.');
      }
      const feeds = input.feeds.map((f, i) => {
        if (!(FEED_KINDS as readonly string[]).includes(f.kind)) {
          throw new AppError('BAD_REQUEST', `Feed kind must be one of ${FEED_KINDS.join(', ')}.`, {
            fieldErrors: [{ path: `/feeds/${i}/kind`, message: `must be one of ${FEED_KINDS.join(', ')}` }],
          });
        }
        return { url: checkUrl(f.url, `feeds/${i}/url`), kind: f.kind };
      });
      const registered = await db.transaction().execute(async (trx) => {
        const publisher = await repo.insertPublisher(trx, {
          name: input.name!,
          ...(input.mode ? { mode: input.mode } : {}),
        });
        for (const f of feeds)
          await repo.insertFeed(trx, {
            publisher_id: publisher.id,
            url: f.url,
            kind: f.kind,
            next_poll_at: clock.now(),
          });
        return { publisher, feeds: await repo.listFeeds(trx, publisher.id) };
      });
      changed();
      return registered;
    },

    /** Every publisher's mode by id (cached; see PUBLISHER_MODES_TTL_MS). */
    async publisherModes(): Promise<Map<number, Mode>> {
      let map = modes.get('all');
      if (!map) {
        map = new Map((await repo.listPublisherModes(db)).map((p) => [p.id, p.mode] as const));
        modes.set('all', map);
      }
      return map;
    },

    /** Calls `listener` after every publisher change made through this service (caches to clear). */
    onPublishersChanged(listener: () => void): void {
      listeners.push(listener);
    },

    listPublishers: () => repo.listPublishers(db),

    async getPublisher(id: number) {
      const publisher = await repo.findPublisherById(db, id);
      if (!publisher) throw new AppError('NOT_FOUND', `There is no publisher ${id}.`);
      return publisher;
    },

    /** Removes a publisher, its feeds and everything harvested from them. */
    async removePublisher(id: number) {
      await db.transaction().execute(async (trx) => {
        const publisher = await repo.findPublisherById(trx, id);
        if (!publisher) throw new AppError('NOT_FOUND', `There is no publisher ${id}.`);
        const entities = await trx
          .selectFrom('catalog_entities')
          .select(['oa_id', 'type'])
          .where('publisher_id', '=', id)
          .execute();
        const now = clock.now();
        await repo.insertChanges(
          trx,
          entities.map((e) => ({ publisher_id: id, oa_id: e.oa_id, type: e.type, op: 'delete' as const, at: now })),
        );
        await trx.deleteFrom('catalog_entities').where('publisher_id', '=', id).execute();
        await repo.deletePublisher(trx, id);
      });
      changed();
    },

    /**
     * The harvest queue as the job queues' stall check last saw it: whether harvesting as a whole
     * is making progress (a wedged queue stops every feed, whatever each feed's own status says).
     */
    async harvestQueueHealth() {
      if (!harvestQueue) return undefined;
      const q = await harvestQueue();
      return {
        status: q?.stalled ? ('stalled' as const) : ('ok' as const),
        dueJobs: q?.dueJobs ?? 0,
        activeJobs: q?.activeJobs ?? 0,
        oldestDueSeconds: q?.oldestDueSeconds ?? null,
        reason: q?.reason ?? null,
        description: q?.description ?? null,
        stalledSince: q?.stalledSince?.toISOString() ?? null,
      };
    },

    /** Per feed: position, progress, lag, errors and the faults seen (dashboard, operators). */
    async feedHealth(publisherId?: number) {
      const feeds = await repo.listFeeds(db, publisherId);
      const faults = await repo.listFeedFaults(
        db,
        feeds.map((f) => f.id),
      );
      const now = clock.now();
      return feeds.map((f) => ({
        id: f.id,
        publisherId: f.publisher_id,
        url: f.url,
        kind: f.kind,
        status: f.status,
        position: f.next_url,
        pages: f.pages,
        itemsUpdated: f.items_updated,
        itemsDeleted: f.items_deleted,
        lastPageAt: f.last_page_at?.toISOString() ?? null,
        caughtUpAt: f.caught_up_at?.toISOString() ?? null,
        newestModified: f.newest_modified,
        lagSeconds: lagSeconds(f, now),
        consecutiveFailures: f.consecutive_failures,
        lastError: f.last_error,
        lastErrorAt: f.last_error_at?.toISOString() ?? null,
        nextPollAt: f.next_poll_at.toISOString(),
        ...overdue(f, now, stallAfterSeconds),
        faults: faults
          .filter((x) => x.feed_id === f.id)
          .map((x) => ({
            fault: x.fault,
            count: x.count,
            firstAt: x.first_at.toISOString(),
            lastAt: x.last_at.toISOString(),
            lastMessage: x.last_message,
          })),
      }));
    },

    lookupOpportunity,

    /** `lookupOpportunity`, with an ambiguous id answered by the 409 that names the candidates. */
    async findOpportunity(oaId: string, options: { preferMode?: Mode; publisherId?: number | null } = {}) {
      const found = await lookupOpportunity(oaId, options);
      if (found && 'ambiguous' in found) {
        throw ambiguousIdentifier('opportunity', oaId, found.ambiguous, 'name its data source');
      }
      return found;
    },

    countEntitiesByType: (publisherId: number) => repo.countEntitiesByType(db, publisherId),
    findEntity: (publisherId: number, oaId: string) => repo.findEntity(db, publisherId, oaId),

    // Reads for the read models that follow the catalog (search, firehose): the change outbox
    // in order, and entities by key or by parent.
    listChangesAfter: (afterSeq: number, limit: number) => repo.listChangesAfter(db, afterSeq, limit),
    latestChangeSeq: () => repo.findLatestChangeSeq(db),
    findEntities: (publisherId: number, oaIds: string[]) => repo.findEntitiesByOaIds(db, publisherId, oaIds),
    listChildEntities: (publisherId: number, parentOaIds: string[], startsFrom?: Date) =>
      repo.listChildEntities(db, publisherId, parentOaIds, startsFrom),
    listEntitiesInIdRange: (types: string[], afterId: number, upToId: number) =>
      repo.listEntitiesInIdRange(db, types, afterId, upToId),
    latestEntityId: () => repo.findLatestEntityId(db),
    countChangesUpTo: (upTo: number) => repo.countChangesUpTo(db, upTo),
    findChangedBetween: (publisherId: number, oaIds: string[], afterSeq: number, upToSeq: number) =>
      repo.findChangedBetween(db, publisherId, oaIds, afterSeq, upToSeq),
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
