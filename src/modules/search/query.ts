import { AppError, type FieldError } from '../../http/errors.js';
import type { Vocabularies } from '../../lib/vocabularies.js';
import type { Collections } from './collections.js';
import { CHANNELS, channelName, genderName } from './projection.js';

/*
 * Query parameters of the search endpoints → typed filters, with every mistake reported as a
 * 400 naming the parameter and the form it accepts (imin §3.1.2, §3.7, §4.1). The parsed query
 * also carries its canonical form: the effective parameters, defaults included, in a fixed
 * order, which `view` echoes (imin §9.4: `view.id` shows the implicit iminTag[not]).
 */

export const EVENT_MODES = [
  'upcoming-sessions',
  'discovery-geo',
  'discovery-price-asc',
  'discovery-price-desc',
] as const;
export type EventMode = (typeof EVENT_MODES)[number];
export const FACILITY_MODES = ['discovery-geo', 'upcoming-slots'] as const;
export type FacilityMode = (typeof FACILITY_MODES)[number];

export const MAX_LIMIT = 50;
export const DEFAULT_LIMIT = 20;
export const WINDOW_DAYS = 14;
const DAY_MS = 24 * 3600_000;
/** Radii beyond this cover the whole UK several times over; refuse rather than scan everything. */
export const MAX_RADIUS_KM = 1000;

const HFS = 'HighFrequencySession';
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const GENDERS = ['NoRestriction', 'MaleOnly', 'FemaleOnly'];
const LEVELS: Record<string, string> = {
  BeginnerLevel: 'imin:BeginnerLevel',
  Beginner: 'imin:BeginnerLevel',
  IntermediateLevel: 'imin:IntermediateLevel',
  Intermediate: 'imin:IntermediateLevel',
  AdvancedLevel: 'imin:AdvancedLevel',
  Advanced: 'imin:AdvancedLevel',
};
/** openactive.md §3.2: the amenity feature types of a Place. */
export const AMENITY_TYPES = [
  'ChangingFacilities',
  'Showers',
  'Lockers',
  'Towels',
  'Creche',
  'Parking',
  'Toilets',
  'BabyChanging',
];
export const PLACE_CLASSES = ['mcr:Park', 'mcr:LeisureCentre'];

/** Parameters accepted by each endpoint, in the order `view` echoes them. */
export const EVENT_PARAMS = [
  'mode',
  'geo[radial]',
  'isVirtual',
  'startDate[gte]',
  'startDate[lte]',
  'startTime[gte]',
  'startTime[lte]',
  'dayOfWeek',
  'byDay',
  'activityId',
  'activityPrefLabel',
  'activityConceptCollectionId',
  'activityInScheme',
  'ageRange[includeRange]',
  'ageRangeMin[gte]',
  'ageRangeMax[lte]',
  'genderRestriction',
  'levelType',
  'priceAdult[gte]',
  'priceAdult[lte]',
  'membershipRequiredAdult',
  'membershipRequiredJunior',
  'accessibilitySupportId',
  'specialRequirementId',
  'leaderGender',
  'availableChannelAdult',
  'availableChannelJunior',
  'isWheelchairAccessible',
  'amenityFeatureType[valueTrue]',
  'organizerId',
  'organizerName[textSearch]',
  'iminTag',
  'iminTag[not]',
  'showAllSessions',
  'limit',
  'page',
] as const;

export const FACILITY_PARAMS = [
  'mode',
  'geo[radial]',
  'startDate[gte]',
  'startDate[lte]',
  'providerId',
  'activityId',
  'activityPrefLabel',
  'facilityTypeId',
  'limit',
  'page',
] as const;

export const PLACES_PARAMS = ['geo[radial]', 'placeClassification', 'activityId', 'limit', 'page'] as const;

export const REPEATABLE = new Set([
  'dayOfWeek',
  'byDay',
  'activityId',
  'activityPrefLabel',
  'activityConceptCollectionId',
  'activityInScheme',
  'genderRestriction',
  'levelType',
  'accessibilitySupportId',
  'specialRequirementId',
  'leaderGender',
  'availableChannelAdult',
  'availableChannelJunior',
  'amenityFeatureType[valueTrue]',
  'organizerId',
  'providerId',
  'facilityTypeId',
  'placeClassification',
]);

export interface Geo {
  lat: number;
  lng: number;
  radiusKm: number;
}

/** Filters on the series a result hangs from (inheritance already resolved). */
export interface SeriesFilters {
  kinds: string[];
  geo: Geo | null;
  /** true: online/mixed only; false: in person (online series are left out). */
  virtual: boolean;
  /** Each inner list is one parameter's values (OR); the lists are ANDed (imin §3.7). */
  activityMatch: string[][];
  schemes: string[] | null;
  ageInclude: { min: number; max: number } | null;
  ageMinGte: number | null;
  ageMaxLte: number | null;
  genders: string[] | null;
  levels: string[] | null;
  priceGte: number | null;
  priceLte: number | null;
  memberAdult: boolean | null;
  memberJunior: boolean | null;
  accessibility: string[] | null;
  specialRequirements: string[] | null;
  leaderGenders: string[] | null;
  adultChannels: string[] | null;
  juniorChannels: string[] | null;
  wheelchair: boolean | null;
  amenities: string[] | null;
  organizerIds: string[] | null;
  organizerName: string | null;
  hfs: 'exclude' | 'only' | 'any';
  providerIds: number[] | null;
  facilityTypes: string[] | null;
  placeClasses: string[] | null;
}

/** Filters on occurrences (ScheduledSessions / Slots). */
export interface OccurrenceFilters {
  from: Date;
  to: Date;
  minuteGte: number | null;
  minuteLte: number | null;
  days: number[] | null;
}

export interface Paging {
  limit: number;
  page: number;
}

export interface ParsedQuery<M> {
  mode: M;
  series: SeriesFilters;
  occurrences: OccurrenceFilters;
  paging: Paging;
  /** The window is empty (e.g. startDate[gte] beyond the 14-day lookahead): no results. */
  empty: boolean;
  /** Effective parameters, defaults included, in canonical order (without `page`). */
  canonical: [string, string][];
}

export type RawQuery = Record<string, string | string[] | undefined>;

export interface QueryContext {
  vocab: Vocabularies;
  collections: Collections;
  /** prefLabel → activity ids (and narrower), case-sensitive (imin §3.7.4). */
  labelIndex: Map<string, string>;
  now: Date;
}

class Problems {
  readonly list: FieldError[] = [];
  add(path: string, message: string) {
    this.list.push({ path, message });
  }
  throwIfAny() {
    if (this.list.length === 0) return;
    const summary = this.list
      .slice(0, 3)
      .map((p) => `${p.path} ${p.message}`)
      .join('; ');
    throw new AppError(
      'BAD_REQUEST',
      `Invalid query: ${summary}${this.list.length > 3 ? ` (and ${this.list.length - 3} more)` : ''}.`,
      { fieldErrors: this.list },
    );
  }
}

/** Rejects parameters the endpoint does not know (never silently ignored). */
export function checkKnownParams(raw: RawQuery, allowed: readonly string[]): void {
  const problems = new Problems();
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      problems.add(
        key,
        allowed.length
          ? `is not a parameter of this endpoint (accepted: ${allowed.join(', ')})`
          : 'is not accepted: this endpoint takes no query parameters',
      );
    }
  }
  problems.throwIfAny();
}

class Reader {
  readonly problems = new Problems();
  readonly canonical = new Map<string, string[]>();
  constructor(private readonly raw: RawQuery) {}

  /** A parameter that may be given once. */
  one(name: string): string | undefined {
    const v = this.raw[name];
    if (v === undefined) return undefined;
    if (Array.isArray(v)) {
      this.problems.add(name, 'may be given only once');
      return undefined;
    }
    return v.trim();
  }

  many(name: string): string[] {
    const v = this.raw[name];
    if (v === undefined) return [];
    return (Array.isArray(v) ? v : [v]).map((x) => x.trim());
  }

  echo(name: string, ...values: string[]) {
    if (values.length) this.canonical.set(name, values);
  }

  bool(name: string): boolean | null {
    const v = this.one(name);
    if (v === undefined) return null;
    if (v === 'true' || v === 'false') {
      this.echo(name, v);
      return v === 'true';
    }
    this.problems.add(name, 'must be true or false');
    return null;
  }

  int(name: string, min: number, max: number, form: string): number | null {
    const v = this.one(name);
    if (v === undefined) return null;
    if (/^\d{1,9}$/.test(v) && Number(v) >= min && Number(v) <= max) {
      this.echo(name, String(Number(v)));
      return Number(v);
    }
    this.problems.add(name, `must be ${form}`);
    return null;
  }

  number(name: string, form: string): number | null {
    const v = this.one(name);
    if (v === undefined) return null;
    if (/^\d{1,7}(\.\d{1,4})?$/.test(v)) {
      this.echo(name, v);
      return Number(v);
    }
    this.problems.add(name, `must be ${form}`);
    return null;
  }

  url(name: string, example: string): string[] | null {
    const values = this.many(name);
    if (!values.length) return null;
    const ok = values.filter((v) => {
      try {
        const u = new URL(v);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    });
    if (ok.length !== values.length) {
      this.problems.add(name, `must be an absolute URL (URL-encoded in the query), e.g. ${example}`);
      return null;
    }
    this.echo(name, ...values);
    return values;
  }

  ordered(order: readonly string[]): [string, string][] {
    const out: [string, string][] = [];
    for (const name of order) for (const v of this.canonical.get(name) ?? []) out.push([name, v]);
    return out;
  }
}

const GEO_FORM =
  'latitude,longitude,radiusKm with latitude -90..90, longitude -180..180 and radius 0..' + MAX_RADIUS_KM;

function readGeo(r: Reader, required: string | null): Geo | null {
  const v = r.one('geo[radial]');
  if (v === undefined) {
    if (required) r.problems.add('geo[radial]', `is required ${required}; give ${GEO_FORM}, e.g. 51.5074,-0.1278,10`);
    return null;
  }
  const m = /^(-?\d{1,3}(?:\.\d+)?),(-?\d{1,3}(?:\.\d+)?),(\d{1,4}(?:\.\d+)?)$/.exec(v.replace(/\s+/g, ''));
  const [lat, lng, radiusKm] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [NaN, NaN, NaN];
  if (!m || Math.abs(lat) > 90 || Math.abs(lng) > 180 || radiusKm > MAX_RADIUS_KM) {
    r.problems.add('geo[radial]', `must be ${GEO_FORM}, e.g. 51.5074,-0.1278,10`);
    return null;
  }
  r.echo('geo[radial]', v.replace(/\s+/g, ''));
  return { lat, lng, radiusKm };
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

function readInstant(r: Reader, name: string): Date | null {
  const v = r.one(name);
  if (v === undefined) return null;
  const t = INSTANT.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) {
    r.problems.add(name, 'must be an ISO 8601 UTC date-time, e.g. 2026-02-27T11:45:00Z');
    return null;
  }
  r.echo(name, v);
  return new Date(t);
}

function readLocalTime(r: Reader, name: string): number | null {
  const v = r.one(name);
  if (v === undefined) return null;
  const m = /^([01]\d|2[0-3]):([0-5]\d)(:00)?$/.exec(v);
  if (!m) {
    r.problems.add(name, 'must be a local time HH:mm (24-hour), e.g. 16:00');
    return null;
  }
  r.echo(name, v);
  return Number(m[1]) * 60 + Number(m[2]);
}

function readDays(r: Reader): number[] | null {
  const out = new Set<number>();
  for (const name of ['dayOfWeek', 'byDay']) {
    const values = r.many(name);
    const bad = values.filter((v) => !DAYS.includes(v.replace(/^(schema:|https?:\/\/schema\.org\/)/, '')));
    if (bad.length) {
      r.problems.add(name, 'must be a day such as schema:Monday … schema:Sunday (or https://schema.org/Monday)');
      continue;
    }
    values.forEach((v) => out.add(DAYS.indexOf(v.replace(/^(schema:|https?:\/\/schema\.org\/)/, '')) + 1));
    r.echo(name, ...values);
  }
  return out.size ? [...out].sort() : null;
}

function readActivities(r: Reader, ctx: QueryContext): string[][] {
  const groups: string[][] = [];
  const ids = r.url('activityId', 'https%3A%2F%2Fopenactive.io%2Factivity-list%23bf1a5e00-cdcf-465d-8c5a-6f57040b7f7e');
  if (ids) {
    const match: string[] = [];
    for (const id of ids) {
      const c = ctx.vocab.resolveActivity({ id });
      if (!c) {
        r.problems.add('activityId', `"${id}" is not in the OpenActive Activity List (see /events-api/v2/facets)`);
        continue;
      }
      match.push(c.id);
    }
    groups.push(match);
  }
  const labels = r.many('activityPrefLabel');
  if (labels.length) {
    // Case-sensitive, as documented: a label that names no activity matches nothing.
    groups.push(labels.map((l) => ctx.labelIndex.get(l)).filter((id): id is string => id !== undefined));
    r.echo('activityPrefLabel', ...labels);
  }
  return groups;
}

function readCollections(r: Reader, ctx: QueryContext): string[] | null {
  const ids = r.url('activityConceptCollectionId', ctx.collections.all()[0]?.id ?? '');
  if (!ids) return null;
  const match = new Set<string>();
  for (const id of ids) {
    const c = ctx.collections.byId(id);
    if (!c) {
      r.problems.add(
        'activityConceptCollectionId',
        `"${id}" is not a known collection; the collections are listed by /events-api/v2/facets`,
      );
      continue;
    }
    c.matchIds.forEach((m) => match.add(m));
  }
  return [...match];
}

function readAges(r: Reader, s: SeriesFilters) {
  const v = r.one('ageRange[includeRange]');
  if (v !== undefined) {
    const m = /^(\d{1,3})(?:,(\d{1,3}))?$/.exec(v);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
      r.problems.add(
        'ageRange[includeRange]',
        'must be minAge or minAge,maxAge in whole years (min ≤ max), e.g. 18,55',
      );
    } else {
      s.ageInclude = { min: Number(m[1]), max: Number(m[2] ?? m[1]) };
      r.echo('ageRange[includeRange]', v);
    }
  }
  s.ageMinGte = r.int('ageRangeMin[gte]', 0, 150, 'a whole number of years, e.g. 18');
  s.ageMaxLte = r.int('ageRangeMax[lte]', 0, 150, 'a whole number of years, e.g. 17');
}

function readEnumList(r: Reader, name: string, normalise: (v: string) => string | null, form: string): string[] | null {
  const values = r.many(name);
  if (!values.length) return null;
  const out: string[] = [];
  for (const v of values) {
    const n = normalise(v);
    if (n === null) {
      r.problems.add(name, `must be one of ${form}`);
      return null;
    }
    out.push(n);
  }
  r.echo(name, ...values);
  return [...new Set(out)];
}

function readPaging(r: Reader): Paging {
  const limit = r.int('limit', 1, MAX_LIMIT, `a whole number from 1 to ${MAX_LIMIT}`) ?? DEFAULT_LIMIT;
  const page = r.int('page', 1, 1_000_000, 'a whole number ≥ 1') ?? 1;
  r.echo('limit', String(limit));
  // `page` is added per link by pageUrl.
  r.canonical.delete('page');
  return { limit, page };
}

/** Series filters that keep every series of the given kinds (each search narrows from here). */
export function emptySeries(kinds: string[]): SeriesFilters {
  return {
    kinds,
    geo: null,
    virtual: false,
    activityMatch: [],
    schemes: null,
    ageInclude: null,
    ageMinGte: null,
    ageMaxLte: null,
    genders: null,
    levels: null,
    priceGte: null,
    priceLte: null,
    memberAdult: null,
    memberJunior: null,
    accessibility: null,
    specialRequirements: null,
    leaderGenders: null,
    adultChannels: null,
    juniorChannels: null,
    wheelchair: null,
    amenities: null,
    organizerIds: null,
    organizerName: null,
    hfs: 'any',
    providerIds: null,
    facilityTypes: null,
    placeClasses: null,
  };
}

function lookahead(now: Date, gte: Date | null, lte: Date | null) {
  const end = new Date(now.getTime() + WINDOW_DAYS * DAY_MS);
  const from = gte && gte > now ? gte : now;
  const to = lte && lte < end ? lte : end;
  return { from, to, empty: from > to };
}

/**
 * `GET /events-api/v2/event-series` (and `/places`, where `mode` is optional and defaults to
 * discovery-geo).
 */
export function parseEventsQuery(
  raw: RawQuery,
  ctx: QueryContext,
  options: { modeRequired: boolean },
): ParsedQuery<EventMode> {
  checkKnownParams(raw, EVENT_PARAMS);
  const r = new Reader(raw);
  const modeValue = r.one('mode');
  let mode: EventMode = 'discovery-geo';
  if (modeValue === undefined) {
    if (options.modeRequired) r.problems.add('mode', `is required: one of ${EVENT_MODES.join(', ')}`);
  } else if (!(EVENT_MODES as readonly string[]).includes(modeValue)) {
    r.problems.add('mode', `must be one of ${EVENT_MODES.join(', ')}`);
  } else mode = modeValue as EventMode;
  if (modeValue !== undefined || !options.modeRequired) r.echo('mode', mode);

  const s = emptySeries(['SessionSeries']);
  const isVirtual = r.bool('isVirtual');
  s.virtual = isVirtual === true;
  // imin §3.2: offline sessions are searched around a point; online ones need no place.
  s.geo = readGeo(r, s.virtual ? null : 'unless isVirtual=true');
  if (mode === 'discovery-geo' && !s.geo && s.virtual) {
    r.problems.add(
      'geo[radial]',
      `is required with mode=discovery-geo (results are ordered by distance); give ${GEO_FORM}`,
    );
  }

  const gte = readInstant(r, 'startDate[gte]');
  const lte = readInstant(r, 'startDate[lte]');
  const minuteGte = readLocalTime(r, 'startTime[gte]');
  const minuteLte = readLocalTime(r, 'startTime[lte]');
  const days = readDays(r);
  s.activityMatch = readActivities(r, ctx);
  const collection = readCollections(r, ctx);
  if (collection) s.activityMatch.push(collection);
  const schemes = r.url('activityInScheme', 'https://openactive.io/activity-list');
  s.schemes = schemes;
  readAges(r, s);
  s.genders = readEnumList(
    r,
    'genderRestriction',
    (v) => {
      const local = v.replace(/^(oa:|https:\/\/openactive\.io\/)/, '');
      return GENDERS.includes(local) ? `https://openactive.io/${local}` : null;
    },
    'oa:NoRestriction, oa:MaleOnly, oa:FemaleOnly',
  );
  s.levels = readEnumList(
    r,
    'levelType',
    (v) => LEVELS[v.replace(/^(imin:|https:\/\/imin\.co\/)/, '')] ?? null,
    'imin:BeginnerLevel, imin:IntermediateLevel, imin:AdvancedLevel',
  );
  s.priceGte = r.number('priceAdult[gte]', 'a price in pounds, e.g. 5 or 4.50');
  s.priceLte = r.number('priceAdult[lte]', 'a price in pounds, e.g. 5 or 4.50');
  s.memberAdult = r.bool('membershipRequiredAdult');
  s.memberJunior = r.bool('membershipRequiredJunior');
  s.accessibility = r.url(
    'accessibilitySupportId',
    'https%3A%2F%2Fopenactive.io%2Faccessibility-support%231393f2dc-3fcc-4be9-a99f-f1e51f5ad277',
  );
  s.specialRequirements = r.url(
    'specialRequirementId',
    'http%3A%2F%2Fdata.emduk.org%2Fspecial-requirements%23wheelchair-users',
  );
  s.leaderGenders = readEnumList(r, 'leaderGender', genderName, 'schema:Female, schema:Male');
  const channels = CHANNELS.map((c) => `beta:${c}`).join(', ');
  s.adultChannels = readEnumList(r, 'availableChannelAdult', channelName, channels);
  s.juniorChannels = readEnumList(r, 'availableChannelJunior', channelName, channels);
  s.wheelchair = r.bool('isWheelchairAccessible');
  s.amenities = readEnumList(
    r,
    'amenityFeatureType[valueTrue]',
    (v) => {
      const local = v.replace(/^(oa:|beta:|https:\/\/openactive\.io\/(ns-beta#)?)/, '');
      return AMENITY_TYPES.includes(local) ? local : null;
    },
    AMENITY_TYPES.join(', '),
  );
  s.organizerIds = r.url('organizerId', 'https%3A%2F%2Fexample.com%2Forganizers%2F1');
  const name = r.one('organizerName[textSearch]');
  if (name !== undefined) {
    if (name.length < 1 || name.length > 200) r.problems.add('organizerName[textSearch]', 'must be 1-200 characters');
    else {
      s.organizerName = name;
      r.echo('organizerName[textSearch]', name);
    }
  }

  // imin §3.7.5: HighFrequencySessions are left out unless asked for, and only upcoming-sessions
  // ever returns them.
  const tag = r.one('iminTag');
  const notTag = r.one('iminTag[not]');
  const showAll = r.bool('showAllSessions');
  for (const [param, v] of [
    ['iminTag', tag],
    ['iminTag[not]', notTag],
  ] as const) {
    if (v !== undefined && v !== HFS) r.problems.add(param, `must be ${HFS}`);
  }
  if (tag !== undefined && notTag !== undefined) {
    r.problems.add('iminTag', 'cannot be combined with iminTag[not] (they are mutually exclusive)');
  }
  if (showAll === true && (tag !== undefined || notTag !== undefined)) {
    r.problems.add('showAllSessions', 'cannot be combined with iminTag or iminTag[not]');
  }
  if (tag === HFS && mode !== 'upcoming-sessions') {
    r.problems.add('iminTag', 'HighFrequencySessions are only returned with mode=upcoming-sessions');
  }
  if (tag === HFS) {
    s.hfs = 'only';
    r.echo('iminTag', HFS);
  } else if (showAll === true && mode === 'upcoming-sessions') {
    s.hfs = 'any';
  } else {
    s.hfs = 'exclude';
    if (showAll !== true) r.echo('iminTag[not]', HFS);
  }
  const paging = readPaging(r);
  r.problems.throwIfAny();
  const window = lookahead(ctx.now, gte, lte);
  return {
    mode,
    series: s,
    occurrences: { from: window.from, to: window.to, minuteGte, minuteLte, days },
    paging,
    empty: window.empty,
    canonical: r.ordered(EVENT_PARAMS),
  };
}

function readProviders(r: Reader): number[] | null {
  const values = r.many('providerId');
  if (!values.length) return null;
  if (values.some((v) => !/^\d{1,9}$/.test(v))) {
    r.problems.add('providerId', 'must be a data provider identifier (imin:dataSource.identifier), e.g. 1');
    return null;
  }
  r.echo('providerId', ...values);
  return values.map(Number);
}

function readFacilityTypes(r: Reader, ctx: QueryContext): string[] | null {
  const ids = r.url('facilityTypeId', 'https%3A%2F%2Fopenactive.io%2Ffacility-types%23…');
  if (!ids) return null;
  for (const id of ids) {
    if (!ctx.vocab.facilityTypeById(id)) {
      r.problems.add('facilityTypeId', `"${id}" is not in the OpenActive Facility Types list`);
    }
  }
  return ids;
}

const utcDate = (d: Date) => d.toISOString().slice(0, 10);

/** `GET /facilities-api/v2/facility-uses` (imin §4.1–4.2). */
export function parseFacilitiesQuery(raw: RawQuery, ctx: QueryContext): ParsedQuery<FacilityMode> {
  checkKnownParams(raw, FACILITY_PARAMS);
  const r = new Reader(raw);
  const modeValue = r.one('mode');
  let mode: FacilityMode = 'discovery-geo';
  if (modeValue === undefined) r.problems.add('mode', `is required: one of ${FACILITY_MODES.join(', ')}`);
  else if (!(FACILITY_MODES as readonly string[]).includes(modeValue)) {
    r.problems.add('mode', `must be one of ${FACILITY_MODES.join(', ')}`);
  } else {
    mode = modeValue as FacilityMode;
    r.echo('mode', mode);
  }
  const s = emptySeries(['FacilityUse', 'IndividualFacilityUse']);
  s.geo = readGeo(r, 'in every Facilities API search');
  s.hfs = 'any';
  const gte = readInstant(r, 'startDate[gte]');
  const lte = readInstant(r, 'startDate[lte]');
  s.providerIds = readProviders(r);
  s.activityMatch = readActivities(r, ctx);
  s.facilityTypes = readFacilityTypes(r, ctx);
  const paging = readPaging(r);

  let from: Date | null = null;
  let to: Date | null = null;
  if (modeValue === 'discovery-geo') {
    // imin §4.1.1: no dates here; this mode never returns slots.
    for (const [name, v] of [
      ['startDate[gte]', gte],
      ['startDate[lte]', lte],
    ] as const) {
      if (v) r.problems.add(name, 'is not permitted with mode=discovery-geo; use mode=upcoming-slots for slots');
    }
  } else if (modeValue === 'upcoming-slots') {
    // imin §4.1.2: one calendar day (the date of the value given, in UTC).
    if (!gte && !lte && !r.problems.list.some((p) => p.path.startsWith('startDate'))) {
      r.problems.add('startDate[gte]', 'or startDate[lte] is required with mode=upcoming-slots (one day of slots)');
    } else if (gte && lte && utcDate(gte) !== utcDate(lte)) {
      r.problems.add(
        'startDate[lte]',
        'must be on the same calendar day as startDate[gte] (upcoming-slots covers one day)',
      );
    } else if (gte || lte) {
      const day = utcDate((gte ?? lte)!);
      from = gte ?? new Date(`${day}T00:00:00Z`);
      to = lte ?? new Date(`${day}T23:59:59.999Z`);
    }
  }
  r.problems.throwIfAny();
  const window = lookahead(ctx.now, from, to);
  return {
    mode,
    series: s,
    occurrences: { from: window.from, to: window.to, minuteGte: null, minuteLte: null, days: null },
    paging,
    empty: window.empty,
    canonical: r.ordered(FACILITY_PARAMS),
  };
}

/** `GET /places-api/v1/places` (imin §5.2). */
export function parsePlacesQuery(raw: RawQuery, ctx: QueryContext): ParsedQuery<'places'> {
  checkKnownParams(raw, PLACES_PARAMS);
  const r = new Reader(raw);
  const s = emptySeries(['FacilityUse', 'IndividualFacilityUse']);
  s.geo = readGeo(r, 'in every Places API search');
  s.placeClasses = readEnumList(
    r,
    'placeClassification',
    (v) => (PLACE_CLASSES.includes(v) ? v : null),
    PLACE_CLASSES.join(', '),
  );
  s.activityMatch = readActivities(r, ctx);
  const paging = readPaging(r);
  r.problems.throwIfAny();
  const window = lookahead(ctx.now, null, null);
  return {
    mode: 'places',
    series: s,
    occurrences: { from: window.from, to: window.to, minuteGte: null, minuteLte: null, days: null },
    paging,
    empty: false,
    canonical: r.ordered(PLACES_PARAMS),
  };
}

/** The canonical URL of a page: `base` + effective parameters (imin's encoding: `%5B`, `%2C`). */
export function pageUrl(base: string, canonical: [string, string][], page: number | '{page}'): string {
  const q = [...canonical, ['page', String(page)] as [string, string]]
    .map(([k, v]) => `${encodeURIComponent(k)}=${v === '{page}' ? v : encodeURIComponent(v)}`)
    .join('&');
  return `${base}?${q}`;
}
