import type { FastifyPluginAsync } from 'fastify';
import type { SandboxDeps } from './app.js';

/** `GET /openactive`: the dataset site (HTML with embedded Dataset JSON-LD). */
export function datasetSiteRoutes(_deps: SandboxDeps): FastifyPluginAsync {
  return async () => {};
}
