import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { Type } from 'typebox';
import type { Registry } from 'prom-client';
import type { Database } from '../db/database.js';
import type { QueueHealth } from '../lib/jobs.js';
import { AppError } from './errors.js';
import { isLocalRequest } from './local-only.js';
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

const sha256 = (value: string) => createHash('sha256').update(value).digest();
const matches = (given: string | undefined, expected: Buffer | null) =>
  given !== undefined && expected !== null && given.length <= 200 && timingSafeEqual(sha256(given), expected);
const firstHeader = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/**
 * Who may read /metrics: the operator key (X-API-KEY) or `Authorization: Bearer <METRICS_TOKEN>`,
 * compared as hashes in constant time; with neither configured, only requests made on this
 * machine (loopback peer, no forwarding header). Anything else is 401 in the error shape.
 */
function metricsAccess(adminApiKey: string | undefined, metricsToken: string | undefined) {
  const adminHash = adminApiKey ? sha256(adminApiKey) : null;
  const tokenHash = metricsToken ? sha256(metricsToken) : null;
  const challenge = tokenHash ? { headers: { 'www-authenticate': 'Bearer realm="metrics"' } } : {};
  return async (request: FastifyRequest) => {
    if (!adminHash && !tokenHash) {
      if (isLocalRequest(request)) return;
      throw new AppError(
        'UNAUTHENTICATED',
        '/metrics is served only to this machine until ADMIN_API_KEY or METRICS_TOKEN is set.',
      );
    }
    const apiKey = firstHeader(request.headers['x-api-key']);
    const authorization = firstHeader(request.headers.authorization);
    const bearer = authorization !== undefined ? /^Bearer +(\S+) *$/i.exec(authorization)?.[1] : undefined;
    if (matches(apiKey, adminHash) || matches(bearer, tokenHash)) return;
    const accepted = [
      adminHash ? 'the operator key in X-API-KEY' : null,
      tokenHash ? 'Authorization: Bearer <METRICS_TOKEN>' : null,
    ]
      .filter((a) => a !== null)
      .join(' or ');
    if (apiKey === undefined && authorization === undefined) {
      throw new AppError('UNAUTHENTICATED', `/metrics needs ${accepted}.`, challenge);
    }
    throw new AppError(
      'INVALID_API_TOKEN',
      `The credentials are not valid for /metrics; it needs ${accepted}.`,
      challenge,
    );
  };
}

export function opsRoutes({
  database,
  metrics,
  version,
  queueHealth,
  log,
  adminApiKey,
  metricsToken,
}: {
  database: Database;
  metrics: Registry;
  version: string;
  /** The job queues' latest stall check. */
  queueHealth: () => Promise<QueueHealth>;
  log: Logger;
  adminApiKey: string | undefined;
  metricsToken: string | undefined;
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
        onRequest: metricsAccess(adminApiKey, metricsToken),
        schema: {
          tags,
          summary: 'Prometheus metrics',
          description:
            "Needs the operator key (X-API-KEY) or `Authorization: Bearer <METRICS_TOKEN>`; with neither configured, answered only to requests made on the server's own machine (loopback, not through a proxy).",
          security: [{ adminKey: [] }, { metricsToken: [] }],
          response: { 200: Type.String(), 401: Type.Unsafe({ $ref: 'ErrorResponse#' }) },
        },
      },
      async (_request, reply) => {
        // The queue gauges are set by the stall check: refreshed here if it is not recent.
        await queueHealth().catch((err: unknown) => log.warn({ err }, 'could not check the job queues for /metrics'));
        return reply.type(metrics.contentType).send(await metrics.metrics());
      },
    );
  };
}
