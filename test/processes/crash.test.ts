import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCheckoutSession, submitForm, walkToPayment } from '../checkout-pages.js';
import { startSellerWorld, TEST_CLIENT, type SellerWorld } from '../seller-world.js';
import { createEmptyDatabase, eventually, startServerProcess, type ServerProcess } from '../server-process.js';

/*
 * Issue 14, "must be tested": a server (child process) is killed with SIGKILL while it runs a
 * harvest job, a projection job and a checkout, and every queue must make progress again within
 * a bounded time after a restart. The jobs are caught running at the moment of the kill by
 * holding row locks from the test (a feed's row: that feed's next page write waits; the search
 * cursor: the projector's next batch waits), the checkout by holding its B at the seller's
 * proxy. Short lease and maintenance times through the environment keep it quick.
 */

const serverUrl = process.env.TEST_DATABASE_URL;
// A live key: the seller world is a live booking system (a test key books only test sellers).
const DEMO_KEY = 'ah_live_crash_test_demo_key_0123456789';
const ADMIN = 'crash-test-admin-key-0123456789';
/** After the restart, everything must be moving again within this. */
const RECOVERY_BOUND_MS = 30_000;

type Json = Record<string, any>;

describe.runIf(serverUrl)('a server killed with SIGKILL during harvest, projection and checkout', () => {
  let seller: SellerWorld;
  let database: { url: string; drop(): Promise<void> };
  let pool: pg.Pool;
  let server: ServerProcess | undefined;
  const env = () => ({
    DATABASE_URL: database.url,
    DEMO_API_KEY: DEMO_KEY,
    ADMIN_API_KEY: ADMIN,
    HARVEST_DATASET_URLS: seller.datasetUrl,
    HARVEST_POLL_INTERVAL_SECONDS: '1',
    JOBS_LEASE_SECONDS: '3',
    JOBS_MAINTENANCE_INTERVAL_SECONDS: '1',
    JOBS_STALL_AFTER_SECONDS: '30',
    CHECKOUT_RECOVERY_AFTER_SECONDS: '3',
  });
  const query = async <T = Json>(text: string, values: unknown[] = []) => (await pool.query(text, values)).rows as T[];
  const admin = async (path: string, init: RequestInit = {}) =>
    fetch(`${server!.base}${path}`, {
      ...init,
      headers: { 'x-api-key': ADMIN, 'content-type': 'application/json' },
    });
  const customer = { email: 'crash@example.com', givenName: 'Crash', familyName: 'Test' };
  const projectedUpTo = async () => {
    const [row] = await query<{ cursor: number; latest: number }>(
      `select (select coalesce(max(last_seq), 0) from search_projector_state where name = 'search')::int as cursor,
              (select coalesce(max(seq), 0) from catalog_changes)::int as latest`,
    );
    return row!;
  };

  beforeAll(async () => {
    seller = await startSellerWorld({ sessions: 200, seed: 23 });
    database = await createEmptyDatabase(serverUrl!, 'ah_crash');
    pool = new pg.Pool({ connectionString: database.url, max: 3 });
    // Dropping the database at the end ends any connection still open (57P01): expected, not a failure.
    pool.on('error', () => undefined);
    server = await startServerProcess(env());
    // The server listens before it has registered the configured publisher.
    const publishers = await eventually('the publisher registered', 30_000, async () => {
      const body = (await (await admin('/admin/publishers')).json()) as Json;
      return (body.items as Json[]).length > 0 ? body : undefined;
    });
    const put = await admin(`/admin/publishers/${publishers.items[0].id}/booking-credentials`, {
      method: 'PUT',
      body: JSON.stringify({ headers: TEST_CLIENT }),
    });
    expect(put.status).toBeLessThan(300);
    await eventually('the first harvest and projection', 60_000, async () => {
      const feeds = (await (await admin('/admin/feeds')).json()) as Json;
      const p = await projectedUpTo();
      return (feeds.items as Json[]).every((f) => f.status === 'caught_up') && p.latest > 0 && p.cursor === p.latest
        ? true
        : undefined;
    });
  }, 120_000);
  afterAll(async () => {
    await server?.kill9();
    await pool?.end();
    await database?.drop();
    await seller?.close();
  });

  it('makes progress again on every queue within a bounded time after the restart', async () => {
    const feeds = ((await (await admin('/admin/feeds')).json()) as Json).items as Json[];
    const locked = feeds.find((f) => !['ScheduledSession', 'SessionSeries'].includes(f.kind as string)) ?? feeds[0]!;
    const holder = await pool.connect();
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await holder.query('rollback');
      holder.release();
    };
    try {
      await holder.query('begin');
      await holder.query(`select id from feeds where id = $1 for update`, [locked.id]);
      await holder.query(`select name from search_projector_state where name = 'search' for update`);

      // New data to harvest and project; a checkout whose B the seller's proxy holds.
      const opportunity = await seller.createOpportunity();
      await eventually('the new session harvested', 30_000, () =>
        createCheckoutSession(server!.base, 'acme', DEMO_KEY, opportunity, customer).then(() => true),
      );
      const held = seller.holdNextBooking();
      const form = await walkToPayment(
        await createCheckoutSession(server!.base, 'acme', DEMO_KEY, opportunity, customer),
      );
      const paying = submitForm(form).catch(() => 'killed');
      const orderId = await held.arrived;
      const running = await eventually('harvest and projection jobs caught running', 20_000, async () => {
        const rows = await query<{ name: string; key: string }>(
          `select name, singleton_key as key from pgboss.job where state = 'active'`,
        );
        const harvesting = rows.some((r) => r.name === 'catalog.harvest-feed' && r.key === `feed-${locked.id}`);
        const projecting = rows.some((r) => r.name === 'search.project');
        return harvesting && projecting ? rows : undefined;
      });

      await server!.kill9();
      held.release();
      expect(await paying).toBe('killed');
      await release();
      const left = await query<{ name: string }>(`select name from pgboss.job where state = 'active'`);
      expect(left.map((r) => r.name)).toEqual(expect.arrayContaining(['catalog.harvest-feed', 'search.project']));
      expect((await query(`select status from orders where id = $1`, [orderId]))[0]).toMatchObject({
        status: 'pending',
      });

      server = await startServerProcess(env());
      const restartedAt = Date.now();
      const since = new Date(restartedAt);
      const progress = await eventually('every queue moving again', RECOVERY_BOUND_MS, async () => {
        const [order] = await query<{ status: string }>(`select status from orders where id = $1`, [orderId]);
        const [feed] = await query<{ last: Date }>(`select last_page_at as last from feeds where id = $1`, [locked.id]);
        const projected = await projectedUpTo();
        const inSearch = await query(`select 1 from search_occurrences where oa_id = $1`, [opportunity]);
        const stillRunning = await query(`select 1 from pgboss.job where state = 'active' and started_on < $1`, [
          since,
        ]);
        // Each queue that had a job running at the kill has completed one since the restart.
        const completed = await query<{ name: string }>(
          `select distinct name from pgboss.job where state = 'completed' and started_on >= $1`,
          [since],
        );
        const names = new Set(completed.map((c) => c.name));
        const done =
          order?.status === 'confirmed' &&
          feed!.last.getTime() >= restartedAt &&
          projected.cursor === projected.latest &&
          inSearch.length === 1 &&
          stillRunning.length === 0 &&
          running.every((r) => names.has(r.name));
        return done ? { ms: Date.now() - restartedAt } : undefined;
      });
      expect(progress.ms).toBeLessThan(RECOVERY_BOUND_MS);
      const health = (await (await fetch(`${server.base}/health`)).json()) as Json;
      expect(health).toMatchObject({ status: 'ok' });
      expect(await seller.remaining(opportunity)).toBe(10 - 1);
      const booked = (await seller.orders()).filter((o) => o.uuid === orderId);
      expect(booked).toEqual([{ uuid: orderId, booked: 1, cancelled: 0 }]);
    } finally {
      await release();
    }
  }, 120_000);
});
