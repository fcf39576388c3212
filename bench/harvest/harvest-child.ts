/**
 * One measured process of bench/harvest: walks the publisher's feeds without writing (the
 * publisher's own serving rate), harvests them into a fresh database with activehub's harvester
 * (items/s, peak RSS), then loads the same normalised rows with plain multi-row INSERTs (the raw
 * load rate). Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { buildServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { closeDeps, createDeps } from '../../src/deps.js';
import { parseRpdePage } from '../../src/lib/rpde.js';
import { cpuSpent, recordCpuMs } from '../lib/proc.js';

const databaseUrl = process.env.BENCH_DATABASE_URL!;
const datasetUrl = process.env.BENCH_DATASET_URL!;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? '4');

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : -1;
}

const config = loadConfig(
  {},
  {
    databaseUrl,
    logLevel: 'warn',
    harvest: { enabled: false, pollIntervalMs: 8000, concurrency, registerSandbox: false, datasetUrls: [] },
    // The bench's publisher runs on this machine (the sandbox on 127.0.0.1).
    outbound: { allowPrivate: true, allowedHosts: [] },
  },
);
const deps = await createDeps(config, { log: pino({ level: 'warn' }) });
await migrateToLatest(deps.database.db);
const services = buildServices(deps);
const { feeds } = await services.catalog.addPublisher({ datasetUrl });

// 1. The publisher alone: read every page, parse, write nothing.
const walkStarted = Date.now();
let walkItems = 0;
await Promise.all(
  feeds.map(async (f) => {
    let url = f.url;
    for (;;) {
      const res = await deps.http.request(url);
      const page = parseRpdePage(res.text, url);
      walkItems += page.items.length;
      if (page.isLastPage || page.items.length === 0) return;
      url = page.next;
    }
  }),
);
const walkSeconds = (Date.now() - walkStarted) / 1000;

// CPU of the database server processes serving this database, when the server runs on this
// machine (sampled, since pool connections come and go): with the machine shared, CPU per item
// is steadier than items/s.
const backendCpu = new Map<number, number>();
async function sampleBackends(): Promise<void> {
  const r = await deps.database.db.executeQuery<{ pid: number }>(
    CompiledQuery.raw('select pid from pg_stat_activity where datname = current_database()'),
  );
  recordCpuMs(
    r.rows.map((row) => row.pid),
    backendCpu,
  );
}

// 2. activehub's harvester.
const rssBefore = peakRssMb();
await sampleBackends();
const backendCpuBefore = new Map(backendCpu);
const sampler = setInterval(() => void sampleBackends().catch(() => undefined), 1000);
const cpuBefore = process.cpuUsage();
const started = Date.now();
const results = await services.harvester.runOnce();
const seconds = (Date.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
clearInterval(sampler);
await sampleBackends();
const harvesterCpuSeconds = (cpu.user + cpu.system) / 1e6;
const databaseCpuSeconds = (cpuSpent(backendCpuBefore, backendCpu) ?? 0) / 1000;
const items = results.reduce((a, r) => a + r.updated + r.deleted, 0);
const peak = peakRssMb();
const failed = results.filter((r) => r.failed).length;

// 3. Baseline: the same normalised rows, loaded with plain multi-row INSERTs of 1,000 rows.
const client = new pg.Client({ connectionString: databaseUrl });
await client.connect();
await client.query('create table bench_raw_entities (like catalog_entities including defaults including compression)');
const cols = (
  await client.query<{ column_name: string }>(
    "select column_name from information_schema.columns where table_name = 'catalog_entities' and column_name <> 'id' order by ordinal_position",
  )
).rows.map((r) => r.column_name);
let rawRows = 0;
let rawMs = 0;
let after = 0;
for (;;) {
  const batch = await client.query(
    `select id, ${cols.join(', ')} from catalog_entities where id > $1 order by id limit 1000`,
    [after],
  );
  if (batch.rows.length === 0) break;
  after = Number(batch.rows.at(-1).id);
  const values: unknown[] = [];
  const tuples = batch.rows.map((row: Record<string, unknown>, i: number) => {
    for (const c of cols) {
      const v = row[c];
      values.push(
        v !== null && typeof v === 'object' && !(v instanceof Date) && !Array.isArray(v)
          ? JSON.stringify(v)
          : Array.isArray(v) && cols && (c === 'activities' || c === 'offers' || c === 'event_schedule')
            ? JSON.stringify(v)
            : v,
      );
    }
    return `(${cols.map((_, j) => `$${i * cols.length + j + 1}`).join(', ')})`;
  });
  const t0 = Date.now();
  await client.query(`insert into bench_raw_entities (${cols.join(', ')}) values ${tuples.join(', ')}`, values);
  rawMs += Date.now() - t0;
  rawRows += batch.rows.length;
}
await client.end();
await closeDeps(deps);

process.stdout.write(
  `${JSON.stringify({ walkItems, walkSeconds, items, seconds, failed, peakRssMb: peak, rssBeforeHarvestMb: rssBefore, rawRows, rawSeconds: rawMs / 1000, harvesterCpuSeconds, databaseCpuSeconds })}\n`,
);
process.exit(0);
