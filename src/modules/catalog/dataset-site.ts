import { checkJson } from '../../lib/untrusted-json.js';

/**
 * Reads an OpenActive dataset site (openactive.md §1.15): the HTML page embeds a `Dataset` in a
 * JSON-LD script; its `distribution` lists the RPDE feeds and `accessService.endpointUrl` is the
 * Open Booking API base. A bare JSON Dataset document is accepted too.
 */
export interface DiscoveredDataset {
  name: string;
  description: string | null;
  url: string | null;
  license: string | null;
  publisherName: string | null;
  publisherUrl: string | null;
  logoUrl: string | null;
  bookingEndpointUrl: string | null;
  feeds: { url: string; kind: string }[];
  dataset: Record<string, unknown>;
}

export const FEED_KINDS = [
  'SessionSeries',
  'ScheduledSession',
  'FacilityUse',
  'IndividualFacilityUse',
  'Slot',
  'CourseInstance',
  'Course',
  'EventSeries',
  'Event',
  'HeadlineEvent',
  'OnDemandEvent',
] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : null);

function decodeEntities(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function findDataset(value: unknown): Obj | null {
  if (Array.isArray(value)) {
    for (const v of value) {
      const d = findDataset(v);
      if (d) return d;
    }
    return null;
  }
  if (!isObj(value)) return null;
  const type = value['@type'] ?? value.type;
  if (type === 'Dataset' || (Array.isArray(type) && type.includes('Dataset'))) return value;
  if (Array.isArray(value['@graph'])) return findDataset(value['@graph']);
  return null;
}

/** The feed kind of a DataDownload from its `additionalType` (a type URL) or its identifier. */
export function feedKind(download: Obj): string | null {
  const type = str(download.additionalType)
    ?.replace(/^https?:\/\/(openactive\.io|schema\.org)\//, '')
    .replace(/^(oa|schema):/, '');
  if (type && (FEED_KINDS as readonly string[]).includes(type)) return type;
  const id = str(download.identifier) ?? str(download.name);
  if (id) {
    const compact = id.replace(/[^A-Za-z]/g, '').toLowerCase();
    if (compact.endsWith('slot') || compact.endsWith('slots')) return 'Slot';
    const match = FEED_KINDS.find((k) => compact === k.toLowerCase() || compact === `${k.toLowerCase()}s`);
    if (match) return match;
  }
  return null;
}

export function parseDatasetSite(body: string, pageUrl: string): DiscoveredDataset {
  let dataset: Obj | null = null;
  const trimmed = body.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      dataset = findDataset(JSON.parse(trimmed));
    } catch {
      dataset = null;
    }
  }
  if (!dataset) {
    const scripts = body.matchAll(/<script[^>]*type\s*=\s*["']application\/ld\+json["'][^>]*>([\s\S]*?)<\/script>/gi);
    for (const m of scripts) {
      const raw = m[1]!.trim();
      for (const candidate of [raw, decodeEntities(raw)]) {
        try {
          dataset = findDataset(JSON.parse(candidate));
        } catch {
          dataset = null;
        }
        if (dataset) break;
      }
      if (dataset) break;
    }
  }
  if (!dataset) throw new Error('No Dataset JSON-LD found on the page');
  // The publisher's document is held to the limits of its feed items (repaired text, capped
  // lengths, no non-http(s) links) before anything is taken from it or stored.
  const checked = checkJson(dataset);
  if (!checked.ok) throw new Error(`The Dataset cannot be used: ${checked.message}`);
  dataset = checked.value;

  const feeds: { url: string; kind: string }[] = [];
  const distribution = Array.isArray(dataset.distribution)
    ? dataset.distribution
    : dataset.distribution
      ? [dataset.distribution]
      : [];
  for (const d of distribution) {
    if (!isObj(d)) continue;
    const contentUrl = str(d.contentUrl);
    const kind = feedKind(d);
    if (!contentUrl || !kind) continue;
    try {
      feeds.push({ url: new URL(contentUrl, pageUrl).toString(), kind });
    } catch {
      // not a URL: skipped
    }
  }
  const publisher = isObj(dataset.publisher) ? dataset.publisher : null;
  const logo = publisher && isObj(publisher.logo) ? str(publisher.logo.url) : publisher ? str(publisher.logo) : null;
  const access = isObj(dataset.accessService) ? dataset.accessService : null;
  return {
    name: str(dataset.name) ?? new URL(pageUrl).host,
    description: str(dataset.description),
    url: str(dataset.url) ?? pageUrl,
    license: str(dataset.license),
    publisherName: publisher ? str(publisher.name) : null,
    publisherUrl: publisher ? str(publisher.url) : null,
    logoUrl: logo,
    bookingEndpointUrl: access ? str(access.endpointUrl) : null,
    feeds,
    dataset,
  };
}
