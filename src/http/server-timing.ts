import type { FastifyInstance } from 'fastify';
import { currentTimingScope, runInTimingScope, serverTimingHeader } from '../lib/server-timing.js';

/**
 * Every request runs in a timing scope (src/lib/server-timing.ts); a response whose request
 * called a seller says how long it waited in `Server-Timing: seller;dur=<ms>`.
 */
export function registerServerTiming(app: FastifyInstance): void {
  // Callback hook: the rest of the request (hooks, handler, onSend) continues inside the scope.
  app.addHook('onRequest', (_request, _reply, done) => runInTimingScope(done));
  app.addHook('onSend', (_request, reply, payload, done) => {
    const scope = currentTimingScope();
    const header = scope && serverTimingHeader(scope);
    if (header) void reply.header('server-timing', header);
    done(null, payload);
  });
}
