import type { FastifyPluginAsync } from 'fastify';
import type { SandboxDeps } from './app.js';

/** `GET /feeds/*`: the open-data RPDE feeds. */
export function feedRoutes(_deps: SandboxDeps): FastifyPluginAsync {
  return async () => {};
}
