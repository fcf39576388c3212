import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { loadConfig, type Config, type SandboxConfig } from '../config.js';
import { systemClock } from '../lib/clock.js';
import { buildSandboxApp } from './app.js';
import { migrateSandbox, openSandboxDatabase, type SandboxDatabase } from './db/database.js';
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
  try {
    await migrateSandbox(database.db);
    const app = await buildSandboxApp({
      db: database.db,
      urls: sandboxUrls(config.publicUrl),
      clock: systemClock,
      log: log.child({ component: 'sandbox' }),
    });
    const address = await app.listen({ port: config.port, host: options.host ?? '0.0.0.0' });
    return {
      app,
      database,
      address,
      async close() {
        await app.close();
        await database.close();
      },
    };
  } catch (err) {
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
