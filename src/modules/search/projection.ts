import { createHash } from 'node:crypto';
import type { Insertable, Selectable } from 'kysely';
import { DateTime, Duration, IANAZone } from 'luxon';
import type { CatalogEntitiesTable } from '../../db/schema.js';
import type { Vocabularies } from '../../lib/vocabularies.js';
import type {
  OccurrenceDoc,
  SearchOccurrencesTable,
  SearchSeriesTable,
  SeriesDetailDoc,
  SeriesDoc,
} from './search.tables.js';

/*
 * Pure functions turning catalog entities (as normalised by the harvester) into search rows.
 * Inheritance (openactive.md §3.5) is resolved here, once per change, so queries never join
 * parents: a SessionSeries takes what it lacks from its EventSeries, an IndividualFacilityUse
 * from its FacilityUse, and an occurrence takes its parent's offers when it has none.
 */

export type Entity = Selectable<CatalogEntitiesTable>;
type Obj = Record<string, unknown>;

export const SERIES_KINDS = ['SessionSeries', 'FacilityUse', 'IndividualFacilityUse'] as const;
export const OCCURRENCE_KINDS = ['ScheduledSession', 'Slot'] as const;
export const DEFAULT_TIMEZONE = 'Europe/London';

/** imin §3.7.5 / §9.4: leisure operators' Swimming and Gym Workout sessions. */
export const SWIMMING_ID = 'https://openactive.io/activity-list#2750229d-b725-4171-9276-376be913957c';
export const GYM_WORKOUT_ID = 'https://openactive.io/activity-list#08d9368c-6c6c-44a3-84ef-a42ed00d529a';

const UNAVAILABLE = /(^|\/|:)Unavailable$/;
const LEVELS: [RegExp, string, string][] = [
  [/beginner/i, 'imin:BeginnerLevel', 'Beginner'],
  [/intermediate/i, 'imin:IntermediateLevel', 'Intermediate'],
  [/advanced/i, 'imin:AdvancedLevel', 'Advanced'],
];

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const asArray = (v: unknown): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v : null);
const num = (v: unknown): number | null => {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
};
const localName = (v: string) => v.replace(/^(https?:\/\/(schema\.org|openactive\.io)\/|oa:|schema:|beta:)/, '');
const typeName = (v: unknown): string | null => {
  if (!isObj(v)) return null;
  const t = asArray(v['@type'] ?? v.type).find((x): x is string => typeof x === 'string');
  return t ? localName(t) : null;
};

export const shortHash = (value: string) => createHash('sha1').update(value).digest('hex').slice(0, 16);

/** The public identifier of an EventSeries or FacilityUse result (stable, URL-safe). */
export const groupIdentifier = (publisherId: number, groupOaId: string) => `${publisherId}-${shortHash(groupOaId)}`;

/**
 * Published JSON-LD → the output form imin uses (`type`/`id`, no nested `@context`), with null
 * and empty values dropped (DECISIONS §3).
 */
export function toOutput(value: unknown): unknown {
  if (Array.isArray(value)) {
    const out = value.map(toOutput).filter((v) => v !== undefined);
    return out.length ? out : undefined;
  }
  if (!isObj(value)) return value === null || value === '' ? undefined : value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '@context') continue;
    const key = k === '@type' ? 'type' : k === '@id' ? 'id' : k;
    const converted = toOutput(v);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

const outObj = (v: unknown): Obj | undefined => {
  const o = toOutput(v);
  return isObj(o) ? o : undefined;
};

/** Copies the listed keys of `source` (output form) into a new object, skipping empty ones. */
function pick(source: Obj, keys: string[]): Obj {
  const out: Obj = {};
  for (const k of keys) {
    const v = toOutput(source[k]);
    if (v !== undefined) out[k === '@type' ? 'type' : k === '@id' ? 'id' : k] = v;
  }
  return out;
}

// ---- offers ---------------------------------------------------------------------------------

interface AgeBounds {
  min: number | null;
  max: number | null;
}

function offerAges(offer: Obj): AgeBounds | null {
  const range = isObj(offer.ageRange) ? offer.ageRange : isObj(offer.ageRestriction) ? offer.ageRestriction : null;
  if (!range) return null;
  const min = num(range.minValue);
  const max = num(range.maxValue);
  return min === null && max === null ? null : { min, max };
}

/** imin §3.6.2: an adult price applies at 18 (or to any age); a junior one only under 18. */
export function isAdultOffer(offer: Obj): boolean {
  const ages = offerAges(offer);
  return ages === null || ((ages.min ?? 0) <= 18 && (ages.max ?? Infinity) >= 18);
}

export function isJuniorOffer(offer: Obj): boolean {
  const ages = offerAges(offer);
  return ages !== null && ages.max !== null && ages.max < 18;
}

function requiresMembership(offer: Obj): boolean {
  if (offer['imin:membershipRequired'] === true) return true;
  if (asArray(offer.eligibleEntitlementType).length > 0) return true;
  return asArray(offer.eligibleCustomerType).some((t) =>
    /Member$/.test(typeof t === 'string' ? t : (str(isObj(t) ? (t['@id'] ?? t.id) : null) ?? '')),
  );
}

export interface PriceSummary {
  low: number;
  high: number;
  membershipRequired: boolean;
  currency: string | null;
  validFromBeforeStartDate: string | null;
  /** The offer a client books at the summarised price: the cheapest of those summarised. */
  offerId: string | null;
}

/**
 * The price a member of the public pays: non-member offers when there are any (then
 * membership is not required), otherwise the member offers.
 */
function summarisePrices(offers: Obj[]): PriceSummary | null {
  const open = offers.filter((o) => !requiresMembership(o));
  const chosen = (open.length ? open : offers).filter((o) => {
    const p = num(o.price);
    return p !== null && p >= 0;
  });
  if (chosen.length === 0) return null;
  const prices = chosen.map((o) => num(o.price)!);
  const cheapest = chosen[prices.indexOf(Math.min(...prices))]!;
  const windows = [...new Set(chosen.map((o) => str(o.validFromBeforeStartDate)))];
  return {
    low: Math.min(...prices),
    high: Math.max(...prices),
    membershipRequired: open.length === 0,
    currency: chosen.map((o) => str(o.priceCurrency)).find((c) => c !== null) ?? null,
    validFromBeforeStartDate: windows.length === 1 ? (windows[0] ?? null) : null,
    offerId: str(cheapest['@id'] ?? cheapest.id),
  };
}

export function priceSummaries(offers: Obj[]): { adult: PriceSummary | null; junior: PriceSummary | null } {
  return {
    adult: summarisePrices(offers.filter(isAdultOffer)),
    junior: summarisePrices(offers.filter(isJuniorOffer)),
  };
}

export function aggregateOfferPart(p: PriceSummary): Obj {
  const currency = p.currency ?? (p.high > 0 ? 'GBP' : null);
  return {
    ...(p.offerId ? { id: p.offerId } : {}),
    type: 'AggregateOffer',
    ...(p.low === p.high ? { price: p.low } : { lowPrice: p.low, highPrice: p.high }),
    ...(currency ? { priceCurrency: currency } : {}),
    'imin:membershipRequired': p.membershipRequired,
    ...(p.validFromBeforeStartDate ? { validFromBeforeStartDate: p.validFromBeforeStartDate } : {}),
  };
}

export function aggregateOffer(offers: Obj[]): Obj | null {
  const { adult, junior } = priceSummaries(offers);
  if (!adult && !junior) return null;
  return {
    type: 'imin:AggregateOffer',
    ...(adult ? { publicAdult: aggregateOfferPart(adult) } : {}),
    ...(junior ? { publicJunior: aggregateOfferPart(junior) } : {}),
  };
}

const seconds = (iso: unknown): number | null => {
  const s = str(iso);
  if (!s) return null;
  const d = Duration.fromISO(s);
  return d.isValid ? Math.round(d.as('seconds')) : null;
};

/**
 * Booking-window inputs from the offers an occurrence is booked with (imin-booking §1.5): only
 * adult offers count (children-only opportunities are not bookable), and only those open to
 * booking in advance. The window opens at the most generous `validFromBeforeStartDate`.
 */
export function bookingWindow(offers: Obj[]): { bookable: boolean; fromS: number | null; untilS: number | null } {
  const usable = offers.filter((o) => isAdultOffer(o) && !UNAVAILABLE.test(str(o.openBookingInAdvance) ?? ''));
  if (usable.length === 0) return { bookable: false, fromS: null, untilS: null };
  const froms = usable.map((o) => seconds(o.validFromBeforeStartDate));
  const untils = usable.map((o) => seconds(o.validThroughBeforeStartDate)).filter((s): s is number => s !== null);
  return {
    bookable: true,
    fromS: froms.some((f) => f === null) ? null : Math.max(...(froms as number[])),
    untilS: untils.length ? Math.min(...untils) : null,
  };
}

// ---- places ---------------------------------------------------------------------------------

export function fullAddress(name: string | null, address: unknown): string | null {
  if (typeof address === 'string') return str(address);
  if (!isObj(address)) return null;
  const parts = [name, address.streetAddress, address.addressLocality, address.addressRegion, address.postalCode]
    .map(str)
    .filter((p): p is string => p !== null);
  return parts.length ? parts.join(', ') : null;
}

function classifyPlace(location: Obj): string | null {
  for (const k of ['mcr:placeClassification', 'beta:placeClassification']) {
    const v = str(location[k]) ?? str(isObj(location[k]) ? (location[k]['@id'] ?? location[k].id) : null);
    if (v && /Park$/i.test(v)) return 'mcr:Park';
    if (v && /LeisureCentre$/i.test(v)) return 'mcr:LeisureCentre';
  }
  const name = str(location.name) ?? '';
  if (/\bpark\b/i.test(name)) return 'mcr:Park';
  if (/leisure|sports? (centre|center|complex|hall)|swimming|pool|\bgym\b|fitness|baths/i.test(name)) {
    return 'mcr:LeisureCentre';
  }
  return null;
}

function placeOf(location: Obj, lat: number | null, lng: number | null) {
  const id = str(location['@id']) ?? str(location.id);
  const name = str(location.name);
  const placeKey = id ?? `geo:${lat ?? ''},${lng ?? ''}|${name ?? ''}`;
  const address = isObj(location.address) ? { ...outObj(location.address), type: 'PostalAddress' } : undefined;
  const full = fullAddress(name, location.address);
  const place: Obj & { key: string } = {
    key: shortHash(placeKey),
    type: 'Place',
    ...pick(location, [
      'identifier',
      'name',
      'description',
      'url',
      'telephone',
      'image',
      'amenityFeature',
      'openingHoursSpecification',
    ]),
    ...(address || full
      ? { address: { ...(address ?? { type: 'PostalAddress' }), 'imin:fullAddress': full ?? undefined } }
      : {}),
    ...(lat !== null && lng !== null ? { geo: { type: 'GeoCoordinates', latitude: lat, longitude: lng } } : {}),
  };
  return { placeKey, place, placeClass: classifyPlace(location) };
}

function amenitiesOf(location: Obj | null): string[] {
  if (!location) return [];
  return [
    ...new Set(
      asArray(location.amenityFeature)
        .filter((a): a is Obj => isObj(a) && a.value === true)
        .map(typeName)
        .filter((t): t is string => t !== null),
    ),
  ];
}

function wheelchairOf(...sources: (Obj | null)[]): boolean | null {
  for (const s of sources) {
    if (!s) continue;
    for (const k of ['isWheelchairAccessible', 'beta:isWheelchairAccessible', 'imin:accessibilityWheelchairAccess']) {
      if (typeof s[k] === 'boolean') return s[k];
    }
    const feature = asArray(s.amenityFeature).find(
      (a) =>
        isObj(a) && /wheelchair/i.test(`${typeName(a) ?? ''} ${str(a.name) ?? ''}`) && typeof a.value === 'boolean',
    );
    if (isObj(feature)) return feature.value as boolean;
  }
  return null;
}

// ---- series ---------------------------------------------------------------------------------

const facilityTypeLinks = new WeakMap<Vocabularies, Map<string, string[]>>();

function facilityTypeActivities(vocab: Vocabularies, facilityTypeIds: string[]): string[] {
  let links = facilityTypeLinks.get(vocab);
  if (!links) {
    links = new Map();
    for (const c of asArray(vocab.facilityTypesJson.concept).filter(isObj)) {
      const id = str(c.id) ?? str(c['@id']);
      if (id)
        links.set(
          id,
          asArray(c.activity).filter((a): a is string => typeof a === 'string'),
        );
    }
    facilityTypeLinks.set(vocab, links);
  }
  return [...new Set(facilityTypeIds.flatMap((id) => links.get(id) ?? []))].filter((id) => vocab.activityById(id));
}

export interface PublisherInfo {
  id: number;
  name: string;
  /** The publisher runs an Open Booking API we know of. */
  bookable: boolean;
}

/** Zone names seen, and whether they are valid (luxon's check builds a formatter each time). */
const validZones = new Map<string, boolean>();
const isValidZone = (tz: string) => {
  let valid = validZones.get(tz);
  if (valid === undefined) {
    valid = IANAZone.isValidZone(tz);
    if (validZones.size < 10_000) validZones.set(tz, valid);
  }
  return valid;
};

export function timezoneOf(data: Obj): string {
  for (const s of asArray(data.eventSchedule)) {
    if (!isObj(s)) continue;
    const tz = str(s.scheduleTimezone) ?? str(s['beta:timeZone']);
    if (tz && isValidZone(tz)) return tz;
  }
  return DEFAULT_TIMEZONE;
}

function conceptList(activities: unknown): Obj[] {
  return asArray(activities)
    .filter(isObj)
    .map((a) => outObj(a))
    .filter((a): a is Obj => a !== undefined);
}

function levelsOf(data: Obj): string[] {
  const out = new Set<string>();
  for (const l of asArray(data.level ?? data['imin:level'])) {
    const label = typeof l === 'string' ? l : isObj(l) ? (str(l.prefLabel) ?? str(l.name) ?? str(l.type) ?? '') : '';
    for (const [re, type] of LEVELS) if (re.test(label)) out.add(type);
  }
  return [...out];
}

const levelOutput = (levels: string[]) =>
  LEVELS.filter(([, type]) => levels.includes(type)).map(([, type, name]) => ({ type, name }));

function organizerSummary(organizer: unknown): Obj | undefined {
  if (!isObj(organizer)) return undefined;
  const o = pick(organizer, ['@type', '@id', 'type', 'id', 'name', 'url', 'logo', 'image', 'description']);
  return Object.keys(o).length ? o : undefined;
}

const ENUM_BASE: Record<string, string> = {
  NoRestriction: 'https://openactive.io/',
  MaleOnly: 'https://openactive.io/',
  FemaleOnly: 'https://openactive.io/',
  OfflineEventAttendanceMode: 'https://schema.org/',
  OnlineEventAttendanceMode: 'https://schema.org/',
  MixedEventAttendanceMode: 'https://schema.org/',
};
const ATTENDANCE: Record<string, string> = {
  offline: 'OfflineEventAttendanceMode',
  online: 'OnlineEventAttendanceMode',
  mixed: 'MixedEventAttendanceMode',
};
const fullEnum = (local: string) => `${ENUM_BASE[local] ?? 'https://schema.org/'}${local}`;

/** Namespaced properties a provider added (`ext:…`); only By-ID answers carry them (imin §1.7). */
function extensions(data: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(data)) {
    if (k.includes(':') && !k.startsWith('@') && !/^(beta|imin|schema|oa):/.test(k)) {
      const o = toOutput(v);
      if (o !== undefined) out[k] = o;
    }
  }
  return out;
}

/**
 * One search row for a SessionSeries, FacilityUse or IndividualFacilityUse. `parent` is the
 * EventSeries (optional; it only supplies inherited values) or, for an IndividualFacilityUse,
 * its FacilityUse (required: the caller leaves orphans out).
 */
export function buildSeriesRow(
  entity: Entity,
  parent: Entity | null,
  publisher: PublisherInfo,
  vocab: Vocabularies,
  now: Date,
): Insertable<SearchSeriesTable> {
  const kind = entity.type;
  const d = entity.data;
  const p = parent?.data ?? {};
  const has = (k: string) => d[k] !== undefined && d[k] !== null;
  const inherited = (k: string): unknown => (has(k) ? d[k] : p[k]);

  const locSource = entity.location ? entity : parent?.location ? parent : null;
  const location = locSource?.location ?? null;
  const latitude = locSource?.latitude ?? null;
  const longitude = locSource?.longitude ?? null;
  const actSource = entity.activity_ids.length || !parent ? entity : parent;
  const facilityTypeIds = entity.facility_type_ids.length
    ? entity.facility_type_ids
    : (parent?.facility_type_ids ?? []);
  // Facilities are often published with a facility type only; the facility type list says which
  // activities each type serves (openactive.md §4), so activity searches still find them.
  const fromFacilityTypes = actSource.activity_ids.length ? [] : facilityTypeActivities(vocab, facilityTypeIds);
  const activityIds = actSource.activity_ids.length ? actSource.activity_ids : fromFacilityTypes;
  const activityMatchIds = actSource.activity_ids.length
    ? actSource.activity_match_ids
    : [...new Set(fromFacilityTypes.flatMap((id) => vocab.activityWithBroader(id)))];
  const organizer = entity.organizer ?? parent?.organizer ?? null;
  const ageSource = isObj(d.ageRange) ? entity : parent && isObj(p.ageRange) ? parent : null;
  const attendance = entity.attendance_mode ?? parent?.attendance_mode ?? (location ? 'offline' : 'online');

  const groupOaId =
    kind === 'SessionSeries'
      ? (entity.parent_oa_id ?? entity.oa_id)
      : kind === 'FacilityUse'
        ? entity.oa_id
        : parent!.oa_id;
  const offers = asArray(entity.offers).filter(isObj);
  const prices = priceSummaries(offers);
  const levels = levelsOf(has('level') ? d : p);
  const schemes = new Set<string>();
  for (const a of asArray(inherited('activity'))) {
    const s = isObj(a) ? str(a.inScheme) : null;
    if (s) schemes.add(s);
  }
  for (const id of activityIds) {
    const c = vocab.activityById(id);
    if (c) schemes.add(c.inScheme);
  }
  const placeInfo = location ? placeOf(location, latitude, longitude) : null;
  const gender = entity.gender_restriction ?? parent?.gender_restriction ?? null;
  const accessibility = [...new Set([...entity.accessibility_support, ...(parent?.accessibility_support ?? [])])];

  const activity = conceptList(actSource.activities);
  const common: Obj = {
    name: str(d.name) ?? str(p.name) ?? undefined,
    description: toOutput(inherited('description')),
    activity: activity.length ? activity : undefined,
    image: toOutput(inherited('image')),
  };

  let event: Obj;
  let series: Obj;
  let detail: Obj;
  if (kind === 'SessionSeries') {
    event = {
      ...common,
      // The EventSeries' own name describes the activity across venues; a series' name wins
      // only when there is no EventSeries.
      name: str(p.name) ?? str(d.name) ?? undefined,
      ageRange: ageSource ? toOutput(ageSource.data.ageRange) : undefined,
      genderRestriction: gender ? fullEnum(localName(gender)) : undefined,
      isCoached: typeof inherited('isCoached') === 'boolean' ? inherited('isCoached') : undefined,
      'imin:level': levels.length ? levelOutput(levels) : undefined,
      programme: toOutput(inherited('programme')),
      isAccessibleForFree:
        typeof inherited('isAccessibleForFree') === 'boolean' ? inherited('isAccessibleForFree') : undefined,
      organizer: organizerSummary(organizer),
      eventAttendanceMode: fullEnum(ATTENDANCE[attendance] ?? 'OfflineEventAttendanceMode'),
    };
    series = {
      type: 'SessionSeries',
      id: entity.oa_id,
      identifier: toOutput(d.identifier) ?? entity.oa_id,
      name: str(d.name) ?? undefined,
      url: str(d.url) ?? undefined,
      duration: str(d.duration) ?? undefined,
      eventSchedule: toOutput(d.eventSchedule),
    };
    detail = {
      ...pick(d, [
        'leader',
        'contributor',
        'category',
        'accessibilitySupport',
        'accessibilityInformation',
        'attendeeInstructions',
        'maximumAttendeeCapacity',
        'schedulingNote',
        'meetingPoint',
      ]),
      offers: toOutput(offers),
      organizer: outObj(organizer),
      ...extensions(d),
    };
  } else {
    event = {
      ...common,
      url: str(d.url) ?? str(p.url) ?? undefined,
      facilityType: toOutput(inherited('facilityType')),
      provider: organizerSummary(organizer),
      hoursAvailable: toOutput(inherited('hoursAvailable')),
      accessibilitySupport: toOutput(inherited('accessibilitySupport')),
      accessibilityInformation: toOutput(inherited('accessibilityInformation')),
      attendeeInstructions: toOutput(inherited('attendeeInstructions')),
      category: toOutput(inherited('category')),
    };
    // An IndividualFacilityUse is listed inside its FacilityUse (imin §4.4), so it carries
    // what identifies it and what it inherits, but not the shared location.
    series = {
      type: kind,
      id: entity.oa_id,
      identifier: toOutput(d.identifier) ?? entity.oa_id,
      name: str(d.name) ?? undefined,
      url: str(d.url) ?? str(p.url) ?? undefined,
      ...(kind === 'IndividualFacilityUse'
        ? {
            activity: activity.length ? activity : undefined,
            facilityType: toOutput(inherited('facilityType')),
            provider: organizerSummary(organizer),
          }
        : {}),
    };
    detail = { offers: toOutput(offers), provider: outObj(organizer), ...extensions(d) };
  }

  const tz = timezoneOf(d);
  const bookingReady = publisher.bookable && (organizer === null || organizer.isOpenBookingAllowed !== false);
  const doc: SeriesDoc = {
    inheritHash: shortHash(JSON.stringify([tz, bookingReady, offers])),
    event: toOutput(event) as Obj,
    series: toOutput(series) as Obj,
    aggregate: aggregateOffer(offers),
    place: placeInfo?.place ?? null,
  };
  // Searches never read these: they live in their own column, read By-ID only.
  const detailDoc: SeriesDetailDoc = { detail: (toOutput(detail) as Obj | undefined) ?? {}, offers };

  const hfs =
    kind === 'SessionSeries' &&
    (activityIds.includes(SWIMMING_ID) ||
      activityIds.includes(GYM_WORKOUT_ID) ||
      inherited('beta:presentAsSlots') === true);

  return {
    publisher_id: publisher.id,
    oa_id: entity.oa_id,
    kind,
    group_oa_id: groupOaId,
    identifier: groupIdentifier(publisher.id, groupOaId),
    place_key: placeInfo?.placeKey ?? null,
    latitude,
    longitude,
    attendance,
    activity_ids: activityIds,
    activity_match_ids: activityMatchIds,
    activity_schemes: [...schemes],
    facility_type_ids: facilityTypeIds,
    organizer_id: entity.organizer_id ?? parent?.organizer_id ?? null,
    organizer_name: entity.organizer_name ?? parent?.organizer_name ?? null,
    // openactive.md §3.3 consumer defaults: no ageRange ⇒ adults (18+); no minimum ⇒ 0.
    age_min: ageSource ? (ageSource.age_min ?? 0) : 18,
    age_max: ageSource ? ageSource.age_max : null,
    gender,
    levels,
    accessibility_ids: accessibility,
    special_requirement_ids: [...new Set([...specialRequirementsOf(d), ...specialRequirementsOf(p)])],
    leader_genders: leaderGendersOf(inherited('leader')),
    adult_channels: channelsOf(offers.filter(isAdultOffer)),
    junior_channels: channelsOf(offers.filter(isJuniorOffer)),
    amenities: amenitiesOf(location),
    wheelchair: wheelchairOf(d, location, p),
    adult_price: prices.adult?.low ?? null,
    adult_member: prices.adult?.membershipRequired ?? null,
    junior_price: prices.junior?.low ?? null,
    junior_member: prices.junior?.membershipRequired ?? null,
    hfs,
    place_class: location ? (placeInfo?.placeClass ?? null) : null,
    tz,
    booking_ready: bookingReady,
    doc: JSON.stringify(doc),
    detail_doc: JSON.stringify(detailDoc),
    updated_at: now,
  };
}

/** The properties real feeds carry special requirements in (concepts, or their ids). */
const SPECIAL_REQUIREMENT_KEYS = ['emduk:specialRequirement', 'imin:specialRequirements', 'beta:specialRequirement'];

function specialRequirementsOf(data: Obj): string[] {
  return SPECIAL_REQUIREMENT_KEYS.flatMap((k) =>
    asArray(data[k])
      .map((c) => (typeof c === 'string' ? c : isObj(c) ? str(c['@id'] ?? c.id) : null))
      .filter((id): id is string => id !== null),
  );
}

/** schema.org GenderType (`https://schema.org/Female`, `schema:Male`, `Female` …) → `Female` / `Male`. */
export function genderName(value: string): string | null {
  const local = value.replace(/^(schema:|https?:\/\/schema\.org\/)/i, '').toLowerCase();
  return local === 'female' ? 'Female' : local === 'male' ? 'Male' : null;
}

function leaderGendersOf(leaders: unknown): string[] {
  const out = new Set<string>();
  for (const l of asArray(leaders)) {
    const g = isObj(l) ? str(l.gender) : null;
    const name = g ? genderName(g) : null;
    if (name) out.add(name);
  }
  return [...out];
}

/** OpenActive AvailableChannelType local names, as offers publish them (full URL, `oa:`, `beta:`). */
export const CHANNELS = [
  'OpenBookingPrepayment',
  'OnlinePrepayment',
  'TelephoneAdvanceBooking',
  'TelephonePrepayment',
  'InPersonAdvanceBooking',
  'InPersonPrepayment',
];

export function channelName(value: string): string | null {
  const local = value.replace(/^(oa:|beta:|https:\/\/openactive\.io\/(ns-beta#)?)/, '');
  return CHANNELS.find((c) => c.toLowerCase() === local.toLowerCase()) ?? null;
}

function channelsOf(offers: Obj[]): string[] {
  const out = new Set<string>();
  for (const o of offers) {
    for (const c of [...asArray(o.availableChannel), ...asArray(o['beta:availableChannel'])]) {
      const name = typeof c === 'string' ? channelName(c) : isObj(c) ? channelName(str(c['@id'] ?? c.id) ?? '') : null;
      if (name) out.add(name);
    }
  }
  return [...out];
}

// ---- occurrences ----------------------------------------------------------------------------

export interface SeriesForOccurrence {
  id: number;
  tz: string;
  booking_ready: boolean;
  offers: Obj[];
}

export function isoDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `PT${h ? `${h}H` : ''}${m || !h ? `${m}M` : ''}`;
}

const isoInstant = (d: Date) => d.toISOString().replace('.000Z', 'Z');

interface LocalParts {
  date: string;
  minute: number;
  dow: number;
}
/**
 * Local date, minute of day and ISO weekday of an instant in a zone. Many occurrences share a
 * start (sessions on the hour), and luxon's zone offset lookup dominated the projector's own CPU,
 * so results are kept per zone and instant (a pure function of both).
 */
const localCache = new Map<string, LocalParts>();
function localParts(start: Date, tz: string): LocalParts {
  const key = `${tz} ${start.getTime()}`;
  let parts = localCache.get(key);
  if (!parts) {
    const local = DateTime.fromJSDate(start, { zone: tz });
    parts = { date: local.toISODate()!, minute: local.hour * 60 + local.minute, dow: local.weekday };
    if (localCache.size >= 100_000) localCache.clear();
    localCache.set(key, parts);
  }
  return parts;
}

/** Booking windows of inherited offer lists (one list per series row, shared by its occurrences). */
const inheritedWindows = new WeakMap<Obj[], ReturnType<typeof bookingWindow>>();

/** One search row for a ScheduledSession or Slot whose parent series row exists; null if unusable. */
export function buildOccurrenceRow(
  entity: Entity,
  series: SeriesForOccurrence,
  publisherId: number,
): Insertable<SearchOccurrencesTable> | null {
  if (!entity.start_date) return null;
  const start = new Date(entity.start_date);
  const end = entity.end_date ? new Date(entity.end_date) : null;
  const local = localParts(start, series.tz);
  const d = entity.data;
  const own = asArray(entity.offers).filter(isObj);
  // Offers are inherited from the SessionSeries / FacilityUse only when the child has none.
  const offers = own.length ? own : series.offers;
  let window = own.length ? undefined : inheritedWindows.get(offers);
  if (!window) {
    window = bookingWindow(offers);
    if (!own.length) inheritedWindows.set(offers, window);
  }
  const status = entity.event_status ?? 'EventScheduled';
  const slot = entity.type === 'Slot';
  const summary: Obj = {
    type: entity.type,
    identifier: entity.oa_id,
    url: str(d.url) ?? undefined,
    facilityUse: slot ? (entity.parent_oa_id ?? undefined) : undefined,
    startDate: isoInstant(start),
    endDate: end ? isoInstant(end) : undefined,
    duration: str(d.duration) ?? (end ? isoDuration(end.getTime() - start.getTime()) : undefined),
    eventStatus: slot ? undefined : `https://schema.org/${status}`,
    ...(slot
      ? { remainingUses: entity.remaining_capacity ?? undefined, maximumUses: entity.maximum_capacity ?? undefined }
      : {
          remainingAttendeeCapacity: entity.remaining_capacity ?? undefined,
          maximumAttendeeCapacity: entity.maximum_capacity ?? undefined,
        }),
  };
  const doc: OccurrenceDoc = { summary: toOutput(summary) as Obj };
  // A Slot is booked with its own offers, or its FacilityUse's (imin-booking §1.3): they are
  // listed with it. A ScheduledSession's stay on its SessionSeries.
  if (slot && offers.length) doc.offers = toOutput(offers) as Obj[];
  return {
    publisher_id: publisherId,
    oa_id: entity.oa_id,
    series_id: series.id,
    kind: entity.type,
    start_at: start,
    end_at: end,
    local_date: local.date,
    local_minute: local.minute,
    iso_dow: local.dow,
    remaining: entity.remaining_capacity,
    maximum: entity.maximum_capacity,
    status,
    bookable: series.booking_ready && window.bookable,
    book_from_s: window.fromS,
    book_until_s: window.untilS,
    doc: JSON.stringify(doc),
  };
}
