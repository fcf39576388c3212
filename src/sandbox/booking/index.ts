import type { FastifyPluginAsync } from 'fastify';
import type { SandboxDeps } from '../app.js';
import { bookingRoutes } from './booking.routes.js';
import { createBookingService } from './booking.service.js';

export { createBookingService, type BookingService, type BookingPartner } from './booking.service.js';
export type { BookingTables } from './booking.tables.js';

/** Spaces held by expired leases are given back at least this often (and on every C1/C2/B). */
const LEASE_SWEEP_INTERVAL_MS = 30_000;

/** The Open Booking API of the sandbox, with its test-interface actions, as a Fastify plugin. */
export function openBookingApi(deps: SandboxDeps): FastifyPluginAsync {
  const service = createBookingService({ db: deps.db, urls: deps.urls, clock: deps.clock });
  return bookingRoutes(service, { urls: deps.urls, leaseSweepIntervalMs: LEASE_SWEEP_INTERVAL_MS });
}

/**
 * Deletes the orders made for a test dataset's opportunities; the test interface's dataset
 * deletion calls it after removing the opportunities (openactive.md §6.4).
 */
export function deleteTestDatasetOrders(deps: SandboxDeps, testDataset: string): Promise<number> {
  return createBookingService({ db: deps.db, urls: deps.urls, clock: deps.clock }).deleteTestDatasetOrders(testDataset);
}
