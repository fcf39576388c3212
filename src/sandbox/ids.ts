/**
 * The sandbox's identifiers: absolute URLs under its public URL, the way a real booking system
 * publishes them (openactive.md §3.1: `@id` is a stable global URI). Built at render time from
 * numeric row ids, and parsed back when a request names an opportunity, offer or seller.
 */
export interface SandboxUrls {
  base: string;
  seller(id: number): string;
  place(id: number): string;
  sessionSeries(id: number): string;
  scheduledSession(id: number): string;
  facilityUse(id: number): string;
  individualFacilityUse(facilityUseId: number, id: number): string;
  slot(facilityUseId: number, individualFacilityUseId: number, id: number): string;
  /** `{parent @id}#/offers/{offerId}` — the parent is the series for sessions, the slot for slots. */
  offer(parentId: string, offerId: number): string;
  /** Open Booking API base URI (dataset site `accessService.endpointUrl`; no trailing slash). */
  openBookingBase: string;
  datasetSite: string;
  feed(path: string): string;
}

export function sandboxUrls(publicUrl: string): SandboxUrls {
  const base = publicUrl.replace(/\/+$/, '');
  const ids = `${base}/api/identifiers`;
  return {
    base,
    seller: (id) => `${ids}/sellers/${id}`,
    place: (id) => `${ids}/places/${id}`,
    sessionSeries: (id) => `${ids}/session-series/${id}`,
    scheduledSession: (id) => `${ids}/scheduled-sessions/${id}`,
    facilityUse: (id) => `${ids}/facility-uses/${id}`,
    individualFacilityUse: (fid, id) => `${ids}/facility-uses/${fid}/individual-facility-uses/${id}`,
    slot: (fid, iid, id) => `${ids}/facility-uses/${fid}/individual-facility-uses/${iid}/slots/${id}`,
    offer: (parentId, offerId) => `${parentId}#/offers/${offerId}`,
    openBookingBase: `${base}/api/openbooking`,
    datasetSite: `${base}/openactive`,
    feed: (path) => `${base}/feeds/${path}`,
  };
}

export type ParsedId =
  | { kind: 'seller'; id: number }
  | { kind: 'place'; id: number }
  | { kind: 'session-series'; id: number }
  | { kind: 'scheduled-session'; id: number }
  | { kind: 'facility-use'; id: number }
  | { kind: 'individual-facility-use'; facilityUseId: number; id: number }
  | { kind: 'slot'; facilityUseId: number; individualFacilityUseId: number; id: number }
  | { kind: 'offer'; parent: Exclude<ParsedId, { kind: 'offer' }>; offerId: number };

const INT = '([1-9][0-9]{0,9})';
const PATTERNS: [RegExp, (m: RegExpExecArray) => ParsedId][] = [
  [new RegExp(`^/sellers/${INT}$`), (m) => ({ kind: 'seller', id: Number(m[1]) })],
  [new RegExp(`^/places/${INT}$`), (m) => ({ kind: 'place', id: Number(m[1]) })],
  [new RegExp(`^/session-series/${INT}$`), (m) => ({ kind: 'session-series', id: Number(m[1]) })],
  [new RegExp(`^/scheduled-sessions/${INT}$`), (m) => ({ kind: 'scheduled-session', id: Number(m[1]) })],
  [new RegExp(`^/facility-uses/${INT}$`), (m) => ({ kind: 'facility-use', id: Number(m[1]) })],
  [
    new RegExp(`^/facility-uses/${INT}/individual-facility-uses/${INT}$`),
    (m) => ({ kind: 'individual-facility-use', facilityUseId: Number(m[1]), id: Number(m[2]) }),
  ],
  [
    new RegExp(`^/facility-uses/${INT}/individual-facility-uses/${INT}/slots/${INT}$`),
    (m) => ({ kind: 'slot', facilityUseId: Number(m[1]), individualFacilityUseId: Number(m[2]), id: Number(m[3]) }),
  ],
];

/**
 * Parses one of our identifier URLs. Returns undefined for anything else: another host, another
 * path, ids out of range — callers turn that into the OpenActive "unknown …" error they need.
 */
export function parseSandboxId(urls: SandboxUrls, value: unknown): ParsedId | undefined {
  if (typeof value !== 'string') return undefined;
  const prefix = `${urls.base}/api/identifiers`;
  if (!value.startsWith(`${prefix}/`)) return undefined;
  const rest = value.slice(prefix.length);
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    const offer = /^#\/offers\/([1-9][0-9]{0,9})$/.exec(rest.slice(hash));
    if (!offer) return undefined;
    const parent = parseSandboxId(urls, value.slice(0, prefix.length + hash));
    if (!parent || parent.kind === 'offer') return undefined;
    return { kind: 'offer', parent, offerId: Number(offer[1]) };
  }
  for (const [re, build] of PATTERNS) {
    const m = re.exec(rest);
    if (m) {
      const parsed = build(m);
      const numbers = Object.values(parsed).filter((v): v is number => typeof v === 'number');
      return numbers.every((n) => n <= 2_147_483_647) ? parsed : undefined;
    }
  }
  return undefined;
}
