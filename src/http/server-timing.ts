import type { FastifyInstance } from 'fastify';
import { currentTimingScope, runInTimingScope, serverTimingHeader } from '../lib/server-timing.js';

/**
 * Every request runs in a timing scope (src/lib/server-timing.ts); its response says how long
 * the server took (`Server-Timing: total;dur=<ms>`) and, when it called a seller, how long it
 * waited on it (`seller;dur=<ms>`).
 */
export function registerServerTiming(app: FastifyInstance): void {
  // Callback hook: the rest of the request (hooks, handler, onSend) continues inside the scope.
  app.addHook('onRequest', (_request, _reply, done) => runInTimingScope(done));
  app.addHook('onSend', (_request, reply, payload, done) => {
    const scope = currentTimingScope();
    if (scope) void reply.header('server-timing', serverTimingHeader(scope));
    done(null, payload);
  });
}
