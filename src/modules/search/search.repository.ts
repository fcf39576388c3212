import { sql, type RawBuilder } from 'kysely';
import { IANAZone } from 'luxon';
import type { Geo, OccurrenceFilters, SeriesFilters } from './query.js';
import type { OccurrenceDoc, SearchExecutor, SeriesDetailDoc, SeriesDoc } from './search.tables.js';

/*
 * The search queries. Series filters become one WHERE over `search_series s`, occurrence
 * filters one over `search_occurrences o`. Geo: the box around the circle, read from a GiST
 * index of built-in points, then the haversine distance (plain SQL maths, so PGlite and Postgres
 * alike); nearest-first pages walk the same index in `<->` order (walkGroups).
 */

const EARTH_DIAMETER_KM = 12742.0176;
/** A little under the true 111.19 km, so the box always contains the circle. */
const BOX_KM_PER_DEGREE = 110;
/** Counts stop here; imin's `imin:totalItems` may be approximate for large sets (§1.4). */
export const COUNT_CAP = 10_000;
/** Sessions listed per SessionSeries in a grouped (discovery) result. */
export const OCCURRENCES_PER_SERIES = 100;

/**
 * Occurrences a search returns: not cancelled or postponed. Written as the predicate of the
 * partial indexes (migration 2026-11-27-010), literally, so the planner can use them.
 */
const OPEN_OCCURRENCE = sql`o.status not in ('EventCancelled', 'EventPostponed')`;

type Sql = RawBuilder<unknown>;
const and = (parts: Sql[]): Sql => (parts.length ? sql.join(parts, sql` and `) : sql`true`);
const textArray = (values: string[]) => sql`${values}::text[]`;

export function distanceSql(geo: Geo | null): Sql {
  if (!geo) return sql`null::float8`;
  return sql`(${EARTH_DIAMETER_KM}::float8 * asin(sqrt(least(1::float8,
    power(sin(radians(s.latitude - ${geo.lat}::float8) / 2), 2)
    + cos(radians(${geo.lat}::float8)) * cos(radians(s.latitude))
      * power(sin(radians(s.longitude - ${geo.lng}::float8) / 2), 2)))))`;
}

/**
 * A latitude/longitude box containing every point within the radius (a btree can use it);
 * `lng` is null where a box would not help (near the poles, across the antimeridian).
 */
export function boundingBox(geo: Geo): { lat: [number, number]; lng: [number, number] | null } {
  const dLat = geo.radiusKm / BOX_KM_PER_DEGREE;
  const cos = Math.cos((Math.min(90, Math.max(Math.abs(geo.lat - dLat), Math.abs(geo.lat + dLat))) * Math.PI) / 180);
  const dLng = cos > 0.01 ? geo.radiusKm / (BOX_KM_PER_DEGREE * cos) : 360;
  const lng: [number, number] | null =
    dLng < 180 && geo.lng - dLng >= -180 && geo.lng + dLng <= 180 ? [geo.lng - dLng, geo.lng + dLng] : null;
  return { lat: [geo.lat - dLat, geo.lat + dLat], lng };
}

/** A series' position, as the GiST index (migration 2026-11-27-013) holds it: degrees, x = longitude. */
const SERIES_POINT = sql`point(s.longitude, s.latitude)`;

interface RadiusOptions {
  /** false leaves out the indexable box (for rows already found by the index). */
  box: boolean;
  /** false leaves out the distance test (the caller tests the distance it computes anyway). */
  distance?: boolean;
}

function withinRadius(geo: Geo, options: RadiusOptions): Sql {
  const distance = options.distance === false ? sql`true` : sql`${distanceSql(geo)} <= ${geo.radiusKm}::float8`;
  if (!options.box) return distance;
  const box = boundingBox(geo);
  const [west, east] = box.lng ?? [-180, 180];
  return sql`${SERIES_POINT} <@ box(point(${west}::float8, ${box.lat[0]}::float8), point(${east}::float8, ${box.lat[1]}::float8))
    and ${distance}`;
}

/**
 * For a nearest-first walk of the GiST index (`<->`, plain Euclidean distance in degrees): a
 * factor f such that every series in the radius box whose `<->` distance from the centre is at
 * least D degrees is at least f·sin(D/2) km away on the sphere; null where the walk is not used
 * (no box in longitude, or a box too wide for the bound). Why: the haversine gives
 * d = 2R·asin(√a) ≥ 2R·√a with a = sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2); both latitudes are in
 * the box, so cos φ₁ cos φ₂ ≥ c² (c = cos of the box's largest |latitude|); with |Δφ|, |Δλ| ≤ D
 * and sin x / x decreasing, sin(|Δ|/2) ≥ |Δ|/2 · sin(D/2)/(D/2); so d ≥ 2R·c·sin(D/2).
 */
export function walkBoundFactor(geo: Geo): number | null {
  const box = boundingBox(geo);
  if (!box.lng || box.lng[1] - box.lng[0] > 90 || box.lat[1] - box.lat[0] > 90) return null;
  const maxLat = Math.min(90, Math.max(Math.abs(box.lat[0]), Math.abs(box.lat[1])));
  const c = Math.cos((maxLat * Math.PI) / 180);
  // A hair under, against rounding in the database's trigonometry.
  return c > 0.01 ? EARTH_DIAMETER_KM * c * (1 - 1e-9) : null;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** `options.distance: false` applies only to in-person searches (a virtual search's radius stays). */
export function seriesWhere(f: SeriesFilters, options: RadiusOptions = { box: true }): Sql {
  const w: Sql[] = [sql`s.kind = any(${textArray(f.kinds)})`];
  if (f.kinds.includes('SessionSeries')) {
    if (f.virtual) {
      w.push(sql`s.attendance in ('online', 'mixed')`);
      // An online series with a place still answers a geo search only from near that place.
      if (f.geo) w.push(sql`(s.latitude is null or (${withinRadius(f.geo, { box: options.box })}))`);
    } else {
      w.push(sql`s.attendance <> 'online'`);
    }
  }
  if (!f.virtual && f.geo) w.push(withinRadius(f.geo, options));
  for (const group of f.activityMatch) w.push(sql`s.activity_match_ids && ${textArray(group)}`);
  if (f.schemes) w.push(sql`s.activity_schemes && ${textArray(f.schemes)}`);
  // Ages (imin §3.7.2), defaults already applied: no maximum = open upper bound.
  if (f.ageInclude) {
    w.push(sql`s.age_min <= ${f.ageInclude.min}::int and (s.age_max is null or s.age_max >= ${f.ageInclude.max}::int)`);
  }
  if (f.ageMinGte !== null) w.push(sql`s.age_min >= ${f.ageMinGte}::int`);
  if (f.ageMaxLte !== null) w.push(sql`s.age_max <= ${f.ageMaxLte}::int`);
  if (f.genders) w.push(sql`s.gender = any(${textArray(f.genders)})`);
  if (f.levels) w.push(sql`s.levels && ${textArray(f.levels)}`);
  if (f.priceGte !== null) w.push(sql`s.adult_price >= ${f.priceGte}::float8`);
  if (f.priceLte !== null) w.push(sql`s.adult_price <= ${f.priceLte}::float8`);
  if (f.memberAdult !== null) w.push(sql`s.adult_member = ${f.memberAdult}::boolean`);
  if (f.memberJunior !== null) w.push(sql`s.junior_member = ${f.memberJunior}::boolean`);
  if (f.accessibility) w.push(sql`s.accessibility_ids && ${textArray(f.accessibility)}`);
  if (f.specialRequirements) w.push(sql`s.special_requirement_ids && ${textArray(f.specialRequirements)}`);
  if (f.leaderGenders) w.push(sql`s.leader_genders && ${textArray(f.leaderGenders)}`);
  if (f.adultChannels) w.push(sql`s.adult_channels && ${textArray(f.adultChannels)}`);
  if (f.juniorChannels) w.push(sql`s.junior_channels && ${textArray(f.juniorChannels)}`);
  if (f.wheelchair !== null) w.push(sql`s.wheelchair = ${f.wheelchair}::boolean`);
  if (f.amenities) w.push(sql`s.amenities && ${textArray(f.amenities)}`);
  if (f.organizerIds) w.push(sql`s.organizer_id = any(${textArray(f.organizerIds)})`);
  if (f.organizerName) w.push(sql`s.organizer_name ilike ${`%${escapeLike(f.organizerName)}%`}`);
  if (f.hfs === 'exclude') w.push(sql`not s.hfs`);
  if (f.hfs === 'only') w.push(sql`s.hfs`);
  if (f.providerIds) w.push(sql`s.publisher_id = any(${f.providerIds}::int[])`);
  if (f.facilityTypes) w.push(sql`s.facility_type_ids && ${textArray(f.facilityTypes)}`);
  if (f.placeClasses) w.push(sql`s.place_class = any(${textArray(f.placeClasses)})`);
  return and(w);
}

export function occurrenceWhere(f: OccurrenceFilters): Sql {
  const w: Sql[] = [sql`o.start_at >= ${f.from}`, sql`o.start_at <= ${f.to}`, OPEN_OCCURRENCE];
  if (f.minuteGte !== null) w.push(sql`o.local_minute >= ${f.minuteGte}::int`);
  if (f.minuteLte !== null) w.push(sql`o.local_minute <= ${f.minuteLte}::int`);
  if (f.days) w.push(sql`o.iso_dow = any(${f.days}::int[])`);
  return and(w);
}

/**
 * Whether the occurrence filters are only the window, so `search_series.open_starts` answers them:
 * time-of-day and day-of-week filters need each occurrence's local time.
 */
export const windowOnly = (f: OccurrenceFilters) => f.minuteGte === null && f.minuteLte === null && f.days === null;

const beforeFrom = (f: OccurrenceFilters) => sql`${f.from}::timestamptz - interval '1 microsecond'`;

/**
 * Series `s`'s `open_starts`, read as `open_starts_short` (the same array when it has at most 200
 * elements, else null; migration 2026-11-27-015), which the SessionSeries geo index holds, so a
 * radius search stays index-only; the row's own `open_starts` only for the rare longer arrays
 * (COALESCE evaluates the subquery only then).
 */
const OPEN_STARTS = sql`coalesce(s.open_starts_short, (select h.open_starts from search_series h where h.id = s.id))`;

/**
 * How many of series `s`'s open occurrences start in the window, read from its sorted
 * `open_starts`: `width_bucket` is the number of elements ≤ its operand (a binary search).
 */
function openStartsIn(f: OccurrenceFilters): Sql {
  return sql`(width_bucket(${f.to}::timestamptz, ${OPEN_STARTS}) - width_bucket(${beforeFrom(f)}, ${OPEN_STARTS}))`;
}

const hasOccurrence = (occ: OccurrenceFilters) =>
  windowOnly(occ)
    ? sql`${openStartsIn(occ)} > 0`
    : sql`exists (select 1 from search_occurrences o where o.series_id = s.id and ${occurrenceWhere(occ)})`;

export interface SeriesRow {
  id: number;
  publisher_id: number;
  oa_id: string;
  kind: string;
  identifier: string;
  group_oa_id: string;
  place_key: string | null;
  activity_ids: string[];
  dist: number | null;
  doc: SeriesDoc;
}

export interface OccurrenceRow {
  id: number;
  publisher_id: number;
  oa_id: string;
  series_id: number;
  kind: string;
  start_at: Date;
  remaining: number | null;
  status: string;
  bookable: boolean;
  book_from_s: number | null;
  book_until_s: number | null;
  doc: OccurrenceDoc;
}

const SERIES_COLUMNS = sql`s.id, s.publisher_id, s.oa_id, s.kind, s.identifier, s.group_oa_id, s.place_key, s.activity_ids, s.doc`;
const OCCURRENCE_COLUMNS = sql`o.id, o.publisher_id, o.oa_id, o.series_id, o.kind, o.start_at, o.remaining, o.status, o.bookable, o.book_from_s, o.book_until_s, o.doc`;

/** By-ID answers also read the series' `detail_doc` (searches never do: it is half the bytes). */
const SERIES_DETAIL_COLUMNS = sql`${SERIES_COLUMNS}, s.detail_doc`;

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const normSeries = (r: SeriesRow): SeriesRow => ({ ...r, id: Number(r.id), dist: num(r.dist) });
/** A By-ID row: its `detail` put back into the document the renderer reads. */
const normDetailSeries = ({ detail_doc, ...r }: SeriesRow & { detail_doc: SeriesDetailDoc }): SeriesRow =>
  normSeries({
    ...r,
    doc: { ...r.doc, detail: detail_doc.detail ?? {}, ...(detail_doc.own ? { own: detail_doc.own } : {}) },
  });
const normOccurrence = (r: OccurrenceRow): OccurrenceRow => ({
  ...r,
  id: Number(r.id),
  series_id: Number(r.series_id),
  start_at: new Date(r.start_at),
});

// ---- upcoming-sessions: one item per occurrence -------------------------------------------

/**
 * The time zones of the series in the read model: a loose scan of `search_series_tz_idx`
 * (migration 2026-11-27-015), a few index probes per zone.
 */
export async function seriesTimeZones(db: SearchExecutor): Promise<string[]> {
  const r = await sql<{ tz: string }>`with recursive z(tz) as (
      (select s.tz from search_series s order by s.tz limit 1)
      union all
      select (select s.tz from search_series s where s.tz > z.tz order by s.tz limit 1) from z where z.tz is not null
    ) select tz from z where tz is not null`.execute(db);
  return r.rows.map((x) => x.tz);
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Beyond this many stretches the walk reads the whole window (the statement would grow). */
const MAX_STRETCHES = 64;

/**
 * Stretches [start, end) of the window, disjoint and in order, holding every instant whose local
 * time in one of `zones` meets the time-of-day and day-of-week filters; null when they would not
 * narrow the walk. An occurrence's local date, minute and weekday are computed in its series'
 * zone (projection.ts), and a local time w (as if UTC) is the instant t = w − offset(t). With the
 * zone's offsets over the window between oMin and oMax, an occurrence on local date d with
 * minute m in [a, b] starts in [d + a − oMax, d + b + 1 min − oMin). The offsets are sampled every
 * 3 hours over the window and two days either side (a zone keeps an offset for months).
 */
export function localTimeIntervals(occ: OccurrenceFilters, zones: string[]): [Date, Date][] | null {
  if (windowOnly(occ)) return null;
  const from = occ.from.getTime();
  const to = occ.to.getTime() + 1; // the window's end is inclusive
  const a = occ.minuteGte ?? 0;
  const b = occ.minuteLte ?? 24 * 60 - 1;
  const out: [number, number][] = [];
  for (const name of zones) {
    const zone = IANAZone.create(name);
    if (!zone.isValid) return null;
    let oMin = Infinity;
    let oMax = -Infinity;
    for (let t = from - 2 * DAY_MS; t <= to + 2 * DAY_MS; t += 3 * 3_600_000) {
      const o = zone.offset(t);
      oMin = Math.min(oMin, o);
      oMax = Math.max(oMax, o);
    }
    const firstDay = Math.floor((from + oMin * MINUTE_MS) / DAY_MS) - 1;
    const lastDay = Math.floor((to + oMax * MINUTE_MS) / DAY_MS) + 1;
    for (let day = firstDay; day <= lastDay; day++) {
      const isoDow = ((new Date(day * DAY_MS).getUTCDay() + 6) % 7) + 1;
      if (occ.days && !occ.days.includes(isoDow)) continue;
      const lo = Math.max(from, day * DAY_MS + (a - oMax) * MINUTE_MS);
      const hi = Math.min(to, day * DAY_MS + (b + 1 - oMin) * MINUTE_MS);
      if (lo < hi) out.push([lo, hi]);
    }
  }
  out.sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [lo, hi] of out) {
    const last = merged[merged.length - 1];
    if (last && lo <= last[1]) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  if (merged.length > MAX_STRETCHES) return null;
  return merged.map(([lo, hi]) => [new Date(lo), new Date(hi)]);
}

/** Series sampled for an estimated total (see `searchOccurrences`). */
export const SAMPLE_SERIES = 100;

/**
 * How a page of occurrences is found. `walk`: occurrences in result order (the `(start_at, id)`
 * index), keeping those of matching series, until the page is full — cheap when many series
 * match. `series`: every matching series' occurrences (the `(series_id, start_at, id)` index),
 * then sorted — cheap when few do. `auto` picks by the number of matching series.
 */
export type PageStrategy = 'auto' | 'walk' | 'series';

/**
 * A page of matching occurrences, soonest first, each with its series, and the total, in one
 * statement. The page is read one row past its end, so whether another page follows is known.
 * The total (capped at COUNT_CAP) is exact when it can be read off the page (a page that is not
 * full ends the results), when the filters are only the window (summed from each matching
 * series' `open_starts`), or when at most SAMPLE_SERIES series match (their occurrences are
 * counted). Otherwise — a time-of-day or day-of-week filter over many series — it is estimated,
 * as imin allows for large result sets (§1.4): the occurrences of the first SAMPLE_SERIES
 * matching series, scaled to all of them, and never less than the rows known to exist. A page
 * past the end counts exactly.
 */
export async function searchOccurrences(
  db: SearchExecutor,
  series: SeriesFilters,
  occ: OccurrenceFilters,
  limit: number,
  offset: number,
  options: { strategy?: PageStrategy; intervals?: boolean } = {},
) {
  const upTo = offset + limit + 1;
  const strategy = options.strategy ?? 'auto';
  const countable = windowOnly(occ);
  // With time-of-day / day-of-week filters the walk reads only the stretches of the window those
  // local times can fall in, in every time zone of the read model (localTimeIntervals).
  const intervals =
    countable || strategy === 'series' || options.intervals === false
      ? null
      : localTimeIntervals(occ, await seriesTimeZones(db));
  const walkWhere = sql`(o.series_id in (select id from ms)) is true and ${occurrenceWhere(occ)} and (select walk from n)`;
  // Stretch by stretch (one membership hash for all), the first upTo of each; they are disjoint
  // and in order, so the first upTo of those are the first upTo of the window.
  const walked =
    intervals === null
      ? sql`select o.id, o.series_id, o.start_at from search_occurrences o where ${walkWhere}
          order by o.start_at, o.id limit ${upTo}`
      : sql`select w.* from unnest(${intervals.map((i) => i[0])}::timestamptz[], ${intervals.map((i) => i[1])}::timestamptz[])
            with ordinality iv(lo, hi, n)
          cross join lateral (select o.id, o.series_id, o.start_at from search_occurrences o
            where ${walkWhere} and o.start_at >= iv.lo and o.start_at < iv.hi order by o.start_at, o.id limit ${upTo}) w
          order by iv.n, w.start_at, w.id limit ${upTo}`;
  // Walking visits about upTo × (all series / matching series) index entries; the per-series
  // plan costs about 20 entries' worth per matching series. Walk when that is cheaper.
  const walk =
    strategy === 'walk'
      ? sql`true`
      : strategy === 'series'
        ? sql`false`
        : sql`x.n_series::float8 * x.n_series * 20 >= ${upTo}::float8 * (select greatest(c.reltuples, 0)::float8
            from pg_class c where c.oid = 'search_series'::regclass)`;
  const r = await sql<
    OccurrenceRow & { s: SeriesRow | null; n_page: number; n_series: number; counted: number | null }
  >`
    with ms as materialized (
      select s.id, ${countable ? openStartsIn(occ) : sql`null::int`} as n from search_series s
      where ${seriesWhere(series)} ${countable ? sql`and ${hasOccurrence(occ)}` : sql``}
    ),
    n as materialized (
      select x.n_series, ${walk} as walk from (select count(*)::int as n_series from ms) x
    ),
    walked as (${walked}),
    per_series as (
      select o.id, o.series_id, o.start_at from search_occurrences o
      where o.series_id in (select id from ms) and ${occurrenceWhere(occ)} and not (select walk from n)
      order by o.start_at, o.id limit ${upTo}
    ),
    page as materialized (
      select id, series_id, row_number() over (order by start_at, id) as position
      from (select * from walked union all select * from per_series) u
      order by start_at, id limit ${limit + 1} offset ${offset}
    ),
    counts as (
      select (select count(*) from page)::int as n_page, (select n_series from n) as n_series
    )
    select ${OCCURRENCE_COLUMNS}, c.n_page, c.n_series,
      case
        when c.n_page <= ${limit} and (c.n_page > 0 or ${offset}::int = 0) then null
        when ${countable ? sql`true` : sql`false`} then (select coalesce(sum(n), 0) from ms)::int
        when c.n_series > ${SAMPLE_SERIES}::int and c.n_page = 0 then (select count(*) from (
          select 1 from ms join search_occurrences o on o.series_id = ms.id where ${occurrenceWhere(occ)} limit ${COUNT_CAP}
        ) a)::int
        else (select count(*) from (
          select 1 from (select id from ms limit ${SAMPLE_SERIES}) ss join search_occurrences o on o.series_id = ss.id
          where ${occurrenceWhere(occ)} limit ${COUNT_CAP}
        ) b)::int
      end as counted,
      case when s.id is null then null else json_build_object(
        'id', s.id, 'publisher_id', s.publisher_id, 'oa_id', s.oa_id, 'kind', s.kind,
        'identifier', s.identifier, 'group_oa_id', s.group_oa_id, 'place_key', s.place_key,
        'activity_ids', s.activity_ids, 'doc', s.doc, 'dist', ${distanceSql(series.geo)}) end as s
    from counts c left join (
      page join search_occurrences o on o.id = page.id join search_series s on s.id = page.series_id
    ) on true
    order by page.position`.execute(db);
  const first = r.rows[0];
  const nPage = Number(first?.n_page ?? 0);
  const nSeries = Number(first?.n_series ?? 0);
  const counted = first?.counted === null || first?.counted === undefined ? null : Number(first.counted);
  let total: number;
  let exact = true;
  if (counted === null) total = offset + nPage;
  else if (countable || nSeries <= SAMPLE_SERIES || nPage === 0) total = counted;
  else {
    exact = false;
    total = Math.max(upTo, Math.round((counted * nSeries) / SAMPLE_SERIES));
  }
  return {
    total: Math.min(total, COUNT_CAP),
    exact,
    rows: r.rows
      .filter((x) => x.s !== null)
      .slice(0, limit)
      .map(({ s: seriesRow, n_page: _p, n_series: _n, counted: _c, ...o }) => ({
        occurrence: normOccurrence(o),
        series: normSeries(seriesRow!),
      })),
  };
}

// ---- grouped searches: one item per EventSeries / FacilityUse -----------------------------

export type GroupOrder = 'distance' | 'price-asc' | 'price-desc' | 'first-start';

/**
 * A page of groups (EventSeries or FacilityUses) and the total; the page's series come back in
 * group order. `withHeads` adds the FacilityUse row heading each group. Nearest-first pages walk
 * the geo index and stop after the page (walkGroups: a few rows past it, four times as many
 * again while the page is not certain, at most WALK_MAX_ROWS); other orders, and walks that
 * would go further, and searches with an activity filter read every matching series
 * (allGroups). `plan: 'walk'` / `'all'` force one or the other (tests compare them).
 */
export async function searchGroups(
  db: SearchExecutor,
  series: SeriesFilters,
  occ: OccurrenceFilters,
  order: GroupOrder,
  limit: number,
  offset: number,
  options: { withHeads?: boolean; plan?: 'auto' | 'walk' | 'all' } = {},
): Promise<GroupPage> {
  // An activity filter is selective and has its own index: the walk would read many rows per
  // match, so such searches read every match in the radius instead.
  if (
    order === 'distance' &&
    series.geo &&
    !series.virtual &&
    (series.activityMatch.length === 0 || options.plan === 'walk') &&
    options.plan !== 'all'
  ) {
    const factor = walkBoundFactor(series.geo);
    for (let k = 4 * (offset + limit) + 200; factor !== null && k <= WALK_MAX_ROWS; k *= 4) {
      const page = await walkGroups(db, series, occ, limit, offset, k, factor, options.withHeads ?? false);
      if (page) return page;
    }
  }
  return allGroups(db, series, occ, order, limit, offset, options.withHeads ?? false);
}

export interface GroupPage {
  /** imin:totalItems: exact, or estimated for a large nearest-first result (see walkGroups). */
  total: number;
  exact: boolean;
  identifiers: string[];
  members: SeriesRow[];
  heads: SeriesRow[];
}

/** The longest nearest-first walk tried before falling back to reading every matching series. */
export const WALK_MAX_ROWS = 20_000;

function groupPage(
  rows: (SeriesRow & { head: boolean | null; pdist: number | null })[],
): Omit<GroupPage, 'total' | 'exact'> {
  const identifiers: string[] = [];
  const members: SeriesRow[] = [];
  const heads: SeriesRow[] = [];
  for (const x of rows) {
    if (x.id === null) continue;
    const { head, pdist, ...rest } = x;
    const row = normSeries({ ...rest, dist: pdist });
    if (!identifiers.includes(row.identifier)) identifiers.push(row.identifier);
    if (head) heads.push(row);
    else members.push(row);
  }
  return { identifiers, members, heads };
}

/**
 * discovery-geo: the `k` series of the kinds nearest the centre, read from the GiST index in
 * `<->` order (index-only; the filters are then tested on those rows alone), instead of finding
 * and sorting every matching series in the radius. The walk is not filtered inside the index
 * scan on purpose: its LIMIT then bounds the scan whatever the filters match (a filtered walk
 * that finds too few would read the whole index), and the planner cannot choose a sort of the
 * whole radius instead (it believes a box holds a handful of rows). Groups are ranked by the
 * true (haversine) distance of their nearest walked member. `<->` is in degrees,
 * not km, so the walk is only trusted as far as `rc`: every unwalked series is at least `rc` km
 * away (walkBoundFactor). The page is returned when it is certain — the walk read every matching
 * series, or the page is full and its farthest group is nearer than `rc` — else null (the caller
 * walks further). The total is exact when the walk read everything; otherwise it is estimated
 * from the groups within `rc` scaled by area to the radius (imin §1.4 allows an approximation for
 * large sets), and is never less than the groups seen plus one.
 */
async function walkGroups(
  db: SearchExecutor,
  series: SeriesFilters,
  occ: OccurrenceFilters,
  limit: number,
  offset: number,
  k: number,
  factor: number,
  withHeads: boolean,
): Promise<GroupPage | null> {
  const geo = series.geo!;
  const centre = sql`point(${geo.lng}::float8, ${geo.lat}::float8)`;
  const heads = withHeads
    ? sql`union all select s.id, g.position, true, ${distanceSql(geo)} from g
        join search_series s on s.identifier = g.identifier and s.kind = 'FacilityUse'`
    : sql``;
  const r = await sql<
    SeriesRow & {
      head: boolean | null;
      pdist: number | null;
      n_rows: number;
      n_groups: number;
      n_page: number;
      kth: number | null;
      rc: number;
      n_near: number;
    }
  >`
    with near as materialized (
      select s.id, ${SERIES_POINT} <-> ${centre} as deg from search_series s
      where s.kind = any(${textArray(series.kinds)}) order by ${SERIES_POINT} <-> ${centre} limit ${k + 1}
    ),
    -- The filters on each walked row, read by primary key ("offset 0" keeps the planner from
    -- turning this into a scan of the whole box).
    walk as materialized (
      select w.* from near cross join lateral (
        select s.id, s.identifier, ${distanceSql(geo)} as dist from search_series s
        where s.id = near.id and ${seriesWhere(series, { box: false })} and ${hasOccurrence(occ)} offset 0
      ) w
    ),
    grp as materialized (select identifier, min(dist) as dist from walk group by identifier),
    page as materialized (select identifier, dist from grp order by dist, identifier limit ${limit} offset ${offset}),
    g as (select identifier, row_number() over (order by dist, identifier) as position from page),
    picked as materialized (
      select m.id, g.position, false as head, m.dist from g cross join lateral (
        select s.id, ${distanceSql(geo)} as dist from search_series s
        where s.identifier = g.identifier and ${seriesWhere(series, { box: false })} and ${hasOccurrence(occ)} offset 0
      ) m
      ${heads}
    ),
    bound as (
      select ${factor}::float8 * sin(least(pi() / 2, radians(coalesce((select max(deg) from near), 0)) / 2)) as rc
    ),
    info as (
      select (select count(*) from near)::int as n_rows, (select count(*) from grp)::int as n_groups,
        (select count(*) from page)::int as n_page, (select max(dist) from page) as kth, b.rc,
        (select count(*) from grp where grp.dist < b.rc)::int as n_near
      from bound b
    )
    select ${SERIES_COLUMNS}, picked.dist as pdist, picked.head,
      info.n_rows, info.n_groups, info.n_page, info.kth, info.rc, info.n_near
    from info left join (picked join search_series s on s.id = picked.id) on true
    order by picked.position, picked.head desc, picked.dist asc nulls last, s.oa_id collate "C", picked.id`.execute(db);
  const first = r.rows[0]!;
  const nRows = Number(first.n_rows);
  const nGroups = Number(first.n_groups);
  const rc = Number(first.rc);
  // Every series of the kinds was read, or every one not read is beyond the radius.
  const exhausted = nRows <= k || rc > geo.radiusKm;
  if (!exhausted && !(Number(first.n_page) === limit && first.kth !== null && Number(first.kth) < rc)) return null;
  const rows = r.rows.map(({ n_rows: _r, n_groups: _g, n_page: _p, kth: _k, rc: _c, n_near: _n, ...x }) => x);
  if (exhausted) return { total: Math.min(nGroups, COUNT_CAP), exact: true, ...groupPage(rows) };
  const scaled = rc > 0 ? Math.round(Number(first.n_near) * (geo.radiusKm / rc) ** 2) : COUNT_CAP;
  return { total: Math.min(COUNT_CAP, Math.max(nGroups + 1, scaled)), exact: false, ...groupPage(rows) };
}

/** Any order: every matching series is found (`m`), grouped, ordered for the page and counted. */
async function allGroups(
  db: SearchExecutor,
  series: SeriesFilters,
  occ: OccurrenceFilters,
  order: GroupOrder,
  limit: number,
  offset: number,
  withHeads: boolean,
): Promise<GroupPage> {
  const orderBy =
    order === 'price-asc'
      ? sql`low asc nulls last, dist asc nulls last, identifier`
      : order === 'price-desc'
        ? sql`high desc nulls last, dist asc nulls last, identifier`
        : order === 'first-start'
          ? sql`first_start, dist asc nulls last, identifier`
          : sql`dist asc nulls last, identifier`;
  // Facilities' upcoming-slots orders FacilityUses by their first matching slot.
  const firstStart =
    order === 'first-start'
      ? windowOnly(occ)
        ? sql`s.open_starts[width_bucket(${beforeFrom(occ)}, s.open_starts) + 1]`
        : sql`(select min(o.start_at) from search_occurrences o where o.series_id = s.id and ${occurrenceWhere(occ)})`
      : sql`null::timestamptz`;
  const heads = withHeads
    ? sql`union all select s.id, g.position, true, ${distanceSql(series.geo)} from g
        join search_series s on s.identifier = g.identifier and s.kind = 'FacilityUse'`
    : sql``;
  // In-person radius searches test the distance they compute once per row, outside the scan
  // ("offset 0" keeps the planner from folding the test back in and computing it twice).
  const radiusOnce = series.geo !== null && !series.virtual ? series.geo : null;
  const aggregate = (wanted: boolean, expr: Sql, type: Sql) => (wanted ? expr : sql`null::${type}`);
  const r = await sql<SeriesRow & { head: boolean | null; total: number; pdist: number | null }>`
    with m as materialized (
      select * from (
        select s.id, s.identifier collate "C" as identifier, ${distanceSql(series.geo)} as dist, s.adult_price,
          ${firstStart} as first_start
        from search_series s where ${seriesWhere(series, { box: true, distance: radiusOnce === null })} and ${hasOccurrence(occ)}
        offset 0
      ) x ${radiusOnce ? sql`where x.dist <= ${radiusOnce.radiusKm}::float8` : sql``}
    ),
    -- Grouped on the identifier's bytes (collation "C": the same groups as any deterministic
    -- collation, at half the cost), with only the aggregates the order needs.
    grp as materialized (
      select identifier collate "default" as identifier, min(dist) as dist,
        ${aggregate(order === 'price-asc', sql`min(adult_price)`, sql`float8`)} as low,
        ${aggregate(order === 'price-desc', sql`max(adult_price)`, sql`float8`)} as high,
        ${aggregate(order === 'first-start', sql`min(first_start)`, sql`timestamptz`)} as first_start
      from m group by m.identifier
    ),
    g as (
      select identifier, row_number() over (order by ${orderBy}) as position from (
        select * from grp order by ${orderBy} limit ${limit} offset ${offset}
      ) page
    ),
    -- Materialised: the planner cannot estimate a GiST box (it expects a handful of matches), and
    -- would otherwise read every match's row before keeping the page's.
    picked as materialized (
      select m.id, g.position, false as head, m.dist from g join m on m.identifier = g.identifier collate "C"
      ${heads}
    )
    select ${SERIES_COLUMNS}, picked.dist as pdist, picked.head,
      (select count(*) from (select 1 from grp limit ${COUNT_CAP}) c)::int as total
    from (select 1) one left join (picked join search_series s on s.id = picked.id) on true
    order by picked.position, picked.head desc, picked.dist asc nulls last, s.oa_id collate "C", picked.id`.execute(db);
  const total = Number(r.rows[0]?.total ?? 0);
  return { total, exact: true, ...groupPage(r.rows.map(({ total: _total, ...x }) => x)) };
}

/** Matching occurrences of the given series, earliest first, at most `perSeries` each. */
export async function findOccurrencesOfSeries(
  db: SearchExecutor,
  seriesIds: number[],
  occ: OccurrenceFilters,
  perSeries: number,
  options: { searchable: boolean } = { searchable: true },
): Promise<OccurrenceRow[]> {
  if (seriesIds.length === 0) return [];
  const where = options.searchable ? occurrenceWhere(occ) : sql`o.start_at >= ${occ.from} and o.start_at <= ${occ.to}`;
  const r = await sql<OccurrenceRow>`
    select * from (
      select ${OCCURRENCE_COLUMNS}, row_number() over (partition by o.series_id order by o.start_at, o.id) as rn
      from search_occurrences o where o.series_id = any(${seriesIds}::bigint[]) and ${where}
    ) x where rn <= ${perSeries} order by start_at, id`.execute(db);
  return r.rows.map(normOccurrence);
}

/** Series by row id; `detail` adds the By-ID parts of their documents. */
export async function findSeriesByIds(
  db: SearchExecutor,
  ids: number[],
  geo: Geo | null,
  options: { detail?: boolean } = {},
): Promise<SeriesRow[]> {
  if (ids.length === 0) return [];
  if (options.detail) {
    const r = await sql<SeriesRow & { detail_doc: SeriesDetailDoc }>`select ${SERIES_DETAIL_COLUMNS},
      ${distanceSql(geo)} as dist from search_series s where s.id = any(${ids}::bigint[])`.execute(db);
    return r.rows.map(normDetailSeries);
  }
  const r = await sql<SeriesRow>`select ${SERIES_COLUMNS}, ${distanceSql(geo)} as dist from search_series s
    where s.id = any(${ids}::bigint[])`.execute(db);
  return r.rows.map(normSeries);
}

/** One series row by its read-model key (By-ID, with its By-ID parts). */
export async function findSeriesByOaId(db: SearchExecutor, publisherId: number, oaId: string) {
  const r = await sql<SeriesRow & { detail_doc: SeriesDetailDoc }>`select ${SERIES_DETAIL_COLUMNS}, null as dist
    from search_series s where s.publisher_id = ${publisherId} and s.oa_id = ${oaId}`.execute(db);
  return r.rows.map(normDetailSeries)[0];
}

/**
 * Every series of a group (By-ID, so with the By-ID parts of their documents), whatever the
 * filters, in published-id order (stable across re-harvests).
 */
export async function findGroupSeries(db: SearchExecutor, identifier: string, kinds: string[], geo: Geo | null) {
  const r = await sql<SeriesRow & { detail_doc: SeriesDetailDoc }>`select ${SERIES_DETAIL_COLUMNS},
    ${distanceSql(geo)} as dist from search_series s
    where s.identifier = ${identifier} and s.kind = any(${textArray(kinds)}) order by s.oa_id collate "C", s.id`.execute(
    db,
  );
  return r.rows.map(normDetailSeries);
}

/** The FacilityUse rows heading the given groups. */
export async function findFacilityUses(db: SearchExecutor, identifiers: string[], geo: Geo | null) {
  if (identifiers.length === 0) return [];
  const r = await sql<SeriesRow>`select ${SERIES_COLUMNS}, ${distanceSql(geo)} as dist from search_series s
    where s.identifier = any(${textArray(identifiers)}) and s.kind = 'FacilityUse'`.execute(db);
  return r.rows.map(normSeries);
}

export async function hasFutureOccurrence(db: SearchExecutor, seriesIds: number[], now: Date): Promise<boolean> {
  if (seriesIds.length === 0) return false;
  const r = await sql`select 1 from search_occurrences o
    where o.series_id = any(${seriesIds}::bigint[]) and o.start_at >= ${now} limit 1`.execute(db);
  return r.rows.length > 0;
}

/**
 * The upcoming occurrences (By-ID) with this published id, one per publisher holding it (two
 * publishers can publish the same `@id`), or only the named publisher's; past ones are archived
 * (imin §1.4). The caller decides what more than one means (search.service: an explicit 409).
 */
export async function findOccurrencesByOaId(
  db: SearchExecutor,
  kind: string,
  oaId: string,
  now: Date,
  publisherId: number | null,
) {
  const r = await sql<OccurrenceRow>`select ${OCCURRENCE_COLUMNS} from search_occurrences o
    where o.oa_id = ${oaId} and o.kind = ${kind} and o.start_at >= ${now}
    ${publisherId === null ? sql`` : sql`and o.publisher_id = ${publisherId}`}
    order by o.publisher_id limit 20`.execute(db);
  return r.rows.map(normOccurrence);
}

/** Of these published occurrence ids, those more than one publisher holds. */
export async function findSharedOccurrenceIds(db: SearchExecutor, oaIds: string[]): Promise<Set<string>> {
  if (oaIds.length === 0) return new Set();
  const r = await sql<{ oa_id: string }>`select o.oa_id from search_occurrences o
    where o.oa_id = any(${textArray([...new Set(oaIds)])}) group by o.oa_id
    having count(distinct o.publisher_id) > 1`.execute(db);
  return new Set(r.rows.map((x) => x.oa_id));
}

// ---- places: one item per location ----------------------------------------------------------

export async function searchPlaces(
  db: SearchExecutor,
  series: SeriesFilters,
  occ: OccurrenceFilters,
  limit: number,
  offset: number,
) {
  const r = await sql<{
    place_key: string | null;
    dist: number | null;
    groups: number | null;
    representative: number | null;
    total: number;
  }>`
    with m as materialized (
      select s.id, s.place_key, s.identifier, ${distanceSql(series.geo)} as dist
      from search_series s where ${seriesWhere(series)} and s.place_key is not null and ${hasOccurrence(occ)}
    ),
    page as (
      select place_key, min(dist) as dist, count(distinct identifier)::int as groups, min(id) as representative
      from m group by place_key order by dist asc nulls last, place_key limit ${limit} offset ${offset}
    )
    select page.*, (select count(distinct place_key) from (select place_key from m limit ${COUNT_CAP}) c)::int as total
    from (select 1) one left join page on true
    order by page.dist asc nulls last, page.place_key`.execute(db);
  return {
    total: Number(r.rows[0]?.total ?? 0),
    rows: r.rows
      .filter((x) => x.place_key !== null)
      .map((x) => ({
        placeKey: x.place_key!,
        dist: num(x.dist),
        groups: Number(x.groups),
        representative: Number(x.representative),
      })),
  };
}

/** Activities of the matching series at the given places. */
export async function findPlaceActivities(
  db: SearchExecutor,
  placeKeys: string[],
  series: SeriesFilters,
  occ: OccurrenceFilters,
) {
  if (placeKeys.length === 0) return [];
  const r = await sql<{ place_key: string; activity_ids: string[] }>`
    select s.place_key, s.activity_ids from search_series s
    where s.place_key = any(${textArray(placeKeys)}) and ${seriesWhere(series)} and ${hasOccurrence(occ)}`.execute(db);
  return r.rows;
}
