import PgBoss from 'pg-boss';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobs } from '../../src/lib/jobs.js';
import { createHarvestScheduler, HARVEST_JOB } from '../../src/modules/catalog/index.js';
import { createTestContext, type TestContext } from '../helpers.js';
import { RpdeTestServer } from '../rpde-server.js';

/*
 * Issue 14, point 1: a job left `active` by a killed process wedged a `stately` queue for good,
 * silently — pg-boss 10 fetches the oldest due job first, and when that one shares its
 * singleton key with the abandoned running job, every fetch of the queue fails on the unique
 * index (and pg-boss swallows the error). Here the kill is reproduced the way `kill -9` leaves
 * it: a second pg-boss client (another "process") claims a harvest job and vanishes without
 * finishing it; a job for the same feed was queued behind it (as the scheduler of an earlier
 * version, or a peer racing it, did), then one for another feed.
 */

const ADMIN = 'admin-key-for-wedge-tests';
const LEASE = 2;
/** Above the workers' 1 s poll, so that a busy machine's normal wait for a worker is no stall. */
const STALL = 3;

type Json = Record<string, any>;

const series = (server: RpdeTestServer, id: string) => ({
  id,
  kind: 'SessionSeries',
  data: { '@context': 'https://openactive.io/', '@type': 'SessionSeries', '@id': `${server.base}/s/${id}`, name: id },
});

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a job abandoned by a killed process', () => {
  let server: RpdeTestServer;
  let t: TestContext;
  const logs: Json[] = [];

  beforeAll(async () => {
    server = await new RpdeTestServer().start();
    for (const n of [1, 2, 3]) server.put('wedge-a', series(server, `a${n}`));
    for (const n of [1, 2, 3]) server.put('wedge-b', series(server, `b${n}`));
    t = await createTestContext({
      config: {
        adminApiKey: ADMIN,
        jobs: {
          enabled: true,
          pollIntervalSeconds: 1,
          leaseSeconds: LEASE,
          maintenanceIntervalSeconds: 1,
          stallAfterSeconds: STALL,
        },
      },
      log: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Json) }),
    });
  });
  afterAll(async () => {
    await t?.close();
    await server?.stop();
  });

  it('wedges the harvest queue, which /health, feed health, the log and /metrics show; the queue then recovers by itself', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/admin/publishers',
      key: ADMIN,
      payload: {
        name: 'Wedge publisher',
        feeds: [
          { url: server.url('wedge-a'), kind: 'SessionSeries' },
          { url: server.url('wedge-b'), kind: 'SessionSeries' },
        ],
      },
    });
    expect(created.statusCode).toBe(201);
    const [feedA, feedB] = (created.json().feeds as { id: number; url: string }[]).map((f) => f.id) as [number, number];

    // The dead process: claims feed A's job, and is never heard of again.
    const { jobs } = t.deps;
    expect(await jobs.send(HARVEST_JOB, { feedId: feedA }, { singletonKey: `feed-${feedA}` })).not.toBeNull();
    const dead = new PgBoss({
      db: t.deps.database.runnerFor(t.deps.database.db),
      schema: 'pgboss',
      supervise: false,
      schedule: false,
    });
    await dead.start();
    const claimed = await dead.fetch<{ feedId: number }>(HARVEST_JOB);
    expect(claimed.map((j) => j.data.feedId)).toEqual([feedA]);

    // Queued behind it: the same feed again, then feed B (the scheduler now skips the busy feed A).
    expect(await jobs.send(HARVEST_JOB, { feedId: feedA }, { singletonKey: `feed-${feedA}` })).not.toBeNull();
    const scheduler = createHarvestScheduler({
      harvester: t.services.harvester,
      jobs,
      log: t.deps.log,
      tickMs: 200,
    });
    expect(await scheduler.tick()).toBe(1);
    // The wedge: nothing can be fetched, not even feed B's job.
    expect(await jobs.runDue(HARVEST_JOB)).toBe(0);

    // No process runs workers yet: the stall shows once the stall time has passed.
    const health = await until('/health to degrade', 15_000, async () => {
      const res = await t.request({ method: 'GET', url: '/health' });
      expect(res.statusCode).toBe(200);
      const body = res.json<Json>();
      return body.status === 'degraded' ? body : undefined;
    });
    expect(health.stalledQueues).toEqual(
      expect.arrayContaining([expect.objectContaining({ queue: HARVEST_JOB, dueJobs: 2 })]),
    );
    const feeds = await until('feed B to show as stalled', 10_000, async () => {
      const body = (await t.request({ method: 'GET', url: '/admin/feeds', key: ADMIN })).json<Json>();
      return (body.items as Json[]).find((f) => f.id === feedB)?.stalled === true ? body : undefined;
    });
    expect(feeds.harvestQueue).toMatchObject({ status: 'stalled', dueJobs: 2, activeJobs: 1 });
    expect((feeds.items as Json[]).find((f) => f.id === feedB)!.overdueSeconds).toBeGreaterThan(STALL);
    const metrics = (await t.request({ method: 'GET', url: '/metrics', key: ADMIN })).body;
    expect(metrics).toContain(`activehub_job_queue_stalled{queue="${HARVEST_JOB}"} 1`);
    // Checked again and again: logged once.
    for (let i = 0; i < 3; i += 1) await jobs.checkQueues();
    const stalledLines = () => logs.filter((l) => l.msg?.startsWith('job queue stalled') && l.queue === HARVEST_JOB);
    expect(stalledLines()).toHaveLength(1);
    expect(stalledLines()[0]!.level).toBe(50);

    // A process with workers (and so maintenance) starts: the abandoned job's lease has lapsed,
    // it is put back, and both feeds are harvested.
    await jobs.startWorkers();
    scheduler.start();
    try {
      await until('both feeds harvested and /health ok', 20_000, async () => {
        const counts = await t.services.catalog.countEntitiesByType(created.json().id as number);
        const res = (await t.request({ method: 'GET', url: '/health' })).json<Json>();
        return counts.some((c) => c.type === 'SessionSeries' && c.count === 6) && res.status === 'ok'
          ? true
          : undefined;
      });
    } finally {
      scheduler.stop();
    }
    const after = (await t.request({ method: 'GET', url: '/admin/feeds', key: ADMIN })).json<Json>();
    expect(after.harvestQueue).toMatchObject({ status: 'ok' });
    // The episode was logged once when it started and once when it ended.
    const recoveredAt = logs.findIndex((l) => l.msg === 'job queue recovered' && l.queue === HARVEST_JOB);
    expect(recoveredAt).toBeGreaterThan(-1);
    expect(logs.slice(0, recoveredAt).filter((l) => stalledLines().includes(l))).toHaveLength(1);
  });
});

describe('a job that runs longer than its lease', () => {
  let t: TestContext;
  beforeAll(async () => {
    t = await createTestContext();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('keeps its lease while its process lives: maintenance elsewhere does not reclaim it, and it runs once', async () => {
    const log = pino({ level: 'silent' });
    const options = {
      database: t.deps.database,
      log,
      pollIntervalSeconds: 1,
      leaseSeconds: 1,
      maintenanceIntervalSeconds: 1,
    };
    const worker = createJobs(options);
    const peer = createJobs(options);
    let runs = 0;
    let finished = false;
    worker.define(
      'test.long-run',
      async () => {
        runs += 1;
        await new Promise((r) => setTimeout(r, 3500));
        finished = true;
      },
      { policy: 'stately' },
    );
    await worker.start();
    const id = await worker.send('test.long-run', {}, { singletonKey: 'only' });
    expect(id).not.toBeNull();
    await worker.startWorkers();
    try {
      // Another process's maintenance runs all along, well past the job's first lease.
      await until('the long job to finish', 10_000, async () => {
        await peer.maintain({ force: true });
        return finished ? true : undefined;
      });
      const state = await until('the job to be recorded complete', 5_000, async () => {
        const { rows } = await t.deps.database
          .runnerFor(t.deps.database.db)
          .executeSql(`select state, retry_count from pgboss.job where name = 'test.long-run' and id = $1`, [id]);
        const row = rows[0] as { state: string; retry_count: number } | undefined;
        return row?.state === 'completed' ? row : undefined;
      });
      expect(state.retry_count).toBe(0);
      expect(runs).toBe(1);
    } finally {
      await worker.stop();
      await peer.stop();
    }
  });
});
