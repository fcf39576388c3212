import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { SandboxDeps } from './app.js';
import { deleteTestDatasetOrders } from './booking/index.js';
import { OPEN_BOOKING_PREFIX, sendJson } from './errors.js';
import { createTestOpportunity, deleteTestDataset, readCreateRequest } from './test-interface.js';

const DatasetParams = Type.Object({ testDatasetIdentifier: Type.String({ minLength: 1, maxLength: 200 }) });

/**
 * The test interface's dataset endpoints (openactive.md §6.4): create an opportunity matching
 * a criteria, delete a test dataset. The actions endpoint belongs to the booking side. Like the
 * reference implementation, these need no booking-partner credentials: the suite's global
 * setup deletes the dataset without any.
 */
export function testInterfaceDatasetRoutes(deps: SandboxDeps): FastifyPluginAsync {
  const base = `${OPEN_BOOKING_PREFIX}/test-interface/datasets/:testDatasetIdentifier`;
  return async (app) => {
    app.delete(base, { schema: { params: DatasetParams } }, async (request, reply) => {
      const { testDatasetIdentifier } = request.params as { testDatasetIdentifier: string };
      await deleteTestDataset(deps.db, testDatasetIdentifier);
      await deleteTestDatasetOrders(deps, testDatasetIdentifier);
      await reply.code(204).send();
    });

    app.post(`${base}/opportunities`, { schema: { params: DatasetParams } }, async (request, reply) => {
      const { testDatasetIdentifier } = request.params as { testDatasetIdentifier: string };
      const created = await createTestOpportunity(
        deps.db,
        { urls: deps.urls, vocab: deps.vocab, now: deps.clock.now() },
        testDatasetIdentifier,
        readCreateRequest(request.body),
      );
      await sendJson(reply, 201, created.data);
    });
  };
}
