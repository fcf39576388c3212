/**
 * Profiling aid for the harvest benchmark: harvests a running sandbox into a fresh database
 * (dropped and re-created) and prints items/s, nothing else. Run with `--cpu-prof` to see where
 * the harvester's time goes:
 *
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ah_bench_harvest_prof \
 *   BENCH_DATASET_URL=http://localhost:3391/openactive \
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/harvest/profile-child.ts
 */
import { readFileSync } from 'node:fs';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { buildServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { closeDeps, createDeps } from '../../src/deps.js';
import { recordCpuMs } from '../lib/proc.js';

const databaseUrl = process.env.BENCH_DATABASE_URL!;
const datasetUrl = process.env.BENCH_DATASET_URL!;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? '4');

const dbName = new URL(databaseUrl).pathname.slice(1);
if (!/^ah_bench_harvest/.test(dbName)) throw new Error('BENCH_DATABASE_URL must name an ah_bench_harvest* database');
const adminUrl = new URL(databaseUrl);
adminUrl.pathname = '/postgres';
const admin = new pg.Client({ connectionString: adminUrl.toString() });
await admin.connect();
await admin.query(`drop database if exists ${dbName} with (force)`);
await admin.query(`create database ${dbName}`);
await admin.end();

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
await services.catalog.addPublisher({ datasetUrl });
// Statement wall time by kind (first words of the SQL), from the client's side.
const timings = new Map<string, { n: number; ms: number }>();
// eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with apply below
const origQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string })?.text ?? '');
  const key = text.replace(/\s+/g, ' ').slice(0, 48);
  const t0 = performance.now();
  const r = (origQuery as (...a: unknown[]) => unknown).apply(this, args);
  if (r && typeof (r as Promise<unknown>).then === 'function') {
    void (r as Promise<unknown>)
      .finally(() => {
        const t = timings.get(key) ?? { n: 0, ms: 0 };
        t.n += 1;
        t.ms += performance.now() - t0;
        timings.set(key, t);
      })
      .catch(() => undefined);
  }
  return r;
} as typeof pg.Client.prototype.query;

// CPU of the database backends serving this database (sampled: pool connections come and go).
const backendCpu = new Map<number, number>();
const sampleBackends = async () => {
  const r = await deps.database.db.executeQuery<{ pid: number }>(
    CompiledQuery.raw('select pid from pg_stat_activity where datname = current_database()'),
  );
  recordCpuMs(
    r.rows.map((row) => row.pid),
    backendCpu,
  );
};
const sampler = setInterval(() => void sampleBackends(), 1000);
const cpu0 = process.cpuUsage();
const started = Date.now();
let pages = 0;
const results = await services.harvester.runOnce({ onPage: () => (pages += 1) });
const seconds = (Date.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
await sampleBackends();
clearInterval(sampler);
pg.Client.prototype.query = origQuery;
const pgCpu = [...backendCpu.values()].reduce((a, b) => a + b, 0) / 1000;
for (const [k, t] of [...timings].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15))
  process.stdout.write(`${String(Math.round(t.ms)).padStart(8)} ms ${String(t.n).padStart(6)}× ${k}\n`);
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(`peak RSS ${hwm ? Math.round(Number(hwm[1]) / 1024) : -1} MB\n`);
process.stdout.write(
  `node CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, database backends CPU ≈ ${pgCpu.toFixed(1)} s\n`,
);
const items = results.reduce((a, r) => a + r.updated + r.deleted, 0);
process.stdout.write(
  `${items} items, ${pages} pages in ${seconds.toFixed(1)} s: ${Math.round(items / seconds)} items/s; load ${(
    await import('node:os')
  )
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}\n`,
);
await closeDeps(deps);
process.exit(0);
