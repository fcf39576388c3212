import { Type, type TObject, type TSchema } from 'typebox';
import { EVENT_PARAMS, FACILITY_PARAMS, PLACES_PARAMS, REPEATABLE } from './query.js';

/*
 * Route schemas. Query strings are described here for the OpenAPI document; the values are
 * checked by query.ts, which names the parameter and the accepted form in every 400. Responses
 * are open JSON-LD documents (provider extensions pass through By-ID), so their schemas name
 * the envelope and leave the rest open.
 */

const DESCRIPTIONS: Record<string, string> = {
  mode: 'Sorting and grouping (imin §3.7.1 / §4.1)',
  'geo[radial]': 'latitude,longitude,radiusKm, e.g. 51.5074,-0.1278,10',
  isVirtual: 'true: online sessions only; false (default): in person',
  'startDate[gte]': 'ISO 8601 UTC date-time, e.g. 2026-02-27T11:45:00Z',
  'startDate[lte]': 'ISO 8601 UTC date-time',
  'startTime[gte]': 'Local time HH:mm (in the schedule’s time zone, Europe/London by default)',
  'startTime[lte]': 'Local time HH:mm',
  dayOfWeek: 'schema:Monday … schema:Sunday (repeat for any of several)',
  byDay: 'Same as dayOfWeek',
  activityId: 'OpenActive Activity List concept id (narrower activities included; repeatable)',
  activityPrefLabel: 'Activity prefLabel, case-sensitive (narrower activities included; repeatable)',
  activityConceptCollectionId: 'Collection id from /events-api/v2/facets',
  activityInScheme: 'Concept scheme URL, e.g. https://openactive.io/activity-list',
  'ageRange[includeRange]': 'minAge or minAge,maxAge: the item must allow every age in it',
  'ageRangeMin[gte]': 'Items whose minimum age is at least this',
  'ageRangeMax[lte]': 'Items whose maximum age is at most this',
  genderRestriction: 'oa:NoRestriction, oa:MaleOnly or oa:FemaleOnly',
  levelType: 'imin:BeginnerLevel, imin:IntermediateLevel or imin:AdvancedLevel',
  'priceAdult[gte]': 'Public adult price at least (GBP)',
  'priceAdult[lte]': 'Public adult price at most (GBP)',
  membershipRequiredAdult: 'true or false',
  membershipRequiredJunior: 'true or false',
  accessibilitySupportId: 'Accessibility support concept id',
  specialRequirementId:
    'Special-requirement concept id (emduk:specialRequirement, imin:specialRequirements), e.g. http://data.emduk.org/special-requirements#…',
  leaderGender: 'schema:Female or schema:Male (full https://schema.org/ URLs too): a leader of that gender',
  availableChannelAdult:
    'An adult offer bookable through this channel: beta:OnlinePrepayment, beta:TelephonePrepayment, beta:TelephoneAdvanceBooking, beta:InPersonAdvanceBooking, beta:InPersonPrepayment, beta:OpenBookingPrepayment (oa: and full URLs too)',
  availableChannelJunior: 'A junior offer bookable through this channel (values as availableChannelAdult)',
  isWheelchairAccessible: 'true or false',
  'amenityFeatureType[valueTrue]': 'Amenity the place has, e.g. Showers, Parking',
  organizerId: 'Organizer @id',
  'organizerName[textSearch]': 'Text contained in the organizer’s name (case-insensitive)',
  iminTag: 'HighFrequencySession: only high-frequency sessions (upcoming-sessions only)',
  'iminTag[not]': 'HighFrequencySession (the default)',
  showAllSessions: 'true: include high-frequency sessions too',
  limit: 'Items per page, 1-50 (default 20)',
  page: 'Page number from 1',
  providerId: 'Data provider (imin:dataSource.identifier)',
  facilityTypeId: 'OpenActive Facility Types concept id',
  placeClassification: 'mcr:Park or mcr:LeisureCentre',
};

function querySchema(params: readonly string[]): TObject {
  const props: Record<string, TSchema> = {};
  for (const p of params) {
    const description = DESCRIPTIONS[p] ?? p;
    props[p] = Type.Optional(
      REPEATABLE.has(p)
        ? Type.Array(Type.String({ maxLength: 2048 }), { description: `${description} (repeatable)` })
        : Type.String({ maxLength: 2048, description }),
    );
  }
  // Unknown parameters are refused by query.ts, with the list of accepted ones.
  return Type.Object(props, { additionalProperties: true });
}

export const EventSeriesQuery = querySchema(EVENT_PARAMS);
export const FacilityUsesQuery = querySchema(FACILITY_PARAMS);
export const PlacesQuery = querySchema(PLACES_PARAMS);
export const NoQuery = Type.Object({}, { additionalProperties: false, description: 'By-ID routes take no parameters' });

export const ByIdQuery = Type.Object(
  {
    dataSource: Type.Optional(
      Type.String({
        pattern: '^[1-9][0-9]{0,11}$',
        description:
          'The publisher (imin:dataSource.identifier) whose item is meant; needed only when more than one publishes the id (else 409)',
      }),
    ),
  },
  { additionalProperties: false, description: 'By-ID of an occurrence: optionally, its data source' },
);

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 500 }) });
export const SlugParam = Type.Object({ slug: Type.String({ minLength: 1, maxLength: 100 }) });

const JsonLd = (description: string, properties: Record<string, TSchema> = {}) =>
  Type.Object(properties, { additionalProperties: true, description });

export const RestrictedCollection = JsonLd('imin:RestrictedCollection: a page of results', {
  '@context': Type.Array(Type.String()),
  id: Type.String(),
  type: Type.Literal('imin:RestrictedCollection'),
  'imin:totalItems': Type.Integer({
    description:
      'Matching items, capped at 10,000; an estimate for large upcoming-sessions results with time-of-day or day filters (imin §1.4)',
  }),
  view: JsonLd('PartialCollectionView: first, last, next, previous, urlTemplate, paging'),
  'imin:item': Type.Array(JsonLd('An item')),
});

export const EventSeriesItem = JsonLd('An EventSeries with its SessionSeries and ScheduledSessions');
export const ScheduledSessionItem = JsonLd('A ScheduledSession with its SessionSeries');
export const FacilityUseItem = JsonLd('A FacilityUse with its Slots or IndividualFacilityUses');
export const SlotItem = JsonLd('A Slot with its FacilityUse');
export const FacetsResponse = JsonLd('Activity index and activity concept collections');
export const CollectionResponse = JsonLd('An activity concept collection and its members');
