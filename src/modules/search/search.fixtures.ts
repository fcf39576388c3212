import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import validator from '@openactive/data-model-validator';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import { fixedClock } from '../../lib/clock.js';
import { createVocabularies } from '../../lib/vocabularies.js';

/*
 * Test support for the search module: a small, fully known world (venues at exact distances,
 * series with one distinguishing property each, sessions either side of the UK clock change)
 * published by a real local RPDE server as a dataset site, harvested and projected through the
 * real app. Tests assert exact answers against it.
 */

export const vocab = createVocabularies();
const act = (label: string) => {
  const c = vocab.activityByLabel(label);
  if (!c) throw new Error(label);
  return { '@type': 'Concept', '@id': c.id, prefLabel: c.prefLabel, inScheme: c.inScheme };
};
export const ACTIVITY = {
  yoga: act('Yoga'),
  hatha: act('Hatha Yoga'),
  vinyasa: act('Vinyasa Yoga'),
  futsal: act('Futsal'),
  football: act('Football'),
  boxing: act('Boxing'),
  swimming: act('Swimming'),
  pilates: act('Pilates'),
  danceFitness: act('Dance Fitness'),
  tennis: act('Tennis'),
  badminton: act('Badminton'),
  groupExercise: act('Group Exercise'),
};
const facilityType = (label: string) => {
  const c = vocab.allFacilityTypes().find((f) => f.prefLabel === label)!;
  return { '@type': 'Concept', '@id': c.id, prefLabel: c.prefLabel, inScheme: c.inScheme };
};
export const FACILITY_TYPE = { badminton: facilityType('Badminton Court'), tennis: facilityType('Tennis Court') };

/** Monday 23 March 2026, 08:00 GMT. UK clocks go forward on Sunday 29 March at 01:00 UTC. */
export const NOW = new Date('2026-03-23T08:00:00Z');
export const CENTRE = { lat: 51.5074, lng: -0.1278 };
const KM_PER_DEGREE = 6371.0088 * (Math.PI / 180);
/** A point `km` due north of the centre: its haversine distance is exactly `km`. */
const north = (km: number) => ({ lat: CENTRE.lat + km / KM_PER_DEGREE, lng: CENTRE.lng });

export const SPECIAL_REQUIREMENT = 'http://data.emduk.org/special-requirements#wheelchair-users';
export const ACCESSIBILITY_VISUAL = 'https://openactive.io/accessibility-support#1393f2dc-3fcc-4be9-a99f-f1e51f5ad277';
const ENTITLEMENT = 'https://example.test/entitlements#member';

let base = '';
const id = (p: string) => `${base}/${p}`;

function venue(key: string, name: string, km: number, extra: Record<string, unknown> = {}) {
  const { lat, lng } = north(km);
  return {
    '@type': 'Place',
    '@id': id(`places/${key}`),
    name,
    url: `https://venues.example.test/${key}`,
    telephone: '020 7946 0000',
    description: `${name}, ${km} km north of the centre.`,
    address: {
      '@type': 'PostalAddress',
      streetAddress: `${Math.round(km * 10) + 1} High Street`,
      addressLocality: 'London',
      addressRegion: 'Greater London',
      postalCode: 'N1 1AA',
      addressCountry: 'GB',
    },
    geo: { '@type': 'GeoCoordinates', latitude: lat, longitude: lng },
    ...extra,
  };
}

const organizer = (n: number, name: string) => ({
  '@type': 'Organization',
  '@id': id(`organizers/${n}`),
  name,
  url: `https://org${n}.example.test`,
  telephone: '020 7946 0001',
  isOpenBookingAllowed: true,
});

const offer = (key: string, price: number, extra: Record<string, unknown> = {}) => ({
  '@type': 'Offer',
  '@id': id(`offers/${key}`),
  identifier: key,
  name: key,
  price,
  priceCurrency: 'GBP',
  openBookingInAdvance: 'https://openactive.io/Required',
  ...extra,
});

/** Local London wall-clock time → ISO UTC instant. */
const london = (date: string, time: string) => {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = time.split(':').map(Number) as [number, number];
  // BST runs from 29 March 2026 01:00 UTC.
  const bst = Date.UTC(y, m - 1, d, hh, mm) >= Date.UTC(2026, 2, 29, 2, 0);
  return new Date(Date.UTC(y, m - 1, d, hh - (bst ? 1 : 0), mm)).toISOString().replace('.000Z', 'Z');
};

interface SeriesSpec {
  key: string;
  name: string;
  activity: Record<string, unknown>[];
  place?: Record<string, unknown>;
  superEvent?: string;
  sessions: { start: string; minutes?: number; status?: string; remaining?: number }[];
  extra?: Record<string, unknown>;
  offers?: Record<string, unknown>[];
  org?: Record<string, unknown>;
}

export function worldSeries(): SeriesSpec[] {
  const central = venue('central', 'Central Leisure Centre', 0, {
    amenityFeature: [
      { '@type': 'Showers', name: 'Showers', value: true },
      { '@type': 'Parking', name: 'Parking', value: false },
    ],
    'beta:isWheelchairAccessible': true,
  });
  const northside = venue('northside', 'Northside Sports Centre', 5, {
    amenityFeature: [{ '@type': 'Parking', name: 'Parking', value: true }],
  });
  const trust = organizer(1, 'Central Leisure Trust');
  const club = organizer(2, 'Northside Boxing Club');
  return [
    {
      key: 'yoga-central',
      name: 'Hatha Yoga for Beginners',
      activity: [ACTIVITY.hatha],
      place: central,
      superEvent: 'event-series/yoga',
      org: trust,
      extra: {
        ageRange: { '@type': 'QuantitativeValue', minValue: 16 },
        genderRestriction: 'https://openactive.io/NoRestriction',
        level: ['Beginner'],
        eventSchedule: [
          {
            '@type': 'PartialSchedule',
            repeatFrequency: 'P1W',
            byDay: ['https://schema.org/Monday', 'https://schema.org/Wednesday'],
            startTime: '18:00',
            endTime: '19:00',
            duration: 'PT1H',
            scheduleTimezone: 'Europe/London',
          },
        ],
        accessibilitySupport: [
          {
            '@type': 'Concept',
            '@id': ACCESSIBILITY_VISUAL,
            prefLabel: 'Visual impairment',
            inScheme: 'https://openactive.io/accessibility-support',
          },
        ],
      },
      offers: [
        offer('yoga-adult', 6.5, { validFromBeforeStartDate: 'P7D' }),
        offer('yoga-junior', 3, { ageRange: { '@type': 'QuantitativeValue', minValue: 16, maxValue: 17 } }),
      ],
      // 18:00 London every Monday and Wednesday, across the clock change.
      sessions: [
        { start: london('2026-03-23', '18:00') },
        { start: london('2026-03-25', '18:00') },
        { start: london('2026-03-30', '18:00') },
        { start: london('2026-04-01', '18:00') },
      ],
    },
    {
      key: 'yoga-north',
      name: 'Vinyasa Flow',
      activity: [ACTIVITY.vinyasa],
      place: northside,
      superEvent: 'event-series/yoga',
      org: trust,
      extra: {
        ageRange: { '@type': 'QuantitativeValue', minValue: 18, maxValue: 65 },
        genderRestriction: 'https://openactive.io/NoRestriction',
        level: [{ '@type': 'Concept', prefLabel: 'Intermediate' }],
      },
      offers: [offer('vinyasa-adult', 8)],
      sessions: [{ start: london('2026-03-24', '07:00') }, { start: london('2026-03-31', '07:00') }],
    },
    {
      key: 'futsal-edge-in',
      name: 'Girls Futsal',
      activity: [ACTIVITY.futsal],
      place: venue('edge-in', 'Inside Edge Sports Hall', 9.99),
      org: trust,
      extra: {
        ageRange: { '@type': 'QuantitativeValue', minValue: 8, maxValue: 12 },
        genderRestriction: 'https://openactive.io/FemaleOnly',
        leader: [{ '@type': 'Person', name: 'Priya Shah', gender: 'Female' }],
      },
      offers: [
        offer('futsal-junior', 4, {
          ageRange: { '@type': 'QuantitativeValue', minValue: 8, maxValue: 12 },
          availableChannel: ['https://openactive.io/TelephoneAdvanceBooking'],
        }),
      ],
      sessions: [{ start: london('2026-03-28', '10:00') }],
    },
    {
      key: 'boxing-edge-out',
      name: 'Boxing Fitness',
      activity: [ACTIVITY.boxing],
      place: venue('edge-out', 'Outside Edge Gym', 10.01),
      org: club,
      extra: { genderRestriction: 'https://openactive.io/MaleOnly', level: ['Advanced'] },
      offers: [
        offer('boxing-member', 10, {
          eligibleEntitlementType: [{ '@type': 'Concept', '@id': ENTITLEMENT, prefLabel: 'Member' }],
        }),
      ],
      sessions: [{ start: london('2026-03-26', '19:30') }],
    },
    {
      key: 'swim-public',
      name: 'Public Swim',
      activity: [ACTIVITY.swimming],
      place: central,
      org: trust,
      extra: { ageRange: { '@type': 'QuantitativeValue', minValue: 0 } },
      offers: [
        offer('swim-adult', 4.3),
        offer('swim-junior', 3.3, { ageRange: { '@type': 'QuantitativeValue', maxValue: 13 } }),
      ],
      sessions: [
        { start: london('2026-03-24', '09:00'), minutes: 30 },
        { start: london('2026-03-24', '09:30'), minutes: 30 },
        { start: london('2026-03-24', '10:00'), minutes: 30 },
      ],
    },
    {
      key: 'virtual-pilates',
      name: 'Pilates at Home',
      activity: [ACTIVITY.pilates],
      org: trust,
      extra: { eventAttendanceMode: 'https://schema.org/OnlineEventAttendanceMode' },
      offers: [offer('pilates-adult', 5)],
      sessions: [{ start: london('2026-03-27', '12:00') }],
    },
    {
      key: 'far-dance',
      name: 'Dance Fitness',
      activity: [ACTIVITY.danceFitness],
      place: venue('far', 'Far Away Leisure Centre', 30),
      org: trust,
      // The older beta spelling of the channel property (imin §4's By-ID offers).
      offers: [offer('dance-adult', 5, { 'beta:availableChannel': ['https://openactive.io/TelephonePrepayment'] })],
      // The first morning of British Summer Time.
      sessions: [{ start: london('2026-03-29', '10:00') }],
    },
    {
      key: 'tennis-cancelled',
      name: 'Tennis Coaching',
      activity: [ACTIVITY.tennis],
      place: central,
      org: trust,
      offers: [offer('tennis-adult', 12)],
      sessions: [{ start: london('2026-03-24', '12:00'), status: 'https://schema.org/EventCancelled' }],
    },
    {
      key: 'edge-of-window',
      name: 'Circuit Edge',
      activity: [ACTIVITY.groupExercise],
      place: northside,
      org: trust,
      extra: {
        // imin-search-firehose §4: By-ID items carry provider extensions such as
        // `emduk:specialRequirement[]`, and `leader[]`.
        'emduk:specialRequirement': [
          { '@type': 'Concept', '@id': SPECIAL_REQUIREMENT, prefLabel: 'Suitable for wheelchair users' },
        ],
        leader: [{ '@type': 'Person', name: 'Sam Lee', gender: 'https://schema.org/Male' }],
      },
      offers: [
        offer('edge-adult', 7, {
          availableChannel: ['https://openactive.io/OpenBookingPrepayment', 'https://openactive.io/OnlinePrepayment'],
        }),
      ],
      // Exactly 14 days from now (in), one minute later (out), and a full one (no Book button).
      sessions: [
        { start: '2026-04-06T08:00:00Z' },
        { start: '2026-04-06T08:01:00Z' },
        { start: london('2026-03-25', '12:00'), remaining: 0 },
      ],
    },
  ];
}

export interface World {
  server: RpdeTestServer;
  publisherId: number;
  id: (path: string) => string;
  seriesId: (key: string) => string;
  sessionId: (key: string, i: number) => string;
}

export function publishEvents(server: RpdeTestServer, specs: SeriesSpec[]) {
  server.feed('session-series', 100);
  server.feed('scheduled-sessions', 100);
  server.put('session-series', {
    id: 'es-yoga',
    kind: 'EventSeries',
    data: {
      '@context': 'https://openactive.io/',
      '@type': 'EventSeries',
      '@id': id('event-series/yoga'),
      name: 'Yoga at Central Leisure',
      description: 'Yoga classes across our centres.',
      activity: [ACTIVITY.yoga],
      organizer: organizer(1, 'Central Leisure Trust'),
    },
  });
  for (const s of specs) {
    server.put('session-series', {
      id: s.key,
      kind: 'SessionSeries',
      data: {
        '@context': 'https://openactive.io/',
        '@type': 'SessionSeries',
        '@id': id(`session-series/${s.key}`),
        identifier: s.key,
        name: s.name,
        url: `https://book.example.test/${s.key}`,
        description: `${s.name} (test fixture).`,
        activity: s.activity,
        organizer: s.org,
        ...(s.place ? { location: s.place } : {}),
        ...(s.superEvent ? { superEvent: id(s.superEvent) } : {}),
        offers: s.offers,
        ...s.extra,
      },
    });
    s.sessions.forEach((x, i) => {
      const end = new Date(Date.parse(x.start) + (x.minutes ?? 60) * 60_000).toISOString().replace('.000Z', 'Z');
      server.put('scheduled-sessions', {
        id: `${s.key}-${i}`,
        kind: 'ScheduledSession',
        data: {
          '@context': 'https://openactive.io/',
          '@type': 'ScheduledSession',
          '@id': id(`scheduled-sessions/${s.key}/${i}`),
          superEvent: id(`session-series/${s.key}`),
          startDate: x.start,
          endDate: end,
          duration: `PT${x.minutes ?? 60}M`,
          eventStatus: x.status ?? 'https://schema.org/EventScheduled',
          remainingAttendeeCapacity: x.remaining ?? 5,
          maximumAttendeeCapacity: 20,
        },
      });
    });
  }
}

export function publishFacilities(server: RpdeTestServer) {
  server.feed('facility-uses', 100);
  server.feed('slots', 100);
  const centre = venue('central', 'Central Leisure Centre', 0);
  const park = venue('victoria-park', 'Victoria Park', 5);
  const far = venue('far', 'Far Away Leisure Centre', 30);
  const provider = organizer(1, 'Central Leisure Trust');
  const facility = (key: string, name: string, place: unknown, type: unknown, activity: unknown, extra = {}) => ({
    '@context': 'https://openactive.io/',
    '@type': 'FacilityUse',
    '@id': id(`facility-uses/${key}`),
    identifier: key,
    name,
    url: `https://book.example.test/facilities/${key}`,
    description: `${name} (test fixture).`,
    provider,
    location: place,
    facilityType: [type],
    activity: [activity],
    ...extra,
  });
  server.put('facility-uses', {
    id: 'badminton',
    kind: 'FacilityUse',
    data: facility('badminton', 'Badminton Courts', centre, FACILITY_TYPE.badminton, ACTIVITY.badminton, {
      individualFacilityUse: [1, 2].map((n) => ({
        '@type': 'IndividualFacilityUse',
        '@id': id(`facility-uses/badminton/courts/${n}`),
        identifier: `court-${n}`,
        name: `Court ${n}`,
      })),
    }),
  });
  server.put('facility-uses', {
    id: 'tennis',
    kind: 'FacilityUse',
    data: facility('tennis', 'Tennis Courts', park, FACILITY_TYPE.tennis, ACTIVITY.tennis, {
      offers: [offer('tennis-court', 8)],
    }),
  });
  server.put('facility-uses', {
    id: 'far-badminton',
    kind: 'FacilityUse',
    data: facility('far-badminton', 'Far Badminton', far, FACILITY_TYPE.badminton, ACTIVITY.badminton),
  });
  const slot = (key: string, parent: string, start: string, extra: Record<string, unknown> = {}) =>
    server.put('slots', {
      id: key,
      kind: 'Slot',
      data: {
        '@context': 'https://openactive.io/',
        '@type': 'Slot',
        '@id': id(`slots/${key}`),
        facilityUse: id(parent),
        startDate: start,
        endDate: new Date(Date.parse(start) + 3600_000).toISOString().replace('.000Z', 'Z'),
        duration: 'PT1H',
        remainingUses: 1,
        maximumUses: 1,
        ...extra,
      },
    });
  const courtOffer = (k: string) => ({ offers: [offer(k, 12)] });
  slot('c1-a', 'facility-uses/badminton/courts/1', '2026-03-24T10:00:00Z', courtOffer('c1-a'));
  slot('c1-b', 'facility-uses/badminton/courts/1', '2026-03-24T11:00:00Z', courtOffer('c1-b'));
  slot('c2-a', 'facility-uses/badminton/courts/2', '2026-03-24T10:00:00Z', courtOffer('c2-a'));
  slot('c1-c', 'facility-uses/badminton/courts/1', '2026-03-25T10:00:00Z', courtOffer('c1-c'));
  slot('c1-late', 'facility-uses/badminton/courts/1', '2026-04-02T10:00:00Z', courtOffer('c1-late'));
  slot('t-a', 'facility-uses/tennis', '2026-03-24T16:00:00Z', { remainingUses: 3, maximumUses: 4 });
  slot('t-b', 'facility-uses/tennis', '2026-03-24T17:00:00Z', { remainingUses: 4, maximumUses: 4 });
  slot('far-a', 'facility-uses/far-badminton', '2026-03-24T09:00:00Z', courtOffer('far-a'));
}

/** A context whose clock is fixed at NOW, with the world harvested and projected. */
export async function createWorld(): Promise<{ t: TestContext; world: World; clock: ReturnType<typeof fixedClock> }> {
  const clock = fixedClock(NOW);
  const t = await createTestContext({ clock });
  const server = await new RpdeTestServer().start();
  base = server.base;
  publishEvents(server, worldSeries());
  publishFacilities(server);
  server.dataset = {
    '@context': 'https://openactive.io/',
    '@type': 'Dataset',
    name: 'Fixture Leisure',
    accessService: { '@type': 'WebAPI', endpointUrl: `${server.base}/api/openbooking` },
    distribution: [
      {
        '@type': 'DataDownload',
        additionalType: 'https://openactive.io/SessionSeries',
        contentUrl: server.url('session-series'),
      },
      {
        '@type': 'DataDownload',
        additionalType: 'https://openactive.io/ScheduledSession',
        contentUrl: server.url('scheduled-sessions'),
      },
      {
        '@type': 'DataDownload',
        additionalType: 'https://openactive.io/FacilityUse',
        contentUrl: server.url('facility-uses'),
      },
      { '@type': 'DataDownload', additionalType: 'https://openactive.io/Slot', contentUrl: server.url('slots') },
    ],
  };
  const { publisher } = await t.services.catalog.addPublisher({ datasetUrl: `${server.base}/dataset` });
  await t.services.harvester.runOnce();
  await t.services.projector.runOnce();
  const b = server.base;
  return {
    t,
    clock,
    world: {
      server,
      publisherId: publisher.id,
      id: (p) => `${b}/${p}`,
      seriesId: (key) => `${b}/session-series/${key}`,
      sessionId: (key, i) => `${b}/scheduled-sessions/${key}/${i}`,
    },
  };
}

// ---- @openactive/data-model-validator, offline -------------------------------------------------

const ACTIVITY_LIST_URL = 'https://openactive.io/activity-list';

let cacheDir: string | undefined;
function seededCache(): string {
  if (cacheDir) return cacheDir;
  // The validator caches remote documents as <dir>/<sha256(url)>.json; a fetch time in the
  // future keeps the vendored activity list fresh, so it never goes to the network
  // (openactive.md §4).
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'activehub-search-validator-'));
  const key = createHash('sha256').update(ACTIVITY_LIST_URL).digest('hex');
  fs.writeFileSync(
    path.join(cacheDir, `${key}.json`),
    JSON.stringify({
      errorCode: 'error_none',
      data: JSON.parse(
        fs.readFileSync(new URL('../../../vendor/openactive/activity-list.jsonld', import.meta.url), 'utf8'),
      ),
      statusCode: 200,
      url: ACTIVITY_LIST_URL,
      exception: null,
      contentType: 'application/ld+json',
      fetchTime: Date.parse('2100-01-01T00:00:00Z'),
    }),
  );
  return cacheDir;
}

const withoutImin = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(withoutImin)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([k]) => !k.startsWith('imin:'))
            .map(([k, x]) => [k, withoutImin(x)]),
        )
      : v;

/**
 * imin §4.4 lists a FacilityUse's IndividualFacilityUses in its `event` array, each with its
 * slots, where the OpenActive model expects Slots only; the shared location stays on the
 * FacilityUse. Those failures are the documented shape, not data errors.
 */
export const INDIVIDUAL_FACILITY_USE_SHAPE = [
  /^\$\.event: Invalid type, expected `Array` of `Slot` but found `Array` of `IndividualFacilityUse`/,
  /^\$\.event\[\d+\]\.location: Required property `location` is missing from `IndividualFacilityUse`/,
];

/**
 * The validator's failures for one response item. It checks OpenActive terms; imin's own terms
 * (`imin:…`) are taken out first, because their context (https://schema.imin.co/) cannot be
 * fetched offline and the validator cannot check extension terms without it. Search summaries
 * leave out `offers` by design (imin §3.6.2) though the SessionSeries and Slot models require them.
 */
export async function validatorFailures(
  item: Record<string, unknown>,
  options: { summary: boolean; allow?: RegExp[] },
): Promise<string[]> {
  const doc = { ...(withoutImin(item) as Record<string, unknown>), '@context': 'https://openactive.io/' };
  const results = (await validator.validate(doc, {
    loadRemoteJson: true,
    remoteJsonCachePath: seededCache(),
    remoteJsonCacheTimeToLive: 3600,
    version: '2.0',
  })) as { severity: string; path: string; message: string }[];
  return results
    .filter((r) => r.severity === 'failure')
    .map((r) => `${r.path}: ${r.message.split('\n')[0]}`)
    .filter(
      (line) =>
        !(options.summary && /\.offers: Required property `offers` is missing from `(SessionSeries|Slot)`/.test(line)),
    )
    .filter((line) => !(options.allow ?? []).some((re) => re.test(line)));
}
