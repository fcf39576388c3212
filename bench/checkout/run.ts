/*
 * bench/checkout: checkout C1 → C2 → B through activehub's API and hosted checkout pages, over
 * HTTP, against the bundled sandbox booking system (the seller), N customers at a time.
 *
 * activehub runs as a real server (src/main.ts) in a child process; the seller is another child
 * process. Each checkout: POST a checkout session with the broker's API key, then what a browser
 * does without a browser — GET the page, read its form (action, CSRF token, fields), POST the
 * choice (C1), the details (C2) and the sandbox test card 4242… (authorize, B, capture, order),
 * following each 303 until the confirmation page. activehub reports how long each response
 * took in the server and waited on the seller in `Server-Timing: total;dur=…, seller;dur=…`; the
 * bench sums them per checkout, so activehub's own share = total − seller wait (and, within the
 * server, Σ total − Σ seller: what is left is the client and the network). The baseline is the
 * same C1, C2, B made straight to the seller with the booking client alone.
 *
 * Also printed: CPU per checkout of the server process and (PostgreSQL on this machine) of the
 * backends serving the bench database, from /proc; on PostgreSQL the SQL statements per checkout,
 * counted in the server by a preload (count-sql.ts) and reported per response in Server-Timing.
 *
 *   npm run bench:checkout -- [--checkouts 160] [--concurrency 16] [--pg-url postgres://…] [--seller-cpu N] [--seller-db pglite|postgres]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pino } from 'pino';
import { buildServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { closeDeps, createDeps } from '../../src/deps.js';
import { freePort } from '../../test/net.js';
import { cpuMs, cpuSpent, postgresBackendsCpu } from '../lib/proc.js';

const { values } = parseArgs({
  options: {
    checkouts: { type: 'string', default: '160' },
    concurrency: { type: 'string', default: '16' },
    'pg-url': { type: 'string' },
    'seller-cpu': { type: 'string' },
    'seller-db': { type: 'string', default: 'pglite' },
    'show-requests': { type: 'boolean', default: false },
    'without-jobs': { type: 'boolean', default: false },
    'profile-server': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'npm run bench:checkout -- [--checkouts 160] [--concurrency 16] [--pg-url postgres://user@host:5432] [--seller-cpu N] [--seller-db pglite|postgres] [--show-requests]',
  );
  console.log(
    '  --seller-cpu N   run the seller (sandbox, with its embedded database) on CPU N only (Linux taskset); run the\n' +
      '                   bench itself with `taskset -c M`: the activehub server it starts inherits that core',
  );
  console.log(
    '  --seller-db postgres  the seller keeps its data in PostgreSQL (a database of its own on --pg-url) instead of\n' +
      '                   its embedded PGlite, which costs it several times the CPU on these shared cores',
  );
  console.log("  --show-requests  print one checkout's requests: status, time, seller wait, statements");
  console.log(
    '  --without-jobs   start the server with JOBS_ENABLED=false: no background work (the confirmation emails stay\n' +
      '                   queued), so its CPU is the requests alone',
  );
  console.log('  --profile-server DIR  run the server with --cpu-prof, its profile written to DIR when it stops');
  process.exit(0);
}
const CHECKOUTS = Number(values.checkouts);
const CONCURRENCY = Number(values.concurrency);
if (!(CHECKOUTS > 0 && CONCURRENCY > 0)) throw new Error('--checkouts and --concurrency must be positive');
const SELLER_ON_POSTGRES = values['seller-db'] === 'postgres';
if (!SELLER_ON_POSTGRES && values['seller-db'] !== 'pglite') throw new Error('--seller-db is pglite or postgres');
if (SELLER_ON_POSTGRES && !values['pg-url']) throw new Error('--seller-db postgres needs --pg-url');
const PLACES = 10; // test-interface opportunities have 10 places
const CLIENT = { 'X-OpenActive-Test-Client-Id': 'activehub' };
const CARD = { cardName: 'Bench Customer', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/40', cardCvc: '123' };

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

function startChild(command: string, args: string[], env: Record<string, string>, cpu?: string): ChildProcess {
  const child = spawn(cpu ? 'taskset' : command, cpu ? ['-c', cpu, command, ...args] : args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  cleanups.push(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });
  return child;
}

async function waitFor(url: string, what: string) {
  for (let i = 0; ; i += 1) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (i > 600) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/* ---- reading the hosted pages as a browser would ------------------------------------------- */

const decode = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
const attr = (tag: string, name: string) => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? decode(m[1]!) : undefined;
};

/** The page's first POST form: its action and the fields a browser would send as they stand. */
function readForm(html: string): { action: string; fields: Map<string, string> } | undefined {
  const start = /<form\b[^>]*method="post"[^>]*>/.exec(html);
  if (!start) return undefined;
  const body = html.slice(start.index, html.indexOf('</form>', start.index));
  const fields = new Map<string, string>();
  for (const m of body.matchAll(/<input\b[^>]*>/g)) {
    const tag = m[0];
    const name = attr(tag, 'name');
    if (!name) continue;
    const type = attr(tag, 'type') ?? 'text';
    if (type === 'radio') {
      // The checked one, else the first that is not disabled.
      if (/\schecked\b/.test(tag) || (!fields.has(name) && !/\sdisabled\b/.test(tag))) {
        fields.set(name, attr(tag, 'value') ?? '');
      }
    } else fields.set(name, attr(tag, 'value') ?? '');
  }
  for (const m of body.matchAll(/<select\b[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/select>/g)) {
    const options = [...m[2]!.matchAll(/<option\b[^>]*>/g)].map((o) => o[0]);
    const chosen = options.find((o) => /\sselected\b/.test(o)) ?? options[0];
    if (chosen) fields.set(decode(m[1]!), attr(chosen, 'value') ?? '');
  }
  return { action: attr(start[0], 'action')!, fields };
}

interface Timing {
  serverMs: number;
  sellerMs: number;
  statements: number;
}
/** Adds a response's `Server-Timing` (total;dur=…, seller;dur=…, sql;desc="N") to a checkout's totals. */
/**
 * What the checkouts send, as a browser would: one keep-alive connection per customer, no
 * redirects followed. node:http rather than fetch: fetch cost this process about 1.3 ms of CPU a
 * request, on the cores the server and PostgreSQL use and in series with every checkout, and so
 * counted in activehub's share although it is the client's own work.
 */
interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  body: string;
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
cleanups.push(async () => agent.destroy());
function httpSend(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = res.headers;
        resolve({
          status: res.statusCode ?? 0,
          headers: {
            get: (name) => {
              const v = headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
            },
          },
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

function addServerTiming(res: { headers: { get(name: string): string | null } }, into: Timing): Timing {
  const header = res.headers.get('server-timing') ?? '';
  const metric = (re: RegExp) => Number(re.exec(header)?.[1] ?? 0);
  const one = {
    serverMs: metric(/(?:^|,)\s*total;dur=([\d.]+)/),
    sellerMs: metric(/(?:^|,)\s*seller;dur=([\d.]+)/),
    statements: metric(/(?:^|,)\s*sql;desc="(\d+)"/),
  };
  into.serverMs += one.serverMs;
  into.sellerMs += one.sellerMs;
  into.statements += one.statements;
  return one;
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ah-bench-checkout-'));
  cleanups.push(async () => fs.rmSync(tmp, { recursive: true, force: true }));

  // ---- the seller: the sandbox booking system in its own process --------------------------
  const sellerPort = await freePort();
  const seller = `http://127.0.0.1:${sellerPort}`;
  const sellerDatabaseName = `ah_bench_seller_${process.pid}`;
  const sellerDb: Record<string, string> = {};
  if (SELLER_ON_POSTGRES) {
    const admin = new pg.Client({ connectionString: values['pg-url'] });
    await admin.connect();
    await admin.query(`create database ${sellerDatabaseName}`);
    await admin.end();
    const u = new URL(values['pg-url']!);
    u.pathname = `/${sellerDatabaseName}`;
    sellerDb.SANDBOX_DATABASE_URL = u.toString();
    cleanups.push(async () => {
      const a = new pg.Client({ connectionString: values['pg-url'] });
      await a.connect();
      await a.query(`drop database if exists ${sellerDatabaseName} with (force)`);
      await a.end();
    });
  }
  const sellerProcess = startChild(
    process.execPath,
    ['bin/activehub.js', 'sandbox', '--port', String(sellerPort), '--sessions', '50'],
    { SANDBOX_DATA_DIR: path.join(tmp, 'sandbox'), SANDBOX_PUBLIC_URL: seller, LOG_LEVEL: 'warn', ...sellerDb },
    values['seller-cpu'],
  );
  await waitFor(`${seller}/openactive`, 'sandbox');

  const opportunitiesNeeded = Math.ceil((CHECKOUTS + CONCURRENCY + 1) / PLACES) + Math.ceil(CHECKOUTS / PLACES);
  const created: string[] = [];
  for (let i = 0; i < opportunitiesNeeded; i += 1) {
    const res = await fetch(`${seller}/api/openbooking/test-interface/datasets/bench/opportunities`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.openactive.booking+json; version=1' },
      body: JSON.stringify({
        '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
        '@type': 'ScheduledSession',
        superEvent: {
          '@type': 'SessionSeries',
          organizer: { '@type': 'Organization', '@id': `${seller}/api/identifiers/sellers/1` },
        },
        'test:testOpportunityCriteria': 'https://openactive.io/test-interface#TestOpportunityBookable',
        'test:testOpenBookingFlow': 'https://openactive.io/test-interface#OpenBookingSimpleFlow',
      }),
    });
    if (res.status !== 201) throw new Error(`test interface: ${res.status} ${await res.text()}`);
    created.push(((await res.json()) as { '@id': string })['@id']);
  }

  // ---- activehub's database, prepared here: publisher harvested, broker and API key ------------
  let databaseUrl: string | undefined;
  let databaseName: string | undefined;
  if (values['pg-url']) {
    databaseName = `ah_bench_checkout_${process.pid}`;
    const admin = new pg.Client({ connectionString: values['pg-url'] });
    await admin.connect();
    await admin.query(`create database ${databaseName}`);
    await admin.end();
    const u = new URL(values['pg-url']);
    u.pathname = `/${databaseName}`;
    databaseUrl = u.toString();
    cleanups.push(async () => {
      const a = new pg.Client({ connectionString: values['pg-url'] });
      await a.connect();
      await a.query(`drop database if exists ${databaseName} with (force)`);
      await a.end();
    });
  }
  const dataDir = path.join(tmp, 'ah');
  const log = pino({ level: 'warn' });
  // The bench's seller runs on this machine (the sandbox on 127.0.0.1).
  const config = loadConfig(
    {},
    { logLevel: 'warn', seedDemo: false, databaseUrl, dataDir, outbound: { allowPrivate: true, allowedHosts: [] } },
  );
  const database = await openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir });
  let apiKey: string;
  let sellerOnly: number[];
  const offerOf = new Map<string, string>();
  try {
    await migrateToLatest(database.db);
    const deps = await createDeps(config, { database, log });
    try {
      const services = buildServices(deps);
      const { publisher } = await services.catalog.addPublisher({ datasetUrl: `${seller}/openactive` });
      await services.booking.setCredentials({ publisherId: publisher.id, headers: CLIENT });
      await services.harvester.runOnce();
      // The search read model too, so the server does not spend the measured run projecting it.
      while (await services.projector.pending()) await services.projector.runOnce({ budgetMs: 60_000 });
      await services.brokers.createBroker({ slug: 'bench', name: 'Bench Broker', url: 'https://bench.example.com' });
      apiKey = (await services.brokers.createKey('bench', { products: ['checkout'] })).key;
      for (const id of created) {
        const o = await services.catalog.findOpportunity(id);
        if (!o) throw new Error(`${id} not harvested`);
        offerOf.set(id, String(o.offers[0]!['@id'] ?? o.offers[0]!.id));
      }
      // Baseline, before activehub's server starts: the seller alone — the same C1, C2, B straight
      // from the booking client, as many and as many at a time.
      const target = await services.booking.targetFor(publisher.id, `${seller}/api/identifiers/sellers/1`);
      const booking = services.booking;
      const sellerPool = created.slice(Math.ceil((CHECKOUTS + CONCURRENCY + 1) / PLACES));
      sellerOnly = await runPool(CHECKOUTS, CONCURRENCY, async (i) => {
        const opportunity = sellerPool[Math.floor(i / PLACES)]!;
        const input = {
          target,
          mode: 'live' as const,
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
        await booking.c1(input);
        const q = await booking.c2(input);
        await booking.book({ ...input, totalPaymentDue: q.totalPaymentDue, payment: { identifier: randomUUID() } });
        return performance.now() - t0;
      });
    } finally {
      await closeDeps(deps);
    }
  } finally {
    await database.close();
  }

  // ---- activehub: the server, in its own process -------------------------------------------
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = startChild(
    process.execPath,
    [
      ...(values['profile-server'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(values['profile-server'])}`] : []),
      '--import',
      'tsx',
      ...(databaseUrl ? ['--import', './bench/checkout/count-sql.ts'] : []),
      'src/main.ts',
    ],
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_BASE_URL: base,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATA_DIR: dataDir }),
      LOG_LEVEL: 'warn',
      SEED_DEMO: 'false',
      SANDBOX_ENABLED: 'false',
      HARVEST_ENABLED: 'false',
      HARVEST_REGISTER_SANDBOX: 'false',
      HARVEST_DATASET_URLS: '',
      // Background jobs run as in production unless --without-jobs: the confirmation emails are
      // rendered and stored by their delivery job in this process while the checkouts go on.
      JOBS_ENABLED: values['without-jobs'] ? 'false' : 'true',
      RATE_LIMIT_MAX: '10000000',
      RATE_LIMIT_ADDRESS_MAX: '10000000',
      // The seller is a sandbox on 127.0.0.1.
      OUTBOUND_ALLOW_PRIVATE: 'true',
    },
  );
  await waitFor(`${base}/health`, 'activehub');

  const activehubPool = created.slice(0, Math.ceil((CHECKOUTS + CONCURRENCY + 1) / PLACES));

  interface Request extends Timing {
    what: string;
    status: number;
    ms: number;
  }
  async function oneCheckout(i: number, trace?: Request[]) {
    const opportunity = activehubPool[Math.floor(i / PLACES)]!;
    const timing: Timing = { serverMs: 0, sellerMs: 0, statements: 0 };
    const send = async (
      what: string,
      url: string,
      init: { method?: string; headers?: Record<string, string>; body?: string } = {},
    ) => {
      const t0 = performance.now();
      const res = await httpSend(url, init);
      const body = res.body;
      const one = addServerTiming(res, timing);
      trace?.push({ what, status: res.status, ms: performance.now() - t0, ...one });
      return { res, body };
    };
    const t0 = performance.now();
    const created = await send('POST checkout-sessions', `${base}/checkout/bench/api/checkout-sessions`, {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({
        'imin:initialOrder': {
          customer: { email: `c${i}@example.com`, givenName: 'Bench', familyName: `Customer ${i}` },
          orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunity } }],
        },
      }),
    });
    if (created.res.status !== 201) throw new Error(`checkout ${i}: create ${created.res.status} ${created.body}`);
    let page = await send(
      'GET page',
      (JSON.parse(created.body) as { potentialAction: { target: string }[] }).potentialAction[0]!.target,
    );
    for (let step = 0; ; step += 1) {
      if (page.res.status !== 200) throw new Error(`checkout ${i}: page ${page.res.status}`);
      const form = readForm(page.body);
      if (!form) break;
      if (step > 5) throw new Error(`checkout ${i}: still at ${form.action} after ${step} forms`);
      if (form.fields.has('cardNumber')) for (const [k, v] of Object.entries(CARD)) form.fields.set(k, v);
      const posted = await send(`POST ${form.action.split('/').pop()}`, new URL(form.action, base).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams([...form.fields]).toString(),
      });
      const location = posted.res.headers.get('location');
      if (posted.res.status !== 303 || !location) throw new Error(`checkout ${i}: ${form.action} ${posted.res.status}`);
      page = await send('GET page', new URL(location, base).toString());
    }
    if (!page.body.includes('Booking confirmed')) {
      throw new Error(`checkout ${i}: ended without a confirmation: ${page.body.replace(/\s+/g, ' ').slice(0, 400)}`);
    }
    const total = performance.now() - t0;
    return {
      total,
      seller: timing.sellerMs,
      own: total - timing.sellerMs,
      server: timing.serverMs,
      ownInServer: timing.serverMs - timing.sellerMs,
      statements: timing.statements,
    };
  }

  // Warm-up: one round of `concurrency` checkouts, not measured (JIT, pools, prepared plans).
  await runPool(CONCURRENCY, CONCURRENCY, (i) => oneCheckout(CHECKOUTS + i));
  let shown: Request[] | undefined;
  if (values['show-requests']) {
    shown = [];
    await oneCheckout(CHECKOUTS + CONCURRENCY, shown);
  }

  // CPU of the server process and of the PostgreSQL backends serving the bench database (sampled:
  // pool connections come and go).
  const backends = new Map<number, number>();
  const sellerBackends = new Map<number, number>();
  const sampleBackends = () => {
    for (const [pid, spent] of (databaseName && postgresBackendsCpu(databaseName)) || []) backends.set(pid, spent);
    if (!SELLER_ON_POSTGRES) return;
    for (const [pid, spent] of postgresBackendsCpu(sellerDatabaseName) || []) sellerBackends.set(pid, spent);
  };
  sampleBackends();
  const backendsBefore = new Map(backends);
  const sellerBackendsBefore = new Map(sellerBackends);
  const sampler = setInterval(sampleBackends, 500);
  // The server's CPU while no checkout runs (job polling, schedulers), for comparison.
  const idle0 = cpuMs(server.pid);
  await new Promise((r) => setTimeout(r, 5000));
  const idleMsPerSecond = ((cpuMs(server.pid) ?? NaN) - (idle0 ?? NaN)) / 5;
  const serverCpu0 = cpuMs(server.pid);
  const sellerCpu0 = cpuMs(sellerProcess.pid);
  const clientCpu0 = process.cpuUsage();
  const started = performance.now();
  const results = await runPool(CHECKOUTS, CONCURRENCY, (i) => oneCheckout(i));
  const wall = performance.now() - started;
  const serverCpu = (cpuMs(server.pid) ?? NaN) - (serverCpu0 ?? NaN);
  const sellerCpu = (cpuMs(sellerProcess.pid) ?? NaN) - (sellerCpu0 ?? NaN);
  const clientUsage = process.cpuUsage(clientCpu0);
  const clientCpu = (clientUsage.user + clientUsage.system) / 1000;
  clearInterval(sampler);
  sampleBackends();
  const backendMs = cpuSpent(backendsBefore, backends) ?? 0;
  const sellerBackendMs = SELLER_ON_POSTGRES ? (cpuSpent(sellerBackendsBefore, sellerBackends) ?? 0) : 0;

  const col = (xs: number[]) => `p50 ${ms(pct(xs, 50)).padStart(9)}   p95 ${ms(pct(xs, 95)).padStart(9)}`;
  console.log(
    `\ncheckout over HTTP: API + hosted pages, C1→C2→B (+ authorize, capture, order) — ${CHECKOUTS} checkouts, ${CONCURRENCY} concurrent, ${databaseUrl ? 'PostgreSQL' : 'PGlite'}`,
  );
  console.log(
    `  activehub total          ${col(results.map((r) => r.total))}   (${((CHECKOUTS / wall) * 1000).toFixed(1)} checkouts/s)`,
  );
  console.log(`  waiting on the seller    ${col(results.map((r) => r.seller))}   (Server-Timing seller;dur)`);
  console.log(`  activehub's own share    ${col(results.map((r) => r.own))}   target p95 < 50 ms`);
  console.log(
    `    of which in the server ${col(results.map((r) => r.ownInServer))}   (Server-Timing total − seller; the rest is the client and the network)`,
  );
  console.log(`  seller alone (baseline)  ${col(sellerOnly!)}   C1+C2+B straight from the booking client (run before)`);
  console.log(
    `  CPU per checkout: server process ${Number.isFinite(serverCpu) ? ms(serverCpu / CHECKOUTS) : 'n/a'} (${values['without-jobs'] ? 'requests only: jobs off' : 'requests, and the email jobs they cause'}; idle it uses ${ms(idleMsPerSecond)} a second, ${ms((idleMsPerSecond * wall) / 1000 / CHECKOUTS)} a checkout over this run)`,
  );
  if (databaseUrl) {
    console.log(
      `                    PostgreSQL backends ${backendMs > 0 ? ms(backendMs / CHECKOUTS) : 'n/a (server not on this machine)'}`,
    );
    const statements = results.reduce((a, r) => a + r.statements, 0) / CHECKOUTS;
    console.log(`  SQL statements per checkout (its requests): ${statements.toFixed(1)}`);
  }
  // Everything on this machine that a checkout costs: with N in flight and every process sharing
  // the cores, a checkout cannot take less than N × (CPU per checkout) / cores of wall time.
  const perCheckout = {
    server: serverCpu / CHECKOUTS,
    postgres: backendMs / CHECKOUTS,
    seller: (sellerCpu + sellerBackendMs) / CHECKOUTS,
    client: clientCpu / CHECKOUTS,
  };
  const everything = perCheckout.server + perCheckout.postgres + perCheckout.seller + perCheckout.client;
  if (Number.isFinite(everything)) {
    const cores = os.availableParallelism();
    console.log(
      `  CPU per checkout, all processes: ${ms(everything)} (activehub ${ms(perCheckout.server + perCheckout.postgres)}: server + PostgreSQL; seller ${ms(perCheckout.seller)}, its ${SELLER_ON_POSTGRES ? 'PostgreSQL backends' : 'embedded database'} included; bench client ${ms(perCheckout.client)})`,
    );
    console.log(
      `    on ${cores} cores: at most ${((cores * 1000) / everything).toFixed(1)} checkouts/s (measured ${((CHECKOUTS / wall) * 1000).toFixed(1)}); with ${CONCURRENCY} in flight a checkout then takes at least ${ms((CONCURRENCY * everything) / cores)}; activehub is ${((100 * (perCheckout.server + perCheckout.postgres)) / everything).toFixed(0)}% of the CPU`,
    );
  }
  if (shown) {
    console.log(`\n  one checkout's requests:`);
    for (const r of shown) {
      console.log(
        `    ${r.what.padEnd(24)} ${r.status}  ${ms(r.ms).padStart(9)}  server ${ms(r.serverMs).padStart(9)}  seller ${ms(r.sellerMs).padStart(9)}${databaseUrl ? `  ${r.statements} statements` : ''}`,
      );
    }
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
