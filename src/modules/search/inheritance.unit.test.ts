import { describe, expect, it } from 'vitest';
import { extractEntities } from '../catalog/index.js';
import { effectiveSession, hasOwnInheritable, ownValues, sessionOverrides, variantOaId } from './inheritance.js';
import type { Entity } from './projection.js';
import { vocab } from './search.fixtures.js';

/*
 * The merge rule of a ScheduledSession over its SessionSeries (inheritance.ts), on shapes the
 * OpenActive data model allows (openactive/developer-documentation
 * docs/data-model/types/scheduledsession.md lists `offers`, `leader` and the other Event
 * properties on a ScheduledSession). Written by us.
 */

const entity = (data: Record<string, unknown>): Entity => {
  const [n] = extractEntities(data, 'x', vocab);
  return {
    id: 1,
    source_item_id: 1,
    publisher_id: 1,
    oa_id: n!.oaId,
    type: n!.type,
    parent_oa_id: n!.parentOaId,
    name: n!.name,
    start_date: n!.startDate,
    end_date: n!.endDate,
    remaining_capacity: n!.remainingCapacity,
    maximum_capacity: n!.maximumCapacity,
    event_status: n!.eventStatus,
    attendance_mode: n!.attendanceMode,
    latitude: n!.latitude,
    longitude: n!.longitude,
    location: n!.location,
    activity_ids: n!.activityIds,
    activity_match_ids: n!.activityMatchIds,
    activities: n!.activities,
    facility_type_ids: n!.facilityTypeIds,
    organizer_id: n!.organizerId,
    organizer_name: n!.organizerName,
    organizer: n!.organizer,
    offers: n!.offers,
    min_price: n!.minPrice === null ? null : String(n!.minPrice),
    age_min: n!.ageMin,
    age_max: n!.ageMax,
    gender_restriction: n!.genderRestriction,
    levels: n!.levels,
    accessibility_support: n!.accessibilitySupport,
    event_schedule: n!.eventSchedule,
    data,
    modified: '1',
  };
};

const hall = {
  '@type': 'Place',
  name: 'Sports hall',
  geo: { '@type': 'GeoCoordinates', latitude: 51.5, longitude: -0.1 },
};
const series = entity({
  '@type': 'SessionSeries',
  '@id': 'https://a.test/series/1',
  name: 'Sports hall',
  activity: [{ '@id': vocab.activityByLabel('Group Exercise')!.id, prefLabel: 'Group Exercise' }],
  location: hall,
  offers: [{ '@type': 'Offer', price: 5, priceCurrency: 'GBP' }],
  ageRange: { '@type': 'QuantitativeValue', minValue: 16 },
  superEvent: 'https://a.test/event-series/1',
});

describe('effectiveSession: a session overrides its series per property', () => {
  it('takes the session’s own activity, location and offers with the columns derived from them', () => {
    const court = { '@type': 'Place', name: 'Court 3', geo: { '@type': 'GeoCoordinates', latitude: 52, longitude: 0 } };
    const session = entity({
      '@type': 'ScheduledSession',
      '@id': 'https://a.test/sessions/1',
      superEvent: 'https://a.test/series/1',
      startDate: '2026-03-24T10:00:00Z',
      activity: [{ '@id': vocab.activityByLabel('Badminton')!.id, prefLabel: 'Badminton' }],
      location: court,
      offers: [{ '@type': 'Offer', price: 9, priceCurrency: 'GBP' }],
    });
    const eff = effectiveSession(series, session)!;
    expect(eff.oa_id).toBe(series.oa_id);
    expect(eff.type).toBe('SessionSeries');
    expect(eff.activity_ids).toEqual([vocab.activityByLabel('Badminton')!.id]);
    expect(eff.activity_match_ids).toContain(vocab.activityByLabel('Badminton')!.id);
    expect([eff.latitude, eff.longitude]).toEqual([52, 0]);
    expect(eff.data.location).toEqual(court);
    expect(eff.offers).toEqual([{ '@type': 'Offer', price: 9, priceCurrency: 'GBP' }]);
    // Not overridden: inherited unchanged.
    expect(eff.age_min).toBe(16);
    expect(eff.data.name).toBe('Sports hall');
    expect(eff.parent_oa_id).toBe('https://a.test/event-series/1');
  });

  it('replaces whole values (no deep merge): a location without geo has no geo', () => {
    const session = entity({
      '@type': 'ScheduledSession',
      '@id': 'https://a.test/sessions/2',
      startDate: '2026-03-24T10:00:00Z',
      location: { '@type': 'Place', name: 'Studio 2' },
    });
    const eff = effectiveSession(series, session)!;
    expect(eff.data.location).toEqual({ '@type': 'Place', name: 'Studio 2' });
    expect([eff.latitude, eff.longitude]).toEqual([null, null]);
  });

  it('is null when the session only repeats its series’ values or publishes none', () => {
    const same = entity({
      '@type': 'ScheduledSession',
      '@id': 'https://a.test/sessions/3',
      startDate: '2026-03-24T10:00:00Z',
      name: 'Sports hall',
      location: hall,
      url: 'https://a.test/book/3',
      identifier: 3,
    });
    expect(effectiveSession(series, same)).toBeNull();
    expect(sessionOverrides(same.data, series.data)).toEqual([]);
    expect(hasOwnInheritable(same.data)).toBe(true);
    expect(hasOwnInheritable({ '@type': 'ScheduledSession', startDate: 'x', url: 'u' })).toBe(false);
  });

  it('never overrides what is not inherited (@id, url, identifier, eventSchedule, dates)', () => {
    const session = entity({
      '@type': 'ScheduledSession',
      '@id': 'https://a.test/sessions/4',
      identifier: 'S4',
      url: 'https://a.test/book/4',
      startDate: '2026-03-24T10:00:00Z',
      duration: 'PT1H',
      eventSchedule: [{ '@type': 'Schedule' }],
      name: 'Badminton',
    });
    expect(sessionOverrides(session.data, series.data)).toEqual(['name']);
    expect(ownValues(session.data, series.data)).toEqual({ name: 'Badminton' });
    const eff = effectiveSession(series, session)!;
    expect(eff.data['@id']).toBe(series.oa_id);
    expect(eff.data.url).toBeUndefined();
    expect(eff.name).toBe('Badminton');
  });

  it('keys a session’s own search row apart from any @id', () => {
    expect(variantOaId('https://a.test/sessions/1')).toBe('https://a.test/sessions/1 #session');
  });
});
