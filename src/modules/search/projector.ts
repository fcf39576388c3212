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
} from './projection.js';
import * as repo from './projector.repository.js';
import { searchDb, type SearchOccurrencesTable, type SearchSeriesTable, type SeriesDoc } from './search.tables.js';
import { createTicker } from '../../lib/ticker.js';

export const PROJECT_JOB = 'search.project';
const CURSOR = 'search';
/** Occurrences that started longer ago than this are archived (imin §1.4), not projected. */
const ARCHIVE_AFTER_MS = 24 * 3600_000;
const PRUNE_EVERY_MS = 10 * 60_000;

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

  async function projectPublisher(
    publisher: PublisherInfo,
    changed: { series: Set<string>; eventSeries: Set<string>; occurrences: Set<string> },
    now: Date,
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
      if (!e || !isSeriesType(e.type)) {
        seriesGone.push(key);
        continue;
      }
      const parent = e.parent_oa_id ? (entities.get(e.parent_oa_id) ?? null) : null;
      if (e.type === 'IndividualFacilityUse' && parent?.type !== 'FacilityUse') {
        seriesGone.push(key);
        continue;
      }
      const usableParent = e.type === 'SessionSeries' && parent?.type !== 'EventSeries' ? null : parent;
      seriesRows.push(buildSeriesRow(e, usableParent, publisher, vocab, now));
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
    const children = (await catalog.listChildEntities(pub, liveSeries, archivedBefore)).filter((e) =>
      isOccurrenceType(e.type),
    );
    remember(children);
    children.forEach((c) => occurrenceKeys.add(c.oa_id));
    remember(
      await catalog.findEntities(
        pub,
        [...occurrenceKeys].filter((k) => !entities.has(k)),
      ),
    );

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
          offers: (JSON.parse(r.doc) as { offers: Record<string, unknown>[] }).offers,
        });
      }
      const missing = new Set<string>();
      for (const k of occurrenceKeys) {
        const parent = entities.get(k)?.parent_oa_id;
        if (parent && !info.has(parent)) missing.add(parent);
      }
      for (const s of await repo.findSeriesForOccurrences(trx, pub, [...missing])) info.set(s.oa_id, s);

      const rows: Insertable<SearchOccurrencesTable>[] = [];
      const gone: string[] = [];
      for (const key of occurrenceKeys) {
        const e = entities.get(key);
        const series = e?.parent_oa_id ? info.get(e.parent_oa_id) : undefined;
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
      await repo.refreshOpenStarts(trx, [...touched]);
    });
    return { series: seriesRows.length, occurrences: occurrenceKeys.size };
  }

  async function runBatch(known: Map<number, PublisherInfo>): Promise<{ applied: number; lastSeq: number }> {
    const cursor = await repo.findCursor(db, CURSOR);
    const changes = applicable(await catalog.listChangesAfter(cursor, batchSize), cursor);
    if (changes.length === 0) return { applied: 0, lastSeq: cursor };
    const now = clock.now();
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
      await projectPublisher(known.get(publisherId)!, changed, now);
    }
    const lastSeq = Number(changes.at(-1)!.seq);
    await repo.saveCursor(db, CURSOR, lastSeq, now);
    return { applied: changes.length, lastSeq };
  }

  async function run(opts: { budgetMs?: number }): Promise<ProjectionRun> {
    const started = Date.now();
    const result: ProjectionRun = { changes: 0, batches: 0, lastSeq: 0 };
    const known = await publishers();
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
 * Sends a projection job whenever the catalog is ahead of the read model. The `stately` queue
 * holds at most one queued and one running job, so search trails harvesting by about a tick
 * and never blocks it.
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
      return (await jobs.send(PROJECT_JOB, {}, { singletonKey: 'search' })) !== null;
    },
    { intervalMs: tickMs, log, what: 'search projection scheduling' },
  );
  return { ...ticker, tick: async (): Promise<boolean> => (await ticker.tick()) ?? false };
}
