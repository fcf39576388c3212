import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../../test/helpers.js';
import type { Database } from '../db/database.js';
import { createJobs } from './jobs.js';

let database: Database;
beforeAll(async () => {
  database = await openTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

describe('jobs', () => {
  it('creates a queue defined after the queue was started (regression: such jobs were silently dropped)', async () => {
    const jobs = createJobs({ database, log: pino({ level: 'silent' }), pollIntervalSeconds: 1 });
    await jobs.start();
    const seen: number[] = [];
    jobs.define<{ n: number }>('test.late', async ({ n }) => void seen.push(n));
    expect(await jobs.send('test.late', { n: 1 })).not.toBeNull();
    expect(await jobs.runDue('test.late')).toBe(1);
    expect(seen).toEqual([1]);
    await jobs.stop();
  });

  it('lets many first callers start it together: one start, every job sent', async () => {
    const jobs = createJobs({ database, log: pino({ level: 'silent' }), pollIntervalSeconds: 1 });
    jobs.define<{ n: number }>('test.crowd-a', async () => undefined);
    jobs.define<{ n: number }>('test.crowd-b', async () => undefined);
    const ids = await Promise.all(
      Array.from({ length: 40 }, (_, n) => jobs.send(n % 2 ? 'test.crowd-a' : 'test.crowd-b', { n })),
    );
    expect(ids.filter((id) => typeof id === 'string')).toHaveLength(40);
    expect(await jobs.runDue('test.crowd-a')).toBe(20);
    expect(await jobs.runDue('test.crowd-b')).toBe(20);
    await jobs.stop();
  });

  it('inserts a job inside the caller’s transaction: rolled back with it, committed with it', async () => {
    const jobs = createJobs({ database, log: pino({ level: 'silent' }), pollIntervalSeconds: 1 });
    const seen: number[] = [];
    jobs.define<{ n: number }>('test.outbox', async ({ n }) => void seen.push(n));
    await jobs.start();
    await database.db
      .transaction()
      .execute(async (trx) => {
        await jobs.send('test.outbox', { n: 1 }, { executor: trx });
        throw new Error('rollback');
      })
      .catch(() => undefined);
    await database.db.transaction().execute(async (trx) => {
      await jobs.send('test.outbox', { n: 2 }, { executor: trx });
    });
    expect(await jobs.runDue('test.outbox')).toBe(1);
    expect(seen).toEqual([2]);
    await jobs.stop();
  });
});
