import dns from 'node:dns';
import net from 'node:net';
import { Agent, buildConnector } from 'undici';

/*
 * One policy for every outbound request to an address someone else chose: publishers' dataset
 * sites, RPDE pages and their `next` links, booking endpoints and Orders feeds (later brokers'
 * webhooks). Only http(s); no loopback, private, link-local, CGNAT, unique-local, multicast,
 * unspecified or cloud-metadata addresses unless the operator allows them.
 *
 * The address checked is the address connected to: URLs are checked before each request (and
 * each redirect hop), and the connection itself resolves the host name through a lookup that
 * refuses the whole name if any address it resolves to is refused. So a public-looking name that
 * resolves (or re-resolves, DNS rebinding) to 127.0.0.1 is refused at the socket, and an IP
 * literal is refused before any socket is opened.
 */

export type AddressClass =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared' // CGNAT 100.64.0.0/10
  | 'unique-local'
  | 'metadata'
  | 'multicast'
  | 'unspecified'
  | 'reserved';

/** Classes OUTBOUND_ALLOW_PRIVATE opens; metadata, multicast and unspecified stay closed. */
const PRIVATE_CLASSES = new Set<AddressClass>([
  'loopback',
  'private',
  'link-local',
  'shared',
  'unique-local',
  'reserved',
]);

const DESCRIPTION: Record<AddressClass, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address',
  shared: 'a shared (CGNAT) address',
  'unique-local': 'a unique-local address',
  metadata: 'a cloud metadata address',
  multicast: 'a multicast or broadcast address',
  unspecified: 'an unspecified address',
  reserved: 'a reserved or documentation address',
};

export class OutboundBlockedError extends Error {
  readonly code = 'OUTBOUND_BLOCKED';
  constructor(
    message: string,
    readonly url: string,
  ) {
    super(message);
    this.name = 'OutboundBlockedError';
  }
}

export const isOutboundBlocked = (e: unknown): e is OutboundBlockedError => e instanceof OutboundBlockedError;

// ---- address classes --------------------------------------------------------------------------

function parseV4(address: string): number[] | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : null;
}

/** The 16 bytes of an IPv6 address (with an embedded dotted quad allowed), or null. */
function parseV6(address: string): number[] | null {
  let text = address.replace(/%.*$/, ''); // zone id
  let tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = parseV4(dotted[1]!);
    if (!v4) return null;
    tail = v4;
    text = `${text.slice(0, -dotted[1]!.length)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const group = (s: string) => (s === '' ? [] : s.split(':'));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const words = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const w of words) {
    if (!/^[0-9a-f]{1,4}$/i.test(w)) return null;
    const v = parseInt(w, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

type Range = [prefix: number[], bits: number, cls: AddressClass];

const V4_RANGES: Range[] = [
  [[169, 254, 169, 254], 32, 'metadata'], // AWS, GCP, Azure, OpenStack …
  [[100, 100, 100, 200], 32, 'metadata'], // Alibaba Cloud
  [[0, 0, 0, 0], 8, 'unspecified'],
  [[10, 0, 0, 0], 8, 'private'],
  [[100, 64, 0, 0], 10, 'shared'],
  [[127, 0, 0, 0], 8, 'loopback'],
  [[169, 254, 0, 0], 16, 'link-local'],
  [[172, 16, 0, 0], 12, 'private'],
  [[192, 0, 0, 0], 24, 'reserved'],
  [[192, 0, 2, 0], 24, 'reserved'],
  [[192, 88, 99, 0], 24, 'reserved'],
  [[192, 168, 0, 0], 16, 'private'],
  [[198, 18, 0, 0], 15, 'reserved'],
  [[198, 51, 100, 0], 24, 'reserved'],
  [[203, 0, 113, 0], 24, 'reserved'],
  [[224, 0, 0, 0], 4, 'multicast'],
  [[255, 255, 255, 255], 32, 'multicast'],
  [[240, 0, 0, 0], 4, 'reserved'],
];

const V6_RANGES: Range[] = [
  [[0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54], 128, 'metadata'], // AWS fd00:ec2::254
  [Array<number>(16).fill(0), 128, 'unspecified'],
  [[...Array<number>(15).fill(0), 1], 128, 'loopback'],
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // discard
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'reserved'], // documentation
  [[0xfc], 7, 'unique-local'],
  [[0xfe, 0x80], 10, 'link-local'],
  [[0xfe, 0xc0], 10, 'link-local'], // site-local (deprecated)
  [[0xff], 8, 'multicast'],
];

function inRange(bytes: number[], [prefix, bits]: Range): boolean {
  for (let i = 0; i < bits; i += 8) {
    const mask = bits - i >= 8 ? 0xff : (0xff << (8 - (bits - i))) & 0xff;
    if (((bytes[i / 8] ?? 0) & mask) !== ((prefix[i / 8] ?? 0) & mask)) return false;
  }
  return true;
}

const classifyV4 = (b: number[]): AddressClass | null => V4_RANGES.find((r) => inRange(b, r))?.[2] ?? null;

/**
 * The class of an IP address, or null for a public one. IPv6 forms that carry an IPv4 address
 * (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) are judged
 * by the IPv4 address they lead to. Anything unparseable counts as reserved.
 */
export function classifyAddress(address: string): AddressClass | null {
  const a = address.replace(/^\[|\]$/g, '');
  if (net.isIPv4(a)) return classifyV4(parseV4(a)!);
  const b = net.isIPv6(a) ? parseV6(a) : null;
  if (!b) return 'reserved';
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return classifyV4(b.slice(12));
  if (zeros(0, 12) && !(zeros(12, 15) && (b[15] === 0 || b[15] === 1))) return classifyV4(b.slice(12));
  if (inRange(b, [[0, 0x64, 0xff, 0x9b], 96, 'reserved'])) return classifyV4(b.slice(12));
  if (b[0] === 0x20 && b[1] === 0x02) return classifyV4(b.slice(2, 6));
  return V6_RANGES.find((r) => inRange(b, r))?.[2] ?? null;
}

// ---- the policy ---------------------------------------------------------------------------------

export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface OutboundPolicyOptions {
  /** Allow loopback, private, link-local, CGNAT and unique-local addresses (never metadata). */
  allowPrivate: boolean;
  /**
   * `host` or `host:port` entries reached whatever they resolve to (the bundled sandbox, an
   * operator's internal booking system). Without a port, any port of that host.
   */
  allowedHosts: string[];
  /** Name resolution (tests map public-looking names to local servers); default the system's. */
  resolve?: Resolver;
  /** Connection timeout of the agent (ms). */
  connectTimeoutMs?: number;
}

const systemResolve: Resolver = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

const defaultPort = (protocol: string) => (protocol === 'https:' ? 443 : 80);

/** `host[:port]` with IPv6 literals in brackets; lower-cased; throws on nonsense. */
export function parseHostEntry(entry: string): { host: string; port: number | null } {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]/\s]+)(?::(\d{1,5}))?$/i.exec(entry.trim());
  const port = m?.[2] !== undefined ? Number(m[2]) : null;
  if (!m || (port !== null && (port < 1 || port > 65535))) throw new Error(`not a host or host:port: ${entry}`);
  return { host: m[1]!.toLowerCase().replace(/^\[|\]$/g, ''), port };
}

export function createOutboundPolicy(options: OutboundPolicyOptions) {
  const allowed = options.allowedHosts.map(parseHostEntry);
  const resolve = options.resolve ?? systemResolve;
  const isAllowedHost = (host: string, port: number) =>
    allowed.some((a) => a.host === host && (a.port === null || a.port === port));
  const refusal = (cls: AddressClass | null): string | null =>
    cls === null || (options.allowPrivate && PRIVATE_CLASSES.has(cls)) ? null : DESCRIPTION[cls];
  const hint = 'OUTBOUND_ALLOWED_HOSTS or OUTBOUND_ALLOW_PRIVATE allow it';

  /**
   * Checks what can be checked without resolving: the scheme, and the address when the host is
   * an IP literal. Returns the parsed URL; throws OutboundBlockedError.
   */
  function checkUrl(value: string | URL): URL {
    let url: URL;
    try {
      url = typeof value === 'string' ? new URL(value) : value;
    } catch {
      throw new OutboundBlockedError(`Not an absolute URL: ${String(value).slice(0, 200)}`, String(value));
    }
    const shown = url.href.slice(0, 300);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new OutboundBlockedError(`Only http(s) URLs are fetched, not ${url.protocol} (${shown})`, url.href);
    }
    if (url.username || url.password) {
      throw new OutboundBlockedError(`URLs with credentials in them are not fetched (${url.host})`, url.href);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isAllowedHost(host, Number(url.port) || defaultPort(url.protocol))) return url;
    if (net.isIP(host)) {
      const why = refusal(classifyAddress(host));
      if (why) throw new OutboundBlockedError(`${host} is ${why}; ${hint} (${shown})`, url.href);
    }
    return url;
  }

  /** A dns.lookup stand-in for the socket: refuses a name if any of its addresses is refused. */
  const guardedLookup: net.LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname).then(
      (found) => {
        const family = lookupOptions.family === 'IPv4' ? 4 : lookupOptions.family === 'IPv6' ? 6 : lookupOptions.family;
        const addresses = found.filter((a) => !family || a.family === family);
        for (const a of found) {
          const why = refusal(classifyAddress(a.address));
          if (why) {
            callback(new OutboundBlockedError(`${hostname} resolves to ${a.address}, ${why}; ${hint}`, hostname), '');
            return;
          }
        }
        if (addresses.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`${hostname} has no address`);
          err.code = 'ENOTFOUND';
          callback(err, '');
          return;
        }
        if (lookupOptions.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
  // Allowed hosts are resolved as usual (through `resolve`, so tests can name local servers).
  const plainLookup: net.LookupFunction = (hostname, lookupOptions, callback) => {
    if (!options.resolve) return dns.lookup(hostname, lookupOptions, callback);
    options.resolve(hostname).then(
      (found) => (lookupOptions.all ? callback(null, found) : callback(null, found[0]!.address, found[0]!.family)),
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  const timeout = options.connectTimeoutMs ?? 10_000;
  const guarded = buildConnector({ timeout, lookup: guardedLookup });
  const plain = buildConnector({ timeout, lookup: plainLookup });

  const dispatcher = new Agent({
    connect(opts, callback) {
      const host = opts.hostname.replace(/^\[|\]$/g, '').toLowerCase();
      const port = Number(opts.port) || defaultPort(opts.protocol);
      if (isAllowedHost(host, port)) return plain(opts, callback);
      // An IP literal is connected to without a lookup: it is checked here.
      if (net.isIP(host)) {
        const why = refusal(classifyAddress(host));
        if (why) {
          callback(new OutboundBlockedError(`${host} is ${why}; ${hint}`, host), null);
          return;
        }
      }
      return guarded(opts, callback);
    },
  });

  return {
    checkUrl,
    /** The undici dispatcher whose connections obey the policy (use it for every request). */
    dispatcher,
    close: () => dispatcher.close(),
  };
}

export type OutboundPolicy = ReturnType<typeof createOutboundPolicy>;
