import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { Database, Executor } from '../db/database.js';

export type JobHandler<T> = (data: T) => Promise<void>;

export interface DefineOptions {
  policy?: 'standard' | 'stately' | 'singleton' | 'short';
  /** Jobs of this queue run at once in this process. */
  concurrency?: number;
  /**
   * How often this queue's idle workers look for jobs, for queues that need not answer within
   * a second (never more often than the process-wide interval). Every idle poll is a query.
   */
  pollEverySeconds?: number;
}

export interface JobsOptions {
  database: Database;
  log: Logger;
  /** How often idle workers look for new jobs. */
  pollIntervalSeconds: number;
}

/**
 * Durable background jobs on pg-boss, in the same database as everything else. A job sent with
 * `{ executor: trx }` is inserted in the caller's transaction: it exists exactly when the state
 * change that caused it was committed (the outbox rule in ARCHITECTURE §8).
 */
export function createJobs({ database, log, pollIntervalSeconds }: JobsOptions) {
  const boss = new PgBoss({
    db: database.runnerFor(database.db),
    schema: 'pgboss',
    // Maintenance and cron timers run only when workers are started (see `startWorkers`).
    supervise: false,
    schedule: false,
  });
  boss.on('error', (err: unknown) => log.error({ err }, 'job queue error'));

  const handlers = new Map<string, { handler: JobHandler<never>; options: DefineOptions }>();
  let started = false;
  let working = false;

  const created = new Set<string>();

  let starting: Promise<void> | null = null;

  /**
   * Starts pg-boss once, and creates every queue defined so far that does not exist yet. Callers
   * arriving together share one attempt: concurrent starts and queue creations deadlock on
   * PostgreSQL (seen with 200 simultaneous first checkouts).
   */
  async function ensureStarted(): Promise<void> {
    while (starting) await starting;
    if (started && [...handlers.keys()].every((name) => created.has(name))) return;
    starting = (async () => {
      if (!started) {
        await boss.start();
        started = true;
      }
      for (const [name, { options }] of handlers) {
        if (created.has(name)) continue;
        await boss.createQueue(name, { name, ...(options.policy ? { policy: options.policy } : {}) });
        created.add(name);
      }
    })().finally(() => {
      starting = null;
    });
    return starting;
  }

  return {
    /**
     * Registers the handler for a queue; `startWorkers` begins polling every registered queue.
     * `policy: 'stately'` keeps at most one queued and one running job per singleton key.
     */
    define<T extends object>(name: string, handler: JobHandler<T>, options: DefineOptions = {}): void {
      handlers.set(name, { handler, options });
    },

    /** Installs or upgrades pg-boss's own tables and creates the queues. */
    start: ensureStarted,

    async send<T extends object>(
      name: string,
      data: T,
      options: { executor?: Executor; singletonKey?: string; startAfterSeconds?: number } = {},
    ): Promise<string | null> {
      await ensureStarted();
      return boss.send(name, data, {
        retryLimit: 10,
        retryBackoff: true,
        retryDelay: 2,
        ...(options.singletonKey ? { singletonKey: options.singletonKey } : {}),
        ...(options.startAfterSeconds ? { startAfter: options.startAfterSeconds } : {}),
        ...(options.executor ? { db: database.runnerFor(options.executor) } : {}),
      });
    },

    async startWorkers(): Promise<void> {
      await ensureStarted();
      working = true;
      for (const [name, { handler, options }] of handlers) {
        for (let i = 0; i < (options.concurrency ?? 1); i += 1) {
          const every = Math.max(pollIntervalSeconds, options.pollEverySeconds ?? pollIntervalSeconds);
          await boss.work<object>(name, { pollingIntervalSeconds: every, batchSize: 1 }, async (jobs) => {
            for (const job of jobs) await handler(job.data as never);
          });
        }
      }
    },

    /**
     * Runs every job of `name` that is due now, in this call, and returns how many ran. Tests and
     * the CLI use it to process a queue deterministically without workers or sleeps.
     */
    async runDue(name: string): Promise<number> {
      await ensureStarted();
      const handler = handlers.get(name)?.handler;
      if (!handler) throw new Error(`No handler defined for job ${name}`);
      let ran = 0;
      for (;;) {
        const jobs = await boss.fetch<object>(name, { batchSize: 10 });
        if (jobs.length === 0) return ran;
        for (const job of jobs) {
          try {
            await handler(job.data as never);
            await boss.complete(name, job.id);
          } catch (err) {
            await boss.fail(name, job.id, { message: String(err) });
            throw err;
          }
          ran += 1;
        }
      }
    },

    async stop(): Promise<void> {
      if (!started) return;
      await boss.stop({ graceful: working, wait: true, timeout: 5000 });
      started = false;
      working = false;
    },
  };
}

export type Jobs = ReturnType<typeof createJobs>;
