import { pino } from 'pino';
import { buildServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createDeps } from '../../src/deps.js';

/**
 * activehub's services on a PostgreSQL database, migrated, without the HTTP server, for a bench
 * that drives them in its own process: warnings only, no harvesting of its own, no publishers.
 * Close with `closeDeps(deps)`.
 */
export async function benchServices(databaseUrl: string) {
  const config = loadConfig(
    {},
    {
      databaseUrl,
      logLevel: 'warn',
      harvest: { enabled: false, pollIntervalMs: 8000, concurrency: 4, registerSandbox: false, datasetUrls: [] },
      // The bench's publisher runs on this machine (the sandbox on 127.0.0.1).
      outbound: { allowPrivate: true, allowedHosts: [] },
    },
  );
  const deps = await createDeps(config, { log: pino({ level: 'warn' }) });
  await migrateToLatest(deps.database.db);
  return { config, deps, services: buildServices(deps) };
}
