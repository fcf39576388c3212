/**
 * bench/search, step 1 (a child process): harvests the sandbox over HTTP into a fresh database
 * with activehub's harvester, then projects the catalog into the search read model, and prints
 * one JSON line with the timings and row counts.
 */
import { sql } from 'kysely';
import { closeDeps } from '../../src/deps.js';
import { benchServices } from '../lib/services.js';

const databaseUrl = process.env.BENCH_DATABASE_URL!;
const datasetUrl = process.env.BENCH_DATASET_URL!;
const apiKey = process.env.BENCH_API_KEY!;

const { deps, services } = await benchServices(databaseUrl);
await services.brokers.ensureDemoBroker(apiKey);
await services.catalog.addPublisher({ datasetUrl });

const harvestStarted = Date.now();
const results = await services.harvester.runOnce();
const harvestSeconds = (Date.now() - harvestStarted) / 1000;
const items = results.reduce((a, r) => a + r.updated + r.deleted, 0);

const projectStarted = Date.now();
const run = await services.projector.runOnce();
const projectSeconds = (Date.now() - projectStarted) / 1000;

// The steady state autovacuum reaches soon after a bulk load: statistics, and visibility maps so
// the covering occurrence indexes answer without heap fetches (measured: 123 → 69 ms for a
// 10 km upcoming-sessions query in London at 100k sessions).
await sql`vacuum analyze`.execute(deps.database.db);
const count = async (table: string) =>
  Number(
    (await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(deps.database.db)).rows[0]!.n,
  );
const out = {
  items,
  harvestSeconds,
  failedFeeds: results.filter((r) => r.failed).length,
  changes: run.changes,
  projectSeconds,
  entities: await count('catalog_entities'),
  series: await count('search_series'),
  occurrences: await count('search_occurrences'),
};
await closeDeps(deps);
process.stdout.write(`${JSON.stringify(out)}\n`);
