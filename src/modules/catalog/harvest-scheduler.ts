import type { Logger } from 'pino';
import type { Jobs } from '../../lib/jobs.js';
import { createTicker } from '../../lib/ticker.js';
import type { Harvester } from './harvester.js';

export const HARVEST_JOB = 'catalog.harvest-feed';

/**
 * Turns due feeds into durable harvest jobs. Each job walks one feed for a bounded time; a feed
 * not yet caught up is due again at once, so long feeds are harvested in slices and several
 * feeds progress side by side. The `stately` queue keeps one queued + one running job per feed
 * across every process on the database (each process runs this scheduler; the queue makes the
 * work happen once), a feed whose job is running gets its next one after it (`sendUnlessBusy`),
 * and cursors live in the database, so restarts resume where they stopped.
 */
export function createHarvestScheduler({
  harvester,
  jobs,
  log,
  tickMs = 2000,
}: {
  harvester: Harvester;
  jobs: Jobs;
  log: Logger;
  tickMs?: number;
}) {
  const ticker = createTicker(
    async () =>
      jobs.sendUnlessBusy(
        HARVEST_JOB,
        (await harvester.dueFeedIds()).map((feedId) => ({ singletonKey: `feed-${feedId}`, data: { feedId } })),
      ),
    { intervalMs: tickMs, log, what: 'harvest scheduling' },
  );
  return { ...ticker, tick: async (): Promise<number> => (await ticker.tick()) ?? 0 };
}
