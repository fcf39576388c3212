import {
  checkJson,
  DEFAULT_JSON_LIMITS,
  exceedsBytes,
  quoteUntrusted,
  repairText,
  type JsonLimits,
  type RefusalFault,
  type RepairFault,
} from './untrusted-json.js';

/**
 * Reading RPDE 1.0 pages defensively (openactive.md §2): the page is checked, `next` resolved,
 * and every deviation reported as a named fault instead of failing the page, so a harvester can
 * keep going on imperfect real-world feeds and record what it saw. Every item is held to the
 * limits of `untrusted-json.ts` here, in one pass, before anyone stores it: an item that breaks
 * them is left out (`invalid_id`, `too_deep`, `item_too_large`) or repaired (`invalid_text`,
 * `text_truncated`, `non_http_url`), each a fault naming the item.
 */
export type RpdeFault =
  | 'invalid_json'
  | 'invalid_page'
  | 'relative_next'
  | 'invalid_item'
  | 'duplicate_item'
  | 'out_of_order'
  | 'missing_modified'
  | 'next_loop'
  | RefusalFault
  | RepairFault;

/** Longest `next` URL followed, and longest `modified` and `kind` values taken. */
const MAX_NEXT_CHARS = 8000;
const MAX_MODIFIED_CHARS = 200;
const MAX_KIND_CHARS = 200;

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

/** A short printable description of anything JSON.parse made, without walking into it. */
function preview(raw: unknown): string {
  if (Array.isArray(raw)) return `an array of ${raw.length}`;
  if (raw !== null && typeof raw === 'object') {
    const keys = Object.keys(raw);
    return `an object with keys ${quoteUntrusted(keys.slice(0, 10).join(', '), 200)}${keys.length > 10 ? ' …' : ''}`;
  }
  return quoteUntrusted(JSON.stringify(raw) ?? String(raw), 200);
}

const REPAIRED: Record<RepairFault, string> = {
  invalid_text: 'NUL characters or unpaired surrogates replaced by U+FFFD',
  text_truncated: 'text over its length limit cut short',
  non_http_url: 'links with a scheme other than http(s) removed',
};

export function parseRpdePage(text: string, requestedUrl: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): RpdePage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new RpdePageError('invalid_json', `Page is not valid JSON: ${quoteUntrusted((err as Error).message, 200)}`);
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
  if (page.next.length > MAX_NEXT_CHARS) {
    throw new RpdePageError('invalid_page', `"next" is longer than ${MAX_NEXT_CHARS} characters`);
  }
  // Kept in its parsed form (percent-encoded): what is stored as the cursor is what is fetched.
  let next: string;
  if (URL.canParse(page.next)) {
    next = new URL(page.next).toString();
  } else if (URL.canParse(page.next, requestedUrl)) {
    // RPDE requires an absolute `next`; a relative one is resolved against the page's URL.
    next = new URL(page.next, requestedUrl).toString();
    faults.push({ fault: 'relative_next', message: `Relative next URL ${quoteUntrusted(page.next, 200)}` });
  } else {
    throw new RpdePageError('invalid_page', `"next" is not a URL: ${quoteUntrusted(page.next, 200)}`);
  }

  const byId = new Map<string, RpdeItem>();
  let previous: string | null = null;
  for (const raw of page.items) {
    const item =
      raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
    const rawId = item?.id;
    const id = typeof rawId === 'string' || typeof rawId === 'number' ? String(rawId) : null;
    const state = item?.state;
    if (!item || id === null || id === '' || (state !== 'updated' && state !== 'deleted')) {
      faults.push({
        fault: 'invalid_item',
        message: `Item without a usable id/state: ${preview(raw)}`,
      });
      continue;
    }
    // Ids are keys (catalog_items is unique by feed and id): one that cannot be stored exactly
    // is refused rather than repaired into some other item's id.
    if (exceedsBytes(id, limits.maxIdBytes) || id.includes('\u0000') || !id.isWellFormed()) {
      faults.push({
        fault: 'invalid_id',
        message: `Item ${quoteUntrusted(id)}: an RPDE id must be at most ${limits.maxIdBytes} bytes of text without NUL characters or unpaired surrogates`,
      });
      continue;
    }
    const shown = quoteUntrusted(id);
    let modified =
      typeof item.modified === 'number' || (typeof item.modified === 'string' && item.modified !== '')
        ? String(item.modified)
        : null;
    if (modified !== null && modified.length > MAX_MODIFIED_CHARS) {
      faults.push({
        fault: 'invalid_item',
        message: `Item ${shown} has a "modified" of ${modified.length} characters`,
      });
      continue;
    }
    if (modified !== null) modified = repairText(modified);
    if (modified === null) {
      if (state === 'deleted') {
        faults.push({ fault: 'missing_modified', message: `Deleted item ${shown} has no "modified"` });
      } else {
        faults.push({ fault: 'invalid_item', message: `Updated item ${shown} has no "modified"` });
        continue;
      }
    }
    let data =
      item.data && typeof item.data === 'object' && !Array.isArray(item.data)
        ? (item.data as Record<string, unknown>)
        : null;
    if (state === 'updated' && !data) {
      faults.push({ fault: 'invalid_item', message: `Updated item ${shown} has no "data" object` });
      continue;
    }
    if (state === 'updated') {
      const verdict = checkJson(data!, limits);
      if (!verdict.ok) {
        faults.push({ fault: verdict.fault, message: `Item ${shown} left out: ${verdict.message}` });
        continue;
      }
      data = verdict.value;
      for (const repair of verdict.repairs)
        faults.push({ fault: repair, message: `Item ${shown}: ${REPAIRED[repair]}` });
    }
    if (modified !== null && previous !== null && compareModified(modified, previous) < 0) {
      faults.push({
        fault: 'out_of_order',
        message: `Item ${shown} (modified ${quoteUntrusted(modified)}) comes after modified ${quoteUntrusted(previous)}`,
      });
    }
    if (modified !== null) previous = modified;
    const parsed: RpdeItem = {
      id,
      state,
      kind: typeof item.kind === 'string' ? repairText(item.kind.slice(0, MAX_KIND_CHARS)) : '',
      modified,
      data: state === 'updated' ? data : null,
    };
    const seen = byId.get(id);
    if (seen) {
      faults.push({ fault: 'duplicate_item', message: `Item ${shown} appears twice on one page` });
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
