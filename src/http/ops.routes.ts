import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { Type } from 'typebox';
import type { Registry } from 'prom-client';
import type { Database } from '../db/database.js';
import { AppError } from './errors.js';

const tags = ['Operations'];

export function opsRoutes({
  database,
  metrics,
  version,
}: {
  database: Database;
  metrics: Registry;
  version: string;
}): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/health',
      {
        config: { rateLimit: false },
        schema: {
          tags,
          summary: 'Liveness and database reachability',
          response: {
            200: Type.Object({ status: Type.Literal('ok'), database: Type.String(), version: Type.String() }),
            503: Type.Unsafe({ $ref: 'ErrorResponse#' }),
          },
        },
      },
      async () => {
        try {
          await sql`select 1`.execute(database.db);
        } catch (err) {
          throw new AppError('SERVICE_UNAVAILABLE', 'The database is not reachable.', { cause: err });
        }
        return { status: 'ok' as const, database: database.kind, version };
      },
    );

    app.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: { tags, summary: 'Prometheus metrics', response: { 200: Type.String() } },
      },
      async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
    );
  };
}
