import { aggregateOffer } from './projection.js';
import { pageUrl, type Paging } from './query.js';
import type { OccurrenceRow, SeriesRow } from './search.repository.js';

/*
 * Read-model rows → the documented JSON-LD shapes (imin §3.1.3–3.1.4, §3.8, §4.4, §5.2). Docs
 * were prepared at projection time; here only what depends on the request is added: ids built
 * from the public base URL, distances, bookability "now" and the calling broker's checkout URL.
 */

type Obj = Record<string, unknown>;

export const SEARCH_CONTEXT = ['https://openactive.io/', 'https://schema.imin.co/', 'https://openactive.io/ns-beta'];

export interface RenderContext {
  base: string;
  now: Date;
  /** The calling broker's checkoutBaseUrl (DECISIONS §1). */
  checkoutBase: string;
  /** The calling key's mode: it books only publishers of this mode. */
  mode: 'live' | 'test';
  /** Publisher → mode (absent: live). */
  publisherModes: ReadonlyMap<number, 'live' | 'test'>;
  /**
   * Published occurrence ids more than one publisher holds (filled by the service for the rows
   * it renders): their links name the publisher (`?dataSource=`), so following one never lands
   * on the other publisher's item (lib/data-source.ts).
   */
  shared?: ReadonlySet<string>;
}

export const eventsApi = (base: string) => `${base}/events-api/v2`;
export const facilitiesApi = (base: string) => `${base}/facilities-api/v2`;
export const placesApi = (base: string) => `${base}/places-api/v1`;

export const eventSeriesId = (base: string, identifier: string) => `${eventsApi(base)}/event-series/${identifier}`;
export const facilityUseId = (base: string, identifier: string) => `${facilitiesApi(base)}/facility-uses/${identifier}`;
/** An occurrence's By-ID URL; `publisherId` names its data source (ids two publishers hold). */
export const occurrenceId = (base: string, kind: string, oaId: string, publisherId?: number) =>
  (kind === 'Slot'
    ? `${facilitiesApi(base)}/slots/${encodeURIComponent(oaId)}`
    : `${eventsApi(base)}/scheduled-sessions/${encodeURIComponent(oaId)}`) +
  (publisherId === undefined ? '' : `?dataSource=${publisherId}`);

/** The publisher to name in an occurrence's links: only when its id is shared. */
const namedSource = (o: OccurrenceRow, ctx: RenderContext) => (ctx.shared?.has(o.oa_id) ? o.publisher_id : undefined);

const distance = (km: number) => ({
  type: 'QuantitativeValue',
  value: Math.round(km * 1000) / 1000,
  unitCode: 'KMT',
});

/**
 * Bookable now (imin-booking §1.5): the occurrence and its offers allow booking, it is scheduled,
 * has space, has not started, and `now` is inside the window its offers give.
 */
export function isBookable(o: OccurrenceRow, now: Date): boolean {
  if (!o.bookable || o.status !== 'EventScheduled') return false;
  if (o.remaining !== null && o.remaining <= 0) return false;
  const start = o.start_at.getTime();
  const t = now.getTime();
  if (start <= t) return false;
  if (o.book_from_s !== null && t < start - o.book_from_s * 1000) return false;
  if (o.book_until_s !== null && t > start - o.book_until_s * 1000) return false;
  return true;
}

/**
 * The checkout URL of an occurrence bookable now by the calling key ("bookable iff present",
 * imin-booking §1.3): only on publishers of the key's mode (test mode is a world of its own:
 * search shows every publisher to both modes, but a test key books only test booking systems and
 * a live key only live ones). A test key's is a test-mode guest link.
 */
function checkoutUrl(o: OccurrenceRow, ctx: RenderContext): string | undefined {
  if ((ctx.publisherModes.get(o.publisher_id) ?? 'live') !== ctx.mode || !isBookable(o, ctx.now)) return undefined;
  const path = `${ctx.checkoutBase}/v1/${o.kind === 'Slot' ? 'slots' : 'scheduled-sessions'}/${encodeURIComponent(o.oa_id)}`;
  const source = namedSource(o, ctx);
  const params = [
    ...(ctx.mode === 'test' ? ['mode=test'] : []),
    ...(source === undefined ? [] : [`dataSource=${source}`]),
  ];
  return params.length ? `${path}?${params.join('&')}` : path;
}

/**
 * A ScheduledSession or Slot. Offers appear only in By-ID answers (`withOffers`): search
 * results carry `imin:aggregateOffer` instead (imin §3.6.2), which keeps a day of slots small.
 */
export function renderOccurrence(o: OccurrenceRow, ctx: RenderContext, withOffers = false): Obj {
  const { type, ...rest } = o.doc.summary;
  const template = checkoutUrl(o, ctx);
  return {
    type,
    id: occurrenceId(ctx.base, o.kind, o.oa_id, namedSource(o, ctx)),
    ...rest,
    ...(withOffers && o.kind === 'Slot' && o.doc.offers ? { offers: o.doc.offers } : {}),
    ...(template ? { 'imin:checkoutUrlTemplate': template } : {}),
  };
}

/**
 * The series' place, as shown inline: with its summary reference id and the distance. Opening
 * hours are By-ID detail (imin §3.1.4 lists them in the By-ID `imin:locationSummary`).
 */
function placeFor(row: SeriesRow, itemId: string, byId = true): Obj | undefined {
  const place = row.doc.place;
  if (!place) return undefined;
  const { key, geo, openingHoursSpecification, ...rest } = place;
  return {
    ...rest,
    ...(byId && openingHoursSpecification ? { openingHoursSpecification } : {}),
    id: `${itemId}#/imin:locationSummary/${key}`,
    ...(geo
      ? {
          geo: {
            ...(geo as Obj),
            ...(row.dist !== null ? { 'imin:distanceFromGeoQueryCenter': distance(row.dist) } : {}),
          },
        }
      : {}),
  };
}

const priceBounds = (part: Obj) => {
  const low = (part.lowPrice ?? part.price) as number;
  const high = (part.highPrice ?? part.price) as number;
  return { low, high };
};

function mergePart(parts: Obj[]): Obj | undefined {
  if (parts.length === 0) return undefined;
  if (parts.length === 1) return parts[0];
  const low = Math.min(...parts.map((p) => priceBounds(p).low));
  const high = Math.max(...parts.map((p) => priceBounds(p).high));
  const currency = parts.map((p) => p.priceCurrency).find((c) => typeof c === 'string');
  const windows = [...new Set(parts.map((p) => p.validFromBeforeStartDate))];
  // One offer id only when every part names the same offer (several venues' differ).
  const ids = [...new Set(parts.map((p) => p.id))];
  return {
    ...(ids.length === 1 && typeof ids[0] === 'string' ? { id: ids[0] } : {}),
    type: 'AggregateOffer',
    ...(low === high ? { price: low } : { lowPrice: low, highPrice: high }),
    ...(currency ? { priceCurrency: currency } : {}),
    'imin:membershipRequired': parts.every((p) => p['imin:membershipRequired'] === true),
    ...(windows.length === 1 && windows[0] ? { validFromBeforeStartDate: windows[0] } : {}),
  };
}

/** One `imin:aggregateOffer` over several series (an EventSeries at many venues). */
export function mergeAggregates(aggregates: (Obj | null)[]): Obj | undefined {
  const present = aggregates.filter((a): a is Obj => a !== null);
  if (present.length === 0) return undefined;
  if (present.length === 1) return present[0];
  const adult = mergePart(present.map((a) => a.publicAdult).filter((p): p is Obj => p !== undefined));
  const junior = mergePart(present.map((a) => a.publicJunior).filter((p): p is Obj => p !== undefined));
  return {
    type: 'imin:AggregateOffer',
    ...(adult ? { publicAdult: adult } : {}),
    ...(junior ? { publicJunior: junior } : {}),
  };
}

export const dataSource = (publisherId: number) => ({ type: 'WebAPI', identifier: String(publisherId) });

/**
 * An EventSeries (imin §3.1.4): the search summary, or with `byId` the full form (`@context`,
 * offers and provider properties on each SessionSeries, locations by reference).
 */
export function renderEventSeries(
  identifier: string,
  members: { series: SeriesRow; occurrences: OccurrenceRow[] }[],
  ctx: RenderContext,
  byId: boolean,
): Obj {
  const head = members[0]!.series;
  const id = eventSeriesId(ctx.base, identifier);
  const places = new Map<string, Obj>();
  for (const m of members) {
    const p = placeFor(m.series, id, byId);
    if (p && m.series.doc.place && !places.has(m.series.doc.place.key)) places.set(m.series.doc.place.key, p);
  }
  return {
    ...(byId ? { '@context': SEARCH_CONTEXT } : {}),
    type: 'EventSeries',
    id,
    identifier,
    ...head.doc.event,
    'imin:aggregateOffer': mergeAggregates(members.map((m) => m.series.doc.aggregate)),
    'imin:dataSource': dataSource(head.publisher_id),
    ...(places.size ? { 'imin:locationSummary': [...places.values()] } : {}),
    subEvent: members.map(({ series, occurrences }) => {
      // The location is inline and carries the id of its `imin:locationSummary` entry, so
      // clients that resolve the reference (as imin's By-ID form requires) and clients that
      // read it in place (as its search summaries allow) both work.
      const location = placeFor(series, id, byId);
      const sessions = occurrences.map((o) => renderOccurrence(o, ctx));
      // imin-booking §1.2.2: a SessionSeries-level template beside the occurrence-level ones —
      // the soonest bookable listed session's guest link (there is no series-wide checkout).
      const template = sessions.find((o) => o['imin:checkoutUrlTemplate'] !== undefined)?.['imin:checkoutUrlTemplate'];
      return {
        ...series.doc.series,
        ...(byId ? series.doc.detail : {}),
        ...(location ? { location } : {}),
        ...(template ? { 'imin:checkoutUrlTemplate': template } : {}),
        ...(sessions.length ? { subEvent: sessions } : {}),
      };
    }),
  };
}

/**
 * A ScheduledSession By-ID: the occurrence with its SessionSeries (inheritance resolved). When
 * the session publishes values of its own (`own`: the row it is searched with, inheritance.ts),
 * they are shown on the session, and its `superEvent` keeps the series' own values.
 */
export function renderScheduledSession(o: OccurrenceRow, series: SeriesRow, ctx: RenderContext, own?: SeriesRow): Obj {
  const id = occurrenceId(ctx.base, o.kind, o.oa_id, namedSource(o, ctx));
  const place = placeFor(series, id);
  const ownValues = own?.doc.own ?? {};
  const ownPlace = own && ownValues.location !== undefined ? placeFor(own, id) : undefined;
  return {
    '@context': SEARCH_CONTEXT,
    ...renderOccurrence(o, ctx),
    ...ownValues,
    ...(ownPlace ? { location: ownPlace } : {}),
    ...(own?.doc.aggregate && ownValues.offers !== undefined ? { 'imin:aggregateOffer': own.doc.aggregate } : {}),
    superEvent: {
      ...series.doc.event,
      ...series.doc.series,
      ...series.doc.detail,
      ...(series.doc.aggregate ? { 'imin:aggregateOffer': series.doc.aggregate } : {}),
      ...(place ? { location: place } : {}),
      superEvent: {
        type: 'EventSeries',
        id: eventSeriesId(ctx.base, series.identifier),
        identifier: series.identifier,
        ...series.doc.event,
      },
    },
  };
}

function slotAggregate(slots: OccurrenceRow[]): Obj | undefined {
  for (const s of slots) {
    const a = s.doc.offers ? aggregateOffer(s.doc.offers) : null;
    if (a) return a;
  }
  return undefined;
}

/**
 * A FacilityUse (imin §4.4): `event` holds Slots, or IndividualFacilityUses each holding theirs.
 * `owners` are the series the slots hang from (the FacilityUse itself or its
 * IndividualFacilityUses); `undefined` slots = a discovery result (no `event`).
 */
export function renderFacilityUse(
  facility: SeriesRow,
  owners: SeriesRow[],
  slots: OccurrenceRow[] | undefined,
  priceSlots: OccurrenceRow[],
  ctx: RenderContext,
  byId: boolean,
): Obj {
  const id = facilityUseId(ctx.base, facility.identifier);
  const place = placeFor(facility, id, byId);
  let event: Obj[] | undefined;
  if (slots) {
    event = [];
    const byOwner = new Map<number, OccurrenceRow[]>();
    for (const s of slots) byOwner.set(s.series_id, [...(byOwner.get(s.series_id) ?? []), s]);
    for (const s of byOwner.get(facility.id) ?? []) event.push(renderOccurrence(s, ctx, byId));
    for (const owner of owners) {
      if (owner.id === facility.id) continue;
      const own = byOwner.get(owner.id);
      if (!own?.length) continue;
      event.push({ ...owner.doc.series, event: own.map((s) => renderOccurrence(s, ctx, byId)) });
    }
  }
  return {
    ...(byId ? { '@context': SEARCH_CONTEXT } : {}),
    type: 'FacilityUse',
    id,
    identifier: facility.identifier,
    ...facility.doc.event,
    ...(byId ? facility.doc.detail : {}),
    'imin:aggregateOffer': facility.doc.aggregate ?? slotAggregate([...(slots ?? []), ...priceSlots]),
    'imin:dataSource': dataSource(facility.publisher_id),
    ...(place ? { location: place } : {}),
    ...(event?.length ? { event } : {}),
  };
}

/** A Slot By-ID (imin §4.3.2), with the facility it belongs to. */
export function renderSlotById(s: OccurrenceRow, owner: SeriesRow, facility: SeriesRow, ctx: RenderContext): Obj {
  const fu = {
    type: 'FacilityUse',
    id: facilityUseId(ctx.base, facility.identifier),
    identifier: facility.identifier,
    ...facility.doc.event,
    ...(placeFor(facility, facilityUseId(ctx.base, facility.identifier))
      ? { location: placeFor(facility, facilityUseId(ctx.base, facility.identifier)) }
      : {}),
  };
  return {
    '@context': SEARCH_CONTEXT,
    ...renderOccurrence(s, ctx, true),
    facilityUse: owner.id === facility.id ? fu : { ...owner.doc.series, aggregateFacilityUse: fu },
  };
}

/** A Place for map pins (imin §3.8) or the Places API (§5). */
export function renderPlace(row: SeriesRow, dist: number | null, extra: Obj): Obj {
  const place = row.doc.place!;
  const { key: _key, geo, ...rest } = place;
  return {
    ...rest,
    ...(geo
      ? {
          geo: { ...(geo as Obj), ...(dist !== null ? { 'imin:distanceFromGeoQueryCenter': distance(dist) } : {}) },
        }
      : {}),
    ...extra,
  };
}

/** The paged envelope every search answers with (imin §3.1.3, §5.2; DECISIONS §6 `view`). */
export function collection(
  requestUrl: string,
  endpoint: string,
  canonical: [string, string][],
  paging: Paging,
  total: number,
  items: Obj[],
): Obj {
  const totalPages = Math.max(1, Math.ceil(total / paging.limit));
  const url = (page: number | '{page}') => pageUrl(endpoint, canonical, page);
  return {
    '@context': SEARCH_CONTEXT,
    id: requestUrl,
    type: 'imin:RestrictedCollection',
    'imin:totalItems': total,
    view: {
      id: url(paging.page),
      type: 'PartialCollectionView',
      first: url(1),
      last: url(totalPages),
      ...(paging.page < totalPages ? { next: url(paging.page + 1) } : {}),
      ...(paging.page > 1 ? { previous: url(Math.min(paging.page - 1, totalPages)) } : {}),
      urlTemplate: url('{page}'),
      'imin:currentPage': paging.page,
      'imin:itemsPerPage': paging.limit,
      'imin:totalPages': totalPages,
    },
    'imin:item': items,
  };
}
