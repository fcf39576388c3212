/**
 * Orders API benchmark (issue 7): a customer with 10,000 orders among 100,000 in the table, on
 * PostgreSQL. Drives order history page 1 and page 500, upcoming order items and order by id
 * with autocannon (32 connections) against activehub (`src/main.ts`, a child process), then
 * runs the same SQL statements alone through a pg pool of 32 for comparison; prints p50/p95.
 *
 *   node --import tsx bench/orders/run.ts [--pg-url URL] [--duration S] [--warmup S] [--connections N] [--keep 1]
 *     [--cpu-prof DIR]   (V8 CPU profile of the server, written when it exits)
 *     [--only TEXT]      (only the scenarios whose name contains TEXT)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { systemClock } from '../../src/lib/clock.js';
import { createBrokersService } from '../../src/modules/brokers/index.js';
import { freePort } from '../../test/net.js';
import { cpuMs, cpuSpent, postgresBackendsCpu } from '../lib/proc.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1] ?? '');
const PG_URL = args.get('pg-url') ?? 'postgres://postgres@127.0.0.1:5432';
const DURATION = Number(args.get('duration') ?? 10);
const WARMUP = Number(args.get('warmup') ?? 3);
const CONNECTIONS = Number(args.get('connections') ?? 32);
const CPU_PROF = args.get('cpu-prof');
const ONLY = args.get('only');
const DB_NAME = 'activehub_bench_orders';
const CUSTOMER = 'bench-louis';
const TOTAL_ORDERS = 100_000;

const children: ChildProcess[] = [];
async function cleanup() {
  await Promise.all(
    children
      .filter((c) => c.exitCode === null)
      .map(
        (c) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              c.kill('SIGKILL');
              resolve();
            }, 10_000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
  );
}
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await client.connect();
  await client.query(statement);
  await client.end();
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const SELLER = {
  '@type': 'Organization',
  '@id': 'https://seller.example/organizers/1',
  name: 'Riverside Leisure Trust',
  termsOfService: [{ '@type': 'TermsOfUse', name: 'Terms', url: 'https://seller.example/terms' }],
};
const OFFER = {
  '@type': 'Offer',
  '@id': 'https://seller.example/offers/1',
  name: 'Adult',
  price: 12.5,
  priceCurrency: 'GBP',
  allowCustomerCancellationFullRefund: true,
  latestCancellationBeforeStartDate: 'P1D',
};

async function seed(dbUrl: string): Promise<{ key: string; orderIds: string[] }> {
  const database = await openDatabase({ url: dbUrl, poolSize: 4 });
  await migrateToLatest(database.db);
  const brokers = createBrokersService({ database, clock: systemClock, authCacheTtlMs: 60_000 });
  const broker = await brokers.createBroker({ slug: 'bench-orders', name: 'Bench Orders' });
  const { key } = await brokers.createKey('bench-orders', { products: ['booking'] });
  const started = Date.now();
  // Every tenth order belongs to the benchmark customer; the rest to 9,000 others.
  await sql`
    insert into orders (id, broker_id, customer, status, stage, seller_id, seller, broker, total_price, currency,
                        order_number, test_mode, created_at, updated_at, confirmed_at)
    select gen_random_uuid(), ${broker.id},
           jsonb_build_object('givenName', 'Louis', 'familyName', 'Wu', 'email', 'louis@example.com',
             'identifier', case when g % 10 = 0 then ${CUSTOMER} else 'bench-c' || (g % 9000) end),
           'confirmed', 'complete', ${SELLER['@id']}, ${JSON.stringify(SELLER)}::jsonb,
           '{"type":"Organization","name":"Bench Orders"}'::jsonb, 1250, 'GBP', 'B' || lpad(g::text, 7, '0'), false,
           now() - g * interval '1 minute', now(), now() - g * interval '1 minute'
    from generate_series(1, ${TOTAL_ORDERS}) g`.execute(database.db);
  // One item each, starting between 100 days ago and 100 days ahead: about half are upcoming.
  await sql`
    insert into order_items (id, order_id, position, opportunity_type, opportunity_id, opportunity, offer_id, offer,
                             price, currency, status, seller_order_item_id, created_at, updated_at)
    select substr(md5(o.id::text), 1, 10), o.id, 0, 'ScheduledSession',
           'https://seller.example/scheduled-sessions/' || o.order_number,
           jsonb_build_object('type', 'ScheduledSession', 'name', 'Aqua Fit', 'locationName', 'Riverside Pool',
             'startDate', to_char((now() + ((hashtext(o.order_number) % 100) * interval '1 day')) at time zone 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
             'data', jsonb_build_object('@type', 'ScheduledSession', 'name', 'Aqua Fit')),
           ${OFFER['@id']}, ${JSON.stringify(OFFER)}::jsonb, 1250, 'GBP', 'https://openactive.io/OrderItemConfirmed',
           'https://seller.example/api/openbooking/orders/' || o.id || '#/orderedItem/1', now(), now()
    from orders o where o.broker_id = ${broker.id}`.execute(database.db);
  // Vacuumed as autovacuum would have by now: index-only counts need the visibility map.
  await sql`vacuum analyze`.execute(database.db);
  const ids = await database.db
    .selectFrom('orders' as never)
    .select(sql<string>`id`.as('id'))
    .where(sql`customer_identifier`, '=', CUSTOMER)
    .limit(500)
    .execute();
  process.stdout.write(`seeded ${TOTAL_ORDERS} orders in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  await database.close();
  return { key, orderIds: ids.map((r) => r.id) };
}

let serverPid: number | undefined;

async function startServer(dbUrl: string): Promise<string> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: dbUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    SEED_DEMO: 'false',
    JOBS_ENABLED: 'false',
    SANDBOX_ENABLED: 'false',
    HARVEST_ENABLED: 'false',
    HARVEST_REGISTER_SANDBOX: 'false',
    RATE_LIMIT_MAX: '10000000',
    RATE_LIMIT_ADDRESS_MAX: '10000000',
    AUTH_CACHE_TTL_MS: '60000',
    // Its seller (cancellations) is a sandbox on 127.0.0.1.
    OUTBOUND_ALLOW_PRIVATE: 'true',
  };
  const profiling = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF)}`] : [];
  const child = spawn(process.execPath, [...profiling, '--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  serverPid = child.pid;
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  child.stderr.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 90_000; Date.now() < deadline;) {
    if (child.exitCode !== null) throw new Error(`server exited:\n${output}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return url;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server did not start:\n${output}`);
}

interface Scenario {
  name: string;
  path: (i: number) => string;
  /** The core statements the API runs for it, with their parameters. */
  sql: (i: number) => [string, unknown[]][];
}

async function driveApi(url: string, key: string, scenario: Scenario, seconds: number) {
  let n = 0;
  const times: number[] = [];
  let bad = 0;
  const instance = autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        headers: { 'x-api-key': key },
        setupRequest: (req) => {
          req.path = scenario.path(n);
          n += 1;
          return req;
        },
      },
    ],
  });
  let bytes = 0;
  instance.on('response', (_c: unknown, status: number, resBytes: number, time: number) => {
    bytes += resBytes;
    if (status === 200) times.push(time);
    else bad += 1;
  });
  const result = await instance;
  return {
    times: times.sort((a, b) => a - b),
    rps: times.length / result.duration,
    bad: bad + result.errors,
    kb: bytes / 1024 / Math.max(1, times.length + bad),
  };
}

async function driveSql(pool: pg.Pool, scenario: Scenario, seconds: number) {
  const times: number[] = [];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < end) {
        const i = n++;
        const t0 = performance.now();
        for (const [text, values] of scenario.sql(i)) await pool.query(text, values);
        times.push(performance.now() - t0);
      }
    }),
  );
  return { times: times.sort((a, b) => a - b), rps: times.length / seconds, bad: 0, kb: undefined };
}

async function main() {
  await admin(`drop database if exists ${DB_NAME} with (force)`);
  await admin(`create database ${DB_NAME}`);
  const dbUrl = `${PG_URL}/${DB_NAME}`;
  try {
    const { key, orderIds } = await seed(dbUrl);
    const pool = new pg.Pool({ connectionString: dbUrl, max: CONNECTIONS });
    const { rows } = await pool.query<{ broker_id: number }>('select broker_id from orders limit 1');
    const brokerId = rows[0]!.broker_id;
    // An order with its items, refunds and receipts, as the API reads it: one statement.
    const withParts = `select o.*,
        (select coalesce(json_agg(a), '[]') from (select * from order_items i where i.order_id = o.id
           order by i.position) a) as items,
        (select coalesce(json_agg(a), '[]') from (select * from order_refunds r where r.order_id = o.id
           order by r.created_at, r.id) a) as refunds,
        (select coalesce(json_agg(a), '[]') from (select c.id, c.order_id, c.sequence, c.reason, c.created_at
           from order_receipts c where c.order_id = o.id order by c.sequence desc) a) as receipts
      from orders o`;
    const historySql = (page: number): [string, unknown[]][] => [
      [
        `select visible_orders from customer_order_counts where broker_id = $1 and mode = 'live' and customer_identifier = $2`,
        [brokerId, CUSTOMER],
      ],
      [
        `${withParts} join (select id, created_at from orders where broker_id = $1 and mode = 'live' and customer_identifier = $2
           and status in ('confirmed','cancelled') order by created_at desc, id desc limit 10 offset $3) page
         on page.id = o.id order by page.created_at desc, page.id desc`,
        [brokerId, CUSTOMER, (page - 1) * 10],
      ],
    ];
    const scenarios: Scenario[] = [
      {
        name: 'history page 1',
        path: () => `/api/v2/orders?customerIdentifier=${CUSTOMER}&page=1`,
        sql: () => historySql(1),
      },
      {
        name: 'history page 500',
        path: () => `/api/v2/orders?customerIdentifier=${CUSTOMER}&page=500`,
        sql: () => historySql(500),
      },
      {
        name: 'upcoming items p1',
        path: () => `/api/v2/order-items?customerIdentifier=${CUSTOMER}&page=1`,
        sql: () => [
          [
            `select count(*) from order_items where order_broker_id = $1 and order_mode = 'live' and order_customer_identifier = $2
             and status = 'https://openactive.io/OrderItemConfirmed' and start_date > now()`,
            [brokerId, CUSTOMER],
          ],
          [
            `select i.*, (select to_json(o) from (select * from orders where orders.id = i.order_id) o) as "order"
             from order_items i where order_broker_id = $1 and order_mode = 'live' and order_customer_identifier = $2
             and status = 'https://openactive.io/OrderItemConfirmed' and start_date > now() order by start_date, id limit 10`,
            [brokerId, CUSTOMER],
          ],
        ],
      },
      {
        name: 'order by id',
        path: (i) => `/api/v2/orders/${orderIds[i % orderIds.length]!}`,
        sql: (i) => [
          [
            `${withParts} where o.id = $1 and o.broker_id = $2 and o.mode = 'live' and o.status in ('confirmed','cancelled')`,
            [orderIds[i % orderIds.length], brokerId],
          ],
        ],
      },
    ];
    if (ONLY) scenarios.splice(0, scenarios.length, ...scenarios.filter((s) => s.name.includes(ONLY)));
    const url = await startServer(dbUrl);
    // Warm up; the first read of each order also issues its first receipt.
    for (const s of scenarios) await driveApi(url, key, s, WARMUP);
    const lines = [
      `${'scenario'.padEnd(20)} ${'target'.padEnd(10)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'node ms/req'.padStart(12)} ${'pg ms/req'.padStart(10)} ${'KB/resp'.padStart(8)}  errors`,
    ];
    const perRequest = (ms: number | undefined, n: number) => (ms === undefined || n === 0 ? '-' : (ms / n).toFixed(2));
    for (const s of scenarios) {
      for (const [target, run] of [
        ['activehub', () => driveApi(url, key, s, DURATION)],
        ['SQL alone', () => driveSql(pool, s, DURATION)],
      ] as const) {
        const node0 = target === 'activehub' ? cpuMs(serverPid) : undefined;
        const pg0 = postgresBackendsCpu(DB_NAME);
        const r = await run();
        const node1 = target === 'activehub' ? cpuMs(serverPid) : undefined;
        const pg1 = postgresBackendsCpu(DB_NAME);
        const nodeMs = node0 !== undefined && node1 !== undefined ? node1 - node0 : undefined;
        const pgMs = cpuSpent(pg0, pg1);
        lines.push(
          `${s.name.padEnd(20)} ${target.padEnd(10)} ${r.rps.toFixed(0).padStart(8)} ${percentile(r.times, 50).toFixed(2).padStart(8)} ${percentile(r.times, 95).toFixed(2).padStart(8)} ${percentile(r.times, 99).toFixed(2).padStart(8)} ${perRequest(nodeMs, r.times.length).padStart(12)} ${perRequest(pgMs, r.times.length).padStart(10)} ${(r.kb === undefined ? '-' : r.kb.toFixed(1)).padStart(8)}  ${r.bad}`,
        );
        process.stdout.write(`${lines.at(-1)}\n`);
      }
    }
    await pool.end();
    process.stdout.write(
      `\n${CONNECTIONS} connections, ${DURATION} s each, PostgreSQL ${PG_URL}; load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}\n` + `${lines.join('\n')}\nTarget (issue 7): activehub p95 < 20 ms.\n`,
    );
  } finally {
    await cleanup();
    await new Promise((r) => setTimeout(r, 500));
    if (!args.has('keep')) await admin(`drop database if exists ${DB_NAME} with (force)`);
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  await cleanup();
  process.exit(1);
});
