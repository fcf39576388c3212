/**
 * The sandbox's HTTP app alone, for bench/sandbox-feeds/run.ts: opens the database named by the
 * environment, listens, and prints READY. Kept apart from the load so the server's CPU and
 * memory are its own.
 */
import { pino } from 'pino';
import { systemClock } from '../../src/lib/clock.js';
import { createVocabularies } from '../../src/lib/vocabularies.js';
import { buildSandboxApp } from '../../src/sandbox/app.js';
import { openSandboxDatabase } from '../../src/sandbox/db/database.js';
import { sandboxUrls } from '../../src/sandbox/ids.js';

const port = Number(process.env.BENCH_PORT);
const database = await openSandboxDatabase(
  process.env.BENCH_DATABASE_URL ? { url: process.env.BENCH_DATABASE_URL } : { dataDir: process.env.BENCH_DATA_DIR },
);
const app = await buildSandboxApp({
  db: database.db,
  urls: sandboxUrls(`http://127.0.0.1:${port}`),
  clock: systemClock,
  vocab: createVocabularies(),
  log: pino({ level: 'warn' }),
});
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('READY\n');
const stop = () => {
  void app
    .close()
    .then(() => database.close())
    .then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
