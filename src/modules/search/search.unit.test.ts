import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCollections } from './collections.js';
import { aggregateOffer, bookingWindow } from './projection.js';
import { pageUrl, parseEventsQuery, parseFacilitiesQuery, type QueryContext } from './query.js';
import { boundingBox } from './search.repository.js';
import { NOW, vocab } from './search.fixtures.js';

const ctx: QueryContext = {
  vocab,
  collections: createCollections(vocab, 'http://x.test/events-api/v2'),
  labelIndex: new Map(vocab.allActivities().map((a) => [a.prefLabel, a.id])),
  now: NOW,
};

describe('aggregate offers (imin §3.6.2)', () => {
  const offer = (price: number, ageRange?: { minValue?: number; maxValue?: number }, extra = {}) => ({
    '@type': 'Offer',
    price,
    priceCurrency: 'GBP',
    ...(ageRange ? { ageRange: { '@type': 'QuantitativeValue', ...ageRange } } : {}),
    ...extra,
  });

  it('takes adult prices from offers open at 18 and junior ones from under-18 offers (the documented example)', () => {
    const offers = [
      offer(4.3),
      offer(3.3, { maxValue: 13 }),
      offer(3.3, { minValue: 14, maxValue: 15 }),
      offer(3.3, { minValue: 50 }),
    ];
    expect(aggregateOffer(offers)).toEqual({
      type: 'imin:AggregateOffer',
      publicAdult: { type: 'AggregateOffer', price: 4.3, priceCurrency: 'GBP', 'imin:membershipRequired': false },
      publicJunior: { type: 'AggregateOffer', price: 3.3, priceCurrency: 'GBP', 'imin:membershipRequired': false },
    });
  });

  it('names the offer each part summarises: the cheapest, by its @id', () => {
    // imin-booking §2.8.2: "publicAdult": { "id": "https://acme-leisure.com/api/offers/abc123", … }
    const withId = (price: number, key: string, ageRange?: { minValue?: number; maxValue?: number }) => ({
      ...offer(price, ageRange),
      '@id': `https://acme-leisure.com/api/offers/${key}`,
    });
    const a = aggregateOffer([withId(12.5, 'dear'), withId(9, 'abc123'), withId(7.5, 'def456', { maxValue: 17 })])!;
    expect(a.publicAdult).toMatchObject({ id: 'https://acme-leisure.com/api/offers/abc123', lowPrice: 9 });
    expect(a.publicJunior).toMatchObject({ id: 'https://acme-leisure.com/api/offers/def456', price: 7.5 });
  });

  it('prefers public prices to member prices, and says when membership is required', () => {
    const member = { eligibleEntitlementType: [{ '@type': 'Concept', '@id': 'https://x.test/member' }] };
    expect(aggregateOffer([offer(3, undefined, member), offer(6)])!.publicAdult).toMatchObject({
      price: 6,
      'imin:membershipRequired': false,
    });
    expect(aggregateOffer([offer(3, undefined, member), offer(5, undefined, member)])!.publicAdult).toMatchObject({
      lowPrice: 3,
      highPrice: 5,
      'imin:membershipRequired': true,
    });
    expect(aggregateOffer([offer(0)])!.publicAdult).toEqual({
      type: 'AggregateOffer',
      price: 0,
      priceCurrency: 'GBP',
      'imin:membershipRequired': false,
    });
    expect(aggregateOffer([])).toBeNull();
  });

  it('derives the booking window from adult offers open to advance booking', () => {
    expect(bookingWindow([offer(5, undefined, { validFromBeforeStartDate: 'P7D' })])).toEqual({
      bookable: true,
      fromS: 7 * 86400,
      untilS: null,
    });
    expect(bookingWindow([offer(5, { maxValue: 12 })]).bookable).toBe(false);
    expect(
      bookingWindow([offer(5, undefined, { openBookingInAdvance: 'https://openactive.io/Unavailable' })]).bookable,
    ).toBe(false);
    expect(
      bookingWindow([
        offer(5, undefined, { validFromBeforeStartDate: 'P1D', validThroughBeforeStartDate: 'PT2H' }),
        offer(6),
      ]),
    ).toEqual({ bookable: true, fromS: null, untilS: 7200 });
  });
});

describe('query parsing', () => {
  it('echoes the effective query in imin’s encoding', () => {
    const q = parseEventsQuery({ mode: 'discovery-geo', 'geo[radial]': '52.5,-2.2,100' }, ctx, { modeRequired: true });
    expect(pageUrl('https://h.test/events-api/v2/event-series', q.canonical, 1)).toBe(
      'https://h.test/events-api/v2/event-series?mode=discovery-geo&geo%5Bradial%5D=52.5%2C-2.2%2C100&iminTag%5Bnot%5D=HighFrequencySession&limit=20&page=1',
    );
  });

  it('clips dates to the 14-day lookahead', () => {
    const q = parseEventsQuery(
      { mode: 'upcoming-sessions', 'geo[radial]': '52.5,-2.2,5', 'startDate[gte]': '2026-03-20T00:00:00Z' },
      ctx,
      { modeRequired: true },
    );
    expect(q.occurrences.from).toEqual(NOW);
    expect(q.occurrences.to).toEqual(new Date('2026-04-06T08:00:00Z'));
  });

  it('turns upcoming-slots dates into one day (imin §4.1.2)', () => {
    const day = (params: Record<string, string>) => {
      const q = parseFacilitiesQuery({ mode: 'upcoming-slots', 'geo[radial]': '52.5,-2.2,5', ...params }, ctx);
      return [q.occurrences.from.toISOString(), q.occurrences.to.toISOString()];
    };
    expect(day({ 'startDate[gte]': '2026-03-24T09:00:00Z' })).toEqual([
      '2026-03-24T09:00:00.000Z',
      '2026-03-24T23:59:59.999Z',
    ]);
    expect(day({ 'startDate[lte]': '2026-03-24T13:30:00Z' })).toEqual([
      '2026-03-24T00:00:00.000Z',
      '2026-03-24T13:30:00.000Z',
    ]);
    // Today's window starts now, not at midnight.
    expect(day({ 'startDate[lte]': '2026-03-23T13:30:00Z' })[0]).toBe(NOW.toISOString());
  });
});

describe('geo box', () => {
  const R = 6371.0088;
  const rad = (d: number) => (d * Math.PI) / 180;
  const haversine = (a: { lat: number; lng: number }, b: { lat: number; lng: number }) =>
    2 *
    R *
    Math.asin(
      Math.sqrt(
        Math.sin(rad(b.lat - a.lat) / 2) ** 2 +
          Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(rad(b.lng - a.lng) / 2) ** 2,
      ),
    );

  it('contains every point within the radius', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -80, max: 80, noNaN: true }),
        fc.double({ min: -179, max: 179, noNaN: true }),
        fc.double({ min: 0, max: 1000, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
        (lat, lng, radiusKm, fraction, bearing) => {
          // A point at `fraction` of the radius in direction `bearing`.
          const d = (radiusKm * fraction) / R;
          const φ1 = rad(lat);
          const φ2 = Math.asin(Math.sin(φ1) * Math.cos(d) + Math.cos(φ1) * Math.sin(d) * Math.cos(bearing));
          const λ2 =
            rad(lng) +
            Math.atan2(Math.sin(bearing) * Math.sin(d) * Math.cos(φ1), Math.cos(d) - Math.sin(φ1) * Math.sin(φ2));
          const p = { lat: (φ2 * 180) / Math.PI, lng: (((λ2 * 180) / Math.PI + 540) % 360) - 180 };
          if (haversine({ lat, lng }, p) > radiusKm) return;
          const box = boundingBox({ lat, lng, radiusKm });
          // (the point is computed through radians and back: allow for rounding)
          const eps = 1e-9;
          expect(p.lat).toBeGreaterThanOrEqual(box.lat[0] - eps);
          expect(p.lat).toBeLessThanOrEqual(box.lat[1] + eps);
          if (box.lng) {
            expect(p.lng).toBeGreaterThanOrEqual(box.lng[0] - eps);
            expect(p.lng).toBeLessThanOrEqual(box.lng[1] + eps);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
