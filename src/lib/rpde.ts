/**
 * Reading RPDE 1.0 pages defensively (openactive.md §2): the page is checked, `next` resolved,
 * and every deviation reported as a named fault instead of failing the page, so a harvester can
 * keep going on imperfect real-world feeds and record what it saw.
 */
export type RpdeFault =
  | 'invalid_json'
  | 'invalid_page'
  | 'relative_next'
  | 'invalid_item'
  | 'duplicate_item'
  | 'out_of_order'
  | 'missing_modified'
  | 'next_loop';

export interface RpdeItem {
  id: string;
  state: 'updated' | 'deleted';
  kind: string;
  /** As published (string form, lossless enough to compare and report). */
  modified: string | null;
  data: Record<string, unknown> | null;
}

export interface RpdePage {
  next: string;
  items: RpdeItem[];
  license: string | undefined;
  /** RPDE's last-page rule: no items and `next` equal to the URL just requested. */
  isLastPage: boolean;
  faults: { fault: RpdeFault; message: string }[];
}

export class RpdePageError extends Error {
  constructor(
    readonly fault: RpdeFault,
    message: string,
  ) {
    super(message);
    this.name = 'RpdePageError';
  }
}

/** Compares two `modified` values: numerically when both are numbers, else as text. */
export function compareModified(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb)) {
    if (na !== nb) return na < nb ? -1 : 1;
    // Equal as doubles but maybe not as text (values beyond 2^53): fall back to length + text.
    if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function normaliseUrl(url: string): string {
  try {
    return new URL(url).toString();
  } catch {
    return url;
  }
}

export function parseRpdePage(text: string, requestedUrl: string): RpdePage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new RpdePageError('invalid_json', `Page is not valid JSON: ${(err as Error).message}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new RpdePageError('invalid_page', 'Page is not a JSON object');
  }
  const page = body as Record<string, unknown>;
  if (!Array.isArray(page.items)) throw new RpdePageError('invalid_page', 'Page has no "items" array');
  if (typeof page.next !== 'string' || page.next === '') {
    throw new RpdePageError('invalid_page', 'Page has no "next" URL');
  }
  const faults: RpdePage['faults'] = [];
  let next: string;
  try {
    new URL(page.next);
    next = page.next;
  } catch {
    // RPDE requires an absolute `next`; a relative one is resolved against the page's URL.
    try {
      next = new URL(page.next, requestedUrl).toString();
      faults.push({ fault: 'relative_next', message: `Relative next URL "${page.next.slice(0, 200)}"` });
    } catch {
      throw new RpdePageError('invalid_page', `"next" is not a URL: ${page.next.slice(0, 200)}`);
    }
  }

  const byId = new Map<string, RpdeItem>();
  let previous: string | null = null;
  for (const raw of page.items) {
    const item = raw as Record<string, unknown> | null;
    const id = item && (typeof item.id === 'string' || typeof item.id === 'number') ? String(item.id) : null;
    const state = item?.state;
    if (!item || id === null || id === '' || (state !== 'updated' && state !== 'deleted')) {
      faults.push({
        fault: 'invalid_item',
        message: `Item without a usable id/state: ${JSON.stringify(raw)?.slice(0, 200)}`,
      });
      continue;
    }
    const modified =
      typeof item.modified === 'number' || (typeof item.modified === 'string' && item.modified !== '')
        ? String(item.modified)
        : null;
    if (modified === null) {
      if (state === 'deleted') {
        faults.push({ fault: 'missing_modified', message: `Deleted item ${id} has no "modified"` });
      } else {
        faults.push({ fault: 'invalid_item', message: `Updated item ${id} has no "modified"` });
        continue;
      }
    }
    const data =
      item.data && typeof item.data === 'object' && !Array.isArray(item.data)
        ? (item.data as Record<string, unknown>)
        : null;
    if (state === 'updated' && !data) {
      faults.push({ fault: 'invalid_item', message: `Updated item ${id} has no "data" object` });
      continue;
    }
    if (modified !== null && previous !== null && compareModified(modified, previous) < 0) {
      faults.push({
        fault: 'out_of_order',
        message: `Item ${id} (modified ${modified}) comes after modified ${previous}`,
      });
    }
    if (modified !== null) previous = modified;
    const parsed: RpdeItem = {
      id,
      state,
      kind: typeof item.kind === 'string' ? item.kind : '',
      modified,
      data: state === 'updated' ? data : null,
    };
    const seen = byId.get(id);
    if (seen) {
      faults.push({ fault: 'duplicate_item', message: `Item ${id} appears twice on one page` });
      // Keep the newer of the two.
      if (seen.modified !== null && modified !== null && compareModified(modified, seen.modified) < 0) continue;
    }
    byId.set(id, parsed);
  }
  const items = [...byId.values()];
  const isLastPage = items.length === 0 && page.items.length === 0 && normaliseUrl(next) === normaliseUrl(requestedUrl);
  if (page.items.length > 0 && normaliseUrl(next) === normaliseUrl(requestedUrl)) {
    faults.push({ fault: 'next_loop', message: 'A page with items points "next" at itself' });
  }
  return {
    next,
    items,
    license: typeof page.license === 'string' ? page.license : undefined,
    isLastPage,
    faults,
  };
}
