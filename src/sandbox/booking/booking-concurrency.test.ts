import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxTestContext, type SandboxTestContext } from '../../../test/sandbox-helpers.js';
import { createFixtures, orderRequest, partnerHeaders, places, type Fixtures } from './booking.fixtures.js';

let t: SandboxTestContext;
let f: Fixtures;

beforeAll(async () => {
  t = await createSandboxTestContext();
  f = await createFixtures(t.database.db, t.urls);
});
afterAll(async () => {
  await t.close();
});

const FREE = [{ price_minor: 0, open_booking_prepayment: null }];
const put = (path: string, uuid: string, body: unknown) =>
  t.request({
    method: 'PUT',
    url: `/api/openbooking/${path}/${uuid}`,
    headers: partnerHeaders(),
    payload: JSON.stringify(body),
  });

async function remaining(id: number): Promise<number> {
  const row = await t.database.db
    .selectFrom('scheduled_sessions')
    .select('remaining_attendee_capacity')
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  return row.remaining_attendee_capacity;
}

describe('concurrent bookings', () => {
  it('books exactly 5 of 50 concurrent B requests for the last 5 places', async () => {
    const session = await f.session({ capacity: 5, offers: FREE });
    const body = orderRequest('B', f.sellerUrl, places(session), {
      totalPaymentDue: { '@type': 'PriceSpecification', price: 0 },
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => put('orders', randomUUID(), body)));
    const created = results.filter((r) => r.statusCode === 201);
    const refused = results.filter((r) => r.statusCode === 409);
    expect(created).toHaveLength(5);
    expect(refused).toHaveLength(45);
    for (const r of refused) expect(r.json().orderedItem[0].error[0]['@type']).toBe('OpportunityIsFullError');
    expect(await remaining(session.id)).toBe(0);
    const items = await t.database.db
      .selectFrom('order_items')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('opportunity_type', '=', 'ScheduledSession')
      .where('opportunity_id', '=', session.id)
      .executeTakeFirstOrThrow();
    expect(Number(items.n)).toBe(5);
  });

  it('grants exactly 3 of 20 concurrent leases for 3 places', async () => {
    const session = await f.session({ capacity: 3, offers: FREE });
    const body = orderRequest('C1', f.sellerUrl, places(session));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => put('order-quote-templates', randomUUID(), body)),
    );
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(3);
    for (const r of results.filter((x) => x.statusCode === 409)) {
      expect(r.json().orderedItem[0].error[0]['@type']).toBe('OpportunityCapacityIsReservedByLeaseError');
    }
    expect(await remaining(session.id)).toBe(0);
  });

  it('answers 10 concurrent identical B requests with one booking and the same response', async () => {
    const session = await f.session({ capacity: 5, offers: FREE });
    const uuid = randomUUID();
    const body = orderRequest('B', f.sellerUrl, places(session), {
      totalPaymentDue: { '@type': 'PriceSpecification', price: 0 },
    });
    const results = await Promise.all(Array.from({ length: 10 }, () => put('orders', uuid, body)));
    expect(results.map((r) => r.statusCode)).toEqual(Array(10).fill(201));
    for (const r of results) expect(r.json()).toEqual(results[0]!.json());
    expect(await remaining(session.id)).toBe(4);
  });
});
