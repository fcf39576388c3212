import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findValues } from '../../../test/db-scan.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import { createSealer } from '../../lib/secrets.js';
import { randomBytes } from 'node:crypto';
import { createBookingService } from './booking.service.js';
import { BookingError } from './booking.errors.js';

/*
 * Sellers' booking credentials are stored sealed (issue 14 point 9: they were plain JSONB). The
 * secret never appears anywhere in the database, a sealed value moved to another publisher's row
 * does not open there, rows stored plain by an earlier version are sealed at start-up, and a
 * server with another key says so instead of sending garbage to the seller.
 */

const ADMIN = 'credentials-admin-key-0123456789';
let t: TestContext;
const servers: RpdeTestServer[] = [];

/** A publisher with a dataset site and a booking endpoint (real HTTP server). */
async function publisher(name: string) {
  const server = await new RpdeTestServer().start();
  servers.push(server);
  const datasetUrl = server.publishDataset(name, { SessionSeries: 'series' });
  server.feed('series');
  const { publisher: row } = await t.services.catalog.addPublisher({ datasetUrl });
  return { id: row.id, sellerId: `${server.base}/sellers/1` };
}

const rows = (publisherId: number) =>
  sql<{ seller_id: string | null; headers: unknown; headers_sealed: string | null }>`
    select seller_id, headers, headers_sealed from booking_credentials where publisher_id = ${publisherId}
  `
    .execute(t.deps.database.db)
    .then((r) => r.rows);

beforeAll(async () => {
  t = await createTestContext({ config: { adminApiKey: ADMIN } });
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  await t?.close();
});

describe('sealed booking credentials', () => {
  it('keeps the secret out of every table, and books with it', async () => {
    const p = await publisher('Sealed Leisure');
    const secret = `Bearer sealed-${randomBytes(12).toString('hex')}`;
    const put = await t.request({
      method: 'PUT',
      url: `/admin/publishers/${p.id}/booking-credentials`,
      key: ADMIN,
      payload: { headers: { Authorization: secret, 'X-Partner': 'activehub-partner-id' } },
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.body).not.toContain('sealed-');
    const [row] = await rows(p.id);
    expect(row!.headers).toBeNull();
    expect(row!.headers_sealed).toMatch(/^v1\.[0-9a-f]{8}\./);
    expect(await findValues(t.deps.database, { secret, partner: 'activehub-partner-id' })).toEqual([]);
    const target = await t.services.booking.targetFor(p.id, p.sellerId);
    expect(target.headers).toEqual({ authorization: secret, 'x-partner': 'activehub-partner-id' });
    const list = await t.request({ method: 'GET', url: `/admin/publishers/${p.id}/booking-credentials`, key: ADMIN });
    expect(list.json().items[0].headerNames).toEqual(['authorization', 'x-partner']);
  });

  it('does not open a sealed value copied to another publisher (the seal is bound to its row)', async () => {
    const victim = await publisher('Victim Leisure');
    const attacker = await publisher('Attacker Leisure');
    await t.services.booking.setCredentials({ publisherId: victim.id, headers: { Authorization: 'Bearer victim' } });
    await t.services.booking.setCredentials({ publisherId: attacker.id, headers: { Authorization: 'Bearer mine' } });
    // Someone with write access to the table (not the key) moves the victim's sealed value.
    await sql`update booking_credentials set headers_sealed =
        (select headers_sealed from booking_credentials where publisher_id = ${victim.id})
      where publisher_id = ${attacker.id}`.execute(t.deps.database.db);
    const booking = createBookingService({
      database: t.deps.database,
      http: t.deps.http,
      clock: t.deps.clock,
      log: t.deps.log,
      catalog: t.services.catalog,
      secrets: t.deps.secrets,
      targetCacheMs: 0,
    });
    const err = await booking.targetFor(attacker.id, attacker.sellerId).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BookingError);
    expect((err as BookingError).problem.code).toBe('invalid_credentials');
    expect((await booking.targetFor(victim.id, victim.sellerId)).headers).toEqual({ authorization: 'Bearer victim' });
    expect((await booking.prepareStoredCredentials()).unreadable).toBe(1);
    // Setting them again is the remedy.
    await booking.setCredentials({ publisherId: attacker.id, headers: { Authorization: 'Bearer mine' } });
    expect((await booking.targetFor(attacker.id, attacker.sellerId)).headers).toEqual({ authorization: 'Bearer mine' });
    expect((await booking.prepareStoredCredentials()).unreadable).toBe(0);
  });

  it('seals credentials an earlier version stored in plain JSON, once, at start-up', async () => {
    const p = await publisher('Legacy Leisure');
    const seller = await publisher('Legacy Seller Leisure');
    await sql`insert into booking_credentials (publisher_id, seller_id, headers, created_at, updated_at) values
        (${p.id}, null, ${JSON.stringify({ authorization: 'Bearer legacy-plain-1' })}::jsonb, now(), now()),
        (${seller.id}, ${seller.sellerId}, ${JSON.stringify({ 'x-key': 'legacy-plain-2' })}::jsonb, now(), now())`.execute(
      t.deps.database.db,
    );
    expect((await findValues(t.deps.database, { a: 'legacy-plain-1', b: 'legacy-plain-2' })).length).toBe(2);
    const first = await t.services.booking.prepareStoredCredentials();
    expect(first.sealed).toBe(2);
    expect(first.unreadable).toBe(0);
    expect(await findValues(t.deps.database, { a: 'legacy-plain-1', b: 'legacy-plain-2' })).toEqual([]);
    expect((await t.services.booking.prepareStoredCredentials()).sealed).toBe(0);
    expect((await t.services.booking.targetFor(p.id, p.sellerId)).headers).toEqual({
      authorization: 'Bearer legacy-plain-1',
    });
    expect((await t.services.booking.targetFor(seller.id, seller.sellerId)).headers).toEqual({
      'x-key': 'legacy-plain-2',
    });
  });

  it('reports credentials sealed under another key, and never sends them', async () => {
    const p = await publisher('Other Key Leisure');
    await t.services.booking.setCredentials({ publisherId: p.id, headers: { Authorization: 'Bearer other-key' } });
    const otherServer = createBookingService({
      database: t.deps.database,
      http: t.deps.http,
      clock: t.deps.clock,
      log: t.deps.log,
      catalog: t.services.catalog,
      secrets: createSealer(randomBytes(32)),
      targetCacheMs: 0,
    });
    const prepared = await otherServer.prepareStoredCredentials();
    expect(prepared.unreadable).toBeGreaterThanOrEqual(1);
    const err = await otherServer.targetFor(p.id, p.sellerId).catch((e: unknown) => e);
    expect((err as BookingError).problem.code).toBe('invalid_credentials');
    expect((await otherServer.listCredentials(p.id))[0]!.headerNames).toEqual([]);
    // This server's key still opens them: nothing was changed by the other.
    expect((await t.services.booking.prepareStoredCredentials()).unreadable).toBe(0);
  });
});
