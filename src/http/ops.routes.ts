import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import type { Registry } from 'prom-client';
import type { Database } from '../db/database.js';
import type { QueueHealth } from '../lib/jobs.js';
import { AppError } from './errors.js';
import { StringEnum } from './schemas.js';

const tags = ['Operations'];

const StalledQueue = Type.Object({
  queue: Type.String({ description: 'The job queue, e.g. catalog.harvest-feed or search.project' }),
  reason: StringEnum(['abandoned_job', 'no_progress'] as const, {
    description:
      'abandoned_job: a job is still marked running though no process has renewed it for longer than the stall time; no_progress: jobs are due and none of the queue has started for longer than the stall time',
  }),
  description: Type.String(),
  dueJobs: Type.Integer(),
  oldestDueSeconds: Type.Optional(Type.Integer()),
  stalledSince: Type.Optional(Type.String({ description: 'When this server first saw the stall' })),
});

const Health = Type.Object(
  {
    status: StringEnum(['ok', 'degraded'] as const, {
      description:
        'degraded: the server answers and its database is reachable, but a background job queue is stalled (see stalledQueues)',
    }),
    database: Type.String(),
    version: Type.String(),
    stalledQueues: Type.Optional(Type.Array(StalledQueue)),
  },
  {
    description:
      'A stalled job queue is database-wide, so every server reports it; it is answered with 200 (not 503) so that a load balancer keeps serving the API, which still works, instead of taking every server out at once. Alert on status or on activehub_job_queue_stalled.',
  },
);

export function opsRoutes({
  database,
  metrics,
  version,
  queueHealth,
  log,
}: {
  database: Database;
  metrics: Registry;
  version: string;
  /** The job queues' latest stall check. */
  queueHealth: () => Promise<QueueHealth>;
  log: Logger;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/health',
      {
        config: { rateLimit: false },
        schema: {
          tags,
          summary: 'Liveness, database reachability and stalled job queues',
          description:
            '200 with status "ok", or "degraded" and the stalled queues; 503 when the database cannot be reached.',
          response: { 200: Health, 503: Type.Unsafe({ $ref: 'ErrorResponse#' }) },
        },
      },
      async () => {
        try {
          await sql`select 1`.execute(database.db);
        } catch (err) {
          throw new AppError('SERVICE_UNAVAILABLE', 'The database is not reachable.', { cause: err });
        }
        let stalled: QueueHealth['queues'] = [];
        try {
          stalled = (await queueHealth()).queues.filter((q) => q.stalled);
        } catch (err) {
          // The check reads pg-boss's tables; if it fails, liveness is still answered.
          log.warn({ err }, 'could not check the job queues for /health');
        }
        if (stalled.length === 0) return { status: 'ok' as const, database: database.kind, version };
        return {
          status: 'degraded' as const,
          database: database.kind,
          version,
          stalledQueues: stalled.map((q) => ({
            queue: q.queue,
            reason: q.reason ?? 'no_progress',
            description: q.description ?? '',
            dueJobs: q.dueJobs,
            ...(q.oldestDueSeconds !== null ? { oldestDueSeconds: q.oldestDueSeconds } : {}),
            ...(q.stalledSince ? { stalledSince: q.stalledSince.toISOString() } : {}),
          })),
        };
      },
    );

    app.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: { tags, summary: 'Prometheus metrics', response: { 200: Type.String() } },
      },
      async (_request, reply) => {
        // The queue gauges are set by the stall check: refreshed here if it is not recent.
        await queueHealth().catch((err: unknown) => log.warn({ err }, 'could not check the job queues for /metrics'));
        return reply.type(metrics.contentType).send(await metrics.metrics());
      },
    );
  };
}
