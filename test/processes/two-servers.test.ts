import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckoutSession, checkoutThroughPages, submitForm, walkToPayment } from '../checkout-pages.js';
import { startSellerWorld, TEST_CLIENT, type SellerWorld } from '../seller-world.js';
import { createEmptyDatabase, eventually, runCli, startServerProcess, type ServerProcess } from '../server-process.js';

/*
 * Issue 14, "several processes on one database": two activehub servers (child processes running
 * src/main.ts) started together on one fresh PostgreSQL database, as behind a load balancer,
 * through harvest, checkouts on both, a cancellation made on the other server, a key revoked
 * from the CLI, and a kill -9 of one in the middle of a checkout. PostgreSQL only: PGlite is one
 * process by design.
 */

const serverUrl = process.env.TEST_DATABASE_URL;
// A live key: the seller world is a live booking system (a test key books only test sellers).
const DEMO_KEY = 'ah_live_two_servers_demo_key_0123456789';
const ADMIN = 'two-servers-admin-key-0123456789';
const LEASE_SECONDS = 3;

type Json = Record<string, any>;

describe.runIf(serverUrl)('two activehub servers on one PostgreSQL database', () => {
  let seller: SellerWorld;
  let database: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  let s1: ServerProcess;
  let s2: ServerProcess;
  const env = () => ({
    DATABASE_URL: database.url,
    DEMO_API_KEY: DEMO_KEY,
    ADMIN_API_KEY: ADMIN,
    HARVEST_DATASET_URLS: seller.datasetUrl,
    HARVEST_POLL_INTERVAL_SECONDS: '1',
    JOBS_LEASE_SECONDS: String(LEASE_SECONDS),
    JOBS_MAINTENANCE_INTERVAL_SECONDS: '1',
    JOBS_STALL_AFTER_SECONDS: '30',
    CHECKOUT_RECOVERY_AFTER_SECONDS: '3',
    BOOKING_TARGET_CACHE_MS: '1000',
  });
  const query = async <T = Json>(text: string, values: unknown[] = []) => (await pool.query(text, values)).rows as T[];
  const api = async (server: ServerProcess, path: string, init: RequestInit & { key?: string } = {}) => {
    const { key = DEMO_KEY, ...rest } = init;
    return fetch(`${server.base}${path}`, {
      ...rest,
      headers: { 'x-api-key': key, 'content-type': 'application/json', ...(rest.headers as Record<string, string>) },
    });
  };
  const customer = (n: string) => ({ email: `${n}@example.com`, givenName: 'Two', familyName: `Servers ${n}` });
  /** A checkout session on `server` for `opportunity` once that server's catalog has it. */
  const bookable = (server: ServerProcess, opportunity: string) =>
    eventually(`${opportunity} harvested`, 30_000, () =>
      createCheckoutSession(server.base, 'acme', DEMO_KEY, opportunity, customer('probe')).then(() => true),
    );

  beforeAll(async () => {
    seller = await startSellerWorld({ sessions: 200 });
    database = await createEmptyDatabase(serverUrl!, 'ah_two_servers');
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    // Dropping the database at the end ends any connection still open (57P01): expected, not a failure.
    pool.on('error', () => undefined);
    // Both at once on an empty database: migrations, pg-boss's tables, the demo broker and the
    // publisher are made by whichever gets there first, and the other copes.
    [s1, s2] = await Promise.all([startServerProcess(env()), startServerProcess(env())]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([s1?.kill9(), s2?.kill9()]);
    await pool?.end();
    await database?.drop();
    await seller?.close();
  });

  it('start together on an empty database and harvest the seller between them, one job per feed at a time', async () => {
    // A server listens before it has registered the configured publisher.
    const publishers = await eventually('the publisher registered', 30_000, async () => {
      const body = (await (await api(s1, '/admin/publishers', { key: ADMIN })).json()) as Json;
      return (body.items as Json[]).length > 0 ? body : undefined;
    });
    expect(publishers.items).toHaveLength(1);
    const credentials = await api(s2, `/admin/publishers/${publishers.items[0].id}/booking-credentials`, {
      key: ADMIN,
      method: 'PUT',
      body: JSON.stringify({ headers: TEST_CLIENT }),
    });
    expect(credentials.status, await credentials.text()).toBeLessThan(300);
    const feeds = await eventually('every feed caught up', 60_000, async () => {
      const body = (await (await api(s2, '/admin/feeds', { key: ADMIN })).json()) as Json;
      return (body.items as Json[]).every((f) => f.status === 'caught_up') ? body : undefined;
    });
    expect(feeds.harvestQueue).toMatchObject({ status: 'ok' });
    expect((feeds.items as Json[]).reduce((n, f) => n + (f.itemsUpdated as number), 0)).toBeGreaterThan(200);
    // Harvest jobs keep coming (one per feed per poll), and never two at once for one feed
    // (pg-boss's own records). The first round may be all there is when the feeds catch up.
    const runs = await eventually('a second round of harvest jobs', 30_000, async () => {
      const { rows } = await pool.query<{ key: string; started: Date; ended: Date | null }>(
        `select singleton_key as key, started_on as started, completed_on as ended
           from pgboss.job where name = 'catalog.harvest-feed' and started_on is not null
         union all
         select singleton_key, started_on, completed_on
           from pgboss.archive where name = 'catalog.harvest-feed' and started_on is not null
         order by 1, 2`,
      );
      return rows.length > feeds.items.length ? rows : undefined;
    });
    for (let i = 1; i < runs.length; i += 1) {
      const [a, b] = [runs[i - 1]!, runs[i]!];
      if (a.key === b.key && a.ended) expect(b.started.getTime()).toBeGreaterThanOrEqual(a.ended.getTime());
    }
    // The projection too: one at a time.
    const projections = await query<{ started: Date; ended: Date | null }>(
      `select started_on as started, completed_on as ended from pgboss.job
        where name = 'search.project' and started_on is not null order by started_on`,
    );
    expect(projections.length).toBeGreaterThan(0);
    for (let i = 1; i < projections.length; i += 1) {
      const a = projections[i - 1]!;
      if (a.ended) expect(projections[i]!.started.getTime()).toBeGreaterThanOrEqual(a.ended.getTime());
    }
  }, 90_000);

  it('takes checkouts on both and cancels on one an order made on the other: one refund', async () => {
    const opportunity = await seller.createOpportunity();
    await bookable(s1, opportunity);
    await bookable(s2, opportunity);
    const pages = await Promise.all(
      [s1, s2, s1, s2].map((s, i) => checkoutThroughPages(s.base, 'acme', DEMO_KEY, opportunity, customer(`c${i}`))),
    );
    for (const text of pages) expect(text).toContain('Booking confirmed');
    const orders = await query<{ id: string; payment_id: string }>(
      `select o.id, o.payment_id from orders o join order_items i on i.order_id = o.id
        where i.opportunity_id = $1 and o.status = 'confirmed' order by o.created_at`,
      [opportunity],
    );
    expect(orders).toHaveLength(4);
    expect(await seller.remaining(opportunity)).toBe(10 - 4);

    // Made on s1 (the first), cancelled through s2.
    const order = (await (await api(s2, `/api/v2/orders/${orders[0]!.id}`)).json()) as Json;
    const patch = await api(s2, `/api/v2/orders/${orders[0]!.id}`, {
      method: 'PATCH',
      body: JSON.stringify({
        '@context': 'https://openactive.io/',
        '@type': 'Order',
        orderedItem: [
          {
            '@type': 'OrderItem',
            '@id': order.orderedItem[0].id,
            orderItemStatus: 'https://openactive.io/CustomerCancelled',
          },
        ],
      }),
    });
    expect(patch.status, await patch.text()).toBe(204);
    // The refund follows the seller's Orders feed, read by whichever server: exactly once. This
    // seller's feed is new (its first orders), found by the housekeeping job every 30 s.
    await eventually('the refund', 75_000, async () => {
      const [p] = await query<{ status: string }>(`select status from payments where id = $1`, [orders[0]!.payment_id]);
      return p?.status === 'refunded' ? true : undefined;
    });
    const refunds = await query(`select * from order_refunds where order_id = $1`, [orders[0]!.id]);
    expect(refunds).toHaveLength(1);
    const seen = (await (await api(s1, `/api/v2/orders/${orders[0]!.id}`)).json()) as Json;
    expect(seen.orderedItem[0].orderItemStatus).toBe('https://openactive.io/CustomerCancelled');
    expect(await seller.remaining(opportunity)).toBe(10 - 3);
  }, 150_000);

  it('stops accepting a key revoked from the CLI on both servers within AUTH_CACHE_TTL_MS (5 s)', async () => {
    const cli = { DATABASE_URL: database.url };
    const made = await runCli(['keys', 'create', '--broker', 'acme', '--products', 'booking,checkout'], cli);
    const id = /^Key (\d+) /m.exec(made)![1]!;
    const key = /^\s+(ah_\S+)$/m.exec(made)![1]!;
    const probe = (s: ServerProcess) => api(s, '/api/v2/customer-accounts/NoSuchOne1', { key }).then((r) => r.status);
    expect(await probe(s1)).toBe(404);
    expect(await probe(s2)).toBe(404);
    await runCli(['keys', 'revoke', id], cli);
    const revokedAt = Date.now();
    await eventually('the key refused by both', 10_000, async () =>
      (await probe(s1)) === 401 && (await probe(s2)) === 401 ? true : undefined,
    );
    expect(Date.now() - revokedAt).toBeLessThan(5000 + 1500);
  }, 60_000);

  it('survives a kill -9 of one mid-checkout: the other settles that checkout, harvests and projects; nothing booked twice', async () => {
    const opportunity = await seller.createOpportunity();
    await bookable(s1, opportunity);
    const held = seller.holdNextBooking();
    const form = await walkToPayment(
      await createCheckoutSession(s1.base, 'acme', DEMO_KEY, opportunity, customer('interrupted')),
    );
    const paying = submitForm(form).catch(() => 'killed');
    const uuid = await held.arrived;
    // Jobs running at the moment of the kill (either server's): none may stay running.
    const killedAt = new Date();
    await s1.kill9();
    held.release();
    expect(await paying).toBe('killed');
    const [pending] = await query<{ status: string; stage: string }>(`select status, stage from orders where id = $1`, [
      uuid,
    ]);
    expect(pending).toMatchObject({ status: 'pending', stage: 'booking' });

    // The survivor's recovery sweep settles it: B again (the seller replays it), capture, confirm.
    await eventually('the interrupted checkout confirmed by the survivor', 30_000, async () => {
      const [o] = await query<{ status: string }>(`select status from orders where id = $1`, [uuid]);
      return o?.status === 'confirmed' ? true : undefined;
    });
    // Harvest and projection go on in the survivor: a session published after the kill is
    // bookable there and in its search read model.
    const later = await seller.createOpportunity();
    await bookable(s2, later);
    await eventually('the new session projected', 30_000, async () => {
      const rows = await query(`select 1 from search_occurrences where oa_id = $1`, [later]);
      return rows.length ? true : undefined;
    });
    await eventually('no job left running from before the kill', 30_000, async () => {
      const rows = await query(`select name from pgboss.job where state = 'active' and started_on < $1`, [killedAt]);
      return rows.length === 0 ? true : undefined;
    });

    // Nothing booked twice, no money without a booking, no booking without money.
    const atSeller = (await seller.orders()).filter((o) => o.booked > 0);
    expect(new Set(atSeller.map((o) => o.uuid)).size).toBe(atSeller.length);
    const confirmed = await query<{ id: string; payment: string }>(
      `select o.id, p.status as payment from orders o join payments p on p.id = o.payment_id where o.status = 'confirmed'`,
    );
    expect(confirmed.filter((o) => o.payment !== 'captured' && o.payment !== 'refunded')).toEqual([]);
    expect(atSeller.map((o) => o.uuid).sort()).toEqual(confirmed.map((o) => o.id).sort());
    const captured = await query(
      `select p.id from payments p left join orders o on o.payment_id = p.id
        where p.status = 'captured' and (o.id is null or o.status <> 'confirmed')`,
    );
    expect(captured).toEqual([]);
    expect(await seller.remaining(opportunity)).toBe(10 - 1);
    const health = (await (await fetch(`${s2.base}/health`)).json()) as Json;
    expect(health.status).toBe('ok');
    // Neither server logged an error along the way.
    const errors = [...s1.logs, ...s2.logs].filter((l) => (l.level as number) >= 50);
    expect(errors).toEqual([]);
  }, 120_000);
});
