import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validationFailures } from '../../test/openactive-validators.js';
import { createSandboxTestContext, sharedVocab, type SandboxTestContext } from '../../test/sandbox-helpers.js';
import { ensureDataset } from './generator/generate.js';

let t: SandboxTestContext;

beforeAll(async () => {
  t = await createSandboxTestContext();
  await ensureDataset(t.database.db, sharedVocab(), { seed: 5, sessions: 30, slotDays: 1, now: new Date() });
}, 120_000);

afterAll(async () => {
  await t?.close();
});

function jsonLdOf(html: string): Record<string, any> {
  const m = /<script type="application\/ld\+json">([\s\S]*?)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!) as Record<string, any>;
}

describe('dataset site', () => {
  it('is an HTML page with a Dataset the data-model-validator accepts', async () => {
    const res = await t.request({ method: 'GET', url: '/openactive' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const dataset = jsonLdOf(res.body);
    expect(dataset['@context']).toEqual(['https://schema.org/', 'https://openactive.io/']);
    expect(dataset['@type']).toBe('Dataset');
    expect(await validationFailures(dataset, 'DatasetSite')).toEqual([]);
  });

  it('lists every feed and the Open Booking API the way the test suite reads them', async () => {
    const dataset = jsonLdOf((await t.request({ method: 'GET', url: '/openactive' })).body);
    expect(dataset.accessService.endpointUrl).toBe(`${t.urls.base}/api/openbooking`);
    expect(dataset.accessService.endpointUrl.endsWith('/')).toBe(false);
    expect(dataset.license).toBe('https://creativecommons.org/licenses/by/4.0/');
    const distribution = dataset.distribution as Record<string, string>[];
    expect(distribution.map((d) => [d.additionalType, d.contentUrl])).toEqual([
      ['https://openactive.io/SessionSeries', `${t.urls.base}/feeds/session-series`],
      ['https://openactive.io/ScheduledSession', `${t.urls.base}/feeds/scheduled-sessions`],
      ['https://openactive.io/FacilityUse', `${t.urls.base}/feeds/facility-uses`],
      ['https://openactive.io/Slot', `${t.urls.base}/feeds/individual-facility-use-slots`],
    ]);
    expect(new Set(distribution.map((d) => d.identifier)).size).toBe(distribution.length);
    for (const d of distribution) {
      expect(d.encodingFormat).toBe('application/vnd.openactive.rpde+json; version=1');
      const feed = await t.request({ method: 'GET', url: d.contentUrl!.replace(t.urls.base, '') });
      expect(feed.statusCode).toBe(200);
      expect(feed.json<{ items: unknown[] }>().items.length).toBeGreaterThan(0);
    }
  });

  it('reads as a real dataset page: operators, counts, feeds and booking details', async () => {
    const html = (await t.request({ method: 'GET', url: '/openactive' })).body;
    expect(html).toContain('Riverside Community Leisure');
    expect(html).toContain('Pennine Active');
    expect(html).toContain('upcoming sessions');
    expect(html).toContain(`${t.urls.base}/feeds/scheduled-sessions`);
    expect(html).toContain(`${t.urls.base}/api/openbooking`);
  });

  it('serves the images the data refers to', async () => {
    const res = await t.request({ method: 'GET', url: '/images/swimming.svg' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^image\/svg\+xml/);
    expect(res.body).toContain('Swimming');
    expect((await t.request({ method: 'GET', url: '/images/..%2Fsecret' })).statusCode).toBe(404);
  });

  it('has a real page behind every url in the published data', async () => {
    const found = new Set<string>();
    const collect = (value: unknown, key?: string): void => {
      if (Array.isArray(value)) value.forEach((v) => collect(v));
      else if (value && typeof value === 'object')
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) collect(v, k);
      else if (key === 'url' && typeof value === 'string' && value.startsWith(t.urls.base)) found.add(value);
    };
    for (const feed of ['session-series', 'scheduled-sessions', 'facility-uses', 'individual-facility-use-slots']) {
      collect((await t.request({ method: 'GET', url: `/feeds/${feed}` })).json());
    }
    const paths = [...found].map((u) => u.replace(t.urls.base, ''));
    for (const prefix of [
      '/sellers/',
      '/venues/',
      '/session-series/',
      '/scheduled-sessions/',
      '/facility-uses/',
      '/images/',
    ]) {
      expect(
        paths.some((p) => p.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
    for (const path of paths) {
      const res = await t.request({ method: 'GET', url: path });
      expect(res.statusCode, path).toBe(200);
      if (!path.startsWith('/images/')) {
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(res.body).toContain('<h1>');
      }
    }
    expect((await t.request({ method: 'GET', url: '/sellers/1/terms' })).body).toContain('terms and conditions');
    expect((await t.request({ method: 'GET', url: '/venues/99999' })).statusCode).toBe(404);
    expect((await t.request({ method: 'GET', url: '/session-series/abc' })).statusCode).toBe(400);
  });
});
