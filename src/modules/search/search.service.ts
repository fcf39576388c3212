import type { Database } from '../../db/database.js';
import { isVariantOaId } from './inheritance.js';
import { AppError } from '../../http/errors.js';
import { ambiguousIdentifier } from '../../lib/data-source.js';
import type { Clock } from '../../lib/clock.js';
import { createTtlCache } from '../../lib/ttl-cache.js';
import { ACTIVITY_LIST_ID, type Vocabularies } from '../../lib/vocabularies.js';
import type { AuthContext } from '../brokers/index.js';
import { createCollections } from './collections.js';
import {
  parseEventsQuery,
  parseFacilitiesQuery,
  parsePlacesQuery,
  type OccurrenceFilters,
  type QueryContext,
  type RawQuery,
} from './query.js';
import {
  collection,
  eventsApi,
  facilitiesApi,
  placesApi,
  renderEventSeries,
  renderFacilityUse,
  renderPlace,
  renderScheduledSession,
  renderSlotById,
  SEARCH_CONTEXT,
  type RenderContext,
} from './render.js';
import * as repo from './search.repository.js';
import { searchDb } from './search.tables.js';

type Obj = Record<string, unknown>;

const DAY_MS = 24 * 3600_000;
/** imin §4.3.1: a FacilityUse By-ID lists up to 7 days of slots. */
const FACILITY_BY_ID_DAYS = 7;
const CHECKOUT_CACHE_MS = 30_000;

export interface SearchServiceOptions {
  database: Database;
  vocab: Vocabularies;
  clock: Clock;
  publicBaseUrl: string;
  /** The calling broker's checkoutBaseUrl (its own host, or `<base>/checkout/<slug>`). */
  checkoutBaseUrl: (auth: AuthContext) => Promise<string>;
  /** Publisher → mode (the catalog's small cached map): who is bookable by which key mode. */
  publisherModes: () => Promise<ReadonlyMap<number, 'live' | 'test'>>;
}

export function createSearchService(options: SearchServiceOptions) {
  const { vocab, clock, publicBaseUrl: base } = options;
  const db = searchDb(options.database.db);
  const collections = createCollections(vocab, eventsApi(base));
  const labelIndex = new Map<string, string>();
  for (const a of vocab.allActivities()) labelIndex.set(a.prefLabel, a.id);
  // A label search includes narrower activities: match ids hold every broader concept, so the
  // label's own id is enough.
  const checkoutCache = createTtlCache<number, string>(CHECKOUT_CACHE_MS);

  async function renderContext(auth: AuthContext): Promise<RenderContext> {
    const now = clock.now();
    let checkoutBase = checkoutCache.get(auth.brokerId);
    if (checkoutBase === undefined) {
      checkoutBase = await options.checkoutBaseUrl(auth);
      checkoutCache.set(auth.brokerId, checkoutBase);
    }
    return { base, now, checkoutBase, mode: auth.mode, publisherModes: await options.publisherModes() };
  }

  /** Marks, for rendering, the occurrences whose published id another publisher also holds. */
  async function markShared(ctx: RenderContext, occurrences: { oa_id: string }[]): Promise<void> {
    ctx.shared = await repo.findSharedOccurrenceIds(
      db,
      occurrences.map((o) => o.oa_id),
    );
  }

  /** The one upcoming occurrence an id (and optional data source) names; several → 409. */
  async function oneOccurrence(kind: 'ScheduledSession' | 'Slot', oaId: string, dataSource: number | null, now: Date) {
    const found = await repo.findOccurrencesByOaId(db, kind, oaId, now, dataSource);
    if (found.length > 1) {
      throw ambiguousIdentifier(
        kind,
        oaId,
        found.map((o) => o.publisher_id),
        'name one with ?dataSource=<identifier>',
        'dataSource',
      );
    }
    return found[0] ?? null;
  }

  const queryContext = (now: Date): QueryContext => ({ vocab, collections, labelIndex, now });
  const absolute = (requestUrl: string) => `${base}${requestUrl}`;

  let facets: Obj | undefined;

  return {
    collections,

    /** `GET /events-api/v2/event-series` (imin §3.1, §3.7). */
    async searchEventSeries(auth: AuthContext, raw: RawQuery, requestUrl: string): Promise<Obj> {
      const ctx = await renderContext(auth);
      const q = parseEventsQuery(raw, queryContext(ctx.now), { modeRequired: true });
      const { limit, page } = q.paging;
      const offset = (page - 1) * limit;
      let total = 0;
      let items: Obj[] = [];
      if (!q.empty && q.mode === 'upcoming-sessions') {
        // One-to-One: one EventSeries per (SessionSeries, ScheduledSession), soonest first.
        const found = await repo.searchOccurrences(db, q.series, q.occurrences, limit, offset);
        total = found.total;
        await markShared(
          ctx,
          found.rows.map((r) => r.occurrence),
        );
        items = found.rows.map(({ occurrence, series }) =>
          renderEventSeries(series.identifier, [{ series, occurrences: [occurrence] }], ctx, false),
        );
      } else if (!q.empty) {
        // One-to-Many: one EventSeries per group, with its matching series and sessions.
        const order =
          q.mode === 'discovery-price-asc'
            ? 'price-asc'
            : q.mode === 'discovery-price-desc'
              ? 'price-desc'
              : 'distance';
        const found = await repo.searchGroups(db, q.series, q.occurrences, order, limit, offset);
        total = found.total;
        const occurrences = await repo.findOccurrencesOfSeries(
          db,
          found.members.map((s) => s.id),
          q.occurrences,
          repo.OCCURRENCES_PER_SERIES,
        );
        await markShared(ctx, occurrences);
        items = found.identifiers
          .map((identifier) => {
            const members = found.members
              .filter((s) => s.identifier === identifier)
              .map((s) => ({ series: s, occurrences: occurrences.filter((o) => o.series_id === s.id) }))
              .filter((m) => m.occurrences.length > 0);
            return members.length ? renderEventSeries(identifier, members, ctx, false) : null;
          })
          .filter((i): i is Obj => i !== null);
      }
      return collection(absolute(requestUrl), `${eventsApi(base)}/event-series`, q.canonical, q.paging, total, items);
    },

    /** `GET /events-api/v2/event-series/:id`: every venue, 14 days of sessions. */
    async getEventSeries(auth: AuthContext, identifier: string): Promise<Obj> {
      const ctx = await renderContext(auth);
      const series = await repo.findGroupSeries(db, identifier, ['SessionSeries'], null);
      // imin §1.4: once every session is past the EventSeries is archived.
      if (
        !series.length ||
        !(await repo.hasFutureOccurrence(
          db,
          series.map((s) => s.id),
          ctx.now,
        ))
      ) {
        throw new AppError('NOT_FOUND', `There is no current EventSeries "${identifier}".`);
      }
      const window: OccurrenceFilters = {
        from: ctx.now,
        to: new Date(ctx.now.getTime() + 14 * DAY_MS),
        minuteGte: null,
        minuteLte: null,
        days: null,
      };
      const occurrences = await repo.findOccurrencesOfSeries(
        db,
        series.map((s) => s.id),
        window,
        1000,
        { searchable: false },
      );
      await markShared(ctx, occurrences);
      const members = series.map((s) => ({ series: s, occurrences: occurrences.filter((o) => o.series_id === s.id) }));
      return renderEventSeries(identifier, members, ctx, true);
    },

    /** `GET /events-api/v2/scheduled-sessions/:id` (id = the session's URL-encoded identifier). */
    async getScheduledSession(auth: AuthContext, oaId: string, dataSource: number | null = null): Promise<Obj> {
      const ctx = await renderContext(auth);
      const o = await oneOccurrence('ScheduledSession', oaId, dataSource, ctx.now);
      if (o) await markShared(ctx, [o]);
      const row = o ? (await repo.findSeriesByIds(db, [o.series_id], null, { detail: true }))[0] : undefined;
      // A session with values of its own hangs from its own row (inheritance.ts); its superEvent
      // is its series' row.
      const series =
        row && isVariantOaId(row.oa_id)
          ? await repo.findSeriesByOaId(db, row.publisher_id, String(row.doc.series.id))
          : row;
      if (!o || !series) throw new AppError('NOT_FOUND', `There is no upcoming ScheduledSession "${oaId}".`);
      return renderScheduledSession(o, series, ctx, row !== series ? row : undefined);
    },

    /** `GET /events-api/v2/places`: one Place per location with its events (imin §3.8). */
    async searchEventPlaces(auth: AuthContext, raw: RawQuery, requestUrl: string): Promise<Obj> {
      const ctx = await renderContext(auth);
      const q = parseEventsQuery(raw, queryContext(ctx.now), { modeRequired: false });
      const { limit, page } = q.paging;
      const found = q.empty
        ? { total: 0, rows: [] }
        : await repo.searchPlaces(db, q.series, q.occurrences, limit, (page - 1) * limit);
      const reps = await repo.findSeriesByIds(
        db,
        found.rows.map((r) => r.representative),
        null,
      );
      const repById = new Map(reps.map((r) => [r.id, r]));
      const filters = q.canonical.filter(([k]) => !['geo[radial]', 'mode', 'limit', 'page'].includes(k));
      const items = found.rows.map((r) => {
        const row = repById.get(r.representative)!;
        const geo = row.doc.place?.geo as { latitude: number; longitude: number } | undefined;
        // The events at exactly this place: the same search, centred on it with radius 0.
        const params: [string, string][] = [
          ...(geo ? [['geo[radial]', `${geo.latitude},${geo.longitude},0`] as [string, string]] : []),
          ...filters,
          ['mode', 'discovery-geo'],
        ];
        const eventsUrl = `${eventsApi(base)}/event-series?${params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
        return renderPlace(row, r.dist, {
          'imin:event': { type: 'imin:RestrictedCollection', id: eventsUrl, 'imin:totalItems': r.groups },
        });
      });
      return collection(absolute(requestUrl), `${eventsApi(base)}/places`, q.canonical, q.paging, found.total, items);
    },

    /** `GET /events-api/v2/facets`: the activity index and the concept collections (imin §3.5). */
    facets(): Obj {
      if (!facets) {
        const definitions = new Map<string, string>();
        for (const c of (vocab.activityListJson.concept ?? []) as { id: string; definition?: string }[]) {
          if (c.definition) definitions.set(c.id, c.definition);
        }
        const activities = vocab.allActivities().map((a) => ({
          type: 'Concept',
          id: a.id,
          prefLabel: a.prefLabel,
          inScheme: ACTIVITY_LIST_ID,
          ...(definitions.has(a.id) ? { definition: definitions.get(a.id) } : {}),
          ...(vocab.activityWithBroader(a.id).length > 1
            ? { broaderTransitive: vocab.activityWithBroader(a.id).slice(1) }
            : {}),
        }));
        const list = collections.all().map((c) => collections.render(c, false));
        facets = {
          '@context': SEARCH_CONTEXT,
          type: 'imin:FacetCollection',
          'imin:index': {
            activity: {
              type: 'imin:RestrictedCollection',
              'imin:totalItems': activities.length,
              'imin:item': activities,
            },
            activityConceptCollection: {
              type: 'imin:RestrictedCollection',
              'imin:totalItems': list.length,
              'imin:item': list,
            },
          },
        };
      }
      return facets;
    },

    /** A collection's id, dereferenced: its member activities (imin §3.5.2). */
    getCollection(slug: string): Obj {
      const c = collections.bySlug(slug);
      if (!c) throw new AppError('NOT_FOUND', `There is no activity concept collection "${slug}".`);
      return { '@context': SEARCH_CONTEXT, ...collections.render(c, true) };
    },

    /** `GET /facilities-api/v2/facility-uses` (imin §4.1). */
    async searchFacilityUses(auth: AuthContext, raw: RawQuery, requestUrl: string): Promise<Obj> {
      const ctx = await renderContext(auth);
      const q = parseFacilitiesQuery(raw, queryContext(ctx.now));
      const { limit, page } = q.paging;
      const withSlots = q.mode === 'upcoming-slots';
      let total = 0;
      let items: Obj[] = [];
      if (!q.empty) {
        const found = await repo.searchGroups(
          db,
          q.series,
          q.occurrences,
          withSlots ? 'first-start' : 'distance',
          limit,
          (page - 1) * limit,
          { withHeads: true },
        );
        total = found.total;
        const owners = found.members;
        // All the day's slots (upcoming-slots), or the next one of each (prices for discovery).
        const slots = await repo.findOccurrencesOfSeries(
          db,
          owners.map((o) => o.id),
          q.occurrences,
          withSlots ? 10_000 : 1,
        );
        await markShared(ctx, slots);
        const byIdentifier = new Map(found.heads.map((f) => [f.identifier, f]));
        items = found.identifiers
          .map((identifier) => {
            const facility = byIdentifier.get(identifier);
            if (!facility) return null;
            const mine = owners.filter((o) => o.identifier === identifier);
            const ownerIds = new Set(mine.map((o) => o.id));
            const own = slots.filter((s) => ownerIds.has(s.series_id));
            // The FacilityUse's distance is its nearest matching facility's.
            const nearest = mine.reduce<number | null>(
              (d, o) => (o.dist !== null && (d === null || o.dist < d) ? o.dist : d),
              facility.dist,
            );
            return renderFacilityUse(
              { ...facility, dist: nearest },
              mine,
              withSlots ? own : undefined,
              own,
              ctx,
              false,
            );
          })
          .filter((i): i is Obj => i !== null);
      }
      return collection(
        absolute(requestUrl),
        `${facilitiesApi(base)}/facility-uses`,
        q.canonical,
        q.paging,
        total,
        items,
      );
    },

    /** `GET /facilities-api/v2/facility-uses/:id`: up to 7 days of slots (imin §4.3.1). */
    async getFacilityUse(auth: AuthContext, identifier: string): Promise<Obj> {
      const ctx = await renderContext(auth);
      const series = await repo.findGroupSeries(db, identifier, ['FacilityUse', 'IndividualFacilityUse'], null);
      const facility = series.find((s) => s.kind === 'FacilityUse');
      if (
        !facility ||
        !(await repo.hasFutureOccurrence(
          db,
          series.map((s) => s.id),
          ctx.now,
        ))
      ) {
        throw new AppError('NOT_FOUND', `There is no current FacilityUse "${identifier}".`);
      }
      const window: OccurrenceFilters = {
        from: ctx.now,
        to: new Date(ctx.now.getTime() + FACILITY_BY_ID_DAYS * DAY_MS),
        minuteGte: null,
        minuteLte: null,
        days: null,
      };
      const slots = await repo.findOccurrencesOfSeries(
        db,
        series.map((s) => s.id),
        window,
        10_000,
        { searchable: false },
      );
      await markShared(ctx, slots);
      return renderFacilityUse(facility, series, slots, slots, ctx, true);
    },

    /** `GET /facilities-api/v2/slots/:id` (id = the slot's URL-encoded identifier). */
    async getSlot(auth: AuthContext, oaId: string, dataSource: number | null = null): Promise<Obj> {
      const ctx = await renderContext(auth);
      const slot = await oneOccurrence('Slot', oaId, dataSource, ctx.now);
      if (slot) await markShared(ctx, [slot]);
      const owner = slot ? (await repo.findSeriesByIds(db, [slot.series_id], null))[0] : undefined;
      const facility = owner ? (await repo.findFacilityUses(db, [owner.identifier], null))[0] : undefined;
      if (!slot || !owner || !facility) throw new AppError('NOT_FOUND', `There is no upcoming Slot "${oaId}".`);
      return renderSlotById(slot, owner, facility, ctx);
    },

    /** `GET /places-api/v1/places`: places with bookable facilities and their activities (imin §5). */
    async searchPlaces(auth: AuthContext, raw: RawQuery, requestUrl: string): Promise<Obj> {
      const ctx = await renderContext(auth);
      const q = parsePlacesQuery(raw, queryContext(ctx.now));
      const { limit, page } = q.paging;
      const found = await repo.searchPlaces(db, q.series, q.occurrences, limit, (page - 1) * limit);
      const [reps, activityRows] = await Promise.all([
        repo.findSeriesByIds(
          db,
          found.rows.map((r) => r.representative),
          null,
        ),
        repo.findPlaceActivities(
          db,
          found.rows.map((r) => r.placeKey),
          q.series,
          q.occurrences,
        ),
      ]);
      const repById = new Map(reps.map((r) => [r.id, r]));
      const activityFilters = q.canonical.filter(([k]) => k === 'activityId');
      const items = found.rows.map((r) => {
        const row = repById.get(r.representative)!;
        const ids = new Set(activityRows.filter((a) => a.place_key === r.placeKey).flatMap((a) => a.activity_ids));
        const activity = [...ids]
          .map((id) => vocab.activityById(id))
          .filter((c) => c !== null)
          .sort((a, b) => a.prefLabel.localeCompare(b.prefLabel))
          .map((c) => ({ type: 'Concept', id: c.id, prefLabel: c.prefLabel, inScheme: c.inScheme }));
        const geo = row.doc.place?.geo as { latitude: number; longitude: number } | undefined;
        const params: [string, string][] = [
          ['mode', 'discovery-geo'],
          ...(geo ? [['geo[radial]', `${geo.latitude},${geo.longitude},0`] as [string, string]] : []),
          ...activityFilters,
        ];
        return renderPlace(row, r.dist, {
          ...(activity.length ? { activity } : {}),
          'imin:facilityUse': {
            type: 'imin:RestrictedCollection',
            id: `${facilitiesApi(base)}/facility-uses?${params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`,
            'imin:totalItems': r.groups,
          },
        });
      });
      return collection(absolute(requestUrl), `${placesApi(base)}/places`, q.canonical, q.paging, found.total, items);
    },
  };
}

export type SearchService = ReturnType<typeof createSearchService>;
