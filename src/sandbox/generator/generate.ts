import { DateTime } from 'luxon';
import { sql, type Insertable, type Kysely } from 'kysely';
import type { ConceptRef, Vocabularies } from '../../lib/vocabularies.js';
import type { OffersTable, PlacesTable, SandboxDB, SellersTable } from '../db/schema.js';
import { minutesToDuration } from '../render.js';
import { createRng, type Rng } from './prng.js';
import { createScheduleExpander, renderSchedule, type WeeklySchedule } from './schedule.js';
import {
  ACCESSIBILITY_SUPPORT,
  AMENITIES,
  AREAS,
  FACILITY_TEMPLATES,
  INWARD_LETTERS,
  LEADERS,
  OPENING_HOURS,
  SELLERS,
  SESSION_TEMPLATES,
  VENUE_KINDS,
  type Area,
  type FacilityTemplate,
  type SessionTemplate,
  type VenueKind,
} from './uk-data.js';

/*
 * Deterministic UK leisure data for the sandbox. Same seed + same anchor ⇒ same rows (ids and
 * content; only the feed's `modified` values differ). Rows are generated one series at a time
 * and written in multi-row batches, so memory stays flat at any size (≥ 1,000,000 sessions).
 * Ids are assigned here, not by the database, so they do not depend on insert order or on any
 * earlier contents of the sequences.
 */

export const TIMEZONE = 'Europe/London';
const REQUIRED = 'https://openactive.io/Required';
const OPTIONAL = 'https://openactive.io/Optional';
const UNAVAILABLE = 'https://openactive.io/Unavailable';
const ONLINE = 'https://schema.org/OnlineEventAttendanceMode';
const OFFLINE = 'https://schema.org/OfflineEventAttendanceMode';
const CANCELLED = 'https://schema.org/EventCancelled';
const SCHEDULED = 'https://schema.org/EventScheduled';

export interface GenerateOptions {
  seed: number;
  /** Approximate number of ScheduledSessions to create. */
  sessions: number;
  /** Start of the generated period (sessions run from here for `horizonDays`). */
  anchor: Date;
  horizonDays?: number;
  /** Days of facility slots from the anchor. */
  slotDays?: number;
  /** Rows per INSERT statement. */
  batchSize?: number;
  /** Progress messages for big runs. */
  progress?: (message: string) => void;
}

export interface GenerateCounts {
  sellers: number;
  places: number;
  sessionSeries: number;
  scheduledSessions: number;
  facilityUses: number;
  individualFacilityUses: number;
  slots: number;
  offers: number;
}

interface Venue {
  id: number;
  sellerId: number;
  name: string;
  kind: VenueKind;
  area: Area;
}

type Row<T> = Insertable<T>;

const PARENTS: Partial<Record<keyof SandboxDB, (keyof SandboxDB)[]>> = {
  places: ['sellers'],
  session_series: ['sellers', 'places'],
  facility_uses: ['sellers', 'places'],
  offers: ['session_series', 'facility_uses'],
  scheduled_sessions: ['session_series'],
  individual_facility_uses: ['facility_uses'],
  slots: ['facility_uses', 'individual_facility_uses'],
};

/** Buffers rows per table and writes them in multi-row INSERTs of `size` rows. */
class BatchWriter {
  private readonly buffers = new Map<keyof SandboxDB, Record<string, unknown>[]>();
  constructor(
    private readonly db: Kysely<SandboxDB>,
    private readonly size: number,
  ) {}

  async add<K extends keyof SandboxDB>(table: K, row: Insertable<SandboxDB[K]>): Promise<void> {
    let buffer = this.buffers.get(table);
    if (!buffer) {
      buffer = [];
      this.buffers.set(table, buffer);
    }
    buffer.push(row);
    if (buffer.length >= this.size) await this.flushTable(table);
  }

  private async flushTable(table: keyof SandboxDB): Promise<void> {
    // Parents first, so no batch ever refers to a row still waiting in another buffer.
    for (const parent of PARENTS[table] ?? []) await this.flushTable(parent);
    const rows = this.buffers.get(table);
    if (!rows || rows.length === 0) return;
    this.buffers.set(table, []);
    await this.db.insertInto(table).values(rows).execute();
  }

  async flush(): Promise<void> {
    for (const table of this.buffers.keys()) await this.flushTable(table);
  }
}

const json = (value: unknown): string => JSON.stringify(value);

function concept(ref: ConceptRef): Record<string, unknown> {
  return { '@type': 'Concept', '@id': ref.id, prefLabel: ref.prefLabel, inScheme: ref.inScheme };
}

function mustActivity(vocab: Vocabularies, label: string): ConceptRef {
  const ref = vocab.activityByLabel(label);
  if (!ref) throw new Error(`Activity "${label}" is not in the vendored OpenActive activity list`);
  return ref;
}

function mustFacilityType(vocab: Vocabularies, label: string): ConceptRef {
  const ref = vocab.allFacilityTypes().find((c) => c.prefLabel === label);
  if (!ref) throw new Error(`Facility type "${label}" is not in the vendored facility types list`);
  return ref;
}

/** Pence, rounded to a price a leisure centre would charge (multiples of 25p). */
function price(rng: Rng, [min, max]: [number, number]): number {
  if (max === 0) return 0;
  return Math.round(rng.int(min, max) / 25) * 25;
}

function postcode(rng: Rng, district: string): string {
  return `${district} ${rng.int(1, 9)}${rng.pick([...INWARD_LETTERS])}${rng.pick([...INWARD_LETTERS])}`;
}

function openingHours(): Record<string, unknown>[] {
  return [
    {
      '@type': 'OpeningHoursSpecification',
      dayOfWeek: [
        'https://schema.org/Monday',
        'https://schema.org/Tuesday',
        'https://schema.org/Wednesday',
        'https://schema.org/Thursday',
        'https://schema.org/Friday',
      ],
      opens: OPENING_HOURS.weekday[0],
      closes: OPENING_HOURS.weekday[1],
    },
    {
      '@type': 'OpeningHoursSpecification',
      dayOfWeek: ['https://schema.org/Saturday'],
      opens: OPENING_HOURS.saturday[0],
      closes: OPENING_HOURS.saturday[1],
    },
    {
      '@type': 'OpeningHoursSpecification',
      dayOfWeek: ['https://schema.org/Sunday'],
      opens: OPENING_HOURS.sunday[0],
      closes: OPENING_HOURS.sunday[1],
    },
  ];
}

const AMENITY_NAMES: Record<(typeof AMENITIES)[number], string> = {
  ChangingFacilities: 'Changing Facilities',
  Showers: 'Showers',
  Lockers: 'Lockers',
  Towels: 'Towels',
  Creche: 'Creche',
  Parking: 'Parking',
  Toilets: 'Toilets',
  BabyChanging: 'Baby Changing',
};

function image(name: string, alt?: string): Record<string, unknown> {
  return {
    '@type': 'ImageObject',
    url: `/images/${name}.svg`,
    ...(alt ? { name: alt } : {}),
    thumbnail: [{ '@type': 'ImageObject', url: `/images/${name}.svg?size=thumbnail`, width: 300, height: 200 }],
  };
}

export function sellerRows(): Row<SellersTable>[] {
  return SELLERS.map((s, i) => {
    const id = i + 1;
    return {
      id,
      tax_mode: s.taxMode,
      is_open_booking_allowed: true,
      data: json({
        name: s.name,
        legalName: s.legalName,
        description: s.description,
        url: `/sellers/${id}`,
        logo: { '@type': 'ImageObject', url: `/images/logo-${s.slug}.svg` },
        email: `bookings@${s.slug}.example`,
        telephone: s.telephone,
        address: { '@type': 'PostalAddress', ...s.address, addressCountry: 'GB' },
        ...(s.vatID ? { vatID: s.vatID } : {}),
        termsOfService: [
          {
            '@type': 'Terms',
            name: 'Terms and Conditions',
            url: `/sellers/${id}/terms`,
            requiresExplicitConsent: false,
          },
        ],
      }),
    };
  });
}

function venueCount(sessions: number): number {
  return Math.max(24, Math.ceil(sessions / 2500));
}

const NAME_QUALIFIERS = ['', 'North', 'South', 'Central', 'Park', 'Village', 'East', 'West'];

function makeVenues(root: Rng, count: number): { venues: Venue[]; rows: Row<PlacesTable>[] } {
  const venues: Venue[] = [];
  const rows: Row<PlacesTable>[] = [];
  const used = new Set<string>();
  for (let i = 0; i < count; i += 1) {
    const rng = root.derive('venue', i);
    const area = AREAS[i % AREAS.length]!;
    const kind = i < AREAS.length ? VENUE_KINDS[i % 3 === 2 ? 1 : 0] : rng.pick(VENUE_KINDS);
    let name = '';
    for (let q = 0; ; q += 1) {
      const qualifier = q < NAME_QUALIFIERS.length ? NAME_QUALIFIERS[q]! : `${q}`;
      name = kind.pattern.replace('{area}', qualifier ? `${area.area} ${qualifier}` : area.area);
      if (!used.has(name)) break;
    }
    used.add(name);
    const sellerIndexes = SELLERS.map((s, idx) => (s.cities.includes(area.city) ? idx : -1)).filter((x) => x >= 0);
    const sellerId = rng.pick(sellerIndexes) + 1;
    const id = i + 1;
    venues.push({ id, sellerId, name, kind, area });
    const amenities = AMENITIES.filter((a) =>
      a === 'ChangingFacilities' || a === 'Toilets' ? true : a === 'Creche' ? rng.chance(0.3) : rng.chance(0.6),
    );
    rows.push({
      id,
      seller_id: sellerId,
      data: json({
        name,
        description: `${name} in ${area.area}, ${area.city}${kind.pool ? ', with a 25m pool' : ''}${kind.hall ? ' and a four-court sports hall' : ''}.`,
        url: `/venues/${id}`,
        telephone: `${SELLERS[sellerId - 1]!.telephone.slice(0, -3)}${String(100 + ((i * 37) % 900)).slice(0, 3)}`,
        address: {
          '@type': 'PostalAddress',
          streetAddress: `${rng.int(1, 240)} ${rng.pick(area.streets)}`,
          addressLocality: area.city === 'London' ? area.area : area.city,
          addressRegion: area.region,
          postalCode: postcode(rng, area.district),
          addressCountry: 'GB',
        },
        geo: {
          '@type': 'GeoCoordinates',
          latitude: Math.round((area.lat + (rng.next() - 0.5) * 0.02) * 1e5) / 1e5,
          longitude: Math.round((area.lng + (rng.next() - 0.5) * 0.03) * 1e5) / 1e5,
        },
        amenityFeature: amenities.map((a) => ({ '@type': a, name: AMENITY_NAMES[a], value: true })),
        openingHoursSpecification: openingHours(),
        image: [image(kind.pool ? 'venue-pool' : 'venue-hall', name)],
      }),
    });
  }
  return { venues, rows };
}

function weeklySchedules(rng: Rng, template: SessionTemplate, anchor: DateTime): WeeklySchedule[] {
  let remaining = rng.int(template.perWeek[0], template.perWeek[1]);
  const times = rng.sample(template.times, template.times.length);
  const schedules: WeeklySchedule[] = [];
  let course: { startDate: string; endDate: string } | undefined;
  if (template.course) {
    const start = anchor.plus({ days: rng.int(0, 6) });
    course = {
      startDate: start.toISODate()!,
      endDate: start.plus({ weeks: template.course.weeks, days: -1 }).toISODate()!,
    };
  }
  for (const time of times) {
    if (remaining <= 0) break;
    const days = rng.sample([1, 2, 3, 4, 5, 6, 7], Math.min(remaining, 7)).sort((a, b) => a - b);
    // A course meets on one weekday only.
    const chosen = course ? days.slice(0, 1) : days;
    schedules.push({
      days: chosen,
      startTime: time,
      durationMinutes: template.minutes,
      timezone: TIMEZONE,
      // Regular classes run from the start of the generated period; courses have both ends.
      ...(course ?? { startDate: anchor.toISODate()! }),
    });
    remaining -= course ? remaining : chosen.length;
  }
  return schedules;
}

type OfferSpec = Omit<Row<OffersTable>, 'id'>;

function offerPolicy(
  rng: Rng,
): Pick<
  OfferSpec,
  | 'valid_from_before_start_date'
  | 'latest_cancellation_before_start_date'
  | 'open_booking_in_advance'
  | 'allow_customer_cancellation_full_refund'
> {
  return {
    valid_from_before_start_date: rng.weighted([
      ['P7D', 4],
      ['P14D', 2],
      ['P6D', 1],
      ['P28D', 1],
      [null, 2],
    ] as const),
    latest_cancellation_before_start_date: rng.weighted([
      ['PT24H', 4],
      ['PT12H', 2],
      ['P2D', 1],
      [null, 3],
    ] as const),
    open_booking_in_advance: rng.weighted([
      [REQUIRED, 8],
      [OPTIONAL, 2],
    ] as const),
    allow_customer_cancellation_full_refund: rng.chance(0.85),
  };
}

function paidPrepayment(rng: Rng): string {
  return rng.weighted([
    [REQUIRED, 15],
    [OPTIONAL, 4],
    [UNAVAILABLE, 1],
  ] as const);
}

/** Offers for a class: adult (+ junior / member variants) or a single free offer. */
function seriesOffers(rng: Rng, template: SessionTemplate): OfferSpec[] {
  const policy = offerPolicy(rng);
  const adultPrice = price(rng, template.price);
  const ageMin = template.ageRange?.[0] ?? null;
  const ageMax = template.ageRange?.[1] ?? null;
  if (adultPrice === 0 || (template.price[0] === 0 && rng.chance(0.5))) {
    return [
      {
        ...policy,
        name: 'Free',
        price_minor: 0,
        open_booking_prepayment: null,
        age_min: ageMin,
        age_max: ageMax,
        data: json({ description: 'Free to attend; booking is required as places are limited.' }),
      },
    ];
  }
  const prepayment = paidPrepayment(rng);
  const childrenOnly = ageMax !== null && ageMax < 18;
  const offers: OfferSpec[] = [
    {
      ...policy,
      name: childrenOnly ? 'Child' : 'Adult',
      price_minor: adultPrice,
      open_booking_prepayment: prepayment,
      age_min: childrenOnly ? ageMin : Math.max(ageMin ?? 18, 18),
      age_max: childrenOnly ? ageMax : null,
    },
  ];
  if (!childrenOnly && (template.junior || rng.chance(0.2)) && (ageMin === null || ageMin < 18)) {
    offers.push({
      ...policy,
      name: 'Junior',
      price_minor: Math.round((adultPrice * 0.6) / 25) * 25,
      open_booking_prepayment: prepayment,
      age_min: Math.max(ageMin ?? 8, 0),
      age_max: 17,
    });
  }
  if (rng.chance(0.35)) {
    offers.push({
      ...policy,
      name: 'Member',
      price_minor: Math.round((adultPrice * 0.7) / 25) * 25,
      open_booking_prepayment: prepayment,
      age_min: offers[0]!.age_min ?? null,
      age_max: offers[0]!.age_max ?? null,
      membership_required: true,
      data: json({ description: 'For members with an active leisure card.' }),
    });
  }
  return offers;
}

function facilityOffers(rng: Rng, template: FacilityTemplate): OfferSpec[] {
  const policy = offerPolicy(rng);
  const standard = price(rng, template.price);
  const prepayment = paidPrepayment(rng);
  const offers: OfferSpec[] = [
    {
      ...policy,
      name: 'Standard',
      price_minor: standard,
      open_booking_prepayment: prepayment,
      age_min: 16,
      age_max: null,
    },
  ];
  if (rng.chance(0.5))
    offers.push({
      ...policy,
      name: 'Junior (under 16)',
      price_minor: Math.round((standard * 0.5) / 25) * 25,
      open_booking_prepayment: prepayment,
      age_min: 8,
      age_max: 15,
    });
  if (rng.chance(0.3))
    offers.push({
      ...policy,
      name: 'Member',
      price_minor: Math.round((standard * 0.75) / 25) * 25,
      open_booking_prepayment: prepayment,
      age_min: 16,
      age_max: null,
      membership_required: true,
    });
  return offers;
}

function fitsVenue(template: SessionTemplate, venue: Venue): boolean {
  if (template.space === 'pool') return venue.kind.pool;
  return venue.kind.hall || venue.kind.pool;
}

/**
 * Local booking windows for slots: weekday early and evening peaks, weekend mornings. Kept to the
 * busy hours so the slot feed stays proportionate (every slot is harvested and validated by a
 * conformance run).
 */
export function slotTimes(weekday: number, minutes: number): string[] {
  const ranges: [number, number][] =
    weekday <= 5
      ? [
          [7 * 60, 8 * 60],
          [17 * 60, 21 * 60],
        ]
      : [[9 * 60, 13 * 60]];
  const out: string[] = [];
  for (const [from, to] of ranges)
    for (let t = from; t + minutes <= to; t += minutes)
      out.push(`${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`);
  return out;
}

/**
 * Writes the whole data set into an empty sandbox database. Returns what it wrote.
 * Generation is deterministic in (seed, sessions, anchor, horizonDays, slotDays).
 */
export async function generateDataset(
  db: Kysely<SandboxDB>,
  vocab: Vocabularies,
  options: GenerateOptions,
): Promise<GenerateCounts> {
  const root = createRng(options.seed);
  const horizonDays = options.horizonDays ?? 28;
  const slotDays = options.slotDays ?? 7;
  const anchor = DateTime.fromJSDate(options.anchor, { zone: TIMEZONE }).startOf('day');
  const from = anchor.toJSDate();
  const until = anchor.plus({ days: horizonDays }).toJSDate();
  const writer = new BatchWriter(db, options.batchSize ?? 1000);
  const expandWeekly = createScheduleExpander();
  const counts: GenerateCounts = {
    sellers: 0,
    places: 0,
    sessionSeries: 0,
    scheduledSessions: 0,
    facilityUses: 0,
    individualFacilityUses: 0,
    slots: 0,
    offers: 0,
  };

  for (const row of sellerRows()) {
    await writer.add('sellers', row);
    counts.sellers += 1;
  }
  const { venues, rows: placeRows } = makeVenues(root, venueCount(options.sessions));
  for (const row of placeRows) {
    await writer.add('places', row);
    counts.places += 1;
  }
  await writer.flush();

  let offerId = 0;
  const accessibility = ACCESSIBILITY_SUPPORT.map((a) => ({
    '@type': 'Concept',
    '@id': `https://openactive.io/accessibility-support#${a.id}`,
    prefLabel: a.label,
    inScheme: 'https://openactive.io/accessibility-support',
  }));

  // Session series, one at a time, until the target number of sessions is reached.
  let seriesId = 0;
  let sessionId = 0;
  while (counts.scheduledSessions < options.sessions) {
    seriesId += 1;
    const rng = root.derive('series', seriesId);
    const template = rng.weighted(
      SESSION_TEMPLATES.map((t) => [t, t.space === 'online' ? 1 : t.perWeek[1] >= 7 ? 3 : 2] as const),
    );
    const online = template.space === 'online';
    const candidates = online ? venues : venues.filter((v) => fitsVenue(template, v));
    const venue = rng.pick(candidates.length ? candidates : venues);
    const schedules = weeklySchedules(rng, template, anchor);
    const activity = mustActivity(vocab, template.activity);
    const offers = seriesOffers(rng, template);
    const isFree = offers.every((o) => o.price_minor === 0);
    const leader = rng.pick(LEADERS);
    const data: Record<string, unknown> = {
      name: template.name,
      description: template.description,
      activity: [concept(activity)],
      eventAttendanceMode: online ? ONLINE : OFFLINE,
      ...(template.level ? { level: [template.level] } : {}),
      ageRange: {
        '@type': 'QuantitativeValue',
        ...(template.ageRange?.[0] !== null && template.ageRange?.[0] !== undefined
          ? { minValue: template.ageRange[0] }
          : { minValue: 18 }),
        ...(template.ageRange?.[1] !== null && template.ageRange?.[1] !== undefined
          ? { maxValue: template.ageRange[1] }
          : {}),
      },
      genderRestriction: template.gender ?? 'https://openactive.io/NoRestriction',
      leader: [{ '@type': 'Person', name: leader }],
      isCoached: template.course !== undefined || template.level !== undefined,
      image: [image(template.image, template.name)],
      eventSchedule: schedules.map((s) => renderSchedule(s, minutesToDuration(template.minutes))),
      ...(rng.chance(0.3) ? { accessibilitySupport: rng.sample(accessibility, rng.int(1, 3)) } : {}),
      ...(rng.chance(0.4)
        ? { accessibilityInformation: 'Step-free access, a hoist on the poolside and an accessible changing room.' }
        : {}),
      attendeeInstructions: online
        ? 'A joining link is emailed an hour before the start. Have a mat and some water ready.'
        : 'Please arrive 10 minutes early and check in at reception.',
      ...(template.course
        ? {
            schedulingNote: `A ${template.course.weeks}-week course. Sessions are booked individually.`,
          }
        : {}),
      ...(isFree ? { isAccessibleForFree: true } : {}),
    };
    await writer.add('session_series', {
      id: seriesId,
      seller_id: venue.sellerId,
      place_id: online ? null : venue.id,
      data: json(data),
    });
    counts.sessionSeries += 1;
    for (const offer of offers) {
      offerId += 1;
      await writer.add('offers', { id: offerId, session_series_id: seriesId, ...offer });
      counts.offers += 1;
    }

    const occurrences = schedules
      .flatMap((s) => expandWeekly(s, from, until))
      .sort((a, b) => a.start.getTime() - b.start.getTime());
    const [capMin, capMax] = template.capacity;
    for (const occurrence of occurrences) {
      if (counts.scheduledSessions >= options.sessions) break;
      sessionId += 1;
      const srng = rng.derive('session', occurrence.start.getTime());
      const capacity = srng.int(capMin, capMax);
      const full = srng.chance(0.08);
      const remaining = full
        ? 0
        : srng.weighted([
            [capacity, 2],
            [srng.int(Math.ceil(capacity / 2), capacity), 5],
            [srng.int(1, Math.max(1, Math.ceil(capacity / 2))), 3],
          ] as const);
      await writer.add('scheduled_sessions', {
        id: sessionId,
        session_series_id: seriesId,
        start_date: occurrence.start,
        end_date: occurrence.end,
        maximum_attendee_capacity: capacity,
        remaining_attendee_capacity: Math.min(remaining, capacity),
        event_status: srng.chance(0.03) ? CANCELLED : SCHEDULED,
      });
      counts.scheduledSessions += 1;
    }
    if (seriesId % 5000 === 0) options.progress?.(`${counts.scheduledSessions} sessions in ${seriesId} series`);
    // A database with no pool or hall could loop forever; the venue mix always has both.
    if (occurrences.length === 0 && seriesId > options.sessions + 1000) break;
  }
  await writer.flush();

  // Facility uses at venues with courts or pitches, with slots for the first `slotDays` days.
  const slotCalendar = Array.from({ length: slotDays }, (_, d) => {
    const day = anchor.plus({ days: d });
    return { weekday: day.weekday, from: day.toJSDate(), until: day.plus({ days: 1 }).toJSDate() };
  });
  let facilityUseId = 0;
  let individualId = 0;
  let slotId = 0;
  for (const venue of venues) {
    if (!venue.kind.courts) continue;
    const vrng = root.derive('facilities', venue.id);
    const templates = vrng.sample(FACILITY_TEMPLATES, vrng.int(1, 2));
    for (const template of templates) {
      facilityUseId += 1;
      const rng = vrng.derive(template.name);
      const facilityType = mustFacilityType(vocab, template.facilityType);
      await writer.add('facility_uses', {
        id: facilityUseId,
        seller_id: venue.sellerId,
        place_id: venue.id,
        data: json({
          name: `${template.name} at ${venue.name}`,
          description: template.description,
          // `facilityType` only: the validator rejects `activity` on facility uses as deprecated
          // in Open Booking API implementations (the facility type links to its activities).
          facilityType: [concept(facilityType)],
          hoursAvailable: openingHours(),
          image: [image(template.image, template.name)],
          attendeeInstructions: 'Collect equipment from reception on arrival.',
        }),
      });
      counts.facilityUses += 1;
      for (const offer of facilityOffers(rng, template)) {
        offerId += 1;
        await writer.add('offers', { id: offerId, facility_use_id: facilityUseId, ...offer });
        counts.offers += 1;
      }
      const units = rng.int(template.units[0], template.units[1]);
      for (let u = 1; u <= units; u += 1) {
        individualId += 1;
        await writer.add('individual_facility_uses', {
          id: individualId,
          facility_use_id: facilityUseId,
          data: json({ name: `${template.unitName} ${u}` }),
        });
        counts.individualFacilityUses += 1;
        for (const day of slotCalendar) {
          for (const time of slotTimes(day.weekday, template.slotMinutes)) {
            const [occurrence] = expandWeekly(
              { days: [day.weekday], startTime: time, durationMinutes: template.slotMinutes, timezone: TIMEZONE },
              day.from,
              day.until,
            );
            if (!occurrence) continue;
            slotId += 1;
            await writer.add('slots', {
              id: slotId,
              facility_use_id: facilityUseId,
              individual_facility_use_id: individualId,
              start_date: occurrence.start,
              end_date: occurrence.end,
              maximum_uses: 1,
              remaining_uses: rng.chance(0.3) ? 0 : 1,
            });
            counts.slots += 1;
          }
        }
      }
    }
  }
  await writer.flush();
  await resetIdSequences(db);
  // Fresh statistics: right after a bulk load the planner would otherwise guess, and pick
  // sequential scans for the feeds' per-page lookups (offers by series) at a million rows.
  await sql`analyze`.execute(db);
  return counts;
}

/** Ids were assigned explicitly; move each serial sequence past them for later inserts. */
export async function resetIdSequences(db: Kysely<SandboxDB>): Promise<void> {
  for (const table of [
    'sellers',
    'places',
    'session_series',
    'scheduled_sessions',
    'facility_uses',
    'individual_facility_uses',
    'slots',
    'offers',
  ]) {
    await sql
      .raw(
        `select setval(pg_get_serial_sequence('${table}', 'id'), coalesce((select max(id) from ${table}), 0) + 1, false)`,
      )
      .execute(db);
  }
}

export interface DatasetInfo {
  seed: number;
  /** End of the generated period for sessions and for slots (roll-forward moves them on). */
  sessionsUntil?: string;
  slotsUntil?: string;
  sessions: number;
  anchor: string;
  generatedAt: string;
  counts: GenerateCounts;
}

/**
 * Generates the data set unless the database already has one. Returns the stored description
 * of the data set and whether it was generated now.
 */
export async function ensureDataset(
  db: Kysely<SandboxDB>,
  vocab: Vocabularies,
  options: Omit<GenerateOptions, 'anchor'> & { anchor?: Date; now: Date },
): Promise<{ info: DatasetInfo; generated: boolean }> {
  const existing = await db.selectFrom('sandbox_meta').select('value').where('key', '=', 'dataset').executeTakeFirst();
  if (existing) return { info: existing.value as DatasetInfo, generated: false };
  const anchor = options.anchor ?? DateTime.fromJSDate(options.now, { zone: TIMEZONE }).startOf('day').toJSDate();
  const counts = await generateDataset(db, vocab, { ...options, anchor });
  const start = DateTime.fromJSDate(anchor, { zone: TIMEZONE }).startOf('day');
  const info: DatasetInfo = {
    sessionsUntil: start.plus({ days: options.horizonDays ?? 28 }).toISO()!,
    slotsUntil: start.plus({ days: options.slotDays ?? 7 }).toISO()!,
    seed: options.seed,
    sessions: options.sessions,
    anchor: anchor.toISOString(),
    generatedAt: options.now.toISOString(),
    counts,
  };
  await db
    .insertInto('sandbox_meta')
    .values({ key: 'dataset', value: json(info) })
    .execute();
  return { info, generated: true };
}
