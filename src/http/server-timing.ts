import type { FastifyInstance } from 'fastify';
import { currentTimingScope, runInTimingScope, serverTimingHeader } from '../lib/server-timing.js';

/**
 * Every request runs in a timing scope (src/lib/server-timing.ts). The responses of the checkout
 * (API and hosted pages, under /checkout/) and of any request that called a seller say how long
 * the server took (`Server-Timing: total;dur=<ms>`) and how long it waited on sellers
 * (`seller;dur=<ms>`). Other responses carry no timing: they stay byte-for-byte comparable.
 */
export function registerServerTiming(app: FastifyInstance): void {
  // Callback hook: the rest of the request (hooks, handler, onSend) continues inside the scope.
  app.addHook('onRequest', (_request, _reply, done) => runInTimingScope(done));
  app.addHook('onSend', (request, reply, payload, done) => {
    const scope = currentTimingScope();
    const reported =
      scope && (scope.sellerCalls > 0 || scope.statements > 0 || request.routeOptions.url?.startsWith('/checkout/'));
    if (reported) void reply.header('server-timing', serverTimingHeader(scope));
    done(null, payload);
  });
}
