import type { Entity } from './projection.js';

/*
 * The one merge rule for a ScheduledSession and its SessionSeries (issue 15 point 1).
 *
 * OpenActive Modelling Opportunity Data 2.0, "Inheritance" (summarised in openactive.md §3.5):
 * a child that lacks a property takes its parent's; a property the child publishes itself wins.
 * Never inherited: `@type`, `@id`, `url`, `identifier`, `eventSchedule`. Offers are inherited in
 * one case only, SessionSeries → ScheduledSession, which is this one. The session's own
 * occurrence properties (`startDate`, `endDate`, `duration`, `eventStatus`, capacities,
 * `superEvent`) describe the occurrence and are rendered from the occurrence row.
 *
 * Merging is per property and replaces the whole value: the specification defines inheritance
 * property by property and says nothing of merging inside a value, so a session's `location`
 * replaces the series' (its address is never mixed with the series' geo), and a session's
 * `offers`, `activity` or `leader` array replaces the series' array.
 */

type Obj = Record<string, unknown>;

/**
 * What a ScheduledSession may publish to override its SessionSeries (Event properties of the
 * Modelling Specification 2.0 that describe the activity rather than the occurrence, plus the
 * beta terms the projection reads).
 */
export const SESSION_INHERITABLE = [
  'name',
  'description',
  'image',
  'activity',
  'location',
  'virtualLocation',
  'eventAttendanceMode',
  'organizer',
  'leader',
  'contributor',
  'offers',
  'level',
  'ageRange',
  'genderRestriction',
  'accessibilitySupport',
  'accessibilityInformation',
  'isWheelchairAccessible',
  'beta:isWheelchairAccessible',
  'category',
  'programme',
  'attendeeInstructions',
  'isCoached',
  'isAccessibleForFree',
  'meetingPoint',
  'schedulingNote',
] as const;

const present = (v: unknown) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);

/** Whether a session publishes any property it could override its series with. */
export function hasOwnInheritable(session: Obj): boolean {
  return SESSION_INHERITABLE.some((k) => present(session[k]));
}

/** The inheritable properties a session publishes with a value other than its series'. */
export function sessionOverrides(session: Obj, series: Obj): string[] {
  return SESSION_INHERITABLE.filter(
    (k) => present(session[k]) && JSON.stringify(session[k]) !== JSON.stringify(series[k]),
  );
}

/**
 * The effective series a session is searched and shown with: the SessionSeries entity with the
 * session's own values laid over it, property by property, together with the columns the
 * catalog derived from each property. Null when the session overrides nothing (it then shares
 * its series' search row).
 */
export function effectiveSession(series: Entity, session: Entity): Entity | null {
  const keys = sessionOverrides(session.data, series.data);
  if (keys.length === 0) return null;
  const out: Entity = { ...series, data: { ...series.data } };
  for (const k of keys) out.data[k] = session.data[k];
  const has = (k: string) => keys.includes(k);
  if (has('name')) out.name = session.name;
  if (has('location')) {
    out.location = session.location;
    out.latitude = session.latitude;
    out.longitude = session.longitude;
  }
  if ((has('location') || has('virtualLocation') || has('eventAttendanceMode')) && session.attendance_mode) {
    out.attendance_mode = session.attendance_mode;
  }
  if (has('activity')) {
    out.activity_ids = session.activity_ids;
    out.activity_match_ids = session.activity_match_ids;
    out.activities = session.activities;
  }
  if (has('organizer')) {
    out.organizer = session.organizer;
    out.organizer_id = session.organizer_id;
    out.organizer_name = session.organizer_name;
  }
  if (has('offers')) {
    out.offers = session.offers;
    out.min_price = session.min_price;
  }
  if (has('ageRange')) {
    out.age_min = session.age_min;
    out.age_max = session.age_max;
  }
  if (has('genderRestriction')) out.gender_restriction = session.gender_restriction;
  if (has('level')) out.levels = session.levels;
  if (has('accessibilitySupport')) out.accessibility_support = session.accessibility_support;
  return out;
}

/** The session's own overriding values, as published (By-ID shows them on the session). */
export function ownValues(session: Obj, series: Obj): Obj {
  return Object.fromEntries(sessionOverrides(session, series).map((k) => [k, session[k]]));
}

/**
 * The read-model key of the search row of a session that overrides its series. A space cannot
 * occur in an `@id` (an IRI), so it never collides with a series' own key.
 */
export const variantOaId = (sessionOaId: string) => `${sessionOaId} #session`;
export const isVariantOaId = (oaId: string) => oaId.endsWith(' #session');
