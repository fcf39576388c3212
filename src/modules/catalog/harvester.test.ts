import { sql } from 'kysely';
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

const vocab = createVocabularies();
const YOGA = vocab.activityByLabel('Yoga')!;
const HATHA = vocab.activityByLabel('Hatha Yoga')!;

let database: Database;
let server: RpdeTestServer;
const clock = fixedClock(new Date('2026-11-26T10:00:00Z'));
const log = pino({ level: 'silent' });
// The timeout leaves room for a loaded machine; the slow feed below answers well after it.
const outbound = testOutbound();
const http = createHttpClient({ userAgent: 'activehub-test', outbound, retries: 1, retryBaseMs: 5, timeoutMs: 1200 });

beforeAll(async () => {
  database = await openTestDatabase();
  server = await new RpdeTestServer().start();
});
afterAll(async () => {
  await server?.stop();
  await database?.close();
  await outbound.close();
});

function newHarvester() {
  return createHarvester({ database, http, clock, log, vocab, pollIntervalMs: 8000, random: () => 0.5 });
}
const catalog = () => createCatalogService({ database, http, clock });

let n = 0;
/** Feeds under a fresh name per test so tests never share publisher data. */
function names() {
  n += 1;
  return { series: `series-${n}`, sessions: `sessions-${n}`, prefix: `https://pub${n}.example` };
}

function series(prefix: string, i: number, extra: Record<string, unknown> = {}) {
  return {
    '@context': 'https://openactive.io/',
    '@type': 'SessionSeries',
    '@id': `${prefix}/series/${i}`,
    name: `Yoga ${i}`,
    activity: [{ '@type': 'Concept', '@id': HATHA.id, prefLabel: 'Hatha Yoga', inScheme: HATHA.inScheme }],
    organizer: { '@type': 'Organization', '@id': `${prefix}/org`, name: 'Leisure Trust' },
    location: {
      '@type': 'Place',
      name: 'Leisure Centre',
      geo: { '@type': 'GeoCoordinates', latitude: 51.5, longitude: -0.12 },
    },
    offers: [{ '@type': 'Offer', '@id': `${prefix}/series/${i}#/offers/adult`, price: 7.5, priceCurrency: 'GBP' }],
    ageRange: { '@type': 'QuantitativeValue', minValue: 16 },
    genderRestriction: 'https://openactive.io/NoRestriction',
    ...extra,
  };
}

function session(prefix: string, i: number, seriesIndex: number, extra: Record<string, unknown> = {}) {
  return {
    '@context': 'https://openactive.io/',
    '@type': 'ScheduledSession',
    '@id': `${prefix}/sessions/${i}`,
    superEvent: `${prefix}/series/${seriesIndex}`,
    startDate: '2026-12-01T18:00:00Z',
    endDate: '2026-12-01T19:00:00Z',
    remainingAttendeeCapacity: 5,
    maximumAttendeeCapacity: 20,
    ...extra,
  };
}

async function entities(publisherId: number) {
  return database.db
    .selectFrom('catalog_entities')
    .select(['oa_id', 'type', 'parent_oa_id', 'remaining_capacity', 'name'])
    .where('publisher_id', '=', publisherId)
    .orderBy('oa_id')
    .execute();
}

async function register(feeds: { name: string; kind: string }[]) {
  const { publisher, feeds: rows } = await catalog().addPublisher({
    name: `Publisher ${n}`,
    feeds: feeds.map((f) => ({ url: server.url(f.name), kind: f.kind })),
  });
  return { publisherId: publisher.id, feedIds: rows.map((r) => r.id) };
}

/** Only this test's feeds are due: other tests' feeds are pushed into the future. */
async function onlyDue(feedIds: number[]) {
  await database.db
    .updateTable('feeds')
    .set({ next_poll_at: new Date('2100-01-01') })
    .where('id', 'not in', feedIds)
    .execute();
}

beforeEach(() => {
  clock.advance(60_000);
});

describe('harvester', () => {
  it('harvests a publisher completely, joining sessions that arrive before their series', async () => {
    const { series: sf, sessions: ssf, prefix } = names();
    for (let i = 1; i <= 4; i += 1) server.put(sf, { id: `s${i}`, kind: 'SessionSeries', data: series(prefix, i) });
    for (let i = 1; i <= 10; i += 1)
      server.put(ssf, { id: `x${i}`, kind: 'ScheduledSession', data: session(prefix, i, ((i - 1) % 4) + 1) });
    // Sessions feed listed first: its items are stored before any series exists (orphans).
    const { publisherId, feedIds } = await register([
      { name: ssf, kind: 'ScheduledSession' },
      { name: sf, kind: 'SessionSeries' },
    ]);
    await onlyDue(feedIds);
    const results = await newHarvester().runOnce();
    expect(results.every((r) => r.caughtUp && !r.failed)).toBe(true);

    const rows = await entities(publisherId);
    expect(rows.filter((r) => r.type === 'SessionSeries')).toHaveLength(4);
    const sessions = rows.filter((r) => r.type === 'ScheduledSession');
    expect(sessions).toHaveLength(10);
    // every session is joined to an existing series
    const seriesIds = new Set(rows.filter((r) => r.type === 'SessionSeries').map((r) => r.oa_id));
    expect(sessions.every((s) => s.parent_oa_id !== null && seriesIds.has(s.parent_oa_id))).toBe(true);

    const yoga = await database.db
      .selectFrom('catalog_entities')
      .selectAll()
      .where('publisher_id', '=', publisherId)
      .where('oa_id', '=', `${prefix}/series/1`)
      .executeTakeFirstOrThrow();
    expect(yoga.activity_ids).toEqual([HATHA.id]);
    // a search for the broader "Yoga" must find Hatha Yoga
    expect(yoga.activity_match_ids).toContain(YOGA.id);
    expect(yoga.latitude).toBe(51.5);
    expect(Number(yoga.min_price)).toBe(7.5);
    expect(yoga.age_min).toBe(16);
    expect(yoga.gender_restriction).toBe('https://openactive.io/NoRestriction');
    expect(yoga.organizer_name).toBe('Leisure Trust');
  });

  it('applies updates and deletions on the next poll, and polls a caught-up feed only after the interval', async () => {
    const { series: sf, prefix } = names();
    for (let i = 1; i <= 5; i += 1) server.put(sf, { id: `s${i}`, kind: 'SessionSeries', data: series(prefix, i) });
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    await onlyDue(feedIds);
    const h = newHarvester();
    await h.runOnce();
    expect(await entities(publisherId)).toHaveLength(5);

    server.put(sf, { id: 's2', kind: 'SessionSeries', data: series(prefix, 2, { name: 'Renamed' }) });
    server.remove(sf, 's4');
    // Not due yet: the feed was caught up less than 8 s ago.
    expect(await h.dueFeedIds()).toEqual([]);
    clock.advance(8_000);
    await h.runOnce();
    const rows = await entities(publisherId);
    expect(rows.map((r) => r.oa_id)).toEqual([1, 2, 3, 5].map((i) => `${prefix}/series/${i}`));
    expect(rows.find((r) => r.oa_id.endsWith('/2'))!.name).toBe('Renamed');
    const raw = await database.db
      .selectFrom('catalog_items')
      .select('item_id')
      .where('feed_id', '=', feedIds[0]!)
      .execute();
    expect(raw.map((r) => r.item_id).sort()).toEqual(['s1', 's2', 's3', 's5']);

    const changes = await database.db
      .selectFrom('catalog_changes')
      .select(['oa_id', 'op'])
      .where('publisher_id', '=', publisherId)
      .where('op', '=', 'delete')
      .execute();
    expect(changes).toEqual([{ oa_id: `${prefix}/series/4`, op: 'delete' }]);
  });

  it('resumes after being stopped between any two pages without missing or repeating an item', async () => {
    const { series: sf, prefix } = names();
    for (let i = 1; i <= 17; i += 1)
      server.put(sf, { id: `s${String(i).padStart(2, '0')}`, kind: 'SessionSeries', data: series(prefix, i) });
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    await onlyDue(feedIds);
    // One page per "process lifetime": a new harvester each time, as after a crash.
    let walks = 0;
    for (;;) {
      walks += 1;
      const [r] = await newHarvester().runOnce({ maxPagesPerFeed: 1 });
      // churn while we are stopped: an item already harvested changes and moves to the end
      if (walks === 2) server.put(sf, { id: 's01', kind: 'SessionSeries', data: series(prefix, 1, { name: 'Moved' }) });
      if (r!.caughtUp || walks > 20) break;
    }
    const rows = await entities(publisherId);
    expect(rows).toHaveLength(17);
    expect(rows.find((r) => r.oa_id.endsWith('/series/1'))!.name).toBe('Moved');
    const feed = await database.db
      .selectFrom('feeds')
      .selectAll()
      .where('id', '=', feedIds[0]!)
      .executeTakeFirstOrThrow();
    expect(feed.items_updated).toBe(18);
    expect(feed.status).toBe('caught_up');
  });

  it('tolerates relative next URLs, duplicates across pages and tombstones without modified, recording each fault', async () => {
    const { series: sf, prefix } = names();
    for (let i = 1; i <= 7; i += 1) server.put(sf, { id: `s${i}`, kind: 'SessionSeries', data: series(prefix, i) });
    server.feed(sf).faults = { relativeNext: true, duplicateAcrossPages: true };
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    await onlyDue(feedIds);
    const h = newHarvester();
    await h.runOnce();
    expect(await entities(publisherId)).toHaveLength(7);

    server.remove(sf, 's3', { omitModified: true });
    clock.advance(10_000);
    await h.runOnce();
    expect((await entities(publisherId)).map((r) => r.oa_id)).not.toContain(`${prefix}/series/3`);

    const health = await catalog().feedHealth(publisherId);
    const faults = health[0]!.faults.map((f) => f.fault);
    expect(faults).toEqual(expect.arrayContaining(['relative_next', 'missing_modified']));
    const feed = await database.db
      .selectFrom('feeds')
      .selectAll()
      .where('id', '=', feedIds[0]!)
      .executeTakeFirstOrThrow();
    // duplicates were skipped as stale, not counted twice
    expect(feed.items_updated).toBe(7);
  });

  it('keeps harvesting healthy feeds while others fail, and reports the failures', async () => {
    const good = names();
    const bad = names();
    const slow = names();
    const junk = names();
    const loop = names();
    for (let i = 1; i <= 4; i += 1) {
      server.put(good.series, { id: `s${i}`, kind: 'SessionSeries', data: series(good.prefix, i) });
      server.put(loop.series, { id: `s${i}`, kind: 'SessionSeries', data: series(loop.prefix, i) });
    }
    server.put(bad.series, { id: 'a', kind: 'SessionSeries', data: series(bad.prefix, 1) });
    server.put(slow.series, { id: 'a', kind: 'SessionSeries', data: series(slow.prefix, 1) });
    server.put(junk.series, { id: 'a', kind: 'SessionSeries', data: series(junk.prefix, 1) });
    server.feed(bad.series).faults = { alwaysStatus: 500 };
    server.feed(slow.series).faults = { delayMs: 3000 };
    server.feed(junk.series).faults = { invalidJson: true };
    server.feed(loop.series).faults = { loopToStart: true };

    const { publisherId, feedIds } = await register([
      { name: bad.series, kind: 'SessionSeries' },
      { name: slow.series, kind: 'SessionSeries' },
      { name: junk.series, kind: 'SessionSeries' },
      { name: loop.series, kind: 'SessionSeries' },
      { name: good.series, kind: 'SessionSeries' },
    ]);
    await onlyDue(feedIds);
    const results = await newHarvester().runOnce();
    expect(results.map((r) => r.failed)).toEqual([true, true, true, false, false]);
    expect(results[3]!.caughtUp).toBe(true);

    const health = await catalog().feedHealth(publisherId);
    const byUrl = new Map(health.map((h) => [h.url, h]));
    expect(byUrl.get(server.url(bad.series))!.status).toBe('failing');
    expect(byUrl.get(server.url(bad.series))!.faults.map((f) => f.fault)).toEqual(['http_5xx']);
    expect(byUrl.get(server.url(slow.series))!.faults.map((f) => f.fault)).toEqual(['timeout']);
    expect(byUrl.get(server.url(junk.series))!.faults.map((f) => f.fault)).toEqual(['invalid_json']);
    expect(byUrl.get(server.url(loop.series))!.faults.map((f) => f.fault)).toEqual(['next_loop']);
    expect(byUrl.get(server.url(good.series))!.status).toBe('caught_up');
    expect(byUrl.get(server.url(bad.series))!.lastError).toMatch(/HTTP 500/);
    // the failing feed backs off rather than being retried immediately
    expect(new Date(byUrl.get(server.url(bad.series))!.nextPollAt).getTime()).toBeGreaterThan(clock.now().getTime());

    const rows = await entities(publisherId);
    expect(rows.filter((r) => r.oa_id.startsWith(good.prefix))).toHaveLength(4);
    expect(rows.filter((r) => r.oa_id.startsWith(loop.prefix))).toHaveLength(3);
  });

  it('records a 404 on a once-good feed and keeps what was harvested', async () => {
    const { series: sf, prefix } = names();
    server.put(sf, { id: 's1', kind: 'SessionSeries', data: series(prefix, 1) });
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    await onlyDue(feedIds);
    const h = newHarvester();
    await h.runOnce();
    server.feed(sf).faults = { alwaysStatus: 404 };
    clock.advance(10_000);
    const [r] = await h.runOnce();
    expect(r!.failed).toBe(true);
    const [health] = await catalog().feedHealth(publisherId);
    expect(health!.faults.map((f) => f.fault)).toEqual(['gone']);
    expect(await entities(publisherId)).toHaveLength(1);
    // back after the publisher fixes it
    server.feed(sf).faults = {};
    clock.advance(31 * 60_000);
    const [again] = await h.runOnce();
    expect(again!.caughtUp).toBe(true);
    const [healed] = await catalog().feedHealth(publisherId);
    expect(healed!.status).toBe('caught_up');
    expect(healed!.consecutiveFailures).toBe(0);
  });

  it('splits embedded objects: a FacilityUse with IndividualFacilityUses, and Slots joined to them', async () => {
    const k = names();
    const fuName = `fu-${n}`;
    const slotName = `slots-${n}`;
    const fu = (courts: number) => ({
      '@context': 'https://openactive.io/',
      '@type': 'FacilityUse',
      '@id': `${k.prefix}/fu/1`,
      name: 'Badminton',
      provider: { '@type': 'Organization', '@id': `${k.prefix}/org`, name: 'Trust' },
      location: { '@type': 'Place', name: 'Hall', geo: { latitude: 53.48, longitude: -2.24 } },
      individualFacilityUse: Array.from({ length: courts }, (_, i) => ({
        '@type': 'IndividualFacilityUse',
        '@id': `${k.prefix}/fu/1/ifu/${i + 1}`,
        name: `Court ${i + 1}`,
      })),
    });
    server.put(fuName, { id: 'fu1', kind: 'FacilityUse', data: fu(3) });
    for (let i = 1; i <= 3; i += 1) {
      server.put(slotName, {
        id: `slot${i}`,
        kind: 'Slot',
        data: {
          '@context': 'https://openactive.io/',
          '@type': 'Slot',
          '@id': `${k.prefix}/slots/${i}`,
          facilityUse: `${k.prefix}/fu/1/ifu/${i}`,
          startDate: '2026-12-02T10:00:00Z',
          duration: 'PT1H',
          remainingUses: 1,
          maximumUses: 1,
          offers: [{ '@type': 'Offer', '@id': `${k.prefix}/slots/${i}#/offers/1`, price: 10, priceCurrency: 'GBP' }],
        },
      });
    }
    const { publisherId, feedIds } = await register([
      { name: fuName, kind: 'FacilityUse' },
      { name: slotName, kind: 'Slot' },
    ]);
    await onlyDue(feedIds);
    const h = newHarvester();
    await h.runOnce();
    let rows = await entities(publisherId);
    expect(rows.filter((r) => r.type === 'IndividualFacilityUse').map((r) => r.parent_oa_id)).toEqual(
      Array(3).fill(`${k.prefix}/fu/1`),
    );
    expect(rows.filter((r) => r.type === 'Slot').map((r) => r.parent_oa_id)).toEqual(
      [1, 2, 3].map((i) => `${k.prefix}/fu/1/ifu/${i}`),
    );
    const slot = await database.db
      .selectFrom('catalog_entities')
      .select(['end_date', 'remaining_capacity'])
      .where('oa_id', '=', `${k.prefix}/slots/1`)
      .executeTakeFirstOrThrow();
    expect(slot.end_date?.toISOString()).toBe('2026-12-02T11:00:00.000Z');
    expect(slot.remaining_capacity).toBe(1);

    // A court removed from the FacilityUse disappears from the catalog.
    server.put(fuName, { id: 'fu1', kind: 'FacilityUse', data: fu(2) });
    clock.advance(10_000);
    await h.runOnce();
    rows = await entities(publisherId);
    expect(rows.filter((r) => r.type === 'IndividualFacilityUse')).toHaveLength(2);
    const gone = await database.db
      .selectFrom('catalog_changes')
      .select('oa_id')
      .where('publisher_id', '=', publisherId)
      .where('op', '=', 'delete')
      .execute();
    expect(gone.map((g) => g.oa_id)).toEqual([`${k.prefix}/fu/1/ifu/3`]);
  });

  it('keeps children of a deleted parent (they become orphans) and rejoins them when it returns', async () => {
    const { series: sf, sessions: ssf, prefix } = names();
    server.put(sf, { id: 's1', kind: 'SessionSeries', data: series(prefix, 1) });
    server.put(ssf, { id: 'x1', kind: 'ScheduledSession', data: session(prefix, 1, 1) });
    const { publisherId, feedIds } = await register([
      { name: sf, kind: 'SessionSeries' },
      { name: ssf, kind: 'ScheduledSession' },
    ]);
    await onlyDue(feedIds);
    const h = newHarvester();
    await h.runOnce();
    server.remove(sf, 's1');
    clock.advance(10_000);
    await h.runOnce();
    const orphans = await sql<{ oa_id: string }>`
      select c.oa_id from catalog_entities c
      where c.publisher_id = ${publisherId} and c.type = 'ScheduledSession'
        and not exists (select 1 from catalog_entities p where p.publisher_id = c.publisher_id and p.oa_id = c.parent_oa_id)`.execute(
      database.db,
    );
    expect(orphans.rows.map((r) => r.oa_id)).toEqual([`${prefix}/sessions/1`]);
    server.put(sf, { id: 's1', kind: 'SessionSeries', data: series(prefix, 1) });
    clock.advance(10_000);
    await h.runOnce();
    expect((await entities(publisherId)).map((r) => r.type).sort()).toEqual(['ScheduledSession', 'SessionSeries']);
  });
});

describe('applying a page', () => {
  async function feedRow(feedId: number) {
    return database.db.selectFrom('feeds').selectAll().where('id', '=', feedId).executeTakeFirstOrThrow();
  }
  async function changeCount(publisherId: number) {
    const r = await database.db
      .selectFrom('catalog_changes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('publisher_id', '=', publisherId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
  const updated = (id: string, modified: string, data: Record<string, unknown>): RpdeItem => ({
    id,
    state: 'updated',
    kind: String(data['@type']),
    modified,
    data,
  });
  const deleted = (id: string, modified: string | null): RpdeItem => ({
    id,
    state: 'deleted',
    kind: 'SessionSeries',
    modified,
    data: null,
  });

  it('keeps the newer copy of an item that appears twice on one page, in either order', async () => {
    const { series: sf, prefix } = names();
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    const feed = await feedRow(feedIds[0]!);
    const older = updated('s1', '10', series(prefix, 1, { name: 'Older' }));
    const newer = updated('s1', '11', series(prefix, 1, { name: 'Newer' }));
    const first = await applyPage(database.db, feed, [newer, older], vocab, clock.now());
    expect(first.updated).toBe(1);
    expect((await entities(publisherId)).map((e) => e.name)).toEqual(['Newer']);

    const newest = updated('s1', '13', series(prefix, 1, { name: 'Newest' }));
    const again = updated('s1', '12', series(prefix, 1, { name: 'Again' }));
    await applyPage(database.db, feed, [again, newest], vocab, clock.now());
    expect((await entities(publisherId)).map((e) => e.name)).toEqual(['Newest']);
    const item = await database.db
      .selectFrom('catalog_items')
      .select(['modified'])
      .where('feed_id', '=', feed.id)
      .executeTakeFirstOrThrow();
    expect(item.modified).toBe('13');
    // one upsert per write of the entity, none for the copies that lost
    expect(await changeCount(publisherId)).toBe(2);
  });

  it('writes nothing when a feed is harvested again from the start (unchanged items are skipped)', async () => {
    const { series: sf, prefix } = names();
    for (let i = 1; i <= 6; i += 1) server.put(sf, { id: `s${i}`, kind: 'SessionSeries', data: series(prefix, i) });
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    await onlyDue(feedIds);
    const h = newHarvester();
    await h.runOnce();
    const before = await database.db
      .selectFrom('catalog_items')
      .select(['item_id', 'harvested_at'])
      .where('feed_id', '=', feedIds[0]!)
      .orderBy('item_id')
      .execute();
    const changes = await changeCount(publisherId);
    expect(before).toHaveLength(6);

    // Back to the first page, as after a cursor reset.
    await database.db
      .updateTable('feeds')
      .set({ next_url: server.url(sf) })
      .where('id', '=', feedIds[0]!)
      .execute();
    clock.advance(10_000);
    const [r] = await h.runOnce();
    expect(r).toMatchObject({ caughtUp: true, updated: 0, deleted: 0 });
    expect(
      await database.db
        .selectFrom('catalog_items')
        .select(['item_id', 'harvested_at'])
        .where('feed_id', '=', feedIds[0]!)
        .orderBy('item_id')
        .execute(),
    ).toEqual(before);
    expect(await changeCount(publisherId)).toBe(changes);
    expect((await feedRow(feedIds[0]!)).items_updated).toBe(6);
  });

  it('ignores a tombstone for an item it never stored, and a stale one for an item it holds', async () => {
    const { series: sf, prefix } = names();
    const { publisherId, feedIds } = await register([{ name: sf, kind: 'SessionSeries' }]);
    const feed = await feedRow(feedIds[0]!);
    await applyPage(database.db, feed, [updated('s1', '5', series(prefix, 1))], vocab, clock.now());
    const changes = await changeCount(publisherId);
    const r = await applyPage(
      database.db,
      feed,
      [deleted('never-seen', '6'), deleted('s1', '4'), deleted('also-unknown', null)],
      vocab,
      clock.now(),
    );
    expect(r).toMatchObject({ updated: 0, deleted: 0, stale: 1 });
    expect((await entities(publisherId)).map((e) => e.oa_id)).toEqual([`${prefix}/series/1`]);
    expect(await changeCount(publisherId)).toBe(changes);
  });

  it('hands an embedded object over when its old holder is deleted on the same page as its new one', async () => {
    const k = names();
    const { publisherId, feedIds } = await register([{ name: `fu-${n}`, kind: 'FacilityUse' }]);
    const feed = await feedRow(feedIds[0]!);
    const fu = (i: number, courts: number[]) => ({
      '@type': 'FacilityUse',
      '@id': `${k.prefix}/fu/${i}`,
      name: `Hall ${i}`,
      individualFacilityUse: courts.map((c) => ({
        '@type': 'IndividualFacilityUse',
        '@id': `${k.prefix}/court/${c}`,
        name: `Court ${c}`,
      })),
    });
    await applyPage(
      database.db,
      feed,
      [updated('fu1', '1', fu(1, [1, 2])), updated('fu2', '2', fu(2, []))],
      vocab,
      clock.now(),
    );
    expect((await entities(publisherId)).map((e) => e.oa_id)).toHaveLength(4);

    // fu1 goes; court 1 moves to fu2 on the same page.
    const seq = await database.db
      .selectFrom('catalog_changes')
      .select((eb) => eb.fn.max('seq').as('seq'))
      .executeTakeFirstOrThrow();
    const r = await applyPage(
      database.db,
      feed,
      [deleted('fu1', '3'), updated('fu2', '4', fu(2, [1]))],
      vocab,
      clock.now(),
    );
    expect(r).toMatchObject({ updated: 1, deleted: 1 });
    const rows = await database.db
      .selectFrom('catalog_entities as e')
      .innerJoin('catalog_items as i', 'i.id', 'e.source_item_id')
      .select(['e.oa_id', 'e.parent_oa_id', 'i.item_id'])
      .where('e.publisher_id', '=', publisherId)
      .orderBy('e.oa_id')
      .execute();
    expect(rows).toEqual([
      { oa_id: `${k.prefix}/court/1`, parent_oa_id: `${k.prefix}/fu/2`, item_id: 'fu2' },
      { oa_id: `${k.prefix}/fu/2`, parent_oa_id: null, item_id: 'fu2' },
    ]);
    const items = await database.db
      .selectFrom('catalog_items')
      .select('item_id')
      .where('feed_id', '=', feed.id)
      .execute();
    expect(items.map((i) => i.item_id)).toEqual(['fu2']);
    const changes = await database.db
      .selectFrom('catalog_changes')
      .select(['oa_id', 'op'])
      .where('publisher_id', '=', publisherId)
      .where('seq', '>', Number(seq.seq))
      .orderBy('oa_id')
      .execute();
    expect(changes).toEqual([
      { oa_id: `${k.prefix}/court/1`, op: 'upsert' },
      { oa_id: `${k.prefix}/court/2`, op: 'delete' },
      { oa_id: `${k.prefix}/fu/1`, op: 'delete' },
      { oa_id: `${k.prefix}/fu/2`, op: 'upsert' },
    ]);
  });
});
