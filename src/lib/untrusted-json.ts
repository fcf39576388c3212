/*
 * Limits on JSON that arrives from someone else (publishers' feed items), checked in one pass
 * before anything is stored, so that no single item can fail the write of the page it is on, blow
 * the stack of a recursive reader later, or put a megabyte name into every search answer:
 *
 * - nesting deeper than `maxDepth` → the item is refused (`too_deep`);
 * - an `@id`/`id`/`@type`/`type` longer than `maxIdBytes` (UTF-8) → refused (`invalid_id`):
 *   they become indexed keys, and PostgreSQL's b-tree entries are limited to ~2.7 kB;
 *   altogether more than `maxItemChars` characters of text → refused (`item_too_large`);
 * - NUL characters (which PostgreSQL's text and jsonb cannot hold) and unpaired surrogates
 *   (which jsonb rejects) → replaced by U+FFFD (`invalid_text`), in keys as in values;
 * - text longer than its cap (names 500, descriptions 5,000, anything else 2,000 characters) →
 *   cut, ending in "…" (`text_truncated`);
 * - link-valued properties (`url`, `image`, `logo`, `sameAs`, `@id`, `*Url`, references such as
 *   `superEvent` or `organizer` given as a string …) with a scheme other than http(s) —
 *   `javascript:`, `data:`, `vbscript:`, `file:` … → removed (`non_http_url`), so no reader (a
 *   broker rendering search results as links) is handed one.
 */

export interface JsonLimits {
  maxDepth: number;
  maxIdBytes: number;
  nameChars: number;
  longTextChars: number;
  stringChars: number;
  maxItemChars: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = {
  maxDepth: 32,
  maxIdBytes: 1000,
  nameChars: 500,
  longTextChars: 5000,
  stringChars: 2000,
  maxItemChars: 1_000_000,
};

export type RefusalFault = 'too_deep' | 'invalid_id' | 'item_too_large';
export type RepairFault = 'invalid_text' | 'text_truncated' | 'non_http_url';

export type JsonVerdict =
  | { ok: true; value: Record<string, unknown>; repairs: RepairFault[] }
  | { ok: false; fault: RefusalFault; message: string };

const NAME_KEYS = new Set(['name', 'alternateName', 'prefLabel', 'altLabel', 'legalName', 'givenName', 'familyName']);
const LONG_TEXT_KEYS = new Set([
  'description',
  'disambiguatingDescription',
  'attendeeInstructions',
  'accessibilityInformation',
  'schedulingNote',
  'meetingPoint',
  'text',
]);
const KEY_KEYS = new Set(['@id', 'id', '@type', 'type']);
const LINK_KEYS = new Set([
  '@id',
  'id',
  'url',
  'image',
  'logo',
  'sameAs',
  'hasMap',
  'superEvent',
  'subEvent',
  'facilityUse',
  'aggregateFacilityUse',
  'individualFacilityUse',
  'organizer',
  'provider',
  'seller',
  'mainEntityOfPage',
]);

const isLinkKey = (key: string) => LINK_KEYS.has(key) || key.endsWith('Url') || key.endsWith('URL');

/** The scheme a browser would see: leading controls and spaces skipped, tabs and newlines ignored. */
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
export function linkScheme(value: string): string | null {
  if (/^https?:\/\//i.test(value)) return value.slice(0, value.indexOf(':')).toLowerCase();
  // eslint-disable-next-line no-control-regex
  const cleaned = value.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+/, '');
  return SCHEME.exec(cleaned)?.[1]!.toLowerCase() ?? null;
}

/** True for a value a link may carry: no scheme (relative) or http(s). */
export function isSafeLink(value: string): boolean {
  const scheme = linkScheme(value);
  return scheme === null || scheme === 'http' || scheme === 'https';
}

/** NUL characters and unpaired surrogates replaced by U+FFFD. */
export function repairText(value: string): string {
  const out = value.includes('\u0000') ? value.replaceAll('\u0000', '\ufffd') : value;
  return out.isWellFormed() ? out : out.toWellFormed();
}

/** At most `max` characters (UTF-16 units), ending in "…", never splitting a surrogate pair. */
export function truncateText(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = Math.max(0, max - 1);
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${value.slice(0, end)}…`;
}

/**
 * Text safe to store and show in a log or fault message: repaired, cut to `max`, and — since it
 * may be a publisher's id — quoted as JSON so control characters stay visible.
 */
export function quoteUntrusted(value: string, max = 120): string {
  return JSON.stringify(truncateText(repairText(value), max));
}

/** More than `max` bytes in UTF-8 (a UTF-16 unit is at most 3 bytes, so short strings skip the count). */
export const exceedsBytes = (s: string, max: number) => s.length * 3 > max && Buffer.byteLength(s) > max;

class Refused extends Error {
  constructor(
    readonly fault: RefusalFault,
    message: string,
  ) {
    super(message);
  }
}

const DROP = Symbol('drop');

/** Checks and repairs one item's data (see the top of this file). Never throws. */
export function checkJson(data: Record<string, unknown>, limits: JsonLimits = DEFAULT_JSON_LIMITS): JsonVerdict {
  let chars = 0;
  const repairs = new Set<RepairFault>();

  const text = (s: string, key: string): string | typeof DROP => {
    if (KEY_KEYS.has(key) && exceedsBytes(s, limits.maxIdBytes)) {
      throw new Refused('invalid_id', `"${key}" of ${Buffer.byteLength(s)} bytes (limit ${limits.maxIdBytes})`);
    }
    let out = s;
    if (out.includes('\u0000') || !out.isWellFormed()) {
      out = repairText(out);
      repairs.add('invalid_text');
    }
    if (isLinkKey(key) && !isSafeLink(out)) {
      repairs.add('non_http_url');
      return DROP;
    }
    const cap = NAME_KEYS.has(key)
      ? limits.nameChars
      : LONG_TEXT_KEYS.has(key)
        ? limits.longTextChars
        : limits.stringChars;
    if (out.length > cap) {
      // A link cut short would point somewhere else: it goes instead.
      if (isLinkKey(key)) {
        repairs.add('non_http_url');
        return DROP;
      }
      out = truncateText(out, cap);
      repairs.add('text_truncated');
    }
    chars += out.length;
    return out;
  };

  const walk = (v: unknown, key: string, depth: number): unknown => {
    if (typeof v === 'string') return text(v, key);
    if (v === null || typeof v !== 'object') {
      chars += 8;
      return v;
    }
    if (depth >= limits.maxDepth) throw new Refused('too_deep', `nested deeper than ${limits.maxDepth} levels`);
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i += 1) {
        const r = walk(v[i], key, depth + 1);
        if (out === undefined && r !== v[i]) out = v.slice(0, i);
        if (out !== undefined && r !== DROP) out.push(r);
      }
      chars += v.length;
      return out ?? v;
    }
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj);
    let out: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i += 1) {
      const k = keys[i]!;
      let name = k;
      if (k.includes('\u0000') || !k.isWellFormed()) {
        name = repairText(k);
        repairs.add('invalid_text');
      }
      chars += name.length;
      const colon = name.indexOf(':');
      const local = colon > 0 && name[0] !== '@' ? name.slice(colon + 1) : name;
      const child = obj[k];
      const r = walk(child, local, depth + 1);
      if (out === undefined && (r !== child || name !== k)) {
        out = {};
        for (let j = 0; j < i; j += 1) out[keys[j]!] = obj[keys[j]!];
      }
      if (out !== undefined && r !== DROP) out[name] = r;
    }
    if (chars > limits.maxItemChars) {
      throw new Refused('item_too_large', `more than ${limits.maxItemChars} characters of text`);
    }
    return out ?? obj;
  };

  try {
    const value = walk(data, '', 0) as Record<string, unknown>;
    return { ok: true, value, repairs: [...repairs] };
  } catch (err) {
    if (err instanceof Refused) return { ok: false, fault: err.fault, message: err.message };
    throw err;
  }
}
