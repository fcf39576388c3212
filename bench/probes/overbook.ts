/*
 * bench/probes/overbook.ts: many customers at once for the last few places.
 *
 * One paid ScheduledSession at the seller (the sandbox behind its proxy; test/seller-world.ts)
 * has its capacity set to `--places` (default 5) in the sandbox's database before activehub
 * starts and harvests it. Then `--customers` (default 100) customers start a paid checkout through
 * the hosted pages at the same moment (checkout session through the broker API, then choice,
 * details and the sandbox test card) and each goes on until the page says confirmed or refuses.
 *
 * Counted, from the customers' pages, activehub's database and the seller's: checkouts
 * confirmed, refused (full) and failed otherwise; places booked at the seller against its
 * capacity (overbooked if above), payments captured without a booking at the seller, bookings at
 * the seller without a captured payment, orders left pending or sessions left paying.
 * Exit 1 on an overbooking, a capture without a booking (or the reverse), confirmed pages
 * above the places, or anything left pending.
 *
 *   npm run probe:overbook -- [--customers 100] [--places 5] [--pg-url postgres://…]   (PGlite without it)
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { checkout, loadavg, sleep, startWorld, table, type CheckoutEnd } from './common.js';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '100' },
    places: { type: 'string', default: '5' },
    'pg-url': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('npm run probe:overbook -- [--customers 100] [--places 5] [--pg-url postgres://user@host:5432/postgres]');
  process.exit(0);
}
const CUSTOMERS = Number(values.customers);
const PLACES = Number(values.places);
if (!(CUSTOMERS > 0 && PLACES > 0)) throw new Error('--customers and --places must be positive');

async function main() {
  const kind = values['pg-url'] ? `PostgreSQL (${new URL(values['pg-url']).host})` : 'PGlite';
  console.log(`overbook probe: ${CUSTOMERS} concurrent paid checkouts for ${PLACES} places, ${kind}`);
  console.log(`  load average at start: ${loadavg()}`);
  const world = await startWorld({
    pgUrl: values['pg-url'],
    prefix: 'ah_probe_overbook',
    opportunities: 1,
    env: { CHECKOUT_RECOVERY_AFTER_SECONDS: '5' },
    async beforeServer(seller, [opportunity]) {
      const id = Number(/\/scheduled-sessions\/(\d+)$/.exec(opportunity!)![1]);
      await sql`update scheduled_sessions set maximum_attendee_capacity = ${PLACES},
                  remaining_attendee_capacity = ${PLACES} where id = ${id}`.execute(seller.sandbox.database.db);
      if ((await seller.remaining(opportunity!)) !== PLACES) throw new Error('capacity not set');
    },
  });
  process.on('SIGINT', () => void world.close().then(() => process.exit(130)));
  try {
    const opportunity = world.opportunities[0]!;
    const t0 = Date.now();
    const ends: { end: CheckoutEnd; why?: string | undefined; ms: number }[] = await Promise.all(
      Array.from({ length: CUSTOMERS }, async (_, i) => {
        const start = Date.now();
        const c = await checkout(world.base, 'acme', world.keys.acmeLive, opportunity, {
          email: `rush${i}@example.com`,
          givenName: 'Rush',
          familyName: `Customer ${i}`,
        }).catch((err: unknown) => ({ end: 'failed' as const, why: String(err) }));
        return { end: c.end, why: c.why, ms: Date.now() - start };
      }),
    );
    const wall = Date.now() - t0;

    // Let the recovery sweep settle anything left pending, then count from both databases.
    const settleStart = Date.now();
    let counts!: Awaited<ReturnType<typeof count>>;
    async function count() {
      return world.withDb(async (q) => ({
        pending: await q<{ n: number }>(
          `select (select count(*) from orders where status = 'pending')
                + (select count(*) from checkout_sessions where state = 'paying') as n`,
        ),
        sessions: await q<{ state: string; code: string; n: number }>(
          `select state, coalesce(problem->>'code', '') as code, count(*)::int as n from checkout_sessions group by 1, 2 order by 1, 2`,
        ),
        payments: await q<{ status: string; order_id: string | null }>(
          `select p.status, o.id::text as order_id from payments p left join orders o on o.payment_id = p.id`,
        ),
        orders: await q<{ id: string; status: string; payment: string | null }>(
          `select o.id::text, o.status, p.status as payment from orders o left join payments p on p.id = o.payment_id`,
        ),
      }));
    }
    for (;;) {
      counts = await count();
      if (Number(counts.pending[0]!.n) === 0 || Date.now() - settleStart > 60_000) break;
      await sleep(1000);
    }
    const sellerOrders = await world.seller.orders();
    const booked = sellerOrders.reduce((n, o) => n + o.booked, 0);
    const remaining = await world.seller.remaining(opportunity);
    const bookedAtSeller = new Set(sellerOrders.filter((o) => o.booked > 0).map((o) => o.uuid));
    const captured = (s: string | null | undefined) => s === 'captured' || s === 'partially_refunded';
    const capturedWithoutBooking = counts.payments.filter(
      (p) => captured(p.status) && !(p.order_id && bookedAtSeller.has(p.order_id)),
    ).length;
    const ourOrders = new Map(counts.orders.map((o) => [o.id, o]));
    const bookingsWithoutPayment = [...bookedAtSeller].filter((u) => !captured(ourOrders.get(u)?.payment)).length;
    const confirmedOrders = counts.orders.filter((o) => o.status === 'confirmed').length;
    const n = (e: CheckoutEnd) => ends.filter((x) => x.end === e).length;
    const whys = new Map<string, number>();
    for (const e of ends)
      if (e.end !== 'confirmed') whys.set(`${e.end}: ${e.why}`, (whys.get(`${e.end}: ${e.why}`) ?? 0) + 1);
    const ms = ends.map((e) => e.ms).sort((a, b) => a - b);
    const pending = Number(counts.pending[0]!.n);

    console.log(`\n  ${CUSTOMERS} checkouts started at once, all ended in ${(wall / 1000).toFixed(1)} s`);
    table([
      ['figure', 'count'],
      ['places offered', PLACES],
      ['customers confirmed (page)', n('confirmed')],
      ['refused at checkout-session creation', n('refused')],
      ['failed on the pages (full, refused)', n('failed')],
      ['orders confirmed in activehub', confirmedOrders],
      ['places booked at the seller', booked],
      ['seller remaining capacity', remaining],
      ['overbooked places at the seller', Math.max(0, booked - PLACES)],
      ['payments captured without a booking', capturedWithoutBooking],
      ['bookings at the seller without payment', bookingsWithoutPayment],
      ['orders pending / sessions paying at the end', pending],
    ]);
    console.log(`  why the others did not book: ${[...whys].map(([w, c]) => `${w} ×${c}`).join('; ') || 'n/a'}`);
    console.log(
      `  checkout sessions by state/problem: ${counts.sessions.map((s) => `${s.state}${s.code ? `/${s.code}` : ''} ${s.n}`).join(', ')}`,
    );
    console.log(
      `  payments by status: ${[...new Set(counts.payments.map((p) => p.status))].map((s) => `${s} ${counts.payments.filter((p) => p.status === s).length}`).join(', ') || 'none'}`,
    );
    console.log(
      `  time per checkout (start to last page): p50 ${(ms[Math.floor(ms.length / 2)]! / 1000).toFixed(1)} s, max ${(ms.at(-1)! / 1000).toFixed(1)} s`,
    );
    console.log(`  load average at end: ${loadavg()}`);
    const bad =
      booked > PLACES ||
      remaining < 0 ||
      n('confirmed') > PLACES ||
      capturedWithoutBooking + bookingsWithoutPayment + pending > 0 ||
      n('confirmed') !== booked;
    return bad ? 1 : 0;
  } finally {
    await world.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
