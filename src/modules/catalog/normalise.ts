import { DateTime, Duration } from 'luxon';
import type { Vocabularies } from '../../lib/vocabularies.js';

/**
 * Pure functions turning one published RPDE item into the normalised entities stored in
 * `catalog_entities`. One item may hold several OpenActive objects (openactive.md §3.5): an
 * EventSeries embedded as a SessionSeries' superEvent, ScheduledSessions embedded as its
 * subEvent, IndividualFacilityUses embedded in a FacilityUse. Each becomes its own entity linked
 * to its parent by `parentOaId`; inheritance (a session taking its series' location) is resolved
 * by readers, because a parent may arrive after its children.
 */
export interface NormalisedEntity {
  oaId: string;
  type: string;
  parentOaId: string | null;
  name: string | null;
  startDate: Date | null;
  endDate: Date | null;
  remainingCapacity: number | null;
  maximumCapacity: number | null;
  eventStatus: string | null;
  attendanceMode: 'offline' | 'online' | 'mixed' | null;
  latitude: number | null;
  longitude: number | null;
  location: Record<string, unknown> | null;
  activityIds: string[];
  activityMatchIds: string[];
  activities: Record<string, unknown>[] | null;
  facilityTypeIds: string[];
  organizerId: string | null;
  organizerName: string | null;
  organizer: Record<string, unknown> | null;
  offers: Record<string, unknown>[] | null;
  minPrice: number | null;
  ageMin: number | null;
  ageMax: number | null;
  genderRestriction: string | null;
  levels: string[];
  accessibilitySupport: string[];
  eventSchedule: Record<string, unknown>[] | null;
  data: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);

export function idOf(v: unknown): string | null {
  if (typeof v === 'string') return str(v);
  if (isObj(v)) return str(v['@id']) ?? str(v.id);
  return null;
}

/** `@type`/`type`, with the `oa:`/`schema:` prefixes or full URLs reduced to the local name. */
export function typeOf(v: unknown): string | null {
  if (!isObj(v)) return null;
  const raw = asArray(v['@type'] ?? v.type).find((t): t is string => typeof t === 'string');
  if (!raw) return null;
  return raw.replace(/^(https?:\/\/(schema\.org|openactive\.io)\/|oa:|schema:)/, '');
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function int(v: unknown): number | null {
  const n = num(v);
  return n !== null && Number.isInteger(n) && n >= 0 && n <= 2_147_483_647 ? n : null;
}

/**
 * The instants the catalog takes: from 1900 up to the end of 2999. Anything outside is a
 * publisher's mistake (or an attack: PostgreSQL cannot read the years JavaScript writes as
 * ±YYYYYY, and one such value used to fail a whole page) and is treated as no date.
 */
export const EARLIEST_INSTANT = Date.UTC(1900, 0, 1);
export const LATEST_INSTANT = Date.UTC(3000, 0, 1);
const inCatalogRange = (ms: number) => ms >= EARLIEST_INSTANT && ms < LATEST_INSTANT;

/** ISO 8601 instant; a value without an offset is read as Europe/London local time. */
export function parseInstant(v: unknown): Date | null {
  const s = str(v);
  if (!s) return null;
  // Fast path for the common case (an offset or Z is present): the engine's parser is exact
  // for ISO 8601 with an offset and an order of magnitude cheaper than luxon.
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const ms = Date.parse(s);
    if (!Number.isNaN(ms)) return inCatalogRange(ms) ? new Date(ms) : null;
  }
  const dt = DateTime.fromISO(s, { zone: 'Europe/London' });
  return dt.isValid && inCatalogRange(dt.toMillis()) ? dt.toJSDate() : null;
}

function enumValue(v: unknown): string | null {
  const s = str(v);
  return s ? s.replace(/^(https?:\/\/(schema\.org|openactive\.io)\/|oa:|schema:)/, '') : null;
}

const GENDERS = new Set(['NoRestriction', 'MaleOnly', 'FemaleOnly']);

function attendanceMode(data: Obj): NormalisedEntity['attendanceMode'] {
  const mode = enumValue(data.eventAttendanceMode);
  if (mode === 'OnlineEventAttendanceMode') return 'online';
  if (mode === 'MixedEventAttendanceMode') return 'mixed';
  if (mode === 'OfflineEventAttendanceMode') return 'offline';
  if (data.location !== undefined) return 'offline';
  if (data.virtualLocation !== undefined) return 'online';
  return null;
}

function normaliseLocation(v: unknown): { location: Obj | null; latitude: number | null; longitude: number | null } {
  if (!isObj(v)) return { location: null, latitude: null, longitude: null };
  const geo = isObj(v.geo) ? v.geo : null;
  const lat = num(geo?.latitude);
  const lng = num(geo?.longitude);
  const valid =
    lat !== null && lng !== null && lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180 && !(lat === 0 && lng === 0);
  return { location: v, latitude: valid ? lat : null, longitude: valid ? lng : null };
}

function labelOf(v: unknown): string | null {
  if (typeof v === 'string') return str(v);
  if (isObj(v)) return str(v.prefLabel) ?? str(v.name);
  return null;
}

function normaliseActivities(v: unknown, vocab: Vocabularies) {
  const ids: string[] = [];
  const match = new Set<string>();
  const activities: Obj[] = [];
  for (const a of asArray(v)) {
    const id = typeof a === 'string' && /^https?:/.test(a) ? a : idOf(a);
    const label = typeof a === 'string' && !/^https?:/.test(a) ? a : labelOf(a);
    const resolved = vocab.resolveActivity({ id: id ?? undefined, prefLabel: label ?? undefined });
    if (resolved) {
      ids.push(resolved.id);
      for (const m of vocab.activityWithBroader(resolved.id)) match.add(m);
      activities.push({
        '@type': 'Concept',
        '@id': resolved.id,
        prefLabel: resolved.prefLabel,
        inScheme: resolved.inScheme,
      });
    } else if (id || label) {
      // Kept as published (custom lists), but it matches no official activity filter.
      activities.push({ '@type': 'Concept', ...(id ? { '@id': id } : {}), ...(label ? { prefLabel: label } : {}) });
    }
  }
  return { ids: [...new Set(ids)], matchIds: [...match], activities: activities.length ? activities : null };
}

function normaliseOffers(v: unknown): { offers: Obj[] | null; minPrice: number | null } {
  const offers = asArray(v).filter(isObj);
  let minPrice: number | null = null;
  for (const o of offers) {
    const price = num(o.price);
    if (price !== null && price >= 0 && (minPrice === null || price < minPrice)) minPrice = price;
  }
  return { offers: offers.length ? offers : null, minPrice };
}

function baseEntity(
  oaId: string,
  type: string,
  parentOaId: string | null,
  data: Obj,
  vocab: Vocabularies,
  problems?: string[],
): NormalisedEntity {
  const { location, latitude, longitude } = normaliseLocation(data.location);
  const activity = normaliseActivities(data.activity, vocab);
  const organizerValue = data.organizer ?? data.provider;
  const organizer = isObj(organizerValue)
    ? organizerValue
    : typeof organizerValue === 'string'
      ? { '@id': organizerValue }
      : null;
  const { offers, minPrice } = normaliseOffers(data.offers);
  const ageRange = isObj(data.ageRange) ? data.ageRange : null;
  const gender = enumValue(data.genderRestriction);
  const remaining = type === 'Slot' ? int(data.remainingUses) : int(data.remainingAttendeeCapacity);
  const maximum = type === 'Slot' ? int(data.maximumUses) : int(data.maximumAttendeeCapacity);
  let endDate = parseInstant(data.endDate);
  const startDate = parseInstant(data.startDate);
  if (!startDate && str(data.startDate)) problems?.push(`${type} startDate is not a date in 1900–2999`);
  if (!endDate && str(data.endDate)) problems?.push(`${type} endDate is not a date in 1900–2999`);
  if (!endDate && startDate && str(data.duration)) {
    const dur = DateTime.fromJSDate(startDate).plus(durationOf(str(data.duration)!));
    endDate = dur.isValid && inCatalogRange(dur.toMillis()) ? dur.toJSDate() : null;
    if (!endDate) problems?.push(`${type} startDate + duration is not a date in 1900–2999`);
  }
  return {
    oaId,
    type,
    parentOaId,
    name: str(data.name),
    startDate,
    endDate,
    remainingCapacity: remaining,
    maximumCapacity: maximum,
    eventStatus: enumValue(data.eventStatus),
    attendanceMode: attendanceMode(data),
    latitude,
    longitude,
    location,
    activityIds: activity.ids,
    activityMatchIds: activity.matchIds,
    activities: activity.activities,
    facilityTypeIds: asArray(data.facilityType)
      .map((f) => idOf(f))
      .filter((f): f is string => f !== null && vocab.facilityTypeById(f) !== null),
    organizerId: idOf(organizer),
    organizerName: organizer ? str(organizer.name) : null,
    organizer,
    offers,
    minPrice,
    ageMin: ageRange ? int(ageRange.minValue) : null,
    ageMax: ageRange ? int(ageRange.maxValue) : null,
    genderRestriction: gender && GENDERS.has(gender) ? `https://openactive.io/${gender}` : null,
    levels: asArray(data.level)
      .map(labelOf)
      .filter((l): l is string => l !== null),
    accessibilitySupport: asArray(data.accessibilitySupport)
      .map((a) => idOf(a) ?? labelOf(a))
      .filter((a): a is string => a !== null),
    eventSchedule: asArray(data.eventSchedule).filter(isObj).length ? asArray(data.eventSchedule).filter(isObj) : null,
    data,
  };
}

function durationOf(iso: string): Duration {
  const d = Duration.fromISO(iso);
  return d.isValid ? d : Duration.fromMillis(0);
}

/**
 * Extracts the entities of one `updated` item. `fallbackId` identifies objects published without
 * an `@id` (RPDE ids are unique per feed, so feed URL + item id is unique too). Dates that were
 * given but are unusable (see `parseInstant`) are left out and described in `problems`.
 */
export function extractEntities(
  data: Obj,
  fallbackId: string,
  vocab: Vocabularies,
  problems?: string[],
): NormalisedEntity[] {
  const out: NormalisedEntity[] = [];
  const type = typeOf(data) ?? 'Thing';
  const oaId = idOf(data) ?? fallbackId;

  const visit = (obj: Obj, id: string, t: string, parent: string | null) => {
    out.push(baseEntity(id, t, parent, obj, vocab, problems));
  };

  let parent: string | null = null;
  if (
    type === 'ScheduledSession' ||
    type === 'Event' ||
    type === 'SessionSeries' ||
    type === 'CourseInstance' ||
    type === 'HeadlineEvent'
  ) {
    const sup = data.superEvent;
    parent = idOf(sup);
    // An embedded parent (e.g. the EventSeries inside a SessionSeries) is an entity of its own.
    if (isObj(sup) && parent && typeOf(sup)) visit(sup, parent, typeOf(sup)!, idOf(sup.superEvent));
  } else if (type === 'Slot') {
    const fu = data.facilityUse;
    parent = idOf(fu);
    if (isObj(fu) && parent && typeOf(fu)) visit(fu, parent, typeOf(fu)!, idOf(fu.aggregateFacilityUse));
  } else if (type === 'IndividualFacilityUse') {
    parent = idOf(data.aggregateFacilityUse);
  }
  out.unshift(baseEntity(oaId, type, parent, data, vocab, problems));

  // Embedded children: a SessionSeries' subEvents, a FacilityUse's individualFacilityUses, a
  // CourseInstance's subEvents.
  const children =
    type === 'FacilityUse'
      ? asArray(data.individualFacilityUse)
      : type === 'SessionSeries' || type === 'CourseInstance'
        ? asArray(data.subEvent)
        : [];
  children.forEach((child, i) => {
    if (!isObj(child)) return;
    const childType = typeOf(child) ?? (type === 'FacilityUse' ? 'IndividualFacilityUse' : 'ScheduledSession');
    visit(child, idOf(child) ?? `${oaId}#child-${i}`, childType, oaId);
  });
  return out;
}
