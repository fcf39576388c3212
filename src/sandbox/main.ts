import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config, type SandboxConfig } from '../config.js';
import { systemClock } from '../lib/clock.js';
import { createVocabularies } from '../lib/vocabularies.js';
import { buildSandboxApp } from './app.js';
import { applyChurn } from './churn.js';
import { migrateSandbox, openSandboxDatabase, type SandboxDatabase } from './db/database.js';
import { ensureDataset } from './generator/generate.js';
import { createRng } from './generator/prng.js';
import { rollForward } from './generator/roll-forward.js';
import { sandboxUrls } from './ids.js';

export interface SandboxHandle {
  app: FastifyInstance;
  database: SandboxDatabase;
  /** Where it listens (its public URL may differ behind a proxy). */
  address: string;
  close(): Promise<void>;
}

export interface StartSandboxOptions {
  log?: Logger;
  host?: string;
}

/**
 * Starts the sandbox booking system on its own port with its own database: migrate, generate the
 * data set if the database is empty, listen. Used by `npm start` (beside the platform) and by
 * `activehub sandbox` (on its own).
 */
export async function startSandbox(config: SandboxConfig, options: StartSandboxOptions = {}): Promise<SandboxHandle> {
  const log = options.log ?? pino({ level: 'info' });
  const database = await openSandboxDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: config.dataDir },
  );
  const sandboxLog = log.child({ component: 'sandbox' });
  let churnTimer: NodeJS.Timeout | undefined;
  let rollTimer: NodeJS.Timeout | undefined;
  try {
    await migrateSandbox(database.db);
    const vocab = createVocabularies();
    const started = Date.now();
    const { info, generated } = await ensureDataset(database.db, vocab, {
      seed: config.seed,
      sessions: config.sessions,
      now: systemClock.now(),
      progress: (message) => sandboxLog.info(message),
    });
    if (generated) sandboxLog.info({ counts: info.counts, ms: Date.now() - started }, 'sandbox data generated');
    else if (info.seed !== config.seed || info.sessions !== config.sessions)
      sandboxLog.warn(
        {
          stored: { seed: info.seed, sessions: info.sessions },
          requested: { seed: config.seed, sessions: config.sessions },
        },
        'sandbox database already holds a data set from other settings; delete its data directory (or database) to regenerate',
      );
    // Keep the timetable ahead of the clock: on start (data generated days ago) and every 6 hours.
    const roll = async () => {
      const rolled = await rollForward(database.db, { now: systemClock.now() });
      if (rolled.sessionsAdded + rolled.slotsAdded + rolled.sessionsRetired + rolled.slotsRetired > 0)
        sandboxLog.info(rolled, 'sandbox timetable rolled forward');
    };
    if (!generated) await roll();
    rollTimer = setInterval(() => {
      roll().catch((err: unknown) => sandboxLog.error({ err }, 'sandbox roll-forward failed'));
    }, 6 * 3_600_000);
    rollTimer.unref();
    const app = await buildSandboxApp({
      db: database.db,
      urls: sandboxUrls(config.publicUrl),
      clock: systemClock,
      log: sandboxLog,
      vocab,
    });
    const address = await app.listen({ port: config.port, host: options.host ?? '0.0.0.0' });
    if (config.churnSeconds > 0) {
      const rng = createRng(config.seed).derive('churn', Date.now());
      let running = false;
      churnTimer = setInterval(() => {
        if (running) return;
        running = true;
        applyChurn(database.db, rng, systemClock.now())
          .then((result) => sandboxLog.debug(result, 'sandbox churn'))
          .catch((err: unknown) => sandboxLog.error({ err }, 'sandbox churn failed'))
          .finally(() => {
            running = false;
          });
      }, config.churnSeconds * 1000);
      churnTimer.unref();
    }
    return {
      app,
      database,
      address,
      async close() {
        if (churnTimer) clearInterval(churnTimer);
        if (rollTimer) clearInterval(rollTimer);
        await app.close();
        await database.close();
      },
    };
  } catch (err) {
    if (churnTimer) clearInterval(churnTimer);
    if (rollTimer) clearInterval(rollTimer);
    await database.close();
    throw err;
  }
}

/** Runs the sandbox alone until SIGINT/SIGTERM. */
export async function runSandbox(config: Config = loadConfig()): Promise<void> {
  const log = pino({ level: config.logLevel });
  const handle = await startSandbox(config.sandbox, { log, host: config.host });
  process.stdout.write(
    `\nSandbox booking system at ${config.sandbox.publicUrl}  (database: ${handle.database.kind}${
      handle.database.kind === 'pglite' ? ` in ${config.sandbox.dataDir}` : ''
    })\n  Dataset site: ${config.sandbox.publicUrl}/openactive\n\n`,
  );
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'sandbox shutting down');
    const timer = setTimeout(() => process.exit(1), config.shutdownTimeoutMs);
    timer.unref();
    try {
      await handle.close();
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'error during sandbox shutdown');
      process.exit(1);
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runSandbox().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
