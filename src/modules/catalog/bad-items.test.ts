import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openTestDatabase, testOutbound } from '../../../test/helpers.js';
import { RpdeTestServer } from '../../../test/rpde-server.js';
import type { Database } from '../../db/database.js';
import { fixedClock } from '../../lib/clock.js';
import { createHttpClient } from '../../lib/http-client.js';
import type { RpdeItem } from '../../lib/rpde.js';
import { createVocabularies } from '../../lib/vocabularies.js';
import { createCatalogService } from './catalog.service.js';
import { applyPage, createHarvester } from './harvester.js';

/*
 * Hostile or broken items on a real feed over HTTP (issue 14 point 5): each one used to fail the
 * page's single write, so the cursor never moved and the feed retried the same page for ever.
 * Now each is a fault of its own, counted in feed_faults with its id, and the page goes on.
 */

const vocab = createVocabularies();
let database: Database;
let server: RpdeTestServer;
const clock = fixedClock(new Date('2026-11-26T10:00:00Z'));
const log = pino({ level: 'silent' });
const outbound = testOutbound();
const http = createHttpClient({ userAgent: 'activehub-test', outbound, retries: 0, timeoutMs: 5000 });

beforeAll(async () => {
  database = await openTestDatabase();
  server = await new RpdeTestServer().start();
});
afterAll(async () => {
  await server?.stop();
  await database?.close();
  await outbound.close();
});
beforeEach(() => clock.advance(60_000));

const harvester = () => createHarvester({ database, http, clock, log, vocab, random: () => 0.5 });
const catalog = () => createCatalogService({ database, http, clock });

let n = 0;
const session = (prefix: string, i: number, extra: Record<string, unknown> = {}) => ({
  '@context': 'https://openactive.io/',
  '@type': 'ScheduledSession',
  '@id': `${prefix}/sessions/${i}`,
  name: `Session ${i}`,
  startDate: '2026-12-01T18:00:00Z',
  endDate: '2026-12-01T19:00:00Z',
  ...extra,
});

/** Nesting JSON.stringify is not asked to make: `depth` arrays inside each other. */
const deepJson = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

interface Published {
  feedId: number;
  publisherId: number;
  prefix: string;
}

/**
 * A feed of one page: good item `a`, the bad one (id `bad` unless given), good item `c`, then a
 * second page with good item `d` — so a feed that is stuck on the first page shows it.
 */
async function publish(bad: {
  id?: string;
  data?: Record<string, unknown>;
  /** The item's JSON text, given the `modified` it is published with. */
  rawJson?: (modified: number) => string;
}): Promise<Published> {
  n += 1;
  const name = `bad-${n}`;
  const prefix = `https://pub-bad${n}.example`;
  server.feed(name, 3);
  server.put(name, { id: 'a', kind: 'ScheduledSession', data: session(prefix, 1) });
  const item = server.put(name, {
    id: bad.id ?? 'bad',
    kind: 'ScheduledSession',
    ...(bad.data ? { data: bad.data } : {}),
  });
  if (bad.rawJson) item.rawJson = bad.rawJson(item.modified);
  server.put(name, { id: 'c', kind: 'ScheduledSession', data: session(prefix, 3) });
  server.put(name, { id: 'd', kind: 'ScheduledSession', data: session(prefix, 4) });
  const { publisher, feeds } = await catalog().addPublisher({
    name: `Bad ${n}`,
    feeds: [{ url: server.url(name), kind: 'ScheduledSession' }],
  });
  return { feedId: feeds[0]!.id, publisherId: publisher.id, prefix };
}

async function harvest(p: Published) {
  const result = await harvester().walkFeed(p.feedId, { budgetMs: 60_000 });
  const feed = await database.db.selectFrom('feeds').selectAll().where('id', '=', p.feedId).executeTakeFirstOrThrow();
  const items = await database.db
    .selectFrom('catalog_items')
    .select(['item_id', 'data'])
    .where('feed_id', '=', p.feedId)
    .orderBy('item_id')
    .execute();
  const entities = await database.db
    .selectFrom('catalog_entities')
    .select(['oa_id', 'name', 'start_date', 'end_date'])
    .where('publisher_id', '=', p.publisherId)
    .orderBy('oa_id')
    .execute();
  const faults = await database.db.selectFrom('feed_faults').selectAll().where('feed_id', '=', p.feedId).execute();
  return { result, feed, items, entities, faults };
}

/** The feed went to its end: every good item stored, the cursor past the bad item. */
function expectMovedOn(h: Awaited<ReturnType<typeof harvest>>, goodIds = ['a', 'c', 'd']) {
  expect(h.result.caughtUp).toBe(true);
  expect(h.result.failed).toBe(false);
  expect(h.feed.status).toBe('caught_up');
  expect(h.feed.next_url).toContain('afterId=d');
  for (const id of goodIds) expect(h.items.map((i) => i.item_id)).toContain(id);
}

function faultOf(h: Awaited<ReturnType<typeof harvest>>, kind: string) {
  const f = h.faults.find((x) => x.fault === kind);
  expect(f, `a ${kind} fault (got ${h.faults.map((x) => x.fault).join(', ') || 'none'})`).toBeDefined();
  return f!;
}

describe('a bad item is a fault of its own; the page and the feed go on', () => {
  it('a NUL character in a string: stored with U+FFFD in its place, counted as invalid_text', async () => {
    const p = await publish({ data: { ...session('https://x.example', 2), name: 'Yoga\u0000 flow' } });
    const h = await harvest(p);
    expectMovedOn(h, ['a', 'bad', 'c', 'd']);
    expect(faultOf(h, 'invalid_text').last_message).toContain('bad');
    expect(h.entities.find((e) => e.oa_id === 'https://x.example/sessions/2')!.name).toBe('Yoga\ufffd flow');
  });

  it('a lone surrogate (in a value and in a key): repaired to U+FFFD, counted as invalid_text', async () => {
    // JSON.stringify writes a lone surrogate as the escape \ud800, as a hostile feed would.
    const p = await publish({
      data: { ...session('https://y.example', 2), description: 'half \ud800 a pair', ['k\udc00']: 1 },
    });
    const h = await harvest(p);
    expectMovedOn(h, ['a', 'bad', 'c', 'd']);
    expect(faultOf(h, 'invalid_text').last_message).toContain('bad');
    const stored = h.items.find((i) => i.item_id === 'bad')!.data;
    expect(stored.description).toBe('half \ufffd a pair');
    expect(stored['k\ufffd']).toBe(1);
  });

  it.each([
    ['year -10000', '-010000-01-01T10:00:00Z'],
    ['year +200000', '+200000-01-01T10:00:00Z'],
  ])('a date in %s: treated as no date, counted as invalid_date', async (_label, startDate) => {
    const p = await publish({ data: session('https://z.example', 2, { startDate, endDate: startDate }) });
    const h = await harvest(p);
    expectMovedOn(h, ['a', 'bad', 'c', 'd']);
    expect(faultOf(h, 'invalid_date').last_message).toContain('bad');
    const e = h.entities.find((x) => x.oa_id === 'https://z.example/sessions/2')!;
    expect(e.start_date).toBeNull();
    expect(e.end_date).toBeNull();
  });

  it('a duration that takes the end past year 9999: no end date, counted as invalid_date', async () => {
    const p = await publish({
      data: session('https://w.example', 2, { endDate: undefined, duration: 'P900000Y' }),
    });
    const h = await harvest(p);
    expectMovedOn(h, ['a', 'bad', 'c', 'd']);
    faultOf(h, 'invalid_date');
    expect(h.entities.find((x) => x.oa_id === 'https://w.example/sessions/2')!.end_date).toBeNull();
  });

  it('a 9,000-character RPDE id: the item is dropped, counted as invalid_id with the id cut short', async () => {
    const longId = randomBytes(4500).toString('hex');
    const p = await publish({ id: longId, data: session('https://v.example', 2) });
    const h = await harvest(p);
    expectMovedOn(h);
    const f = faultOf(h, 'invalid_id');
    expect(f.last_message).toContain(longId.slice(0, 60));
    expect(f.last_message.length).toBeLessThan(1001);
    expect(h.items.map((i) => i.item_id)).toEqual(['a', 'c', 'd']);
  });

  it('a 9,000-character @id in the data: the item is dropped, counted as invalid_id', async () => {
    const p = await publish({
      data: session('https://u.example', 2, { '@id': `https://u.example/${randomBytes(4500).toString('hex')}` }),
    });
    const h = await harvest(p);
    expectMovedOn(h);
    expect(faultOf(h, 'invalid_id').last_message).toContain('bad');
    expect(h.items.map((i) => i.item_id)).toEqual(['a', 'c', 'd']);
  });

  it('9,000-deep nesting: the item is dropped, counted as too_deep', async () => {
    const data = JSON.stringify(session('https://t.example', 2)).replace(/}$/, `,"ext:nested":${deepJson(9000)}}`);
    const p = await publish({
      rawJson: (modified) =>
        `{"state":"updated","kind":"ScheduledSession","id":"bad","modified":${modified},"data":${data}}`,
    });
    const h = await harvest(p);
    expectMovedOn(h);
    expect(faultOf(h, 'too_deep').last_message).toContain('bad');
  });

  it.each([
    ['a number', '42'],
    ['a string', '"item"'],
    ['null', 'null'],
    ['an array', '[{"id":"x"}]'],
  ])('an item that is %s: skipped, counted as invalid_item', async (_label, rawJson) => {
    const p = await publish({ rawJson: () => rawJson });
    const h = await harvest(p);
    expectMovedOn(h);
    faultOf(h, 'invalid_item');
  });

  it('caps long text: a 1 MB name is stored cut to 500 characters, counted as text_truncated', async () => {
    const p = await publish({ data: session('https://s.example', 2, { name: 'N'.repeat(1_000_000) }) });
    const h = await harvest(p);
    expectMovedOn(h, ['a', 'bad', 'c', 'd']);
    expect(faultOf(h, 'text_truncated').last_message).toContain('bad');
    const e = h.entities.find((x) => x.oa_id === 'https://s.example/sessions/2')!;
    expect(e.name!.length).toBeLessThanOrEqual(500);
    expect(e.name!.endsWith('…')).toBe(true);
  });
});

describe('when the database still refuses items the checks let through', () => {
  // applyPage is given items that never went through the parser's checks, standing in for
  // whatever a future limit misses: the write must isolate them, not stall the feed.
  const item = (id: string, data: Record<string, unknown>): RpdeItem => ({
    id,
    state: 'updated',
    kind: 'ScheduledSession',
    modified: String(1000 + Number(/\d+/.exec(id)?.[0] ?? 0)),
    data,
  });

  it('splits the page, leaves out each refused item (rejected_item, with its id), writes the rest and moves on', async () => {
    n += 1;
    const prefix = `https://pub-raw${n}.example`;
    const { publisher, feeds } = await catalog().addPublisher({
      name: `Raw ${n}`,
      feeds: [{ url: `${server.base}/feeds/raw-${n}`, kind: 'ScheduledSession' }],
    });
    const feed = await database.db
      .selectFrom('feeds')
      .selectAll()
      .where('id', '=', feeds[0]!.id)
      .executeTakeFirstOrThrow();
    const longId = `x${randomBytes(4500).toString('hex')}`;
    let deep: unknown = 1;
    for (let i = 0; i < 9000; i += 1) deep = [deep];
    const items = [
      ...Array.from({ length: 10 }, (_, i) => item(`good${i}`, session(prefix, i))),
      item(longId, session(prefix, 100)), // index entry too large (54000)
      item('nul13', { ...session(prefix, 13), name: 'a\u0000b' }), // jsonb refuses NUL (22P05)
      item('deep14', { ...session(prefix, 14), 'ext:x': deep }), // JSON.stringify overflows (RangeError)
    ];
    // Good and bad interleaved, so the halves are not simply "good" and "bad".
    const order = [0, 10, 1, 2, 3, 11, 4, 5, 6, 7, 12, 8, 9].map((i) => items[i]!);
    const next = `${server.base}/feeds/raw-${n}?afterId=z`;
    const r = await applyPage(database.db, feed, order, vocab, clock.now(), {
      nextUrl: next,
      newestModified: null,
      status: 'caught_up',
      nextPollAt: clock.now(),
      caughtUp: true,
    });
    expect(r).toMatchObject({ updated: 10, rejected: 3 });
    const after = await database.db.selectFrom('feeds').selectAll().where('id', '=', feed.id).executeTakeFirstOrThrow();
    expect(after.next_url).toBe(next);
    expect(after.items_updated).toBe(10);
    const stored = await database.db
      .selectFrom('catalog_items')
      .select('item_id')
      .where('feed_id', '=', feed.id)
      .orderBy('item_id')
      .execute();
    expect(stored.map((s) => s.item_id)).toEqual(Array.from({ length: 10 }, (_, i) => `good${i}`));
    const entities = await database.db
      .selectFrom('catalog_entities')
      .select('oa_id')
      .where('publisher_id', '=', publisher.id)
      .execute();
    expect(entities).toHaveLength(10);
    const fault = await database.db
      .selectFrom('feed_faults')
      .selectAll()
      .where('feed_id', '=', feed.id)
      .where('fault', '=', 'rejected_item')
      .executeTakeFirstOrThrow();
    expect(fault.count).toBe(3);
    for (const id of [longId.slice(0, 50), 'nul13', 'deep14']) expect(fault.last_message).toContain(id);
  });
});
