import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validationFailures } from '../../test/openactive-validators.js';
import { createSandboxTestContext, sharedVocab, type SandboxTestContext } from '../../test/sandbox-helpers.js';
import { generateDataset } from './generator/generate.js';
import {
  adjustRemainingCapacity,
  bookingWindow,
  cancellationDeadline,
  findBookable,
  findOfferFor,
  findSeller,
} from './opportunities.js';

let t: SandboxTestContext;

beforeAll(async () => {
  t = await createSandboxTestContext();
  await generateDataset(t.database.db, sharedVocab(), { seed: 11, sessions: 60, anchor: new Date(), slotDays: 1 });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

async function anySession(online = false) {
  return t.database.db
    .selectFrom('scheduled_sessions')
    .innerJoin('session_series', 'session_series.id', 'scheduled_sessions.session_series_id')
    .select(['scheduled_sessions.id', 'scheduled_sessions.session_series_id', 'session_series.seller_id'])
    .where(online ? 'session_series.place_id' : 'session_series.place_id', online ? 'is' : 'is not', null)
    .where('scheduled_sessions.remaining_attendee_capacity', '>', 1)
    .orderBy('scheduled_sessions.id')
    .executeTakeFirstOrThrow();
}

const modifiedOf = async (table: 'scheduled_sessions' | 'slots', id: number) =>
  (await t.database.db.selectFrom(table).select('modified').where('id', '=', id).executeTakeFirstOrThrow()).modified;

describe('findBookable', () => {
  it('returns a scheduled session with its series, seller and offers', async () => {
    const row = await anySession();
    const found = await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id));
    expect(found).toMatchObject({
      '@type': 'ScheduledSession',
      '@id': t.urls.scheduledSession(row.id),
      ref: { type: 'ScheduledSession', id: row.id },
      parent: { '@type': 'SessionSeries', '@id': t.urls.sessionSeries(row.session_series_id) },
      seller: { '@id': t.urls.seller(row.seller_id), isOpenBookingAllowed: true },
      deleted: false,
    });
    expect(found!.offers.length).toBeGreaterThan(0);
    for (const offer of found!.offers) {
      expect(offer['@id'].startsWith(`${t.urls.sessionSeries(row.session_series_id)}#/offers/`)).toBe(true);
      expect(offer.jsonld['@id']).toBe(offer['@id']);
    }
    expect(found!.endDate.getTime()).toBeGreaterThan(found!.startDate.getTime());
    expect(found!.orderedItem.superEvent).toMatchObject({ '@type': 'SessionSeries', '@id': found!.parent['@id'] });
    expect(found!.orderedItem.offers).toBeUndefined();
  });

  it('returns a slot with its individual facility use, facility use and seller', async () => {
    const slot = await t.database.db.selectFrom('slots').selectAll().orderBy('id').executeTakeFirstOrThrow();
    const id = t.urls.slot(slot.facility_use_id, slot.individual_facility_use_id, slot.id);
    const found = await findBookable(t.database.db, t.urls, id);
    expect(found).toMatchObject({
      '@type': 'Slot',
      '@id': id,
      maximumCapacity: 1,
      parent: {
        '@type': 'IndividualFacilityUse',
        id: slot.individual_facility_use_id,
        facilityUse: { id: slot.facility_use_id },
      },
    });
    expect(found!.offers[0]!['@id'].startsWith(`${id}#/offers/`)).toBe(true);
    expect((found!.orderedItem.facilityUse as Record<string, unknown>).aggregateFacilityUse).toMatchObject({
      '@type': 'FacilityUse',
      '@id': t.urls.facilityUse(slot.facility_use_id),
    });
    // A slot URL whose facility-use path does not match the slot's parents is not that slot.
    expect(
      await findBookable(
        t.database.db,
        t.urls,
        t.urls.slot(slot.facility_use_id + 1, slot.individual_facility_use_id, slot.id),
      ),
    ).toBeUndefined();
  });

  it('renders orderedItem and acceptedOffer as the validator expects them in a booking response', async () => {
    const row = await anySession();
    const found = (await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id)))!;
    const slot = await t.database.db.selectFrom('slots').selectAll().orderBy('id').executeTakeFirstOrThrow();
    const foundSlot = (await findBookable(
      t.database.db,
      t.urls,
      t.urls.slot(slot.facility_use_id, slot.individual_facility_use_id, slot.id),
    ))!;
    for (const opp of [found, foundSlot]) {
      const response = {
        '@context': 'https://openactive.io/',
        '@type': 'OrderQuote',
        '@id': `${t.urls.openBookingBase}/order-quotes/8c9ed3a8-6dd5-4b39-9d4b-9e7a2b5d6c1f`,
        brokerRole: 'https://openactive.io/AgentBroker',
        seller: opp.seller.jsonld,
        orderedItem: [
          {
            '@type': 'OrderItem',
            position: 0,
            acceptedOffer: opp.offers[0]!.jsonld,
            orderedItem: opp.orderedItem,
          },
        ],
      };
      const failures = await validationFailures(response, 'C1Response');
      // Totals and the like are the booking side's; this checks the opportunity side's parts.
      expect(
        failures.filter(
          (f) => f.includes('orderedItem[0].orderedItem') || f.includes('acceptedOffer') || f.startsWith('$.seller'),
        ),
      ).toEqual([]);
    }
  }, 60_000);

  it('returns undefined for ids that are not ours, name nothing, or are tombstones', async () => {
    const row = await anySession();
    for (const id of [
      undefined,
      42,
      'not a url',
      `https://elsewhere.example/api/identifiers/scheduled-sessions/${row.id}`,
      t.urls.scheduledSession(999_999),
      t.urls.sessionSeries(row.session_series_id),
      `${t.urls.scheduledSession(row.id)}/extra`,
      t.urls.scheduledSession(99_999_999_999),
    ]) {
      expect(await findBookable(t.database.db, t.urls, id), String(id)).toBeUndefined();
    }
    await t.database.db.updateTable('scheduled_sessions').set({ deleted: true }).where('id', '=', row.id).execute();
    expect(await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id))).toBeUndefined();
    expect(
      (await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id), { includeDeleted: true }))?.deleted,
    ).toBe(true);
    await t.database.db.updateTable('scheduled_sessions').set({ deleted: false }).where('id', '=', row.id).execute();
  });
});

describe('adjustRemainingCapacity', () => {
  it('takes and gives back spaces within 0..capacity, bumping modified', async () => {
    const row = await anySession();
    const ref = { type: 'ScheduledSession' as const, id: row.id };
    const before = (await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id)))!;
    const modified = await modifiedOf('scheduled_sessions', row.id);

    expect(await adjustRemainingCapacity(t.database.db, ref, -2)).toBe(before.remainingCapacity - 2);
    expect(await modifiedOf('scheduled_sessions', row.id)).toBeGreaterThan(modified);
    expect(await adjustRemainingCapacity(t.database.db, ref, -(before.remainingCapacity - 2))).toBe(0);
    expect(await adjustRemainingCapacity(t.database.db, ref, -1)).toBeNull();
    expect(await adjustRemainingCapacity(t.database.db, ref, before.maximumCapacity + 1)).toBeNull();
    expect(await adjustRemainingCapacity(t.database.db, ref, before.maximumCapacity)).toBe(before.maximumCapacity);
    expect(await adjustRemainingCapacity(t.database.db, ref, before.remainingCapacity - before.maximumCapacity)).toBe(
      before.remainingCapacity,
    );
    expect(await adjustRemainingCapacity(t.database.db, { type: 'ScheduledSession', id: 999_999 }, 1)).toBeNull();
  });

  it('works on slots and inside a caller transaction (rolled back with it)', async () => {
    const slot = await t.database.db
      .selectFrom('slots')
      .selectAll()
      .where('remaining_uses', '=', 1)
      .orderBy('id')
      .executeTakeFirstOrThrow();
    const ref = { type: 'Slot' as const, id: slot.id };
    await expect(
      t.database.db.transaction().execute(async (trx) => {
        expect(await adjustRemainingCapacity(trx, ref, -1)).toBe(0);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(
      (
        await t.database.db
          .selectFrom('slots')
          .select('remaining_uses')
          .where('id', '=', slot.id)
          .executeTakeFirstOrThrow()
      ).remaining_uses,
    ).toBe(1);
    expect(await adjustRemainingCapacity(t.database.db, ref, -1)).toBe(0);
    expect(await adjustRemainingCapacity(t.database.db, ref, -1)).toBeNull();
  });

  it('never oversells under concurrent bookings', async () => {
    const row = await anySession();
    const ref = { type: 'ScheduledSession' as const, id: row.id };
    const { remainingCapacity } = (await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id)))!;
    const results = await Promise.all(
      Array.from({ length: remainingCapacity + 5 }, () =>
        t.database.db.transaction().execute((trx) => adjustRemainingCapacity(trx, ref, -1)),
      ),
    );
    expect(results.filter((r) => r !== null)).toHaveLength(remainingCapacity);
    expect(results.filter((r) => r === null)).toHaveLength(5);
    expect((await findBookable(t.database.db, t.urls, t.urls.scheduledSession(row.id)))!.remainingCapacity).toBe(0);
  });
});

describe('findOfferFor and findSeller', () => {
  it('pairs an offer with its own opportunity only', async () => {
    const sessions = await t.database.db
      .selectFrom('scheduled_sessions')
      .select(['id', 'session_series_id'])
      .orderBy('id')
      .execute();
    const a = sessions[0]!;
    const b = sessions.find((s) => s.session_series_id !== a.session_series_id)!;
    const oppA = (await findBookable(t.database.db, t.urls, t.urls.scheduledSession(a.id)))!;
    const offer = oppA.offers[0]!;
    expect(await findOfferFor(t.database.db, t.urls, oppA['@id'], offer['@id'])).toMatchObject({
      opportunity: { '@id': oppA['@id'] },
      offer: { '@id': offer['@id'], price: offer.price },
    });
    expect(await findOfferFor(t.database.db, t.urls, t.urls.scheduledSession(b.id), offer['@id'])).toBeUndefined();
    expect(await findOfferFor(t.database.db, t.urls, oppA['@id'], `${offer['@id']}0`)).toBeUndefined();
    expect(await findOfferFor(t.database.db, t.urls, oppA['@id'], undefined)).toBeUndefined();
  });

  it('finds sellers by @id with their tax mode and terms', async () => {
    const gross = await findSeller(t.database.db, t.urls, t.urls.seller(1));
    const net = await findSeller(t.database.db, t.urls, t.urls.seller(2));
    expect(gross).toMatchObject({ id: 1, taxMode: 'https://openactive.io/TaxGross', isOpenBookingAllowed: true });
    expect(net).toMatchObject({ id: 2, taxMode: 'https://openactive.io/TaxNet' });
    expect(net!.vatID).toBeDefined();
    expect(gross!.termsOfService?.[0]).toMatchObject({ '@type': 'Terms', url: `${t.urls.base}/sellers/1/terms` });
    expect(gross!.jsonld).toMatchObject({ '@type': 'Organization', '@id': t.urls.seller(1), name: gross!.name });
    expect(await findSeller(t.database.db, t.urls, t.urls.seller(99))).toBeUndefined();
    expect(await findSeller(t.database.db, t.urls, t.urls.place(1))).toBeUndefined();
  });
});

describe('booking window helpers', () => {
  const start = new Date('2026-06-10T18:00:00Z');
  it('computes the window and the cancellation deadline from ISO durations', () => {
    expect(bookingWindow({ validFromBeforeStartDate: 'P7D', validThroughBeforeStartDate: 'PT2H' }, start)).toEqual({
      from: new Date('2026-06-03T18:00:00Z'),
      through: new Date('2026-06-10T16:00:00Z'),
    });
    expect(bookingWindow({ validFromBeforeStartDate: null, validThroughBeforeStartDate: null }, start)).toEqual({
      from: undefined,
      through: start,
    });
    expect(cancellationDeadline({ latestCancellationBeforeStartDate: 'P1D' }, start)).toEqual(
      new Date('2026-06-09T18:00:00Z'),
    );
    expect(cancellationDeadline({ latestCancellationBeforeStartDate: null }, start)).toBeUndefined();
  });
});
