/**
 * Search projection alone (issue 5: search "never more than seconds behind" the harvester). Takes
 * an already harvested catalog database, empties the search read model and times a full
 * projection of its `catalog_changes` with activehub's projector, then (`replay`) projects the
 * same changes again over the full read model — the incremental path, every row an update.
 * `changes` does the first again replaying the changes one batch at a time (the incremental path
 * on an empty read model; `fresh` loads an empty read model in bulk from the catalog's entities).
 * Prints changes/s, the CPU per 1,000 changes of this process and of the database's PostgreSQL
 * backends (from /proc), the load average, and a digest of the read model (equal digests: equal
 * rows, ids aside). The baseline is the same rows written with plain 1,000-row multi-row INSERTs
 * into copies of the two tables (same indexes, storage and compression).
 *
 *   node --import tsx bench/search/projection.ts --db h3_catalog_100000 [--modes fresh,changes,replay]
 *        [--batch-size 5000] [--no-raw] [--pg-url postgres://postgres@127.0.0.1:5432]
 *
 * The database must hold a harvested catalog (e.g. one bench/search prepared and kept); its
 * search tables are overwritten. Add `--cpu-prof --cpu-prof-dir=DIR` to node for a V8 profile.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { closeDeps } from '../../src/deps.js';
import { createVocabularies } from '../../src/lib/vocabularies.js';
import { createProjector } from '../../src/modules/search/index.js';
import { postgresBackendsCpu } from '../lib/proc.js';
import { benchServices } from '../lib/services.js';

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
    modes: { type: 'string', default: 'fresh,changes,replay' },
    'batch-size': { type: 'string' },
    'no-raw': { type: 'boolean', default: false },
  },
});
if (!values.db) throw new Error('--db <harvested catalog database> is required');
const dbName = values.db;
const url = new URL(values['pg-url']);
url.pathname = `/${dbName}`;
const databaseUrl = url.toString();
const modes = values.modes.split(',').map((m) => m.trim());
for (const m of modes) if (!['fresh', 'changes', 'replay'].includes(m)) throw new Error(`unknown mode ${m}`);

const say = (text: string) => process.stdout.write(`${text}\n`);
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

const { deps, services } = await benchServices(databaseUrl);
const { db } = deps.database;
const projectorWith = (bulkLoad: boolean) =>
  createProjector({
    database: deps.database,
    catalog: services.catalog,
    vocab: createVocabularies(),
    clock: deps.clock,
    log: deps.log,
    bulkLoad,
    ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
  });

/** CPU (ms) of this database's backends, sampled so connections that end are still counted. */
function backendSampler() {
  const first = postgresBackendsCpu(dbName) ?? new Map<number, number>();
  const last = new Map(first);
  const sample = () => {
    for (const [pid, ms] of postgresBackendsCpu(dbName) ?? []) last.set(pid, ms);
  };
  const timer = setInterval(sample, 1000);
  return () => {
    clearInterval(timer);
    sample();
    let total = 0;
    for (const [pid, ms] of last) total += ms - (first.get(pid) ?? 0);
    return total;
  };
}

async function measure<T>(what: () => Promise<T>) {
  const loadBefore = load();
  const stopBackends = backendSampler();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await what();
  const ms = performance.now() - started;
  const own = process.cpuUsage(cpu);
  return {
    result,
    seconds: ms / 1000,
    ownCpuMs: (own.user + own.system) / 1000,
    backendCpuMs: stopBackends(),
    load: `${loadBefore} → ${load()}`,
  };
}

/** A digest of the read model's content: ids and times of writing aside, occurrences by series. */
async function digest() {
  const { rows } = await sql<{ series: string; occurrences: string; n_series: string; n_occ: string }>`
    select
      (select md5(string_agg(t, E'\n' order by k)) from (
        select publisher_id || ' ' || oa_id as k,
          (to_jsonb(s) - 'id' - 'updated_at' - 'doc')::text || s.doc::text as t from search_series s) x) as series,
      (select md5(string_agg(t, E'\n' order by k)) from (
        select o.publisher_id || ' ' || o.oa_id as k,
          (to_jsonb(o) - 'id' - 'series_id' - 'doc')::text || s.oa_id || o.doc::text as t
        from search_occurrences o join search_series s on s.id = o.series_id) x) as occurrences,
      (select count(*) from search_series) as n_series,
      (select count(*) from search_occurrences) as n_occ`.execute(db);
  const r = rows[0]!;
  return { series: Number(r.n_series), occurrences: Number(r.n_occ), digest: `${r.series}/${r.occurrences}` };
}

const changes = Number((await sql<{ n: string }>`select count(*) as n from catalog_changes`.execute(db)).rows[0]!.n);
say(`${dbName}: ${changes.toLocaleString()} catalog changes; load average ${load()}`);

const perK = (ms: number, n: number) => ((ms * 1000) / n).toFixed(0);
for (const mode of modes) {
  if (mode !== 'replay') await sql`truncate search_occurrences, search_series restart identity`.execute(db);
  await sql`delete from search_projector_state`.execute(db);
  await sql`checkpoint`.execute(db);
  const projector = projectorWith(mode === 'fresh');
  const m = await measure(() => projector.runOnce());
  const d = await digest();
  say(
    `${mode}: ${m.result.changes.toLocaleString()} changes in ${m.result.batches} batches, ${m.seconds.toFixed(1)} s ` +
      `(${Math.round(m.result.changes / m.seconds).toLocaleString()} changes/s); CPU per 1,000 changes: ` +
      `projector ${perK(m.ownCpuMs, m.result.changes)} ms, PostgreSQL ${perK(m.backendCpuMs, m.result.changes)} ms; ` +
      `load ${m.load}`,
  );
  say(
    `  read model: ${d.series.toLocaleString()} series, ${d.occurrences.toLocaleString()} occurrences, digest ${d.digest}`,
  );
}

if (!values['no-raw']) {
  // Baseline: the rows the projection wrote, inserted again with plain multi-row INSERTs.
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let rows = 0;
  let insertMs = 0;
  const stopBackends = backendSampler();
  const loadBefore = load();
  for (const table of ['search_series', 'search_occurrences']) {
    const copy = `bench_raw_${table}`;
    await client.query(`drop table if exists ${copy}`);
    await client.query(`create table ${copy} (like ${table} including all)`);
    const cols = (
      await client.query<{ column_name: string }>(
        'select column_name from information_schema.columns where table_name = $1 order by ordinal_position',
        [table],
      )
    ).rows.map((r) => r.column_name);
    let after = 0;
    for (;;) {
      const batch = await client.query<Record<string, unknown>>(
        `select ${cols.map((c) => (c === 'doc' ? 'doc::text as doc' : c)).join(', ')} from ${table}
         where id > $1 order by id limit 1000`,
        [after],
      );
      if (batch.rows.length === 0) break;
      after = Number(batch.rows.at(-1)!.id);
      const params: unknown[] = [];
      const tuples = batch.rows.map((row, i) => {
        for (const c of cols) params.push(row[c]);
        return `(${cols.map((_, j) => `$${i * cols.length + j + 1}`).join(', ')})`;
      });
      const t0 = performance.now();
      await client.query(`insert into ${copy} (${cols.join(', ')}) values ${tuples.join(', ')}`, params);
      insertMs += performance.now() - t0;
      rows += batch.rows.length;
    }
  }
  const backendMs = stopBackends();
  for (const table of ['search_series', 'search_occurrences']) await client.query(`drop table bench_raw_${table}`);
  await client.end();
  say(
    `raw INSERT of the same rows: ${rows.toLocaleString()} rows in ${(insertMs / 1000).toFixed(1)} s ` +
      `(${Math.round(rows / (insertMs / 1000)).toLocaleString()} rows/s); PostgreSQL CPU per 1,000 rows ` +
      `(reads included) ${perK(backendMs, rows)} ms; load ${loadBefore} → ${load()}`,
  );
}
await closeDeps(deps);
process.exit(0);
