import { sql } from 'kysely';
import type { SandboxExecutor } from './db/schema.js';
import type { SandboxUrls } from './ids.js';
import {
  renderFacilityUse,
  renderScheduledSession,
  renderSessionSeries,
  renderSlot,
  newRenderCache,
  type JsonObject,
  type OfferRow,
  type PlaceRow,
  type SellerRow,
} from './render.js';

/*
 * Open-data RPDE 1.0 feeds, "modified timestamp + id" ordering (openactive.md §2.2). `modified`
 * comes from one global sequence (see the migration), so it never repeats; the id tie-break is
 * kept because the spec's query requires it. Each page is one keyset query on the
 * (modified, id) index:
 *   WHERE (modified, id) > (:afterTimestamp, :afterId) ORDER BY modified, id LIMIT :n
 * which is the spec's `(modified = t AND id > i) OR modified > t`, written so Postgres can
 * seek the index instead of scanning.
 */

export interface RpdeItem {
  state: 'updated' | 'deleted';
  kind: string;
  id: number;
  modified: number;
  data?: JsonObject;
}

export interface FeedPosition {
  afterTimestamp: number;
  afterId: number;
}

export interface FeedDefinition {
  /** Path segment under /feeds/. */
  path: string;
  /** `kind` of every item. */
  kind: string;
  /** Dataset site `distribution`: `additionalType` and a name/identifier for the feed. */
  additionalType: string;
  identifier: string;
  name: string;
  page(db: SandboxExecutor, urls: SandboxUrls, after: FeedPosition, limit: number): Promise<RpdeItem[]>;
}

const after = (p: FeedPosition) => sql<boolean>`(modified, id) > (${p.afterTimestamp}, ${p.afterId})`;

async function byId<T extends { id: number }>(rows: Promise<T[]>): Promise<Map<number, T>> {
  return new Map((await rows).map((r) => [r.id, r]));
}

function sellersFor(db: SandboxExecutor, ids: number[]): Promise<Map<number, SellerRow>> {
  return byId(ids.length ? db.selectFrom('sellers').selectAll().where('id', 'in', ids).execute() : Promise.resolve([]));
}

function placesFor(db: SandboxExecutor, ids: number[]): Promise<Map<number, PlaceRow>> {
  return byId(ids.length ? db.selectFrom('places').selectAll().where('id', 'in', ids).execute() : Promise.resolve([]));
}

function group<T, K>(rows: T[], key: (row: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = out.get(k);
    if (list) list.push(row);
    else out.set(k, [row]);
  }
  return out;
}

const unique = (values: (number | null)[]): number[] => [...new Set(values.filter((v): v is number => v !== null))];

const tombstone = (kind: string, row: { id: number; modified: number }): RpdeItem => ({
  state: 'deleted',
  kind,
  id: row.id,
  modified: row.modified,
});

export const sessionSeriesFeed: FeedDefinition = {
  path: 'session-series',
  kind: 'SessionSeries',
  additionalType: 'https://openactive.io/SessionSeries',
  identifier: 'SessionSeries',
  name: 'SessionSeries',
  async page(db, urls, position, limit) {
    const rows = await db
      .selectFrom('session_series')
      .selectAll()
      .where(after(position))
      .orderBy('modified')
      .orderBy('id')
      .limit(limit)
      .execute();
    const live = rows.filter((r) => !r.deleted);
    const ids = live.map((r) => r.id);
    const [sellers, places, offers] = await Promise.all([
      sellersFor(db, unique(live.map((r) => r.seller_id))),
      placesFor(db, unique(live.map((r) => r.place_id))),
      ids.length
        ? db
            .selectFrom('offers')
            .selectAll()
            .where('session_series_id', 'in', ids)
            .where('deleted', '=', false)
            .orderBy('id')
            .execute()
        : Promise.resolve([] as OfferRow[]),
    ]);
    const offersBySeries = group(offers, (o) => o.session_series_id);
    const cache = newRenderCache();
    return rows.map((series) =>
      series.deleted
        ? tombstone(this.kind, series)
        : {
            state: 'updated',
            kind: this.kind,
            id: series.id,
            modified: series.modified,
            data: renderSessionSeries(
              urls,
              {
                series,
                seller: sellers.get(series.seller_id)!,
                place: series.place_id === null ? undefined : places.get(series.place_id),
                offers: offersBySeries.get(series.id) ?? [],
              },
              cache,
            ),
          },
    );
  },
};

export const scheduledSessionsFeed: FeedDefinition = {
  path: 'scheduled-sessions',
  kind: 'ScheduledSession',
  additionalType: 'https://openactive.io/ScheduledSession',
  identifier: 'ScheduledSession',
  name: 'ScheduledSession',
  async page(db, urls, position, limit) {
    const rows = await db
      .selectFrom('scheduled_sessions')
      .selectAll()
      .where(after(position))
      .orderBy('modified')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) =>
      row.deleted
        ? tombstone(this.kind, row)
        : {
            state: 'updated',
            kind: this.kind,
            id: row.id,
            modified: row.modified,
            data: renderScheduledSession(urls, row),
          },
    );
  },
};

export const facilityUsesFeed: FeedDefinition = {
  path: 'facility-uses',
  kind: 'FacilityUse',
  additionalType: 'https://openactive.io/FacilityUse',
  identifier: 'FacilityUse',
  name: 'FacilityUse',
  async page(db, urls, position, limit) {
    const rows = await db
      .selectFrom('facility_uses')
      .selectAll()
      .where(after(position))
      .orderBy('modified')
      .orderBy('id')
      .limit(limit)
      .execute();
    const live = rows.filter((r) => !r.deleted);
    const ids = live.map((r) => r.id);
    const [sellers, places, individual] = await Promise.all([
      sellersFor(db, unique(live.map((r) => r.seller_id))),
      placesFor(db, unique(live.map((r) => r.place_id))),
      ids.length
        ? db
            .selectFrom('individual_facility_uses')
            .selectAll()
            .where('facility_use_id', 'in', ids)
            .orderBy('id')
            .execute()
        : Promise.resolve([]),
    ]);
    const individualByFacility = group(individual, (i) => i.facility_use_id);
    const cache = newRenderCache();
    return rows.map((fu) =>
      fu.deleted
        ? tombstone(this.kind, fu)
        : {
            state: 'updated',
            kind: this.kind,
            id: fu.id,
            modified: fu.modified,
            data: renderFacilityUse(
              urls,
              {
                facilityUse: fu,
                seller: sellers.get(fu.seller_id)!,
                place: places.get(fu.place_id)!,
                individualFacilityUses: individualByFacility.get(fu.id) ?? [],
              },
              cache,
            ),
          },
    );
  },
};

export const individualFacilityUseSlotsFeed: FeedDefinition = {
  path: 'individual-facility-use-slots',
  // The validator's FeedItem `kind` vocabulary names slot feeds by their parent type.
  kind: 'IndividualFacilityUse/Slot',
  additionalType: 'https://openactive.io/Slot',
  identifier: 'IndividualFacilityUseSlot',
  name: 'IndividualFacilityUseSlot',
  async page(db, urls, position, limit) {
    const rows = await db
      .selectFrom('slots')
      .selectAll()
      .where(after(position))
      .orderBy('modified')
      .orderBy('id')
      .limit(limit)
      .execute();
    const facilityIds = unique(rows.filter((r) => !r.deleted).map((r) => r.facility_use_id));
    const offers = facilityIds.length
      ? await db
          .selectFrom('offers')
          .selectAll()
          .where('facility_use_id', 'in', facilityIds)
          .where('deleted', '=', false)
          .orderBy('id')
          .execute()
      : [];
    const offersByFacility = group(offers, (o) => o.facility_use_id);
    return rows.map((slot) =>
      slot.deleted
        ? tombstone(this.kind, slot)
        : {
            state: 'updated',
            kind: this.kind,
            id: slot.id,
            modified: slot.modified,
            data: renderSlot(urls, slot, offersByFacility.get(slot.facility_use_id) ?? []),
          },
    );
  },
};

/** Parents before children, as the dataset site lists them. */
export const FEEDS: FeedDefinition[] = [
  sessionSeriesFeed,
  scheduledSessionsFeed,
  facilityUsesFeed,
  individualFacilityUseSlotsFeed,
];
