/*
 * bench/checkout: checkout C1 → C2 → B through activehub's checkout service against the bundled
 * sandbox booking system (a child process, over real HTTP), N concurrent customers. Reports the
 * total time per checkout, the part spent waiting on the seller (C1/C2/B calls), activehub's own
 * share (total − seller wait), and, as the baseline, the same three calls made straight to the
 * seller with the booking client alone (no activehub logic, no database of ours).
 *
 * On PostgreSQL it also counts the SQL statements each checkout sends, per step (every round
 * trip on a pool client, BEGIN/COMMIT included; `--show-sql` prints one checkout's), and the CPU
 * per checkout of this process (activehub and the bench's own driving of it) and of the
 * PostgreSQL backends serving the bench database: figures that do not move with the machine's load.
 *
 *   npm run bench:checkout -- [--checkouts 160] [--concurrency 16] [--pg-url postgres://…] [--show-sql]
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { buildServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { closeDeps, createDeps } from '../../src/deps.js';
import { createCheckoutService } from '../../src/modules/checkout/index.js';
import { freePort } from '../../test/net.js';
import { cpuSpent, recordCpuMs } from '../lib/proc.js';

const { values } = parseArgs({
  options: {
    checkouts: { type: 'string', default: '160' },
    concurrency: { type: 'string', default: '16' },
    'pg-url': { type: 'string' },
    'show-sql': { type: 'boolean', default: false },
    'seller-cpu': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'npm run bench:checkout -- [--checkouts 160] [--concurrency 16] [--pg-url postgres://user@host:5432] [--show-sql] [--seller-cpu N]',
  );
  console.log('  --show-sql     print the statements of one checkout, step by step (PostgreSQL only)');
  console.log(
    '  --seller-cpu N run the seller (sandbox, with its embedded database) on CPU N only (Linux taskset); run the\n' +
      '                 bench itself with `taskset -c M` to keep activehub off that core',
  );
  process.exit(0);
}
const CHECKOUTS = Number(values.checkouts);
const CONCURRENCY = Number(values.concurrency);
const PLACES = 10; // test-interface opportunities have 10 places
const CARD = { number: '4242424242424242', expMonth: 12, expYear: 2040, cvc: '123' };
const CLIENT = { 'X-OpenActive-Test-Client-Id': 'activehub' };

const cleanups: (() => Promise<void>)[] = [];
async function cleanup() {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

type Step = 'create' | 'choose' | 'details' | 'pay';
interface Slot {
  sellerMs: number;
  step: Step;
  sql: Record<Step, number>;
  log: string[] | undefined;
}

async function runPool<T>(n: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await task(i);
    }),
  );
  return out;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ah-bench-checkout-'));
  cleanups.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));

  // ---- the seller: the sandbox booking system in its own process --------------------------
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const sellerArgs = ['bin/activehub.js', 'sandbox', '--port', String(port), '--sessions', '50'];
  const child: ChildProcess = spawn(
    values['seller-cpu'] ? 'taskset' : process.execPath,
    values['seller-cpu'] ? ['-c', values['seller-cpu'], process.execPath, ...sellerArgs] : sellerArgs,
    {
      env: {
        ...process.env,
        SANDBOX_DATA_DIR: path.join(tmp, 'sandbox'),
        SANDBOX_PUBLIC_URL: base,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
  for (let i = 0; ; i += 1) {
    try {
      if ((await fetch(`${base}/openactive`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error('sandbox did not start');
    await new Promise((r) => setTimeout(r, 200));
  }

  const opportunitiesNeeded = Math.ceil((CHECKOUTS + CONCURRENCY) / PLACES) + Math.ceil(CHECKOUTS / PLACES);
  const created: string[] = [];
  for (let i = 0; i < opportunitiesNeeded; i += 1) {
    const res = await fetch(`${base}/api/openbooking/test-interface/datasets/bench/opportunities`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.openactive.booking+json; version=1' },
      body: JSON.stringify({
        '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
        '@type': 'ScheduledSession',
        superEvent: {
          '@type': 'SessionSeries',
          organizer: { '@type': 'Organization', '@id': `${base}/api/identifiers/sellers/1` },
        },
        'test:testOpportunityCriteria': 'https://openactive.io/test-interface#TestOpportunityBookable',
        'test:testOpenBookingFlow': 'https://openactive.io/test-interface#OpenBookingSimpleFlow',
      }),
    });
    if (res.status !== 201) throw new Error(`test interface: ${res.status} ${await res.text()}`);
    created.push(((await res.json()) as { '@id': string })['@id']);
  }

  // ---- activehub, in this process ------------------------------------------------------------
  let databaseUrl: string | undefined;
  if (values['pg-url']) {
    const name = `ah_bench_checkout_${process.pid}`;
    const admin = new pg.Client({ connectionString: values['pg-url'] });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const u = new URL(values['pg-url']);
    u.pathname = `/${name}`;
    databaseUrl = u.toString();
    cleanups.push(async () => {
      const a = new pg.Client({ connectionString: values['pg-url'] });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    });
  }
  const config = loadConfig(
    {},
    {
      publicBaseUrl: 'http://bench.local',
      logLevel: 'warn',
      seedDemo: false,
      databaseUrl,
      dataDir: path.join(tmp, 'ah'),
    },
  );
  const database = await openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir: path.join(tmp, 'ah') });
  // Closed before the database is dropped even when closeDeps fails part-way (jobs.stop):
  // idle pool clients killed by the drop would otherwise crash the process.
  cleanups.push(() => database.close());
  await migrateToLatest(database.db);
  const deps = await createDeps(config, { database, log: pino({ level: 'warn' }) });
  cleanups.push(() => closeDeps(deps));
  await deps.jobs.start();
  const services = buildServices(deps);
  const { publisher } = await services.catalog.addPublisher({ datasetUrl: `${base}/openactive` });
  await services.booking.setCredentials({ publisherId: publisher.id, headers: CLIENT });
  await services.harvester.runOnce();
  await services.brokers.createBroker({ slug: 'bench', name: 'Bench Broker', url: 'https://bench.example.com' });
  const key = await services.brokers.createKey('bench', { products: ['checkout'] });
  const auth = (await services.brokers.authenticate(key.key))!;

  // Time spent inside the seller calls, and the SQL statements sent, attributed to the checkout
  // (and its step) that made them.
  const current = new AsyncLocalStorage<Slot>();
  let unattributed = 0;
  if (databaseUrl) {
    // Every statement goes through pg.Client#query on a pool client (Kysely, pg-boss, BEGIN/COMMIT).
    const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
    const query = proto.query;
    proto.query = function (this: unknown, ...args: unknown[]) {
      const slot = current.getStore();
      if (slot) {
        slot.sql[slot.step] += 1;
        if (slot.log) {
          const q = args[0];
          const text = typeof q === 'string' ? q : ((q as { text?: string }).text ?? '');
          slot.log.push(`${slot.step.padEnd(8)} ${text.replace(/\s+/g, ' ').slice(0, 160)}`);
        }
      } else unattributed += 1;
      return query.apply(this, args);
    };
  }
  const timed =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const t0 = performance.now();
      try {
        return await fn(...args);
      } finally {
        const slot = current.getStore();
        if (slot) slot.sellerMs += performance.now() - t0;
      }
    };
  const b = services.booking;
  const booking = {
    ...b,
    c1: timed((input: Parameters<typeof b.c1>[0]) => b.c1(input)),
    c2: timed((input: Parameters<typeof b.c2>[0]) => b.c2(input)),
    book: timed((input: Parameters<typeof b.book>[0]) => b.book(input)),
    getOrder: timed((target: Parameters<typeof b.getOrder>[0], uuid: string) => b.getOrder(target, uuid)),
  };
  const checkout = createCheckoutService({
    database,
    clock: deps.clock,
    log: deps.log,
    jobs: deps.jobs,
    publicBaseUrl: config.publicBaseUrl,
    orders: services.orders,
    catalog: services.catalog,
    payments: services.payments,
    booking,
    mailer: services.mailer,
    emailFromDefault: config.mail.defaultFrom,
  });

  const activehubPool = created.slice(0, Math.ceil((CHECKOUTS + CONCURRENCY) / PLACES));
  const sellerPool = created.slice(activehubPool.length);
  const offerOf = new Map<string, string>();
  for (const id of created) {
    const o = await services.catalog.findOpportunity(id);
    if (!o) throw new Error(`${id} not harvested`);
    offerOf.set(id, String(o.offers[0]!['@id'] ?? o.offers[0]!.id));
  }

  async function oneCheckout(i: number, log?: string[]) {
    const opportunity = activehubPool[Math.floor(i / PLACES)]!;
    const slot: Slot = { sellerMs: 0, step: 'create', sql: { create: 0, choose: 0, details: 0, pay: 0 }, log };
    const t0 = performance.now();
    await current.run(slot, async () => {
      const created = await checkout.createSession(
        auth,
        {
          'imin:initialOrder': {
            customer: { email: `c${i}@example.com`, givenName: 'Bench', familyName: `Customer ${i}` },
            orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunity } }],
          },
        },
        'authenticated',
      );
      const id = String(created.location.split('/').pop());
      slot.step = 'choose';
      await checkout.choose('bench', id, {
        opportunityId: opportunity,
        offerId: offerOf.get(opportunity)!,
        quantity: 1,
      });
      slot.step = 'details';
      await checkout.submitDetails('bench', id, { givenName: '', familyName: '', email: '' });
      slot.step = 'pay';
      const view = await checkout.pay('bench', id, { card: CARD });
      if (view.step !== 'confirmed') throw new Error(`checkout ${i}: ${view.step} ${JSON.stringify(view.problem)}`);
    });
    const total = performance.now() - t0;
    return { total, seller: slot.sellerMs, own: total - slot.sellerMs, sql: slot.sql };
  }

  // Warm-up: one round of `concurrency` checkouts, not measured (JIT, pools, prepared plans).
  await runPool(CONCURRENCY, CONCURRENCY, (i) => oneCheckout(CHECKOUTS + i));
  let shown: string[] | undefined;
  if (values['show-sql'] && databaseUrl) {
    // One more checkout on its own, its statements listed (a spare place of the last opportunity).
    shown = [];
    await oneCheckout(CHECKOUTS + CONCURRENCY, shown);
  }

  // CPU of the PostgreSQL backends serving the bench database (when the server runs on this
  // machine), sampled since pool connections come and go.
  const backendCpu = new Map<number, number>();
  const sampleBackends = async () => {
    if (!databaseUrl) return;
    const r = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database()`.execute(
      database.db,
    );
    recordCpuMs(
      r.rows.map((row) => row.pid),
      backendCpu,
    );
  };
  await sampleBackends();
  const cpuBefore = new Map(backendCpu);
  const sampler = setInterval(() => void sampleBackends().catch(() => undefined), 500);
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const results = await runPool(CHECKOUTS, CONCURRENCY, (i) => oneCheckout(i));
  const wall = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  await sampleBackends();
  const backendMs = cpuSpent(cpuBefore, backendCpu) ?? 0;

  // Baseline: the seller alone — the same C1, C2, B straight from the booking client.
  const target = await services.booking.targetFor(publisher.id, `${base}/api/identifiers/sellers/1`);
  const sellerOnly = await runPool(CHECKOUTS, CONCURRENCY, async (i) => {
    const opportunity = sellerPool[Math.floor(i / PLACES)]!;
    const input = {
      target,
      uuid: randomUUID(),
      items: [
        {
          opportunityId: opportunity,
          opportunityType: 'ScheduledSession' as const,
          offerId: offerOf.get(opportunity)!,
        },
      ],
      customer: { email: `s${i}@example.com`, givenName: 'Seller', familyName: 'Only' },
      broker: { name: 'Bench Broker' },
    };
    const t0 = performance.now();
    await b.c1(input);
    const q = await b.c2(input);
    await b.book({ ...input, totalPaymentDue: q.totalPaymentDue, payment: { identifier: randomUUID() } });
    return performance.now() - t0;
  });

  const col = (xs: number[]) => `p50 ${ms(pct(xs, 50)).padStart(9)}   p95 ${ms(pct(xs, 95)).padStart(9)}`;
  console.log(
    `\ncheckout C1→C2→B (+ authorize, capture, order, email) — ${CHECKOUTS} checkouts, ${CONCURRENCY} concurrent, ${databaseUrl ? 'PostgreSQL' : 'PGlite'}`,
  );
  console.log(
    `  activehub total          ${col(results.map((r) => r.total))}   (${((CHECKOUTS / wall) * 1000).toFixed(1)} checkouts/s)`,
  );
  console.log(`  waiting on the seller    ${col(results.map((r) => r.seller))}`);
  console.log(`  activehub's own share    ${col(results.map((r) => r.own))}   target p95 < 50 ms`);
  console.log(`  seller alone (baseline)  ${col(sellerOnly)}   C1+C2+B straight from the booking client`);
  const ownCpu = (cpu.user + cpu.system) / 1000 / CHECKOUTS;
  console.log(`  CPU per checkout: this process ${ms(ownCpu)} (activehub + the bench's own calls into it)`);
  if (databaseUrl) {
    console.log(
      `                    PostgreSQL backends ${backendMs > 0 ? ms(backendMs / CHECKOUTS) : 'n/a (server not on this machine)'}`,
    );
    const steps = ['create', 'choose', 'details', 'pay'] as const;
    const mean = (k: (typeof steps)[number]) => results.reduce((a, r) => a + r.sql[k], 0) / CHECKOUTS;
    const total = steps.reduce((a, k) => a + mean(k), 0);
    console.log(
      `  SQL statements per checkout: ${total.toFixed(1)} (${steps.map((k) => `${k} ${mean(k).toFixed(1)}`).join(', ')}); ${unattributed} outside any checkout`,
    );
    if (shown) console.log(`\n  one checkout's statements:\n${shown.map((l) => `    ${l}`).join('\n')}\n`);
  }
  console.log(
    `  load average: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

main()
  .then(cleanup)
  .catch(async (err: unknown) => {
    console.error(err);
    await cleanup();
    process.exit(1);
  });
