import type { FastifyPluginAsync } from 'fastify';
import type { SandboxDeps } from './app.js';
import { FEEDS } from './feeds.js';
import { FEED_LICENSE } from './feeds.routes.js';
import { renderSeller, withBase, type JsonObject } from './render.js';

export const PUBLISHER_NAME = 'Activehub Sandbox Leisure Network';

/** The validator's DateTime form: no fractional seconds. */
const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON for a <script> element: `</script>` and friends cannot close it early. */
const scriptJson = (value: unknown) =>
  JSON.stringify(value, null, 2).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/**
 * The dataset site's `Dataset` (openactive.md §1.15; data-models `Dataset`, `DataDownload`,
 * `WebAPI`, `BookingService`). The test suite reads `distribution` to find the feeds (by
 * `additionalType`) and `accessService.endpointUrl` for the Open Booking API base (no trailing
 * slash).
 */
export function datasetJsonLd(deps: SandboxDeps, dates: { published: Date; modified: Date }): JsonObject {
  const { urls } = deps;
  return {
    '@context': ['https://schema.org/', 'https://openactive.io/'],
    '@type': 'Dataset',
    '@id': urls.datasetSite,
    url: urls.datasetSite,
    name: `${PUBLISHER_NAME} Sessions and Facilities`,
    description:
      'Near real-time availability and rich descriptions of classes, swimming sessions and bookable courts and pitches at leisure centres in London, Manchester, Leeds, Bristol and Birmingham.',
    keywords: ['Sessions', 'Facilities', 'Activities', 'Sports', 'Physical Activity', 'OpenActive'],
    license: FEED_LICENSE,
    discussionUrl: `${urls.base}/openactive#contact`,
    documentation: 'https://permalink.openactive.io/dataset-site/open-data-documentation',
    inLanguage: ['en-GB'],
    schemaVersion: 'https://openactive.io/modelling-opportunity-data/2.0/',
    publisher: {
      '@type': 'Organization',
      name: PUBLISHER_NAME,
      legalName: `${PUBLISHER_NAME} Limited`,
      description: 'A demonstration booking system bundled with activehub: five operators, one Open Booking API.',
      url: `${urls.base}/openactive`,
      email: 'opendata@sandbox.example',
      logo: { '@type': 'ImageObject', url: `${urls.base}/images/logo-sandbox.svg` },
    },
    datePublished: isoSeconds(dates.published),
    dateModified: isoSeconds(dates.modified),
    backgroundImage: { '@type': 'ImageObject', url: `${urls.base}/images/venue-pool.svg` },
    distribution: FEEDS.map((feed) => ({
      '@type': 'DataDownload',
      name: feed.name,
      additionalType: feed.additionalType,
      encodingFormat: 'application/vnd.openactive.rpde+json; version=1',
      contentUrl: urls.feed(feed.path),
      identifier: feed.identifier,
    })),
    accessService: {
      '@type': 'WebAPI',
      name: 'Open Booking API',
      description: `API that allows for seamless booking experiences to be created for sessions and facilities available from ${PUBLISHER_NAME}.`,
      documentation: 'https://permalink.openactive.io/dataset-site/open-booking-api-documentation',
      termsOfService: 'https://openactive.io/open-booking-api/terms-of-service',
      endpointUrl: urls.openBookingBase,
      conformsTo: ['https://openactive.io/open-booking-api/EditorsDraft/'],
      endpointDescription: 'https://www.openactive.io/open-booking-api/EditorsDraft/swagger.json',
      landingPage: `${urls.base}/openactive#booking`,
    },
    bookingService: {
      '@type': 'BookingService',
      name: 'activehub sandbox booking system',
      url: `${urls.base}/openactive`,
      softwareVersion: '1.0',
    },
  };
}

interface FeedSummary {
  name: string;
  url: string;
  description: string;
}

function page(
  dataset: JsonObject,
  sellers: JsonObject[],
  feeds: FeedSummary[],
  counts: Record<string, number>,
): string {
  const publisher = dataset.publisher as JsonObject;
  const access = dataset.accessService as JsonObject;
  const feedRows = feeds
    .map(
      (f) =>
        `<tr><td><a href="${escapeHtml(f.url)}">${escapeHtml(f.name)}</a></td><td>${escapeHtml(f.description)}</td></tr>`,
    )
    .join('\n');
  const sellerItems = sellers
    .map(
      (s) =>
        `<li><strong>${escapeHtml(String(s.name))}</strong> — ${escapeHtml(typeof s.description === 'string' ? s.description : '')} <span class="muted">(${
          s.taxMode === 'https://openactive.io/TaxNet' ? 'prices exclude VAT' : 'prices include VAT'
        })</span></li>`,
    )
    .join('\n');
  const stat = (n: number | undefined, label: string) =>
    n === undefined ? '' : `<div class="stat"><b>${n.toLocaleString('en-GB')}</b><span>${label}</span></div>`;
  return `<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(String(dataset.name))}</title>
<script type="application/ld+json">
${scriptJson(dataset)}
</script>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2733; background: #f6f8fa; }
  header { background: #0b6e4f; color: #fff; padding: 2.5rem 1.5rem; }
  header h1 { margin: 0 0 .5rem; font-size: 1.8rem; }
  main { max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
  section { background: #fff; border-radius: 8px; padding: 1.25rem 1.5rem; margin-bottom: 1.25rem; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
  table { width: 100%; border-collapse: collapse; } td { padding: .45rem .3rem; border-top: 1px solid #e5e9ee; vertical-align: top; }
  code { background: #eef2f5; padding: .1rem .3rem; border-radius: 4px; }
  .stats { display: flex; gap: 1rem; flex-wrap: wrap; } .stat { background: #eef7f3; border-radius: 6px; padding: .6rem 1rem; }
  .stat b { display: block; font-size: 1.4rem; } .muted { color: #667; }
</style>
</head>
<body>
<header>
  <h1>${escapeHtml(String(dataset.name))}</h1>
  <p>${escapeHtml(String(dataset.description))}</p>
  <p>Published by ${escapeHtml(String(publisher.name))} under the <a style="color:#fff" href="${FEED_LICENSE}">Creative Commons Attribution 4.0</a> licence.</p>
</header>
<main>
<section>
  <h2>What is in this dataset</h2>
  <div class="stats">
    ${stat(counts.sessionSeries, 'regular classes and courses')}
    ${stat(counts.scheduledSessions, 'upcoming sessions')}
    ${stat(counts.facilityUses, 'bookable facilities')}
    ${stat(counts.slots, 'court and pitch slots')}
    ${stat(counts.places, 'venues')}
  </div>
</section>
<section>
  <h2>Open data feeds</h2>
  <p>Each feed is a <a href="https://openactive.io/realtime-paged-data-exchange/">Realtime Paged Data Exchange (RPDE)</a> feed. Start at the first page and follow <code>next</code>; items are ordered by <code>modified</code> and <code>id</code>, and deletions appear as items with <code>"state": "deleted"</code>.</p>
  <table>${feedRows}</table>
</section>
<section id="booking">
  <h2>Booking</h2>
  <p>Sessions and slots can be booked through the <a href="https://openactive.io/open-booking-api/EditorsDraft/">OpenActive Open Booking API</a> at <code>${escapeHtml(String(access.endpointUrl))}</code> (simple booking flow; header-based booking partner credentials in this sandbox).</p>
</section>
<section>
  <h2>Operators</h2>
  <ul>${sellerItems}</ul>
</section>
<section id="contact">
  <h2>Contact</h2>
  <p>Questions about this data: <a href="mailto:${escapeHtml(String(publisher.email))}">${escapeHtml(String(publisher.email))}</a>. This is a sandbox: the venues and organisations are fictional and bookings are not real.</p>
</section>
</main>
</body>
</html>`;
}

const FEED_DESCRIPTIONS: Record<string, string> = {
  SessionSeries: 'Regular classes and courses: what, where, who runs them, prices and weekly timetable.',
  ScheduledSession: 'Individual sessions of those classes, with start times and live remaining spaces.',
  FacilityUse:
    'Bookable facilities (badminton and squash courts, 3G pitches, tennis courts) with their individual courts.',
  IndividualFacilityUseSlot: 'Bookable slots on each individual court or pitch, with prices and availability.',
};

/** `GET /openactive`: the dataset site (HTML with embedded Dataset JSON-LD). */
export function datasetSiteRoutes(deps: SandboxDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/openactive', async (_request, reply) => {
      const [meta, sellers] = await Promise.all([
        deps.db.selectFrom('sandbox_meta').select('value').where('key', '=', 'dataset').executeTakeFirst(),
        deps.db.selectFrom('sellers').selectAll().where('deleted', '=', false).orderBy('id').execute(),
      ]);
      const info = meta?.value as { generatedAt?: string; counts?: Record<string, number> } | undefined;
      const now = deps.clock.now();
      const dataset = datasetJsonLd(deps, {
        published: info?.generatedAt ? new Date(info.generatedAt) : now,
        modified: now,
      });
      const html = page(
        dataset,
        sellers.map((s) => withBase(renderSeller(deps.urls, s), deps.urls.base)),
        FEEDS.map((f) => ({
          name: f.name,
          url: deps.urls.feed(f.path),
          description: FEED_DESCRIPTIONS[f.identifier] ?? '',
        })),
        info?.counts ?? {},
      );
      void reply.header('cache-control', 'public, max-age=300');
      await reply.type('text/html; charset=utf-8').send(html);
    });
  };
}
