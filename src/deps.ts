import path from 'node:path';
import { pino, type Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { outboundAllowedHosts, type Config } from './config.js';
import { openDatabase, type Database } from './db/database.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createHttpClient, type HttpClient } from './lib/http-client.js';
import { createOutboundPolicy, type OutboundPolicy, type Resolver } from './lib/outbound.js';
import { VERSION } from './lib/version.js';
import { createJobs, type Jobs } from './lib/jobs.js';
import { createSealer, loadOrCreateKeyFile, type Sealer } from './lib/secrets.js';

/** Everything from outside the process that services need, created once and passed down. */
export interface Deps {
  config: Config;
  database: Database;
  jobs: Jobs;
  clock: Clock;
  log: Logger;
  metrics: Registry;
  /** Where requests to publisher-chosen URLs may go; `http` obeys it. */
  outbound: OutboundPolicy;
  http: HttpClient;
  /** Seals secrets we must read back (sellers' booking credentials). */
  secrets: Sealer;
}

export interface DepsOverrides {
  database?: Database;
  clock?: Clock;
  log?: Logger;
  /** Name resolution for the outbound policy (tests route public-looking names to local servers). */
  resolve?: Resolver;
}

export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const log =
    overrides.log ??
    pino({
      level: config.logLevel,
      redact: { paths: ['req.headers["x-api-key"]', 'req.headers.authorization'], censor: '[redacted]' },
    });
  const database =
    overrides.database ??
    (await openDatabase({
      url: config.databaseUrl,
      dataDir: config.databaseUrl ? undefined : config.dataDir,
      onConnectionError: (err) => log.warn({ err }, 'an idle database connection failed; the pool will open another'),
    }));
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const jobs = createJobs({
    database,
    log,
    pollIntervalSeconds: config.jobs.pollIntervalSeconds,
    leaseSeconds: config.jobs.leaseSeconds,
    maintenanceIntervalSeconds: config.jobs.maintenanceIntervalSeconds,
    stallAfterSeconds: config.jobs.stallAfterSeconds,
    metrics,
  });
  const outbound = createOutboundPolicy({
    allowPrivate: config.outbound.allowPrivate,
    allowedHosts: outboundAllowedHosts(config),
    ...(overrides.resolve ? { resolve: overrides.resolve } : {}),
  });
  const http = createHttpClient({ userAgent: `activehub/${VERSION} (+https://github.com/activehub)`, log, outbound });
  const secrets = createSealer(secretsKey(config, log));
  return { config, database, jobs, clock: overrides.clock ?? systemClock, log, metrics, outbound, http, secrets };
}

/**
 * SECRETS_KEY, or else the key file beside the data (made on first start). Servers sharing one
 * PostgreSQL database from different machines must share the key: set SECRETS_KEY on all of them.
 */
function secretsKey(config: Config, log: Logger): Buffer {
  if (config.secretsKey) return config.secretsKey;
  const file = path.join(config.dataDir, 'secrets.key');
  const { key, created } = loadOrCreateKeyFile(file);
  if (created) log.info({ file }, 'made a secrets key for stored booking credentials; back it up with the database');
  return key;
}

export async function closeDeps(deps: Deps): Promise<void> {
  await deps.jobs.stop();
  await deps.database.close();
  await deps.outbound.close();
}
