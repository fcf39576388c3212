import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { Clock } from '../lib/clock.js';
import { AppError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: { brokerId: number; mode: 'live' | 'test'; key: string } | null;
    /** Set by a handler to tie a stored idempotent response to the resource it created. */
    resourceRef: string | null;
  }
}

const TTL_MS = 24 * 60 * 60 * 1000;
/** A claimed key whose request never finished (crash) may be taken over after this long. */
const ABANDONED_MS = 60 * 1000;
const REPLAYED_HEADERS = ['location', 'content-type'];

function requestHash(request: FastifyRequest): string {
  return createHash('sha256')
    .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
    .digest('hex');
}

/**
 * `Idempotency-Key` on POST (DECISIONS §4): the first request with a key claims it; a success
 * (2xx) is stored for 24 h and replayed for the same key and body; the same key with a different
 * body is 422; a concurrent duplicate while the first is running is 409.
 *
 * Only a request that did something is remembered (Stripe's rule). Every other answer releases
 * the claim, so the key may be used again: schema 400s and 401/403/429 never reach the claim
 * (they are answered before this hook), and a handler's 4xx (a check in the service, an unknown
 * account or opportunity, a full session) comes before it writes anything — the request may
 * succeed later (the opportunity harvested, a place freed), or be corrected, under the same key.
 * 5xx are released too. The idempotent handlers (customers, checkout sessions) write only on the
 * way to their 2xx; a new idempotent route must keep to that.
 */
export function registerIdempotency(app: FastifyInstance, db: Executor, clock: Clock): void {
  app.decorateRequest('idempotency', null);
  app.decorateRequest('resourceRef', null);

  app.addHook('preHandler', async (request, reply) => {
    if (!request.routeOptions.config?.idempotent || !request.auth) return;
    const header = request.headers['idempotency-key'];
    const key = Array.isArray(header) ? header[0] : header;
    if (key === undefined) return;
    if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1-255 visible ASCII characters (a UUID is ideal).', {
        fieldErrors: [{ path: 'Idempotency-Key', message: 'must be 1-255 visible ASCII characters' }],
      });
    }
    // Keys are per broker and mode: another broker's, or the other mode's, are never replayed.
    const { brokerId, mode } = request.auth;
    const hash = requestHash(request);
    const now = clock.now();
    const route = `${request.method} ${request.routeOptions.url ?? ''}`;

    const claimed = await db
      .insertInto('idempotency_keys')
      .values({ broker_id: brokerId, mode, key, route, request_hash: hash, created_at: now })
      .onConflict((oc) =>
        // An expired record is replaced by this new request's claim.
        oc
          .columns(['broker_id', 'mode', 'key'])
          .doUpdateSet({
            route,
            request_hash: hash,
            status_code: null,
            response_body: null,
            response_headers: null,
            resource_ref: null,
            created_at: now,
          })
          .where('idempotency_keys.created_at', '<', new Date(now.getTime() - TTL_MS)),
      )
      .returning('key')
      .executeTakeFirst();
    if (claimed) {
      request.idempotency = { brokerId, mode, key };
      return;
    }

    const existing = await db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('broker_id', '=', brokerId)
      .where('mode', '=', mode)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!existing) throw new AppError('CONFLICT', 'The Idempotency-Key is being reused concurrently; retry.');
    if (existing.request_hash !== hash) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was used for a different request in the last 24 hours. Use a new key for a new request.',
      );
    }
    if (existing.status_code === null) {
      if (now.getTime() - existing.created_at.getTime() < ABANDONED_MS) {
        throw new AppError('CONFLICT', 'A request with this Idempotency-Key is still being processed. Retry shortly.', {
          headers: { 'retry-after': '1' },
        });
      }
      const taken = await db
        .updateTable('idempotency_keys')
        .set({ created_at: now })
        .where('broker_id', '=', brokerId)
        .where('mode', '=', mode)
        .where('key', '=', key)
        .where('status_code', 'is', null)
        .where('created_at', '=', existing.created_at)
        .returning('key')
        .executeTakeFirst();
      if (!taken)
        throw new AppError('CONFLICT', 'A request with this Idempotency-Key is still being processed. Retry shortly.');
      request.idempotency = { brokerId, mode, key };
      return;
    }
    const headers: Record<string, string> = { ...(existing.response_headers ?? {}), 'idempotent-replayed': 'true' };
    await reply
      .code(existing.status_code)
      .headers(headers)
      .send(existing.response_body ?? '');
    return reply;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency;
    if (!claim) return payload;
    request.idempotency = null;
    try {
      const where = sql<boolean>`broker_id = ${claim.brokerId} and mode = ${claim.mode} and key = ${claim.key}`;
      if (reply.statusCode < 200 || reply.statusCode >= 300) {
        await db.deleteFrom('idempotency_keys').where(where).execute();
      } else {
        const headers: Record<string, string> = {};
        for (const h of REPLAYED_HEADERS) {
          const v = reply.getHeader(h);
          if (v !== undefined) headers[h] = String(v);
        }
        await db
          .updateTable('idempotency_keys')
          .set({
            status_code: reply.statusCode,
            response_body:
              typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
            response_headers: JSON.stringify(headers),
            resource_ref: request.resourceRef,
          })
          .where(where)
          .execute();
      }
    } catch (err) {
      request.log.error({ err }, 'could not record idempotent response');
    }
    return payload;
  });
}

/** Removes stored responses tied to a resource (used by erasure: they hold personal data). */
export async function forgetIdempotentResponses(db: Executor, resourceRef: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('resource_ref', '=', resourceRef).execute();
}
