/**
 * Search benchmark (issue 5). The bundled sandbox scaled to N ScheduledSessions is harvested
 * over HTTP into PostgreSQL and projected into the search read model (both timed). Then a mix of
 * ten realistic searches (Events API upcoming-sessions and discovery modes at 5–25 km with
 * activity and date filters, page 1 and page 5, Facilities API upcoming-slots) is driven at the
 * activehub server with autocannon, and — in the same run — the SQL those requests issue is
 * replayed alone, straight to PostgreSQL through a pool of the server's size, with the same
 * concurrency: the difference is what the API adds.
 *
 *   npm run bench:search -- [--sessions 1000000] [--connections 32] [--duration 30] [--warmup 5]
 *                           [--pg-url postgres://postgres@127.0.0.1:5432] [--reuse] [--keep]
 *
 * --explain runs EXPLAIN (ANALYZE, BUFFERS) on every captured statement and prints, per kind of
 * search, the median execution time, buffers touched and rows the plan read (load-independent
 * but for the time), then stops before the load phases; --dump-sql <file> writes the captured
 * statements as JSON (URL → waves of statements) for EXPLAIN by hand.
 *
 * --reuse keeps using an already harvested search database (ah_bench_search_<N>, or the one
 * --search-db names, e.g. a `create database … template` copy to try a migration on) and --keep
 * keeps it afterwards; the sandbox database (ah_bench_sandbox_<N>) is always kept, as
 * bench/harvest does with --keep-sandbox (generating a million sessions takes minutes).
 *
 * Targets: p95 < 30 ms; API overhead ≤ 1.5× the SQL time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { buildApp, buildServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import type { DB } from '../../src/db/schema.js';
import { createDeps } from '../../src/deps.js';
import { cpuMs, cpuSpent, postgresBackendsCpu } from '../lib/proc.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000000' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    port: { type: 'string', default: '3392' },
    'sandbox-port': { type: 'string', default: '3391' },
    centres: { type: 'string', default: '40' },
    reuse: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    explain: { type: 'boolean', default: false },
    'dump-sql': { type: 'string' },
    'search-db': { type: 'string' },
  },
});
const sessions = Number(values.sessions);
const connections = Number(values.connections);
const duration = Number(values.duration);
const warmup = Number(values.warmup);
const pgUrl = new URL(values['pg-url']);
const SANDBOX_DB = `ah_bench_sandbox_${sessions}`;
const SEARCH_DB = values['search-db'] ?? `ah_bench_search_${sessions}`;
const API_KEY = 'bench-search-key-0123456789abcdef';
/** The server's pool size (src/db/database.ts). */
const POOL_SIZE = 20;
const dbUrl = (db: string) => {
  const u = new URL(pgUrl);
  u.pathname = `/${db}`;
  return u.toString();
};

const children: ChildProcess[] = [];
const stopChildren = () => children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
process.on('SIGINT', () => {
  stopChildren();
  process.exit(130);
});

async function admin<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []) {
  const c = new pg.Client({ connectionString: dbUrl('postgres') });
  await c.connect();
  try {
    return await c.query<T>(text, params);
  } finally {
    await c.end();
  }
}
const databaseExists = async (name: string) =>
  (await admin('select 1 from pg_database where datname = $1', [name])).rowCount === 1;

async function waitFor(url: string, child: ChildProcess, what: string) {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

const say = (text: string) => process.stdout.write(`${text}\n`);

// ---- 1. data: sandbox → harvest → projection ---------------------------------------------

async function prepare() {
  if (values.reuse && (await databaseExists(SEARCH_DB))) {
    say(`Reusing the harvested and projected database ${SEARCH_DB}.`);
    return;
  }
  const sandboxExists = await databaseExists(SANDBOX_DB);
  if (!sandboxExists) await admin(`create database ${SANDBOX_DB}`);
  say(
    `Starting the sandbox with ${sessions.toLocaleString()} sessions (${sandboxExists ? 'existing data' : 'generating'})…`,
  );
  const port = values['sandbox-port'];
  const sandbox = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'sandbox', '--port', port, '--sessions', String(sessions)],
    {
      cwd: ROOT,
      env: { ...process.env, SANDBOX_DATABASE_URL: dbUrl(SANDBOX_DB), LOG_LEVEL: 'warn', SANDBOX_CHURN_SECONDS: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(sandbox);
  const datasetUrl = `http://localhost:${port}/openactive`;
  await waitFor(datasetUrl, sandbox, 'the sandbox');

  await admin(`drop database if exists ${SEARCH_DB} with (force)`);
  await admin(`create database ${SEARCH_DB}`);
  say('Harvesting into PostgreSQL and projecting the search read model…');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/search/prepare-child.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      BENCH_DATABASE_URL: dbUrl(SEARCH_DB),
      BENCH_DATASET_URL: datasetUrl,
      BENCH_API_KEY: API_KEY,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`prepare child exited ${code}`)))),
  );
  sandbox.kill('SIGTERM');
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
    items: number;
    harvestSeconds: number;
    failedFeeds: number;
    changes: number;
    projectSeconds: number;
    entities: number;
    series: number;
    occurrences: number;
  };
  say(
    `harvest: ${r.items.toLocaleString()} items in ${r.harvestSeconds.toFixed(1)} s (${Math.round(r.items / r.harvestSeconds).toLocaleString()} items/s, ${r.failedFeeds} failing feeds)`,
  );
  say(
    `projection: ${r.changes.toLocaleString()} catalog changes → ${r.series.toLocaleString()} series and ${r.occurrences.toLocaleString()} occurrences in ${r.projectSeconds.toFixed(1)} s (${Math.round(r.changes / r.projectSeconds).toLocaleString()} changes/s)`,
  );
}

// ---- 2. the query mix ---------------------------------------------------------------------

interface Query {
  name: string;
  path: string;
}

function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function queryMix(): Promise<Query[]> {
  const c = new pg.Client({ connectionString: dbUrl(SEARCH_DB) });
  await c.connect();
  await c.query('select setseed(0.42)');
  // Centres at real venues, each with an activity offered there, so searches find things.
  const venues = (
    await c.query<{ latitude: number; longitude: number; activity: string; label: string | null }>(
      `select latitude, longitude, activity_ids[1] as activity, doc::jsonb->'event'->'activity'->0->>'prefLabel' as label
       from search_series where kind = 'SessionSeries' and latitude is not null and not hfs
         and cardinality(activity_ids) > 0 order by random() limit $1`,
      [Number(values.centres)],
    )
  ).rows;
  const facilities = (
    await c.query<{ latitude: number; longitude: number }>(
      `select latitude, longitude from search_series where kind = 'FacilityUse' and latitude is not null
       order by random() limit $1`,
      [Number(values.centres)],
    )
  ).rows;
  await c.end();
  if (!venues.length || !facilities.length) throw new Error('the search database has no venues');

  const now = new Date();
  const day = (d: number) => new Date(now.getTime() + d * 86_400_000).toISOString().slice(0, 10);
  const iso = (d: Date) => `${d.toISOString().slice(0, 19)}Z`;
  const e = encodeURIComponent;
  const queries: Query[] = [];
  venues.forEach((v, i) => {
    const geo = (km: number) => `geo[radial]=${v.latitude.toFixed(5)},${v.longitude.toFixed(5)},${km}`;
    const f = facilities[i % facilities.length]!;
    const events = '/events-api/v2/event-series';
    queries.push(
      {
        name: 'upcoming 5 km + activity + 3 days',
        path: `${events}?mode=upcoming-sessions&${geo(5)}&activityId=${e(v.activity)}&startDate[gte]=${iso(now)}&startDate[lte]=${day(3)}T23:59:59Z&limit=20`,
      },
      {
        name: 'upcoming 10 km + activity + week',
        path: `${events}?mode=upcoming-sessions&${geo(10)}&activityId=${e(v.activity)}&startDate[lte]=${day(7)}T23:59:59Z&limit=20`,
      },
      {
        name: 'upcoming 25 km + activity label',
        path: `${events}?mode=upcoming-sessions&${geo(25)}&activityPrefLabel=${e(v.label ?? 'Yoga')}&limit=20`,
      },
      {
        name: 'discovery-geo 10 km + activity',
        path: `${events}?mode=discovery-geo&${geo(10)}&activityId=${e(v.activity)}&limit=20`,
      },
      { name: 'discovery-geo 25 km', path: `${events}?mode=discovery-geo&${geo(25)}&limit=20` },
      { name: 'discovery-price-asc 15 km', path: `${events}?mode=discovery-price-asc&${geo(15)}&limit=20` },
      {
        name: 'discovery-price-desc 10 km + age',
        path: `${events}?mode=discovery-price-desc&${geo(10)}&ageRange[includeRange]=30&limit=20`,
      },
      { name: 'upcoming 10 km page 5', path: `${events}?mode=upcoming-sessions&${geo(10)}&limit=20&page=5` },
      {
        name: 'upcoming 15 km evenings, weekdays',
        path: `${events}?mode=upcoming-sessions&${geo(15)}&startTime[gte]=17:00&startTime[lte]=21:00&dayOfWeek=schema:Tuesday&dayOfWeek=schema:Thursday&limit=20`,
      },
      {
        name: 'facilities upcoming-slots 10 km',
        path: `/facilities-api/v2/facility-uses?mode=upcoming-slots&geo[radial]=${f.latitude.toFixed(5)},${f.longitude.toFixed(5)},10&startDate[gte]=${day(1)}T06:00:00Z&limit=20`,
      },
    );
  });
  return queries;
}

// ---- 3. the SQL behind each request, captured in-process --------------------------------

interface Statement {
  text: string;
  values: unknown[];
  /** Statements of one wave were in flight together (a Promise.all in the service). */
  wave: number;
}

const typeParsers = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20) return (v: string) => Number(v);
    if (oid === 1082) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  }) as typeof pg.types.getTypeParser,
};

async function captureSql(queries: Query[]): Promise<Map<string, Statement[][]>> {
  const real = new pg.Pool({ connectionString: dbUrl(SEARCH_DB), max: POOL_SIZE, types: typeParsers });
  let recording: Statement[] | null = null;
  let completed = 0;
  const pool = {
    connect: async () => {
      const client = await real.connect();
      return new Proxy(client, {
        get(target, prop) {
          if (prop === 'query') {
            return (text: unknown, params?: unknown[]) => {
              if (recording && typeof text === 'string')
                recording.push({ text, values: params ?? [], wave: completed });
              const p = target.query(text as string, params) as unknown as Promise<unknown>;
              return p.finally(() => (completed += 1));
            };
          }
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
    end: () => real.end(),
  };
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: pool }) });
  const database: Database = {
    db,
    kind: 'postgres',
    runnerFor: (executor) => ({
      async executeSql(text, params = []) {
        const r = await executor.executeQuery(CompiledQuery.raw(text, params));
        return { rows: r.rows };
      },
    }),
    close: () => db.destroy(),
  };
  const config = loadConfig(
    {},
    { databaseUrl: dbUrl(SEARCH_DB), logLevel: 'silent', seedDemo: false, publicBaseUrl: 'http://bench.test' },
  );
  const deps = await createDeps(config, { database, log: pino({ level: 'silent' }) });
  const app = await buildApp(deps, buildServices(deps));
  await app.ready();
  const out = new Map<string, Statement[][]>();
  for (const q of queries) {
    // The first call warms the key and checkout-URL caches, as a running server has them.
    await app.inject({ method: 'GET', url: q.path, headers: { 'x-api-key': API_KEY } });
    recording = [];
    const res = await app.inject({ method: 'GET', url: q.path, headers: { 'x-api-key': API_KEY } });
    if (res.statusCode !== 200) throw new Error(`${q.path} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
    const waves = new Map<number, Statement[]>();
    for (const s of recording) waves.set(s.wave, [...(waves.get(s.wave) ?? []), s]);
    out.set(q.path, [...waves.values()]);
    recording = null;
  }
  await app.close();
  await deps.jobs.stop();
  await database.close();
  return out;
}

// ---- 4. load -------------------------------------------------------------------------------

interface Sample {
  times: number[];
  byName: Map<string, number[]>;
  seconds: number;
  failures: number;
  /** CPU (ms) the PostgreSQL backends of the search database used during the run. */
  pgCpuMs?: number;
}

function pick(queries: Query[], seed: number) {
  const random = mulberry32(seed);
  return () => queries[Math.floor(random() * queries.length)]!;
}

async function driveApi(url: string, queries: Query[], seconds: number): Promise<Sample> {
  const next = pick(queries, 7);
  const byName = new Map<string, number[]>();
  const times: number[] = [];
  let failures = 0;
  const instance = autocannon({
    url,
    connections,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        headers: { 'x-api-key': API_KEY },
        setupRequest: (req, context) => {
          const q = next();
          context.name = q.name;
          context.started = performance.now();
          req.path = q.path;
          return req;
        },
        onResponse: (status, _body, context) => {
          if (status !== 200) {
            failures += 1;
            return;
          }
          const name = context.name as string;
          byName.set(name, [...(byName.get(name) ?? []), performance.now() - (context.started as number)]);
        },
      },
    ],
  });
  // Exact per-response times (autocannon's histogram has 1 ms resolution).
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    if (status === 200) times.push(responseTime);
  });
  const result = await instance;
  return { times, byName, seconds: result.duration, failures: failures + result.errors + result.timeouts };
}

async function driveSql(queries: Query[], sqlByPath: Map<string, Statement[][]>, seconds: number): Promise<Sample> {
  const pg0 = postgresBackendsCpu(SEARCH_DB);
  const pool = new pg.Pool({ connectionString: dbUrl(SEARCH_DB), max: POOL_SIZE, types: typeParsers });
  const next = pick(queries, 7);
  const byName = new Map<string, number[]>();
  const times: number[] = [];
  let failures = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const q = next();
        const t0 = performance.now();
        try {
          for (const wave of sqlByPath.get(q.path)!) await Promise.all(wave.map((s) => pool.query(s.text, s.values)));
        } catch {
          failures += 1;
          continue;
        }
        const ms = performance.now() - t0;
        times.push(ms);
        byName.set(q.name, [...(byName.get(q.name) ?? []), ms]);
      }
    }),
  );
  // Read before the pool's backends exit (they were opened during the run, so all their CPU counts).
  const pg1 = postgresBackendsCpu(SEARCH_DB);
  await pool.end();
  const pgCpuMs = cpuSpent(pg0, pg1);
  return { times, byName, seconds: (performance.now() - started) / 1000, failures, pgCpuMs };
}

// ---- EXPLAIN (--explain) ------------------------------------------------------------------

interface PlanNode {
  'Node Type': string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** Rows produced by the scan nodes of a plan (rows × loops): what it read from tables and indexes. */
function scannedRows(node: PlanNode): number {
  const own = /Scan$/.test(node['Node Type']) ? (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 1) : 0;
  return own + (node.Plans ?? []).reduce((a, p) => a + scannedRows(p), 0);
}

async function explainAll(queries: Query[], sqlByPath: Map<string, Statement[][]>) {
  const c = new pg.Client({ connectionString: dbUrl(SEARCH_DB) });
  await c.connect();
  const perKind = new Map<string, { ms: number[]; buffers: number[]; rows: number[]; statements: number }>();
  for (const q of queries) {
    let ms = 0;
    let buffers = 0;
    let rows = 0;
    const statements = sqlByPath.get(q.path)!.flat();
    for (const s of statements) {
      const r = await c.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }>(
        `explain (analyze, buffers, format json) ${s.text}`,
        s.values,
      );
      const plan = r.rows[0]!['QUERY PLAN'][0];
      ms += plan['Execution Time'];
      buffers += (plan.Plan['Shared Hit Blocks'] ?? 0) + (plan.Plan['Shared Read Blocks'] ?? 0);
      rows += scannedRows(plan.Plan);
    }
    const k = perKind.get(q.name) ?? { ms: [], buffers: [], rows: [], statements: 0 };
    k.ms.push(ms);
    k.buffers.push(buffers);
    k.rows.push(rows);
    k.statements += statements.length;
    perKind.set(q.name, k);
  }
  await c.end();
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor((s.length - 1) / 2)]!;
  };
  const max = (xs: number[]) => Math.max(...xs);
  say('');
  say(
    `${'EXPLAIN (ANALYZE, BUFFERS), per search'.padEnd(38)}${'stmts'.padStart(6)}${'ms p50'.padStart(9)}${'ms max'.padStart(9)}${'buf p50'.padStart(9)}${'buf max'.padStart(9)}${'rows p50'.padStart(10)}${'rows max'.padStart(10)}`,
  );
  const all = { ms: [] as number[], buffers: [] as number[] };
  for (const [name, k] of perKind) {
    all.ms.push(...k.ms);
    all.buffers.push(...k.buffers);
    say(
      `${name.padEnd(38)}${(k.statements / k.ms.length).toFixed(1).padStart(6)}${median(k.ms).toFixed(2).padStart(9)}${max(k.ms).toFixed(1).padStart(9)}${String(median(k.buffers)).padStart(9)}${String(max(k.buffers)).padStart(9)}${String(median(k.rows)).padStart(10)}${String(max(k.rows)).padStart(10)}`,
    );
  }
  say(
    `${'all'.padEnd(38)}${''.padStart(6)}${median(all.ms).toFixed(2).padStart(9)}${max(all.ms).toFixed(1).padStart(9)}${String(median(all.buffers)).padStart(9)}${String(max(all.buffers)).padStart(9)}`,
  );
  say(
    `(time = PostgreSQL's execution time, one statement at a time; buffers = shared blocks hit + read; rows = rows produced by scan nodes × loops. Load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}.)`,
  );
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : NaN;
const stats = (times: number[]) => {
  const sorted = Float64Array.from(times).sort();
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function main() {
  say(
    `activehub search benchmark — ${os.cpus().length} cores, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await prepare();
  const queries = await queryMix();
  say(`Query mix: ${queries.length} URLs (${queries.length / 10} venues × 10 kinds of search).`);

  const port = values.port;
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: dbUrl(SEARCH_DB),
      PORT: port,
      HOST: '127.0.0.1',
      PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'warn',
      JOBS_ENABLED: 'false',
      SANDBOX_ENABLED: 'false',
      HARVEST_ENABLED: 'false',
      HARVEST_REGISTER_SANDBOX: 'false',
      SEED_DEMO: 'false',
      RATE_LIMIT_MAX: '10000000',
      RATE_LIMIT_ADDRESS_MAX: '10000000',
      AUTH_CACHE_TTL_MS: '60000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(server);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health`, server, 'the server');
  if (values.reuse) {
    // The server has migrated the database: a migration that rewrote a read-model table left it
    // without a visibility map (every index-only scan would visit the heap), and autovacuum does
    // not count a rewrite as work. Quick when nothing changed.
    const t = performance.now();
    const c = new pg.Client({ connectionString: dbUrl(SEARCH_DB) });
    await c.connect();
    await c.query('vacuum analyze search_series, search_occurrences').finally(() => c.end());
    say(`vacuum analyze of the read model: ${((performance.now() - t) / 1000).toFixed(1)} s.`);
  }

  // Every query answers 200; how many find something.
  const found = new Map<string, { total: number; nonEmpty: number; items: number }>();
  for (const q of queries) {
    const res = await fetch(`${base}${q.path}`, { headers: { 'x-api-key': API_KEY } });
    if (res.status !== 200) throw new Error(`${q.path} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const body = (await res.json()) as { 'imin:totalItems': number; 'imin:item': unknown[] };
    const f = found.get(q.name) ?? { total: 0, nonEmpty: 0, items: 0 };
    f.total += 1;
    if (body['imin:item'].length) f.nonEmpty += 1;
    f.items += body['imin:totalItems'];
    found.set(q.name, f);
  }

  say('Capturing the SQL each request issues…');
  const sqlByPath = await captureSql(queries);
  const statements = [...sqlByPath.values()].map((w) => w.flat().length);
  say(`${(statements.reduce((a, b) => a + b, 0) / statements.length).toFixed(1)} statements per request on average.`);

  if (values['dump-sql']) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(values['dump-sql'], JSON.stringify(Object.fromEntries(sqlByPath), null, 1));
    say(`SQL written to ${values['dump-sql']}.`);
  }
  if (values.explain) {
    server.kill('SIGTERM');
    await explainAll(queries, sqlByPath);
    return;
  }

  say(`API: warm-up ${warmup} s, then ${duration} s at ${connections} connections…`);
  await driveApi(base, queries, warmup);
  const node0 = cpuMs(server.pid);
  const pg0 = postgresBackendsCpu(SEARCH_DB);
  const api = await driveApi(base, queries, duration);
  const node1 = cpuMs(server.pid);
  const pg1 = postgresBackendsCpu(SEARCH_DB);
  const apiNodeMs = node0 !== undefined && node1 !== undefined ? node1 - node0 : undefined;
  api.pgCpuMs = cpuSpent(pg0, pg1);
  server.kill('SIGTERM');
  say(
    `SQL alone: warm-up ${warmup} s, then ${duration} s at ${connections} concurrent requests, pool of ${POOL_SIZE}…`,
  );
  await driveSql(queries, sqlByPath, warmup);
  const sqlOnly = await driveSql(queries, sqlByPath, duration);

  const a = stats(api.times);
  const s = stats(sqlOnly.times);
  const rows: string[][] = [['', 'requests/s', 'p50', 'p95', 'p99', 'failures']];
  rows.push([
    'API (HTTP, activehub)',
    (api.times.length / api.seconds).toFixed(0),
    ms(a.p50),
    ms(a.p95),
    ms(a.p99),
    String(api.failures),
  ]);
  rows.push([
    'SQL alone',
    (sqlOnly.times.length / sqlOnly.seconds).toFixed(0),
    ms(s.p50),
    ms(s.p95),
    ms(s.p99),
    String(sqlOnly.failures),
  ]);
  rows.push([
    'API ÷ SQL',
    '',
    `${(a.p50 / s.p50).toFixed(2)}×`,
    `${(a.p95 / s.p95).toFixed(2)}×`,
    `${(a.p99 / s.p99).toFixed(2)}×`,
    '',
  ]);
  say('');
  for (const r of rows)
    say(
      `${r[0]!.padEnd(24)}${r
        .slice(1)
        .map((c) => c.padStart(12))
        .join('')}`,
    );
  const perRequest = (ms: number | undefined, n: number) => (ms === undefined || n === 0 ? '-' : (ms / n).toFixed(2));
  say('');
  say(
    `CPU per request (from /proc): API — server ${perRequest(apiNodeMs, api.times.length)} ms, PostgreSQL ${perRequest(api.pgCpuMs, api.times.length)} ms; SQL alone — PostgreSQL ${perRequest(sqlOnly.pgCpuMs, sqlOnly.times.length)} ms. Load average now ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}.`,
  );
  say('');
  say(
    `${'per search'.padEnd(38)}${'found'.padStart(8)}${'API p50'.padStart(11)}${'API p95'.padStart(11)}${'SQL p50'.padStart(11)}${'SQL p95'.padStart(11)}`,
  );
  for (const name of found.keys()) {
    const f = found.get(name)!;
    const x = stats(api.byName.get(name) ?? []);
    const y = stats(sqlOnly.byName.get(name) ?? []);
    say(
      `${name.padEnd(38)}${`${f.nonEmpty}/${f.total}`.padStart(8)}${ms(x.p50).padStart(11)}${ms(x.p95).padStart(11)}${ms(y.p50).padStart(11)}${ms(y.p95).padStart(11)}`,
    );
  }
  say('');
  say(
    `targets: p95 < 30 ms: ${a.p95 < 30 ? 'met' : 'NOT met'} (${ms(a.p95)}); API ≤ 1.5× SQL at p95: ${a.p95 / s.p95 <= 1.5 ? 'met' : 'NOT met'} (${(a.p95 / s.p95).toFixed(2)}×)`,
  );
  say(
    `(${os.cpus().length} cores shared by the load generator, the server and PostgreSQL; the SQL-alone run has no HTTP server or load generator to feed, so its figures are a floor. "found" = searches with at least one result.)`,
  );
  if (api.failures || sqlOnly.failures) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    stopChildren();
    if (!values.keep && !values.reuse)
      await admin(`drop database if exists ${SEARCH_DB} with (force)`).catch(() => undefined);
  });
