import type { FastifyPluginAsync } from 'fastify';
import type { SandboxDeps } from './app.js';

/**
 * The test interface's dataset endpoints (openactive.md §6.4): create an opportunity matching
 * a criteria, delete a test dataset. The actions endpoint belongs to the booking side.
 */
export function testInterfaceDatasetRoutes(_deps: SandboxDeps): FastifyPluginAsync {
  return async () => {};
}
