import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/lib/clock.js';
import { buildSandboxApp } from '../../src/sandbox/app.js';
import { applyChurn } from '../../src/sandbox/churn.js';
import type { SandboxDatabase } from '../../src/sandbox/db/database.js';
import { ensureDataset } from '../../src/sandbox/generator/generate.js';
import { createRng } from '../../src/sandbox/generator/prng.js';
import { sandboxUrls } from '../../src/sandbox/ids.js';
import { createTestContext, type TestContext } from '../helpers.js';
import { openTestSandboxDatabase, sharedVocab } from '../sandbox-helpers.js';
import { freePort } from '../net.js';

/**
 * The harvester against the bundled sandbox over real HTTP, as against any third party: a full
 * harvest equals what the sandbox publishes (count and content per feed), and after churn
 * (capacity changes, cancellations, deletions, additions) a re-poll makes them equal again.
 */
let sandboxDb: SandboxDatabase;
let sandbox: FastifyInstance;
let t: TestContext;
let base: string;

beforeAll(async () => {
  sandboxDb = await openTestSandboxDatabase();
  await ensureDataset(sandboxDb.db, sharedVocab(), { seed: 7, sessions: 250, now: systemClock.now() });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  sandbox = await buildSandboxApp({
    db: sandboxDb.db,
    urls: sandboxUrls(base),
    clock: systemClock,
    vocab: sharedVocab(),
  });
  await sandbox.listen({ port, host: '127.0.0.1' });
  t = await createTestContext();
}, 120_000);

afterAll(async () => {
  await t?.close();
  await sandbox?.close();
  await sandboxDb?.close();
});

/** What the sandbox publishes now, read with nothing but fetch: feed URL → item id → data. */
async function published(feedUrls: string[]): Promise<Map<string, Map<string, unknown>>> {
  const out = new Map<string, Map<string, unknown>>();
  for (const feedUrl of feedUrls) {
    const items = new Map<string, unknown>();
    let url = feedUrl;
    for (;;) {
      const page = (await (await fetch(url)).json()) as {
        next: string;
        items: { id: string | number; state: string; data?: unknown }[];
      };
      for (const item of page.items) {
        if (item.state === 'updated') items.set(String(item.id), item.data);
        else items.delete(String(item.id));
      }
      if (page.items.length === 0 && page.next === url) break;
      url = page.next;
    }
    out.set(feedUrl, items);
  }
  return out;
}

async function harvested(publisherId: number): Promise<Map<string, Map<string, unknown>>> {
  const feeds = await t.deps.database.db
    .selectFrom('feeds')
    .select(['id', 'url'])
    .where('publisher_id', '=', publisherId)
    .execute();
  const out = new Map<string, Map<string, unknown>>();
  for (const f of feeds) {
    const rows = await t.deps.database.db
      .selectFrom('catalog_items')
      .select(['item_id', 'data'])
      .where('feed_id', '=', f.id)
      .execute();
    out.set(f.url, new Map(rows.map((r) => [r.item_id, r.data])));
  }
  return out;
}

function expectSame(a: Map<string, Map<string, unknown>>, b: Map<string, Map<string, unknown>>) {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [feed, items] of a) {
    const got = b.get(feed)!;
    expect(got.size, feed).toBe(items.size);
    for (const [id, data] of items) expect(got.get(id), `${feed} ${id}`).toEqual(data);
  }
}

describe('harvesting the sandbox booking system over HTTP', () => {
  it('equals the published data after a full harvest, and again after churn and a re-poll', async () => {
    const { publisher, feeds } = await t.services.catalog.addPublisher({ datasetUrl: `${base}/openactive` });
    expect(feeds.map((f) => f.kind).sort()).toEqual(
      expect.arrayContaining(['FacilityUse', 'ScheduledSession', 'SessionSeries', 'Slot']),
    );
    expect(publisher.booking_endpoint_url).toBe(`${base}/api/openbooking`);
    const urls = feeds.map((f) => f.url);

    const results = await t.services.harvester.runOnce();
    expect(results.every((r) => r.caughtUp && !r.failed)).toBe(true);
    const before = await published(urls);
    expectSame(before, await harvested(publisher.id));
    const sessions = before.get(urls.find((u) => u.endsWith('/scheduled-sessions'))!)!;
    expect(sessions.size).toBeGreaterThan(100);

    // every session is joined to a harvested series; no orphans in a consistent publisher
    const orphans = await t.deps.database.db
      .selectFrom('catalog_entities as c')
      .leftJoin('catalog_entities as p', (j) =>
        j.onRef('p.oa_id', '=', 'c.parent_oa_id').onRef('p.publisher_id', '=', 'c.publisher_id'),
      )
      .select('c.oa_id')
      .where('c.publisher_id', '=', publisher.id)
      .where('c.type', 'in', ['ScheduledSession', 'Slot'])
      .where('p.oa_id', 'is', null)
      .execute();
    expect(orphans).toEqual([]);

    const churn = await applyChurn(sandboxDb.db, createRng(7).derive('test-churn', 1), systemClock.now(), {
      capacityChanges: 15,
      cancellations: 3,
      deletions: 4,
      additions: 3,
      slotChanges: 10,
    });
    expect(churn.deleted).toBeGreaterThan(0);
    // caught-up feeds wait for the poll interval; make them due now
    await t.deps.database.db
      .updateTable('feeds')
      .set({ next_poll_at: new Date(0) })
      .where('publisher_id', '=', publisher.id)
      .execute();
    const again = await t.services.harvester.runOnce();
    expect(again.reduce((a, r) => a + r.deleted, 0)).toBeGreaterThanOrEqual(churn.deleted);
    expectSame(await published(urls), await harvested(publisher.id));
  }, 180_000);
});
