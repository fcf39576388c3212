import net from 'node:net';
import { RpdeValidator } from '@openactive/rpde-validator';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validationFailures } from '../../test/openactive-validators.js';
import { createSandboxTestContext, sharedVocab, type SandboxTestContext } from '../../test/sandbox-helpers.js';
import { systemClock } from '../lib/clock.js';
import { buildSandboxApp } from './app.js';
import { applyChurn } from './churn.js';
import { generateDataset } from './generator/generate.js';
import { createRng } from './generator/prng.js';
import { sandboxUrls } from './ids.js';
import { adjustRemainingCapacity } from './opportunities.js';

const PAGE_SIZE = 100;
const FEEDS = [
  { path: 'session-series', table: 'session_series' },
  { path: 'scheduled-sessions', table: 'scheduled_sessions' },
  { path: 'facility-uses', table: 'facility_uses' },
  { path: 'individual-facility-use-slots', table: 'slots' },
] as const;

interface Item {
  state: 'updated' | 'deleted';
  kind: string;
  id: number;
  modified: number;
  data?: Record<string, unknown>;
}
interface Page {
  next: string;
  items: Item[];
  license: string;
}

let t: SandboxTestContext;

/** Follows `next` from `url` to the last page, checking every page's HTTP shape on the way. */
async function walk(url: string): Promise<{ items: Item[]; lastUrl: string; pages: number }> {
  const items: Item[] = [];
  let current = url;
  for (let pages = 1; pages < 10_000; pages += 1) {
    const res = await t.request({ method: 'GET', url: current.replace(t.urls.base, '') });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const page = res.json<Page>();
    expect(page.license).toBe('https://creativecommons.org/licenses/by/4.0/');
    expect(page.items.length).toBeLessThanOrEqual(PAGE_SIZE);
    if (page.items.length === 0) {
      // RPDE last page: no items and `next` is the URL just requested; short cache.
      expect(page.next).toBe(current);
      expect(res.headers['cache-control']).toBe('public, max-age=8');
      return { items, lastUrl: current, pages };
    }
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    const last = page.items.at(-1)!;
    expect(page.next).toBe(
      `${t.urls.feed(new URL(current).pathname.replace('/feeds/', ''))}?afterTimestamp=${last.modified}&afterId=${last.id}`,
    );
    items.push(...page.items);
    current = page.next;
  }
  throw new Error('feed never ended');
}

function expectOrdered(items: Item[]): void {
  for (let i = 1; i < items.length; i += 1) {
    const a = items[i - 1]!;
    const b = items[i]!;
    expect(a.modified < b.modified || (a.modified === b.modified && a.id < b.id)).toBe(true);
  }
}

beforeAll(async () => {
  t = await createSandboxTestContext({ feedPageSize: PAGE_SIZE });
  // Anchored today, so sessions are in the future (churn only touches future sessions).
  await generateDataset(t.database.db, sharedVocab(), { seed: 7, sessions: 400, anchor: new Date(), slotDays: 2 });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

describe('open-data RPDE feeds', () => {
  for (const feed of FEEDS) {
    it(`${feed.path}: walking from the start returns every row exactly once, in modified+id order, ending on a correct last page`, async () => {
      const { items, pages } = await walk(t.urls.feed(feed.path));
      const rows = await t.database.db.selectFrom(feed.table).select(['id', 'modified']).execute();
      expect(pages).toBeGreaterThan(1);
      expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
      expect(items.map((i) => i.id).sort((a, b) => a - b)).toEqual(rows.map((r) => r.id).sort((a, b) => a - b));
      expectOrdered(items);
      for (const item of items) {
        expect(item.state).toBe('updated');
        expect(Number.isInteger(item.modified)).toBe(true);
        expect(item.data?.['@context']).toBe('https://openactive.io/');
        expect(typeof item.data?.['@id']).toBe('string');
      }
    });
  }

  it('links children to parents by @id the way a harvester joins them', async () => {
    const sessions = (await walk(t.urls.feed('scheduled-sessions'))).items;
    const series = new Set((await walk(t.urls.feed('session-series'))).items.map((i) => i.data!['@id']));
    for (const s of sessions) expect(series).toContain(s.data!.superEvent);

    const slots = (await walk(t.urls.feed('individual-facility-use-slots'))).items;
    const facilityUses = (await walk(t.urls.feed('facility-uses'))).items;
    const individual = new Set(
      facilityUses.flatMap((f) => (f.data!.individualFacilityUse as { '@id': string }[]).map((i) => i['@id'])),
    );
    for (const s of slots) expect(individual).toContain(s.data!.facilityUse);
  });

  it('shows updates and deletions to a consumer that carries on from where it stopped', async () => {
    const { lastUrl } = await walk(t.urls.feed('scheduled-sessions'));
    const session = await t.database.db
      .selectFrom('scheduled_sessions')
      .selectAll()
      .where('remaining_attendee_capacity', '>', 0)
      .where('start_date', '>', new Date())
      .orderBy('id')
      .executeTakeFirstOrThrow();
    expect(await adjustRemainingCapacity(t.database.db, { type: 'ScheduledSession', id: session.id }, -1)).toBe(
      session.remaining_attendee_capacity - 1,
    );
    const churn = await applyChurn(t.database.db, createRng(1), new Date(), {
      capacityChanges: 5,
      cancellations: 2,
      deletions: 3,
      additions: 2,
      slotChanges: 0,
    });
    expect(churn.deleted).toBe(3);

    const { items } = await walk(lastUrl);
    expectOrdered(items);
    const changed = items.find((i) => i.id === session.id)!;
    expect(changed.data!.remainingAttendeeCapacity).toBe(session.remaining_attendee_capacity - 1);
    const deleted = items.filter((i) => i.state === 'deleted');
    expect(deleted).toHaveLength(3);
    for (const d of deleted) {
      expect(d.data).toBeUndefined();
      expect(Object.keys(d).sort()).toEqual(['id', 'kind', 'modified', 'state']);
    }
    expect(
      items.filter((i) => i.data?.eventStatus === 'https://schema.org/EventCancelled').length,
    ).toBeGreaterThanOrEqual(2);
    const maxBefore = Number(new URL(lastUrl).searchParams.get('afterId'));
    expect(items.filter((i) => i.id > maxBefore && i.state === 'updated')).toHaveLength(2);

    // From the start, a tombstone is still there (deletions are never hard deletes).
    const all = (await walk(t.urls.feed('scheduled-sessions'))).items;
    expect(
      all
        .filter((i) => i.state === 'deleted')
        .map((i) => i.id)
        .sort(),
    ).toEqual(deleted.map((i) => i.id).sort());
  });

  it('rejects malformed positions with a 400 error', async () => {
    for (const query of [
      'afterTimestamp=abc&afterId=1',
      'afterTimestamp=10',
      'afterId=3',
      'afterTimestamp=-5&afterId=1',
      'afterTimestamp=99999999999999999&afterId=1',
    ]) {
      const res = await t.request({ method: 'GET', url: `/feeds/scheduled-sessions?${query}` });
      expect(res.statusCode, query).toBe(400);
      expect(res.json()['@type']).toBe('BadRequestError');
    }
  });

  it('answers far-future positions with an empty last page whose next is itself', async () => {
    const url = '/feeds/session-series?afterTimestamp=1893456000&afterId=99999999999';
    const res = await t.request({ method: 'GET', url });
    expect(res.json()).toEqual({
      next: `${t.urls.base}${url}`,
      items: [],
      license: 'https://creativecommons.org/licenses/by/4.0/',
    });
  });

  for (const feed of FEEDS) {
    it(`${feed.path}: sample items pass @openactive/data-model-validator (BookableRPDEFeed) with no failures`, async () => {
      const first = (await t.request({ method: 'GET', url: `/feeds/${feed.path}` })).json<Page>();
      const { items } = await walk(t.urls.feed(feed.path));
      // The validator takes about a second per item, so: the start of the feed plus the most
      // recently changed items (tombstones included), a few at a time.
      const sample = [...first.items.slice(0, 6), ...items.slice(-6)];
      for (let i = 0; i < sample.length; i += 3) {
        expect(await validationFailures({ ...first, items: sample.slice(i, i + 3) }, 'BookableRPDEFeed')).toEqual([]);
      }
    }, 120_000);
  }
});

describe('rpde-validator over HTTP', () => {
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    // The validator follows absolute `next` URLs, so the app must know the address it is served on.
    const port = await new Promise<number>((resolve, reject) => {
      const probe = net.createServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(p));
      });
    });
    base = `http://127.0.0.1:${port}`;
    app = await buildSandboxApp({
      db: t.database.db,
      urls: sandboxUrls(base),
      clock: systemClock,
      vocab: sharedVocab(),
      feedPageSize: PAGE_SIZE,
    });
    await app.listen({ port, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
  });

  for (const feed of FEEDS) {
    it(`${feed.path}: no rule failures`, async () => {
      const log = (await RpdeValidator(`${base}/feeds/${feed.path}`, { pageLimit: 50, timeoutMs: 20_000 })) as {
        pages: { url: string; errors: { severity: string; message: string; type: string }[] }[];
      };
      expect(log.pages.length).toBeGreaterThan(1);
      const failures = log.pages.flatMap((p) =>
        p.errors.filter((e) => e.severity === 'failure').map((e) => `${p.url}: ${e.type}: ${e.message.split('\n')[0]}`),
      );
      expect(failures).toEqual([]);
    }, 60_000);
  }
});
