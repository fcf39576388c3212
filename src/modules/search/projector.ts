import type { Insertable } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import type { Jobs } from '../../lib/jobs.js';
import type { Vocabularies } from '../../lib/vocabularies.js';
import type { CatalogService } from '../catalog/index.js';
import {
  buildOccurrenceRow,
  buildSeriesRow,
  OCCURRENCE_KINDS,
  SERIES_KINDS,
  type Entity,
  type PublisherInfo,
  type SeriesForOccurrence,
  toOutput,
} from './projection.js';
import { effectiveSession, hasOwnInheritable, ownValues, variantOaId } from './inheritance.js';
import * as repo from './projector.repository.js';
import { searchDb, type SearchOccurrencesTable, type SearchSeriesTable, type SeriesDoc } from './search.tables.js';
import { createTicker } from '../../lib/ticker.js';

export const PROJECT_JOB = 'search.project';
const CURSOR = 'search';
/** Occurrences that started longer ago than this are archived (imin §1.4), not projected. */
const ARCHIVE_AFTER_MS = 24 * 3600_000;
const PRUNE_EVERY_MS = 10 * 60_000;
/** How far past a batch the projector looks for children's own changes (sequence numbers). */
const LOOKAHEAD = 100_000;
/**
 * Entity ids per page of an initial load: series are about a tenth of the catalog, occurrences
 * most of it (a page reads the id range once for each).
 */
const SERIES_PAGE_IDS = 10_000;
const OCCURRENCE_PAGE_IDS = 2_500;

const isSeriesType = (t: string) => (SERIES_KINDS as readonly string[]).includes(t);
const isOccurrenceType = (t: string) => (OCCURRENCE_KINDS as readonly string[]).includes(t);

export interface ProjectorOptions {
  database: Database;
  catalog: CatalogService;
  vocab: Vocabularies;
  clock: Clock;
  log: Logger;
  /** Changes read per batch (one transaction each). */
  batchSize?: number;
  /**
   * How long a hole in the change sequence is waited for before it is skipped. On Postgres a
   * harvest transaction may commit after one with a higher sequence number: passing the hole
   * at once would lose its changes. A hole that lasts is a rolled-back transaction.
   */
  gapWaitMs?: number;
  /**
   * Whether an empty read model (no rows, no cursor) is filled from the catalog's entities in
   * one pass instead of by replaying every change (default true). Both give the same rows.
   */
  bulkLoad?: boolean;
}

export interface ProjectionRun {
  changes: number;
  batches: number;
  lastSeq: number;
}

/**
 * Follows `catalog_changes` from a persisted cursor and re-projects what each change affects:
 * the entity itself, the children of a changed parent (their inherited values changed), and
 * the SessionSeries of a changed EventSeries. Each batch is written with the cursor in one
 * transaction, so a crash repeats at most a batch (projection is idempotent). Orphans (a
 * session without its series, an IndividualFacilityUse without its FacilityUse) are left out
 * until the parent arrives; that arrival re-projects them.
 */
export function createProjector(options: ProjectorOptions) {
  const { database, catalog, vocab, clock, log } = options;
  const db = searchDb(database.db);
  const batchSize = options.batchSize ?? 5000;
  const gapWaitMs = options.gapWaitMs ?? 10_000;
  const bulkLoad = options.bulkLoad ?? true;
  const gapsSeen = new Map<number, number>();
  let lastPrune = 0;
  let running: Promise<unknown> = Promise.resolve();

  /** The changes that can be applied now: up to the first hole still worth waiting for. */
  function applicable<T extends { seq: number }>(changes: T[], cursor: number): T[] {
    const out: T[] = [];
    let expected = cursor + 1;
    for (const c of changes) {
      const seq = Number(c.seq);
      // PGlite has one connection: nothing can be in flight while we read.
      if (seq !== expected && database.kind === 'postgres' && gapWaitMs > 0) {
        const now = Date.now();
        const first = gapsSeen.get(expected) ?? now;
        gapsSeen.set(expected, first);
        if (now - first < gapWaitMs) break;
        gapsSeen.delete(expected);
      }
      out.push(c);
      expected = seq + 1;
    }
    return out;
  }

  async function publishers(): Promise<Map<number, PublisherInfo>> {
    const list = await catalog.listPublishers();
    return new Map(
      list.map((p) => [p.id, { id: p.id, name: p.name, bookable: p.booking_endpoint_url !== null }] as const),
    );
  }

  /** The search row of a series entity, or null when it has none (an orphan, or not a series). */
  function seriesRowFor(e: Entity, parent: Entity | null, publisher: PublisherInfo, now: Date) {
    if (!isSeriesType(e.type)) return null;
    if (e.type === 'IndividualFacilityUse' && parent?.type !== 'FacilityUse') return null;
    const usableParent = e.type === 'SessionSeries' && parent?.type !== 'EventSeries' ? null : parent;
    return buildSeriesRow(e, usableParent, publisher, vocab, now);
  }

  /**
   * The search rows of the sessions that override their SessionSeries (inheritance.ts): each is
   * searched and shown with its effective values, under its own key (`variantOaId`), and its
   * occurrence row hangs from it instead of from the series' row. `entities` is a cache of the
   * publisher's entities by id (series and EventSeries missing from it are read).
   */
  async function variantRows(
    publisher: PublisherInfo,
    sessions: Entity[],
    entities: Map<string, Entity>,
    now: Date,
  ): Promise<Map<string, Insertable<SearchSeriesTable>>> {
    const out = new Map<string, Insertable<SearchSeriesTable>>();
    const candidates = sessions.filter(
      (e) => e.type === 'ScheduledSession' && e.parent_oa_id !== null && hasOwnInheritable(e.data),
    );
    if (candidates.length === 0) return out;
    const missing = (ids: (string | null | undefined)[]) =>
      [...new Set(ids.filter((k): k is string => typeof k === 'string'))].filter((k) => !entities.has(k));
    const read = async (ids: string[]) => {
      for (const e of await catalog.findEntities(publisher.id, ids)) entities.set(e.oa_id, e);
    };
    await read(missing(candidates.map((c) => c.parent_oa_id)));
    await read(missing(candidates.map((c) => entities.get(c.parent_oa_id!)?.parent_oa_id)));
    for (const c of candidates) {
      const series = entities.get(c.parent_oa_id!);
      if (series?.type !== 'SessionSeries') continue;
      const effective = effectiveSession(series, c);
      if (!effective) continue;
      const parent = effective.parent_oa_id ? (entities.get(effective.parent_oa_id) ?? null) : null;
      const row = seriesRowFor(effective, parent, publisher, now);
      if (!row) continue;
      const detail = JSON.parse(row.detail_doc) as Record<string, unknown>;
      detail.own = toOutput(ownValues(c.data, series.data)) ?? {};
      out.set(c.oa_id, { ...row, oa_id: variantOaId(c.oa_id), detail_doc: JSON.stringify(detail) });
    }
    return out;
  }

  /** Upserts variant rows and returns what each session's occurrence row inherits from its own. */
  async function writeVariants(
    db: Parameters<typeof repo.upsertSeries>[0],
    rows: Map<string, Insertable<SearchSeriesTable>>,
  ) {
    const list = [...rows.values()];
    const ids = new Map((await repo.upsertSeries(db, list)).map((u) => [u.oa_id, u.id]));
    const info = new Map<string, SeriesForOccurrence>();
    for (const [sessionOaId, r] of rows) {
      info.set(sessionOaId, {
        id: ids.get(r.oa_id)!,
        tz: r.tz,
        booking_ready: r.booking_ready,
        offers: (JSON.parse(r.detail_doc) as { offers: Record<string, unknown>[] }).offers,
      });
    }
    return info;
  }

  async function projectPublisher(
    publisher: PublisherInfo,
    changed: { series: Set<string>; eventSeries: Set<string>; occurrences: Set<string> },
    now: Date,
    batchEnd: number,
  ) {
    const pub = publisher.id;
    const entities = new Map<string, Entity>();
    const remember = (list: Entity[]) => list.forEach((e) => entities.set(e.oa_id, e));

    const seriesKeys = new Set(changed.series);
    // A changed EventSeries changes what its SessionSeries inherit.
    if (changed.eventSeries.size) {
      const children = (await catalog.listChildEntities(pub, [...changed.eventSeries])).filter(
        (e) => e.type === 'SessionSeries',
      );
      remember(children);
      children.forEach((c) => seriesKeys.add(c.oa_id));
    }
    remember(
      await catalog.findEntities(
        pub,
        [...seriesKeys].filter((k) => !entities.has(k)),
      ),
    );
    // A changed (or deleted) FacilityUse changes its IndividualFacilityUses.
    const facilityKeys = [...seriesKeys].filter((k) => (entities.get(k)?.type ?? 'FacilityUse') === 'FacilityUse');
    if (facilityKeys.length) {
      const children = (await catalog.listChildEntities(pub, facilityKeys)).filter(
        (e) => e.type === 'IndividualFacilityUse',
      );
      remember(children);
      children.forEach((c) => seriesKeys.add(c.oa_id));
    }
    const parentIds = new Set<string>();
    for (const k of seriesKeys) {
      const e = entities.get(k);
      if (e?.parent_oa_id && !entities.has(e.parent_oa_id)) parentIds.add(e.parent_oa_id);
    }
    remember(await catalog.findEntities(pub, [...parentIds]));

    const seriesRows: Insertable<SearchSeriesTable>[] = [];
    const seriesGone: string[] = [];
    for (const key of seriesKeys) {
      const e = entities.get(key);
      const parent = e?.parent_oa_id ? (entities.get(e.parent_oa_id) ?? null) : null;
      const row = e ? seriesRowFor(e, parent, publisher, now) : null;
      if (row) seriesRows.push(row);
      else seriesGone.push(key);
    }

    // The occurrences of a series that is new, or whose inherited values (offers, time zone,
    // bookability) changed, are re-projected too, together with those that changed themselves.
    // A new series may have children that arrived before it (orphans until now).
    const archivedBefore = new Date(now.getTime() - ARCHIVE_AFTER_MS);
    const previous = await repo.findInheritHashes(
      db,
      pub,
      seriesRows.map((r) => r.oa_id),
    );
    const liveSeries = seriesRows
      .filter((r) => previous.get(r.oa_id) !== (JSON.parse(r.doc) as SeriesDoc).inheritHash)
      .map((r) => r.oa_id);
    const occurrenceKeys = new Set(changed.occurrences);
    // Sessions with values of their own are searched with their series' other values
    // (inheritance.ts), so any change of the series re-projects them; a deleted series takes
    // their rows with it.
    const live = new Set(liveSeries);
    const listed = (
      await catalog.listChildEntities(pub, [...seriesRows.map((r) => r.oa_id), ...seriesGone], archivedBefore)
    ).filter(
      (e) =>
        isOccurrenceType(e.type) &&
        ((e.parent_oa_id !== null && live.has(e.parent_oa_id)) || hasOwnInheritable(e.data)),
    );
    // Children with a change of their own in the next changes are projected with it, not twice
    // (a backlog holds a series and, further on, its sessions).
    const ahead = await catalog.findChangedBetween(
      pub,
      listed.filter((c) => !occurrenceKeys.has(c.oa_id)).map((c) => c.oa_id),
      batchEnd,
      batchEnd + LOOKAHEAD,
    );
    const children = listed.filter((c) => !ahead.has(c.oa_id));
    remember(children);
    children.forEach((c) => occurrenceKeys.add(c.oa_id));
    remember(
      await catalog.findEntities(
        pub,
        [...occurrenceKeys].filter((k) => !entities.has(k)),
      ),
    );
    const occurrenceEntities = [...occurrenceKeys].flatMap((k) => {
      const e = entities.get(k);
      return e && isOccurrenceType(e.type) && e.start_date && new Date(e.start_date) >= archivedBefore ? [e] : [];
    });
    const variants = await variantRows(publisher, occurrenceEntities, entities, now);

    await db.transaction().execute(async (trx) => {
      await repo.deleteSeries(trx, pub, seriesGone);
      const upserted = await repo.upsertSeries(trx, seriesRows);
      const info = new Map<string, SeriesForOccurrence>();
      const idByOa = new Map(upserted.map((u) => [u.oa_id, u.id]));
      for (const r of seriesRows) {
        info.set(r.oa_id, {
          id: idByOa.get(r.oa_id)!,
          tz: r.tz,
          booking_ready: r.booking_ready,
          offers: (JSON.parse(r.detail_doc) as { offers: Record<string, unknown>[] }).offers,
        });
      }
      const missing = new Set<string>();
      for (const k of occurrenceKeys) {
        const parent = entities.get(k)?.parent_oa_id;
        if (parent && !info.has(parent)) missing.add(parent);
      }
      for (const s of await repo.findSeriesForOccurrences(trx, pub, [...missing])) info.set(s.oa_id, s);
      // Only a session whose series has a row gets its own (as the series', it is left out otherwise).
      for (const k of [...variants.keys()]) {
        const parent = entities.get(k)?.parent_oa_id;
        if (!parent || !info.has(parent)) variants.delete(k);
      }
      const own = await writeVariants(trx, variants);

      const rows: Insertable<SearchOccurrencesTable>[] = [];
      const gone: string[] = [];
      for (const key of occurrenceKeys) {
        const e = entities.get(key);
        const series = own.get(key) ?? (e?.parent_oa_id ? info.get(e.parent_oa_id) : undefined);
        const row =
          e && series && isOccurrenceType(e.type) && e.start_date && new Date(e.start_date) >= archivedBefore
            ? buildOccurrenceRow(e, series, pub)
            : null;
        if (row) rows.push(row);
        else gone.push(key);
      }
      // Series whose open_starts change: those the occurrences belonged to and belong to now.
      const touched = await repo.findOccurrenceSeriesIds(trx, pub, [...occurrenceKeys]);
      rows.forEach((r) => touched.add(Number(r.series_id)));
      await repo.deleteOccurrences(trx, pub, gone);
      await repo.upsertOccurrences(trx, rows);
      // Rows of sessions that no longer override their series (or are gone), once nothing
      // hangs from them.
      await repo.deleteSeries(trx, pub, [...occurrenceKeys].filter((k) => !own.has(k)).map(variantOaId));
      await repo.refreshOpenStarts(trx, [...touched]);
    });
    return { series: seriesRows.length, occurrences: occurrenceKeys.size };
  }

  async function runBatch(known: Map<number, PublisherInfo>): Promise<{ applied: number; lastSeq: number }> {
    const cursor = await repo.findCursor(db, CURSOR);
    const changes = applicable(await catalog.listChangesAfter(cursor, batchSize), cursor);
    if (changes.length === 0) return { applied: 0, lastSeq: cursor };
    const now = clock.now();
    const lastSeq = Number(changes.at(-1)!.seq);
    const byPublisher = new Map<number, { series: Set<string>; eventSeries: Set<string>; occurrences: Set<string> }>();
    for (const c of changes) {
      let group = byPublisher.get(c.publisher_id);
      if (!group) {
        group = { series: new Set(), eventSeries: new Set(), occurrences: new Set() };
        byPublisher.set(c.publisher_id, group);
      }
      if (isSeriesType(c.type)) group.series.add(c.oa_id);
      else if (c.type === 'EventSeries') group.eventSeries.add(c.oa_id);
      else if (isOccurrenceType(c.type)) group.occurrences.add(c.oa_id);
    }
    for (const [publisherId, changed] of byPublisher) {
      if (!known.has(publisherId)) {
        // A publisher removed since: its entities are gone, so everything projects as deleted.
        known.set(publisherId, { id: publisherId, name: '', bookable: false });
      }
      await projectPublisher(known.get(publisherId)!, changed, now, lastSeq);
    }
    await repo.saveCursor(db, CURSOR, lastSeq, now);
    return { applied: changes.length, lastSeq };
  }

  /** Entities grouped by publisher, in the order given. */
  function byPublisherOf(list: Entity[]) {
    const out = new Map<number, Entity[]>();
    for (const e of list) {
      const group = out.get(e.publisher_id);
      if (group) group.push(e);
      else out.set(e.publisher_id, [e]);
    }
    return out;
  }

  /**
   * Initial load of an empty read model: every series entity, then every occurrence not yet
   * archived, in pages of the catalog in id order, each written once — instead of replaying the
   * changes, which re-projects a series' occurrences with it and again with their own changes.
   * The rows are those the changes would give (tested). The cursor moves to the latest change
   * seen before the entities are read; changes up to it still being committed are waited for
   * first, as the incremental path waits for a hole. A crash part-way leaves rows without a
   * cursor: the next run replays the changes over them (idempotent).
   */
  async function loadAll(
    known: Map<number, PublisherInfo>,
  ): Promise<{ changes: number; pages: number; lastSeq: number }> {
    const upTo = await catalog.latestChangeSeq();
    if (upTo === 0) return { changes: 0, pages: 0, lastSeq: 0 };
    let counts = await catalog.countChangesUpTo(upTo);
    const waitFrom = Date.now();
    while (database.kind === 'postgres' && counts.gaps > 0 && Date.now() - waitFrom < gapWaitMs) {
      await new Promise((r) => setTimeout(r, 200));
      counts = await catalog.countChangesUpTo(upTo);
    }
    const now = clock.now();
    const archivedBefore = new Date(now.getTime() - ARCHIVE_AFTER_MS);
    let reloaded = false;
    const publisherInfo = async (id: number) => {
      if (!known.has(id) && !reloaded) {
        reloaded = true;
        for (const [k, v] of await publishers()) known.set(k, v);
      }
      return known.get(id);
    };
    // Entities written later than this have changes after `upTo`.
    const lastId = await catalog.latestEntityId();
    let pages = 0;
    for (let after = 0; after < lastId; after += SERIES_PAGE_IDS) {
      const page = await catalog.listEntitiesInIdRange([...SERIES_KINDS], after, after + SERIES_PAGE_IDS);
      pages += 1;
      for (const [pub, list] of byPublisherOf(page)) {
        const publisher = await publisherInfo(pub);
        if (!publisher) continue;
        const parentIds = [...new Set(list.flatMap((e) => (e.parent_oa_id ? [e.parent_oa_id] : [])))];
        const parents = new Map((await catalog.findEntities(pub, parentIds)).map((e) => [e.oa_id, e] as const));
        const rows: Insertable<SearchSeriesTable>[] = [];
        for (const e of list) {
          const row = seriesRowFor(e, e.parent_oa_id ? (parents.get(e.parent_oa_id) ?? null) : null, publisher, now);
          if (row) rows.push(row);
        }
        await repo.upsertSeries(db, rows);
      }
    }
    // Statistics for the tables just filled (they were empty): without them the planner reads
    // every series of the publisher to find a page's parents (measured: 1.3 s a page at 1M).
    await repo.analyzeReadModel(db, 'search_series');
    for (let after = 0; after < lastId; after += OCCURRENCE_PAGE_IDS) {
      // Archived occurrences are left out here rather than in SQL: a start_date condition may
      // lead the planner to the (type, start_date) index, read in full for every page.
      const page = (
        await catalog.listEntitiesInIdRange([...OCCURRENCE_KINDS], after, after + OCCURRENCE_PAGE_IDS)
      ).filter((e) => e.start_date !== null && new Date(e.start_date) >= archivedBefore);
      pages += 1;
      for (const [pub, list] of byPublisherOf(page)) {
        const parentIds = [...new Set(list.flatMap((e) => (e.parent_oa_id ? [e.parent_oa_id] : [])))];
        const info = new Map(
          (await repo.findSeriesForOccurrences(db, pub, parentIds)).map((s) => [s.oa_id, s] as const),
        );
        const publisher = await publisherInfo(pub);
        const variants = publisher ? await variantRows(publisher, list, new Map(), now) : new Map();
        const parentOf = new Map(list.map((e) => [e.oa_id, e.parent_oa_id] as const));
        for (const k of [...variants.keys()]) {
          const parent = parentOf.get(k);
          if (!parent || !info.has(parent)) variants.delete(k);
        }
        const own = await writeVariants(db, variants);
        const rows: Insertable<SearchOccurrencesTable>[] = [];
        for (const e of list) {
          const series = own.get(e.oa_id) ?? (e.parent_oa_id ? info.get(e.parent_oa_id) : undefined);
          const row = series ? buildOccurrenceRow(e, series, pub) : null;
          if (row) rows.push(row);
        }
        await repo.upsertOccurrences(db, rows);
      }
    }
    await repo.refreshAllOpenStarts(db);
    await repo.vacuumReadModel(db);
    await repo.saveCursor(db, CURSOR, upTo, now);
    return { changes: counts.changes, pages, lastSeq: upTo };
  }

  async function run(opts: { budgetMs?: number }): Promise<ProjectionRun> {
    const started = Date.now();
    const result: ProjectionRun = { changes: 0, batches: 0, lastSeq: 0 };
    const known = await publishers();
    if (bulkLoad && (await repo.findCursor(db, CURSOR)) === 0 && (await repo.isReadModelEmpty(db))) {
      const loaded = await loadAll(known);
      Object.assign(result, { changes: loaded.changes, batches: loaded.pages, lastSeq: loaded.lastSeq });
    }
    for (;;) {
      const { applied, lastSeq } = await runBatch(known);
      result.lastSeq = lastSeq;
      if (applied === 0) break;
      result.changes += applied;
      result.batches += 1;
      if (opts.budgetMs !== undefined && Date.now() - started > opts.budgetMs) break;
    }
    const now = clock.now();
    if (now.getTime() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = now.getTime();
      const pruned = await repo.deleteOccurrencesBefore(db, new Date(now.getTime() - ARCHIVE_AFTER_MS));
      if (pruned) log.debug({ pruned }, 'archived past occurrences');
    }
    if (result.changes) log.debug(result, 'search projection');
    return result;
  }

  return {
    /**
     * Applies every change available now (or until `budgetMs` is spent). Calls never overlap
     * within a process; the job queue keeps processes from running it twice at once.
     */
    runOnce(opts: { budgetMs?: number } = {}): Promise<ProjectionRun> {
      const next = running.then(() => run(opts));
      running = next.catch(() => undefined);
      return next;
    },

    /** Whether the catalog has changes the read model has not applied yet. */
    async pending(): Promise<boolean> {
      return (await catalog.latestChangeSeq()) > (await repo.findCursor(db, CURSOR));
    },
  };
}

export type Projector = ReturnType<typeof createProjector>;

/**
 * Sends a projection job whenever the catalog is ahead of the read model and no projection job
 * is running or waiting to retry. One job at a time across every process on the database (the
 * `stately` queue; a running job holds a lease, so a long first load is never run twice), so
 * search trails harvesting by about a tick and never blocks it.
 */
export function createProjectionScheduler({
  projector,
  jobs,
  log,
  tickMs = 1000,
}: {
  projector: Projector;
  jobs: Jobs;
  log: Logger;
  tickMs?: number;
}) {
  const ticker = createTicker(
    async () => {
      if (!(await projector.pending())) return false;
      return (await jobs.sendUnlessBusy(PROJECT_JOB, [{ singletonKey: 'search', data: {} }])) > 0;
    },
    { intervalMs: tickMs, log, what: 'search projection scheduling' },
  );
  return { ...ticker, tick: async (): Promise<boolean> => (await ticker.tick()) ?? false };
}
