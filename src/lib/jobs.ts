import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { Database, Executor } from '../db/database.js';

export type JobHandler<T> = (data: T) => Promise<void>;

const SCHEMA = 'pgboss';

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
  /**
   * A running job's lease: its process renews it every quarter of this while the handler runs;
   * a job whose lease has lapsed (its process died) is put back for a retry by maintenance.
   */
  leaseSeconds?: number;
  /** How often maintenance runs (once per interval across every process on the database). */
  maintenanceIntervalSeconds?: number;
  /** A queue with due jobs none of which started for this long is reported stalled. */
  stallAfterSeconds?: number;
  /** Where the queue gauges are registered (the app's /metrics registry). */
  metrics?: Registry;
}

/** One queue as the stall check sees it (database-wide: every process's jobs). */
export interface QueueStatus {
  queue: string;
  /** Jobs waiting to run whose start time has come. */
  dueJobs: number;
  oldestDueSeconds: number | null;
  activeJobs: number;
  oldestActiveSeconds: number | null;
  stalled: boolean;
  /**
   * Why it is stalled: `abandoned_job` — a job is still marked running though no process has
   * renewed its lease for longer than the stall time (nothing reclaims it); `no_progress` —
   * jobs have been due for longer than the stall time and none of the queue started meanwhile.
   */
  reason?: 'abandoned_job' | 'no_progress';
  description?: string;
  /** When this process first saw the current stall. */
  stalledSince?: Date;
}

export interface QueueHealth {
  checkedAt: Date;
  queues: QueueStatus[];
}

interface QueueRow {
  name: string;
  due: number;
  oldest_due: number | null;
  active: number;
  oldest_active: number | null;
  last_start: number | null;
  abandoned: number;
  waiting: number;
}

type FetchedJob = { id: string; data: unknown };

/**
 * Durable background jobs on pg-boss, in the same database as everything else. A job sent with
 * `{ executor: trx }` is inserted in the caller's transaction: it exists exactly when the state
 * change that caused it was committed (the outbox rule in ARCHITECTURE §8).
 *
 * Workers are our own loop over pg-boss's fetch/complete/fail rather than `boss.work`, so that a
 * running job holds a *lease* (its `expire_in`, renewed every quarter of `leaseSeconds` while the
 * handler runs) instead of a fixed time limit: a long run (a first projection of a million
 * sessions) is never cut off and run twice, and a job whose process was killed is put back by
 * maintenance once its lease lapses — within `leaseSeconds` + `maintenanceIntervalSeconds`.
 * See docs/ARCHITECTURE.md ("Jobs survive a killed process").
 */
export function createJobs({
  database,
  log,
  pollIntervalSeconds,
  leaseSeconds = 60,
  maintenanceIntervalSeconds = 30,
  stallAfterSeconds = 120,
  metrics,
}: JobsOptions) {
  const runner = database.runnerFor(database.db);
  const boss = new PgBoss({
    db: runner,
    schema: SCHEMA,
    // Maintenance runs on our own timer, only in processes that run workers (`startWorkers`);
    // pg-boss's cron is not used.
    supervise: false,
    schedule: false,
    // Finished jobs leave the job table after an hour (pg-boss: 12 h) and the archive after 7
    // days: the table every fetch and the stall check read stays small.
    archiveCompletedAfterSeconds: 3600,
    archiveFailedAfterSeconds: 12 * 3600,
  });
  boss.on('error', (err: unknown) => log.error({ err }, 'job queue error'));

  const handlers = new Map<string, { handler: JobHandler<never>; options: DefineOptions }>();
  let started = false;
  let working = false;
  let stopping = new AbortController();
  const loops: Promise<void>[] = [];
  const running = new Map<string, { name: string; done: Promise<void> }>();
  const timers: NodeJS.Timeout[] = [];

  const created = new Set<string>();

  let starting: Promise<void> | null = null;

  /**
   * Starts pg-boss once, and creates every queue defined so far that does not exist yet. Callers
   * arriving together share one attempt: concurrent starts and queue creations deadlock on
   * PostgreSQL (seen with 200 simultaneous first checkouts). Processes starting together on a
   * fresh database can still deadlock each other creating queues: the loser tries again.
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
        for (let attempt = 1; ; attempt += 1) {
          try {
            await boss.createQueue(name, { name, ...(options.policy ? { policy: options.policy } : {}) });
            break;
          } catch (err) {
            if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
            await sleep(50 * attempt);
          }
        }
        created.add(name);
      }
    })().finally(() => {
      starting = null;
    });
    return starting;
  }

  /** Extends a running job's lease; false when the job is no longer running as ours. */
  async function renewLease(name: string, id: string): Promise<boolean> {
    const { rows } = await runner.executeSql(
      `update ${SCHEMA}.job set expire_in = (now() - started_on) + $3::int * interval '1 second'
        where name = $1 and id = $2 and state = 'active' returning 1`,
      [name, id, leaseSeconds],
    );
    return rows.length === 1;
  }

  /**
   * Runs one fetched job: the handler with its lease renewed meanwhile, then complete or fail
   * (pg-boss retries a failed job with backoff). Returns the handler's error, if any.
   */
  async function runJob(name: string, job: FetchedJob, handler: JobHandler<never>): Promise<unknown> {
    let lost = false;
    const renew = setInterval(
      () => {
        renewLease(name, job.id)
          .then((held) => {
            if (!held && !lost) {
              lost = true;
              log.warn({ queue: name, jobId: job.id }, 'a running job lost its lease (it was reclaimed as abandoned)');
            }
          })
          .catch((err: unknown) => log.warn({ err, queue: name, jobId: job.id }, 'could not renew a job lease'));
      },
      Math.max(250, (leaseSeconds * 1000) / 4),
    );
    renew.unref();
    let failure: unknown;
    const done = (async () => {
      try {
        await handler(job.data as never);
      } catch (err) {
        failure = err;
      } finally {
        clearInterval(renew);
      }
      if (failure === undefined) await boss.complete(name, job.id);
      else {
        const message = failure instanceof Error ? failure.message : JSON.stringify(failure);
        await boss.fail(name, job.id, { message });
      }
    })();
    running.set(job.id, { name, done: done.catch(() => undefined) });
    try {
      await done;
    } finally {
      running.delete(job.id);
    }
    return failure;
  }

  async function workLoop(name: string, handler: JobHandler<never>, everyMs: number, signal: AbortSignal) {
    while (working) {
      let jobs: FetchedJob[] = [];
      try {
        jobs = await boss.fetch<object>(name, { batchSize: 1 });
      } catch (err) {
        log.error({ err, queue: name }, 'could not fetch jobs');
      }
      const job = jobs[0];
      if (job && !working) {
        // Fetched while stopping: handed back at once rather than left running with no one on it.
        await boss.fail(name, job.id, { message: 'the worker stopped before running it' }).catch(() => undefined);
        return;
      }
      if (job) {
        try {
          const failure = await runJob(name, job, handler);
          if (failure !== undefined) {
            log.warn({ queue: name, jobId: job.id, err: failure }, 'job failed; it will be retried');
          }
        } catch (err) {
          log.error({ err, queue: name, jobId: job.id }, 'could not record a job outcome');
        }
        continue;
      }
      await sleep(everyMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /**
   * pg-boss maintenance — abandoned jobs (lease lapsed) put back for a retry, finished jobs
   * archived, old archive dropped — at most once per interval across every process: the first to
   * move pg-boss's own `maintained_on` stamp runs it (the same gate pg-boss's supervisor uses).
   */
  async function maintain({ force = false }: { force?: boolean } = {}): Promise<boolean> {
    await ensureStarted();
    if (!force) {
      const { rows } = await runner.executeSql(
        `update ${SCHEMA}.version set maintained_on = now()
          where extract(epoch from now() - coalesce(maintained_on, now() - interval '1 week')) > $1::float8
          returning true`,
        [maintenanceIntervalSeconds * 0.9],
      );
      if (rows.length === 0) return false;
    }
    await boss.maintain();
    return true;
  }

  /**
   * PGlite is one process by design: a job still marked running when this process starts its
   * workers was left by the previous run, so it is handed back at once rather than after its lease.
   */
  async function reclaimLeftovers(): Promise<void> {
    if (database.kind !== 'pglite') return;
    const { rows } = await runner.executeSql(`select name, id from ${SCHEMA}.job where state = 'active'`);
    for (const row of rows as { name: string; id: string }[]) {
      await boss.fail(row.name, row.id, { message: 'left running by a previous run of the server' });
    }
    if (rows.length) log.warn({ jobs: rows.length }, 'jobs left running by the previous run were put back');
  }

  /**
   * `oncePerSeconds`: at most one such job per time slot of that length across every process
   * (pg-boss throttling: the slot is part of a unique index), for periodic housekeeping that
   * every process schedules but one should do.
   */
  async function send<T extends object>(
    name: string,
    data: T,
    options: {
      executor?: Executor;
      singletonKey?: string;
      startAfterSeconds?: number;
      oncePerSeconds?: number;
    } = {},
  ): Promise<string | null> {
    await ensureStarted();
    return boss.send(name, data, {
      retryLimit: 10,
      retryBackoff: true,
      retryDelay: 2,
      // The lease: renewed while the job runs (runJob), lapsed when its process is gone.
      expireInSeconds: leaseSeconds,
      ...(options.singletonKey ? { singletonKey: options.singletonKey } : {}),
      ...(options.oncePerSeconds ? { singletonSeconds: options.oncePerSeconds } : {}),
      ...(options.startAfterSeconds ? { startAfter: options.startAfterSeconds } : {}),
      ...(options.executor ? { db: database.runnerFor(options.executor) } : {}),
    });
  }

  /* ---- stall detection ------------------------------------------------------------------- */

  const gauges = metrics
    ? {
        stalled: new Gauge({
          name: 'activehub_job_queue_stalled',
          help: '1 when the queue has due jobs and makes no progress (see /health), else 0',
          labelNames: ['queue'],
          registers: [metrics],
        }),
        due: new Gauge({
          name: 'activehub_job_queue_due_jobs',
          help: 'Jobs whose start time has come and that are not running yet',
          labelNames: ['queue'],
          registers: [metrics],
        }),
        oldestDue: new Gauge({
          name: 'activehub_job_queue_oldest_due_seconds',
          help: 'How long the oldest due job has waited (0 when none)',
          labelNames: ['queue'],
          registers: [metrics],
        }),
        active: new Gauge({
          name: 'activehub_job_queue_active_jobs',
          help: 'Jobs running (in any process)',
          labelNames: ['queue'],
          registers: [metrics],
        }),
        oldestActive: new Gauge({
          name: 'activehub_job_queue_oldest_active_seconds',
          help: 'How long the longest-running job has run (0 when none)',
          labelNames: ['queue'],
          registers: [metrics],
        }),
      }
    : undefined;

  let health: QueueHealth | undefined;
  let checking: Promise<QueueHealth> | null = null;
  const stalledSince = new Map<string, Date>();
  const monitorIntervalMs = Math.min(15_000, Math.max(500, (stallAfterSeconds * 1000) / 4));

  /**
   * One statement over pg-boss's job table (finished jobs stay there an hour): per queue, the due
   * jobs, the running ones, the latest start, the running jobs whose lease lapsed more than the
   * stall time ago, and the due jobs that have waited longer than the stall time without a live
   * job of their own singleton key ahead of them (a stately queue runs one job per key at a
   * time: waiting behind a live one is not a stall).
   */
  async function readQueues(): Promise<QueueRow[]> {
    const { rows } = await runner.executeSql(
      `select j.name,
          (count(*) filter (where j.state < 'active' and j.start_after <= now()))::int as due,
          extract(epoch from now() - min(j.start_after) filter (where j.state < 'active' and j.start_after <= now()))::float8 as oldest_due,
          (count(*) filter (where j.state = 'active'))::int as active,
          extract(epoch from now() - min(j.started_on) filter (where j.state = 'active'))::float8 as oldest_active,
          extract(epoch from now() - max(j.started_on))::float8 as last_start,
          (count(*) filter (where j.state = 'active'
              and j.started_on + j.expire_in < now() - $1::int * interval '1 second'))::int as abandoned,
          (count(*) filter (where j.state < 'active' and j.start_after < now() - $1::int * interval '1 second'
              and (coalesce(j.policy, 'standard') not in ('stately', 'singleton') or not exists (
                select 1 from ${SCHEMA}.job a
                 where a.name = j.name and a.state = 'active'
                   and a.singleton_key is not distinct from j.singleton_key
                   and a.started_on + a.expire_in > now()))))::int as waiting
         from ${SCHEMA}.job j
        where j.state <= 'active' or j.started_on > now() - $1::int * interval '1 second'
        group by j.name
        order by j.name`,
      [stallAfterSeconds],
    );
    return rows as QueueRow[];
  }

  async function runCheck(): Promise<QueueHealth> {
    await ensureStarted();
    const rows = await readQueues();
    const now = new Date();
    const round = (s: number | null) => (s === null ? null : Math.max(0, Math.round(s)));
    const queues: QueueStatus[] = rows.map((r) => {
      const status: QueueStatus = {
        queue: r.name,
        dueJobs: r.due,
        oldestDueSeconds: round(r.oldest_due),
        activeJobs: r.active,
        oldestActiveSeconds: round(r.oldest_active),
        stalled: false,
      };
      if (r.abandoned > 0) {
        status.stalled = true;
        status.reason = 'abandoned_job';
        status.description = `${r.abandoned} job(s) still marked running though no process has renewed them for over ${stallAfterSeconds} s; maintenance is not reclaiming them`;
      } else if (r.waiting > 0 && (r.last_start === null || r.last_start > stallAfterSeconds)) {
        status.stalled = true;
        status.reason = 'no_progress';
        status.description = `${r.due} job(s) due, the oldest for ${round(r.oldest_due)} s, and no job of this queue started for over ${stallAfterSeconds} s`;
      }
      return status;
    });
    // Log each stall once when it starts and once when it ends, not every check.
    const seen = new Set<string>();
    for (const q of queues) {
      seen.add(q.queue);
      const since = stalledSince.get(q.queue);
      if (q.stalled && !since) {
        stalledSince.set(q.queue, now);
        q.stalledSince = now;
        log.error(
          { queue: q.queue, reason: q.reason, dueJobs: q.dueJobs, oldestDueSeconds: q.oldestDueSeconds },
          `job queue stalled: ${q.description}`,
        );
      } else if (q.stalled && since) {
        q.stalledSince = since;
      } else if (!q.stalled && since) {
        stalledSince.delete(q.queue);
        log.warn(
          { queue: q.queue, stalledSeconds: Math.round((now.getTime() - since.getTime()) / 1000) },
          'job queue recovered',
        );
      }
    }
    for (const [queue, since] of stalledSince) {
      if (seen.has(queue)) continue;
      stalledSince.delete(queue);
      log.warn({ queue, stalledSeconds: Math.round((now.getTime() - since.getTime()) / 1000) }, 'job queue recovered');
    }
    if (gauges) {
      gauges.stalled.reset();
      gauges.due.reset();
      gauges.oldestDue.reset();
      gauges.active.reset();
      gauges.oldestActive.reset();
      for (const q of queues) {
        gauges.stalled.set({ queue: q.queue }, q.stalled ? 1 : 0);
        gauges.due.set({ queue: q.queue }, q.dueJobs);
        gauges.oldestDue.set({ queue: q.queue }, q.oldestDueSeconds ?? 0);
        gauges.active.set({ queue: q.queue }, q.activeJobs);
        gauges.oldestActive.set({ queue: q.queue }, q.oldestActiveSeconds ?? 0);
      }
    }
    health = { checkedAt: now, queues };
    return health;
  }

  /** Checks the queues now (concurrent callers share one check). */
  function checkQueues(): Promise<QueueHealth> {
    checking ??= runCheck().finally(() => {
      checking = null;
    });
    return checking;
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

    send,

    /**
     * For a `stately` queue: sends one job per singleton key, except for keys that already have
     * a job running or waiting to retry (a queued one is refused by the queue itself). A job
     * queued behind a running one of its own key would be the oldest due job and, in pg-boss 10,
     * every fetch of the queue fails on the unique index until the running one ends — all keys
     * wait for one (pg-boss issue #535). Returns how many were sent.
     */
    async sendUnlessBusy<T extends object>(name: string, jobs: { singletonKey: string; data: T }[]): Promise<number> {
      if (jobs.length === 0) return 0;
      await ensureStarted();
      const { rows } = await runner.executeSql(
        `select distinct singleton_key from ${SCHEMA}.job
          where name = $1 and state in ('retry', 'active') and singleton_key is not null`,
        [name],
      );
      const busy = new Set((rows as { singleton_key: string }[]).map((r) => r.singleton_key));
      let sent = 0;
      for (const job of jobs) {
        if (busy.has(job.singletonKey)) continue;
        if (await send(name, job.data, { singletonKey: job.singletonKey })) sent += 1;
      }
      return sent;
    },

    /**
     * Starts the workers of every registered queue and the maintenance timer (this process then
     * takes its turn at maintenance). Stopped by `stop`.
     */
    async startWorkers(): Promise<void> {
      await ensureStarted();
      await reclaimLeftovers();
      working = true;
      stopping = new AbortController();
      const signal = stopping.signal;
      // Every idle worker loop waits on this signal at once (more than the default 10 listeners).
      const loopCount = [...handlers.values()].reduce((n, h) => n + (h.options.concurrency ?? 1), 0);
      setMaxListeners(Math.max(10, loopCount + 5), signal);
      for (const [name, { handler, options }] of handlers) {
        const every = Math.max(pollIntervalSeconds, options.pollEverySeconds ?? pollIntervalSeconds) * 1000;
        for (let i = 0; i < (options.concurrency ?? 1); i += 1) loops.push(workLoop(name, handler, every, signal));
      }
      const maintenance = () =>
        maintain().catch((err: unknown) => log.error({ err }, 'job maintenance failed (abandoned jobs not reclaimed)'));
      void maintenance();
      const timer = setInterval(() => void maintenance(), maintenanceIntervalSeconds * 1000);
      timer.unref();
      timers.push(timer);
    },

    /**
     * Checks the queues for stalls every few seconds (a quarter of the stall time, at most 15 s),
     * logging each stall once, and keeps the gauges current. Every server process runs it: a
     * stall is database-wide, and each process's /health reports it.
     */
    startMonitor(): void {
      const timer = setInterval(() => {
        checkQueues().catch((err: unknown) => log.warn({ err }, 'could not check the job queues'));
      }, monitorIntervalMs);
      timer.unref();
      timers.push(timer);
    },

    checkQueues,

    /** The latest queue check, made now if the last one is older than the monitor's interval. */
    async queueHealth(): Promise<QueueHealth> {
      if (health && Date.now() - health.checkedAt.getTime() < monitorIntervalMs) return health;
      return checkQueues();
    },

    /** How long a queue must make no progress to be reported stalled. */
    stallAfterSeconds,

    maintain,

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
          const failure = await runJob(name, job, handler);
          if (failure !== undefined) throw failure;
          ran += 1;
        }
      }
    },

    /**
     * Stops the workers and timers; waits up to 5 s for running jobs, then hands those still
     * running back to the queue (failed → retried) so no job is left marked running.
     */
    async stop(): Promise<void> {
      for (const timer of timers.splice(0)) clearInterval(timer);
      if (!started) return;
      working = false;
      stopping.abort();
      const deadline = Date.now() + 5000;
      while (running.size > 0 && Date.now() < deadline) {
        await Promise.race([Promise.all([...running.values()].map((r) => r.done)), sleep(100)]);
      }
      for (const [id, { name }] of running) {
        await boss.fail(name, id, { message: 'the server stopped while it ran' }).catch(() => undefined);
      }
      await Promise.race([Promise.all(loops.splice(0)), sleep(1000)]);
      await boss.stop({ graceful: false, wait: true });
      started = false;
    },
  };
}

export type Jobs = ReturnType<typeof createJobs>;
