/*
 * bench/probes/crash.ts: kill -9 activehub again and again during paid checkouts, and count what
 * the crashes left behind.
 *
 * activehub runs as a real server process (src/main.ts) on a fresh PostgreSQL database, with the
 * harvester and the projector running as usual (polling every couple of seconds, so the kills
 * also land in their jobs). The seller is the bundled sandbox booking system in this process,
 * so it outlives every kill and its database can be read at the end. N customers at a time go
 * through the hosted checkout pages (choice, details, the sandbox test card) for paid sessions
 * of 10 places, with a little more demand than places (`--demand`). Spread over the run, the
 * server is killed with SIGKILL and started again on the same port; a customer whose request
 * fails waits for it and reloads the session's page, carrying on from wherever the checkout
 * stands, as a person would.
 *
 * After the last checkout, the probe waits for the recovery sweep to settle what is pending,
 * then counts, from both databases: checkouts confirmed / failed / stuck, overbookings (places
 * booked at the seller above an opportunity's capacity), payments captured without a booking at
 * the seller, bookings at the seller without a captured payment, sessions booked twice, and per
 * kill the jobs it left running and how long after the restart they were running again or done
 * (a queue "wedged" if not within `--wedge-after`).
 *
 *   npm run probe:crash -- [--kills 20] [--checkouts 300] [--concurrency 8] [--pg-url postgres://…]
 *   npm run probe:crash -- --kills 50 --checkouts 1700
 *
 * Exit code 1 when anything is stuck, overbooked, charged without a booking (or the reverse),
 * booked twice, or a queue wedged.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { readForm } from '../../test/checkout-pages.js';
import { freePort } from '../../test/net.js';
import { startSellerWorld, TEST_CLIENT, type SellerWorld } from '../../test/seller-world.js';
import { createEmptyDatabase, startServerProcess, type ServerProcess } from '../../test/server-process.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    checkouts: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '8' },
    demand: { type: 'string', default: '1.1' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    lease: { type: 'string', default: '5' },
    'recovery-after': { type: 'string', default: '5' },
    'wedge-after': { type: 'string', default: '60' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'npm run probe:crash -- [--kills 20] [--checkouts 300] [--concurrency 8] [--demand 1.1] [--pg-url postgres://user@host:5432/postgres]',
  );
  console.log('  --demand R         checkouts per place offered (above 1: some checkouts find the session full)');
  console.log("  --lease S          the server's JOBS_LEASE_SECONDS (a killed job is put back within about this)");
  console.log("  --recovery-after S the server's CHECKOUT_RECOVERY_AFTER_SECONDS (pending orders settled after this)");
  console.log('  --wedge-after S    a killed job not running again or done this long after the restart: wedged');
  process.exit(0);
}
const KILLS = Number(values.kills);
const CHECKOUTS = Number(values.checkouts);
const CONCURRENCY = Number(values.concurrency);
const DEMAND = Number(values.demand);
const WEDGE_AFTER_MS = Number(values['wedge-after']) * 1000;
if (!(KILLS >= 0 && CHECKOUTS > 0 && CONCURRENCY > 0 && DEMAND > 0)) {
  throw new Error('--kills, --checkouts, --concurrency and --demand must be positive numbers');
}
const PLACES = 10; // test-interface opportunities have 10 places
// A live key: the seller world is a live booking system (a test key books only test sellers).
const DEMO_KEY = 'ah_live_crash_probe_demo_key_0123456789';
const ADMIN_KEY = 'crash-probe-admin-key-0123456789';
/** How long a customer keeps trying (server down, page processing) before giving up. */
const CUSTOMER_PATIENCE_MS = 120_000;

const cleanups: (() => Promise<void>)[] = [];
async function cleanup() {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

type Outcome = 'confirmed' | 'failed' | 'gave_up';

interface Kill {
  at: number;
  /** Jobs the killed process left marked running. */
  abandoned: { id: string; name: string }[];
  restartedAt: number;
  /** ms from the restart until none of them was still marked running from before the kill. */
  recoveredMs?: number;
}

async function main() {
  console.log(
    `crash probe: ${KILLS} kill -9s across ${CHECKOUTS} paid checkouts, ${CONCURRENCY} at a time, PostgreSQL (${new URL(values['pg-url']).host})`,
  );
  const seller: SellerWorld = await startSellerWorld({ sessions: 50, seed: 31 });
  cleanups.push(() => seller.close());
  const opportunities: string[] = [];
  const wanted = Math.max(1, Math.ceil(CHECKOUTS / (PLACES * DEMAND)));
  for (let i = 0; i < wanted; i += 1)
    opportunities.push(await seller.createOpportunity('TestOpportunityBookableNonFree'));

  const database = await createEmptyDatabase(values['pg-url'], 'ah_probe_crash');
  cleanups.push(() => database.drop());
  const pool = new pg.Pool({ connectionString: database.url, max: 3 });
  cleanups.push(() => pool.end());
  const query = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) =>
    (await pool.query(text, params)).rows as T[];

  const port = await freePort();
  const env = {
    DATABASE_URL: database.url,
    DEMO_API_KEY: DEMO_KEY,
    ADMIN_API_KEY: ADMIN_KEY,
    HARVEST_DATASET_URLS: seller.datasetUrl,
    HARVEST_POLL_INTERVAL_SECONDS: '2',
    JOBS_LEASE_SECONDS: values.lease,
    JOBS_MAINTENANCE_INTERVAL_SECONDS: '1',
    CHECKOUT_RECOVERY_AFTER_SECONDS: values['recovery-after'],
  };
  let server: ServerProcess = await startServerProcess(env, { port });
  cleanups.push(() => server.kill9());
  const base = server.base;
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { 'x-api-key': ADMIN_KEY, 'content-type': 'application/json' } });

  // Ready: the publisher registered with its booking credentials, every opportunity bookable.
  const ready = Date.now();
  for (;;) {
    const publishers = (await (await admin('/admin/publishers')).json()) as { items: { id: number }[] };
    if (publishers.items.length > 0) {
      const put = await admin(`/admin/publishers/${publishers.items[0]!.id}/booking-credentials`, {
        method: 'PUT',
        body: JSON.stringify({ headers: TEST_CLIENT }),
      });
      if (put.status >= 300) throw new Error(`booking credentials: ${put.status} ${await put.text()}`);
      break;
    }
    if (Date.now() - ready > 60_000) throw new Error('the publisher was not registered within 60 s');
    await sleep(250);
  }
  for (const opportunity of opportunities) {
    for (;;) {
      const [row] = await query(`select 1 from catalog_entities where oa_id = $1`, [opportunity]).catch(() => []);
      if (row) break;
      if (Date.now() - ready > 120_000) throw new Error(`${opportunity} was not harvested within 120 s`);
      await sleep(250);
    }
  }
  console.log(
    `  ready: ${opportunities.length} paid sessions of ${PLACES} places harvested in ${seconds(Date.now() - ready)}`,
  );

  /* ---- customers ------------------------------------------------------------------------------ */

  let started = 0;
  const refusedAtCreate = new Map<string, number>();
  /** fetch, waiting out a dead or restarting server (a network error) until the customer gives up. */
  async function patiently(url: string, init: RequestInit, deadline: number): Promise<Response | 'interrupted'> {
    try {
      return await fetch(url, init);
    } catch {
      while (Date.now() < deadline) {
        await sleep(300);
        try {
          if ((await fetch(`${base}/health`)).ok) return 'interrupted';
        } catch {
          // still down
        }
      }
      return 'interrupted';
    }
  }

  async function checkout(i: number): Promise<Outcome> {
    started += 1;
    const deadline = Date.now() + CUSTOMER_PATIENCE_MS;
    const opportunity = opportunities[i % opportunities.length]!;
    let sessionPage: string | undefined;
    while (!sessionPage) {
      if (Date.now() > deadline) return 'gave_up';
      const res = await patiently(
        `${base}/checkout/acme/api/checkout-sessions`,
        {
          method: 'POST',
          headers: { 'x-api-key': DEMO_KEY, 'content-type': 'application/json' },
          body: JSON.stringify({
            'imin:initialOrder': {
              customer: { email: `probe${i}@example.com`, givenName: 'Crash', familyName: `Probe ${i}` },
              orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunity } }],
            },
          }),
        },
        deadline,
      );
      if (res === 'interrupted') continue; // the session may or may not exist: the customer starts again
      const text = await res.text();
      if (res.status !== 201) {
        // e.g. the session is full
        const why = `${res.status} ${/"@type"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? ''}`.trim();
        refusedAtCreate.set(why, (refusedAtCreate.get(why) ?? 0) + 1);
        return 'failed';
      }
      sessionPage = (JSON.parse(text) as { potentialAction: { target: string }[] }).potentialAction[0]!.target;
    }
    let url = sessionPage;
    let posts = 0;
    while (Date.now() < deadline) {
      const res = await patiently(url, {}, deadline);
      if (res === 'interrupted') {
        url = sessionPage;
        continue;
      }
      const html = await res.text();
      if (res.status !== 200) return 'failed';
      if (html.includes('Booking confirmed')) return 'confirmed';
      const form = readForm(html, url);
      if (!form) {
        if (html.includes('Processing your payment')) {
          await sleep(1000);
          continue;
        }
        return 'failed';
      }
      posts += 1;
      if (posts > 10) return 'gave_up';
      const posted = await patiently(
        form.action,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.fields.toString(),
          redirect: 'manual',
        },
        deadline,
      );
      if (posted === 'interrupted') {
        url = sessionPage;
        continue;
      }
      const location = posted.headers.get('location');
      await posted.arrayBuffer();
      if (posted.status !== 303 || !location) return 'failed';
      url = new URL(location, form.action).toString();
    }
    return 'gave_up';
  }

  /* ---- the killer ----------------------------------------------------------------------------- */

  const kills: Kill[] = [];
  let finished = false;
  const killer = (async () => {
    for (let k = 0; k < KILLS && !finished; k += 1) {
      // Spread the kills over the run: the k-th once (k+1)/(N+1) of the checkouts have started.
      const threshold = Math.floor(((k + 1) * CHECKOUTS) / (KILLS + 1));
      while (started < threshold && !finished) await sleep(50);
      if (finished) break;
      await sleep(Math.random() * 500);
      await server.kill9();
      const at = Date.now();
      const abandoned = await query<{ id: string; name: string }>(
        `select id::text, name from pgboss.job where state = 'active'`,
      );
      server = await startServerProcess(env, { port });
      kills.push({ at, abandoned, restartedAt: Date.now() });
    }
  })();
  // Per kill, how long after its restart the jobs it abandoned were running again or done.
  const watcher = (async () => {
    for (;;) {
      const open = kills.filter((k) => k.recoveredMs === undefined && Date.now() - k.restartedAt < WEDGE_AFTER_MS);
      for (const k of open) {
        const [row] = await query<{ n: number }>(
          `select count(*)::int as n from pgboss.job where id::text = any($1) and state = 'active' and started_on <= $2`,
          [k.abandoned.map((j) => j.id), new Date(k.at)],
        );
        if (row!.n === 0) k.recoveredMs = Math.max(0, Date.now() - k.restartedAt);
      }
      if (finished && kills.every((k) => k.recoveredMs !== undefined || Date.now() - k.restartedAt >= WEDGE_AFTER_MS)) {
        return;
      }
      await sleep(200);
    }
  })();

  const t0 = Date.now();
  const outcomes: Outcome[] = new Array<Outcome>(CHECKOUTS);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < CHECKOUTS; i = next++) outcomes[i] = await checkout(i);
    }),
  );
  finished = true;
  const wall = Date.now() - t0;
  await killer;

  // Let the recovery sweep settle what the kills left pending.
  const settleStart = Date.now();
  for (;;) {
    const [row] = await query<{ n: number }>(
      `select (select count(*) from orders where status = 'pending')
            + (select count(*) from checkout_sessions where state = 'paying') as n`,
    );
    if (Number(row!.n) === 0 || Date.now() - settleStart > 120_000) break;
    await sleep(500);
  }
  const settleMs = Date.now() - settleStart;
  await watcher;

  /* ---- counting -------------------------------------------------------------------------------- */

  const sessions = await query<{ state: string; n: number }>(
    `select state, count(*)::int as n from checkout_sessions group by state order by state`,
  );
  const sessionCount = (state: string) => sessions.find((s) => s.state === state)?.n ?? 0;
  // Why sessions ended failed or were left at a step (full, refused, interrupted…).
  const problems = await query<{ state: string; code: string; n: number }>(
    `select state, coalesce(problem->>'code', 'none') as code, count(*)::int as n from checkout_sessions
      where state <> 'confirmed' group by 1, 2 order by 1, 2`,
  );
  const stuckOrders = await query<{ n: number }>(`select count(*)::int as n from orders where status = 'pending'`);
  const payments = await query<{ id: string; status: string; order_id: string | null }>(
    `select p.id::text, p.status, o.id::text as order_id from payments p left join orders o on o.payment_id = p.id`,
  );
  const ordersAt = await query<{ id: string; status: string; session: string | null; payment: string | null }>(
    `select o.id::text, o.status, o.checkout_session_id as session, p.status as payment
       from orders o left join payments p on p.id = o.payment_id`,
  );
  const sellerOrders = await seller.orders();
  const bookedAtSeller = new Set(sellerOrders.filter((o) => o.booked > 0).map((o) => o.uuid));
  const ourOrder = new Map(ordersAt.map((o) => [o.id, o]));
  const captured = (status: string | null | undefined) => status === 'captured' || status === 'partially_refunded';
  const capturedWithoutBooking = payments.filter(
    (p) => captured(p.status) && !(p.order_id && bookedAtSeller.has(p.order_id)),
  ).length;
  const bookingsWithoutPayment = [...bookedAtSeller].filter((uuid) => !captured(ourOrder.get(uuid)?.payment)).length;
  const bookedNotConfirmed = [...bookedAtSeller].filter((uuid) => ourOrder.get(uuid)?.status !== 'confirmed').length;
  const confirmedPerSession = new Map<string, number>();
  for (const o of ordersAt) {
    if (o.status === 'confirmed' && o.session) {
      confirmedPerSession.set(o.session, (confirmedPerSession.get(o.session) ?? 0) + 1);
    }
  }
  const bookedTwice = [...confirmedPerSession.values()].filter((n) => n > 1).length;
  const { rows: capacity } = await sql<{ booked: number; maximum: number; remaining: number }>`
    select s.maximum_attendee_capacity as maximum, s.remaining_attendee_capacity as remaining,
           (select count(*) from order_items i
             where i.opportunity_type = 'ScheduledSession' and i.opportunity_id = s.id
               and i.status not like '%Cancelled')::int as booked
      from scheduled_sessions s`.execute(seller.sandbox.database.db);
  const overbooked = capacity.filter((c) => Number(c.booked) > Number(c.maximum) || Number(c.remaining) < 0);
  const placesOverbooked = overbooked.reduce((n, c) => n + Math.max(0, Number(c.booked) - Number(c.maximum)), 0);

  // Kills that left no job running have nothing to recover: left out of the times.
  const recovered = kills
    .filter((k) => k.abandoned.length > 0 && k.recoveredMs !== undefined)
    .map((k) => k.recoveredMs!);
  const restarts = kills.map((k) => k.restartedAt - k.at);
  const wedged = kills.filter((k) => k.recoveredMs === undefined);
  const abandonedJobs = kills.reduce((n, k) => n + k.abandoned.length, 0);
  const abandonedByQueue = new Map<string, number>();
  for (const k of kills)
    for (const j of k.abandoned) abandonedByQueue.set(j.name, (abandonedByQueue.get(j.name) ?? 0) + 1);
  const health = await fetch(`${base}/health`)
    .then((r) => r.json() as Promise<{ status: string }>)
    .catch(() => ({ status: 'unreachable' }));
  const count = (o: Outcome) => outcomes.filter((x) => x === o).length;

  console.log(
    `\n  checkouts run in ${seconds(wall)} with ${kills.length} kill -9s; pending settled ${seconds(settleMs)} after the last`,
  );
  console.log(
    `  customers saw:     ${count('confirmed')} confirmed, ${count('failed')} failed (full or refused), ${count('gave_up')} gave up`,
  );
  console.log(
    `  checkout sessions: ${sessions.map((s) => `${s.state} ${s.n}`).join(', ')} (${sessionCount('confirmed')} confirmed of ${opportunities.length * PLACES} places)`,
  );
  if (problems.length) {
    console.log(
      `    not confirmed, by state and problem: ${problems.map((p) => `${p.state}/${p.code} ${p.n}`).join(', ')}`,
    );
  }
  if (refusedAtCreate.size) {
    console.log(
      `    checkout sessions refused at creation: ${[...refusedAtCreate].map(([why, n]) => `${why} ${n}`).join(', ')}`,
    );
  }
  const stuck = sessionCount('paying') + stuckOrders[0]!.n;
  console.log(`  stuck:             ${sessionCount('paying')} sessions paying, ${stuckOrders[0]!.n} orders pending`);
  console.log(
    `  overbookings:      ${overbooked.length} sessions over capacity (${placesOverbooked} places) at the seller`,
  );
  console.log(`  captured payment without a booking at the seller: ${capturedWithoutBooking}`);
  console.log(`  booking at the seller without a captured payment: ${bookingsWithoutPayment}`);
  console.log(`  booked at the seller, not confirmed in activehub: ${bookedNotConfirmed}`);
  console.log(`  checkout sessions with two confirmed orders: ${bookedTwice}`);
  console.log(
    `  jobs left running by the kills: ${abandonedJobs} (${[...abandonedByQueue].map(([q, n]) => `${q} ${n}`).join(', ') || 'none'})`,
  );
  console.log(
    `  back running or done after the restart: p50 ${recovered.length ? seconds(pct(recovered, 50)) : 'n/a'}, max ${recovered.length ? seconds(Math.max(...recovered)) : 'n/a'}; queues wedged (> ${seconds(WEDGE_AFTER_MS)}): ${wedged.length}`,
  );
  console.log(
    `  restart (kill to answering /health): p50 ${restarts.length ? seconds(pct(restarts, 50)) : 'n/a'}, max ${restarts.length ? seconds(Math.max(...restarts)) : 'n/a'}`,
  );
  console.log(`  /health at the end: ${health.status}`);
  console.log(
    `  load average: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const bad =
    stuck + overbooked.length + capturedWithoutBooking + bookingsWithoutPayment + bookedTwice + wedged.length > 0;
  return bad ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  });
