import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import { AppError, isAppError } from '../../http/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { HttpClient } from '../../lib/http-client.js';
import { SecretsError, type Sealer } from '../../lib/secrets.js';
import { createTtlCache } from '../../lib/ttl-cache.js';
import type { CatalogService } from '../catalog/index.js';
import { createBookingClient, type BookingClient } from './booking.client.js';
import { BookingError, problemFor } from './booking.errors.js';
import * as repo from './booking.repository.js';
import { bookingDb } from './booking.tables.js';
import type { BookingTarget, QuoteInput } from './order-requests.js';

/*
 * Booking with sellers: where each seller is booked (the Open Booking API Base URI from its
 * publisher's dataset site) and with which booking-partner credentials (stored per publisher,
 * optionally per seller), plus the Open Booking API client itself.
 */

export interface CredentialsInput {
  publisherId: number;
  /** The seller's `@id`; null or absent = every seller of the publisher. */
  sellerId?: string | null;
  /** HTTP headers to send, e.g. `{ Authorization: 'Bearer …' }` or `{ 'X-OpenActive-Test-Client-Id': 'activehub' }`. */
  headers: Record<string, string>;
  /** Keep existing credentials (defaults at start-up must not replace what an operator set). */
  onlyIfMissing?: boolean;
}

export interface BookingService extends BookingClient {
  /**
   * Where and how to book this seller's opportunities. Throws BookingError `not_bookable` when
   * the publisher is unknown or has no booking endpoint, `invalid_credentials` when no
   * credentials are stored for the publisher or the seller.
   */
  targetFor(publisherId: number, sellerId: string): Promise<BookingTarget>;
  setCredentials(input: CredentialsInput): Promise<void>;
  /** Header names (never values) of the stored credentials, for operators. */
  listCredentials(publisherId: number): Promise<{ sellerId: string | null; headerNames: string[]; updatedAt: Date }[]>;
  /**
   * At start-up: seals credentials stored in plain JSON before sealing existed, and counts the
   * stored credentials this server's key cannot open (sealed under another SECRETS_KEY).
   */
  prepareStoredCredentials(): Promise<{ sealed: number; unreadable: number }>;
}

export interface BookingServiceDeps {
  database: Database;
  http: HttpClient;
  clock: Clock;
  log: Logger;
  catalog: CatalogService;
  /** Seals and opens the stored credentials (the server's secrets key). */
  secrets: Sealer;
  /** Extra attempts on timeouts, network errors, 429 and 5xx (default 1). */
  retries?: number;
  /**
   * How long a seller's booking target (endpoint and credentials) is reused before it is read
   * again, in ms (default 10 s; 0 reads it every time). Every checkout step needs it; credentials
   * set through this service take effect at once, a publisher's new endpoint within this time.
   */
  targetCacheMs?: number;
}

/** RFC 7230 token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Visible ASCII and spaces/tabs; no CR/LF (no header injection). */
const HEADER_VALUE = /^[\t\x20-\x7e]{0,4096}$/;
/** Set by the client itself; credentials must not change them. */
const RESERVED = new Set([
  'host',
  'content-type',
  'content-length',
  'accept',
  'transfer-encoding',
  'connection',
  'user-agent',
]);
const MAX_HEADERS = 20;

/** Lower-cased, checked headers; throws a 400 naming the bad one. */
export function checkHeaders(headers: Record<string, string>): Record<string, string> {
  const entries = Object.entries(headers);
  if (entries.length === 0 || entries.length > MAX_HEADERS) {
    throw new AppError('BAD_REQUEST', `Give between 1 and ${MAX_HEADERS} headers.`, {
      fieldErrors: [{ path: '/headers', message: `must have 1 to ${MAX_HEADERS} headers` }],
    });
  }
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    const bad = (message: string) =>
      new AppError('BAD_REQUEST', `Header ${JSON.stringify(name.slice(0, 100))} ${message}.`, {
        fieldErrors: [{ path: `/headers/${name.slice(0, 100)}`, message }],
      });
    if (!HEADER_NAME.test(name)) throw bad('is not a valid HTTP header name');
    if (RESERVED.has(lower)) throw bad('is set by activehub itself and cannot be a credential');
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw bad('must have a value of at most 4096 printable ASCII characters');
    }
    if (lower in out) throw bad('is given twice');
    out[lower] = value;
  }
  return out;
}

function checkSellerId(sellerId: string | null | undefined): string | null {
  if (sellerId === undefined || sellerId === null) return null;
  try {
    const u = new URL(sellerId);
    if ((u.protocol === 'http:' || u.protocol === 'https:') && sellerId.length <= 2000) return sellerId;
  } catch {
    // fall through
  }
  throw new AppError('BAD_REQUEST', 'sellerId must be the absolute http(s) URL of the seller (its @id).', {
    fieldErrors: [{ path: '/sellerId', message: 'must be an absolute http(s) URL' }],
  });
}

/** What a sealed credential is bound to: a copy moved to another publisher's row does not open. */
function sealContext(publisherId: number, sellerId: string | null): string {
  return `booking_credentials ${publisherId} ${sellerId ?? '*'}`;
}

export function createBookingService(deps: BookingServiceDeps): BookingService {
  const db = bookingDb(deps.database.db);
  const sealHeaders = (publisherId: number, sellerId: string | null, headers: Record<string, string>) =>
    deps.secrets.seal(JSON.stringify(headers), sealContext(publisherId, sellerId));
  /** The headers of a stored row, opened; undefined (and logged) when this server cannot open them. */
  const openHeaders = (
    publisherId: number,
    row: { sellerId: string | null; headers: Record<string, string> | null; sealed: string | null },
  ): Record<string, string> | undefined => {
    if (row.sealed === null) return row.headers ?? undefined;
    try {
      return JSON.parse(deps.secrets.open(row.sealed, sealContext(publisherId, row.sellerId))) as Record<
        string,
        string
      >;
    } catch (err) {
      if (!(err instanceof SecretsError)) throw err;
      deps.log.error(
        { publisherId, sellerId: row.sellerId, reason: err.message },
        "stored booking credentials do not open with this server's SECRETS_KEY; set them again or restore the key",
      );
      return undefined;
    }
  };
  const client = createBookingClient({
    http: deps.http,
    log: deps.log,
    ...(deps.retries !== undefined ? { retries: deps.retries } : {}),
  });

  const targets = createTtlCache<string, BookingTarget>(deps.targetCacheMs ?? 10_000);

  async function readTarget(publisherId: number, sellerId: string): Promise<BookingTarget> {
    const p = await repo.findTarget(db, publisherId, sellerId);
    if (!p?.bookingEndpointUrl) {
      throw new BookingError(problemFor('not_bookable'), {
        retryable: false,
        detail: p ? `publisher ${publisherId} has no Open Booking API endpoint` : `no publisher ${publisherId}`,
      });
    }
    const headers = p.credentials ? openHeaders(publisherId, p.credentials) : undefined;
    if (!headers) {
      throw new BookingError(problemFor('invalid_credentials'), {
        retryable: false,
        detail: `no booking-partner credentials for publisher ${publisherId}, seller ${sellerId}`,
      });
    }
    return {
      publisherId,
      mode: p.mode,
      endpointUrl: p.bookingEndpointUrl.replace(/\/+$/, ''),
      sellerId,
      headers,
    };
  }

  /**
   * Test mode is a world of its own (issue 14 point 3): nothing that quotes, leases or books is
   * sent to a publisher of the other mode, whatever the caller checked before.
   */
  function sameWorld(input: QuoteInput): void {
    if (input.mode === input.target.mode) return;
    throw new BookingError(problemFor('not_bookable'), {
      retryable: false,
      detail:
        input.mode === 'test'
          ? `publisher ${input.target.publisherId} is a live booking system; a test-mode checkout never books it`
          : `publisher ${input.target.publisherId} is a test booking system; a live checkout never books it`,
    });
  }

  async function publisher(publisherId: number) {
    try {
      return await deps.catalog.getPublisher(publisherId);
    } catch (err) {
      if (isAppError(err) && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  // A publisher registered again with another mode (or another endpoint) applies at once.
  deps.catalog.onPublishersChanged(() => targets.clear());

  return {
    ...client,

    async c1(input) {
      sameWorld(input);
      return client.c1(input);
    },
    async c2(input) {
      sameWorld(input);
      return client.c2(input);
    },
    async book(input) {
      sameWorld(input);
      return client.book(input);
    },

    async targetFor(publisherId, sellerId) {
      // Only found targets are kept: a seller without credentials is read again next time.
      const key = `${publisherId} ${sellerId}`;
      let target = targets.get(key);
      if (!target) {
        target = await readTarget(publisherId, sellerId);
        targets.set(key, target);
      }
      // A copy: callers may not change what the next caller gets.
      return { ...target, headers: { ...target.headers } };
    },

    async setCredentials(input) {
      const headers = checkHeaders(input.headers);
      const sellerId = checkSellerId(input.sellerId);
      if (!(await publisher(input.publisherId))) {
        throw new AppError('NOT_FOUND', `There is no publisher ${input.publisherId}.`);
      }
      await repo.upsertCredentials(
        db,
        {
          publisherId: input.publisherId,
          sellerId,
          sealed: sealHeaders(input.publisherId, sellerId, headers),
          now: deps.clock.now(),
        },
        { onlyIfMissing: input.onlyIfMissing === true },
      );
      targets.clear();
    },

    async listCredentials(publisherId) {
      if (!(await publisher(publisherId))) throw new AppError('NOT_FOUND', `There is no publisher ${publisherId}.`);
      const rows = await repo.listCredentials(db, publisherId);
      return rows.map((r) => ({
        sellerId: r.seller_id,
        // Credentials this server cannot open show no names (the error log says why).
        headerNames: Object.keys(
          openHeaders(publisherId, { sellerId: r.seller_id, headers: r.headers, sealed: r.headers_sealed }) ?? {},
        ).sort(),
        updatedAt: r.updated_at,
      }));
    },

    async prepareStoredCredentials() {
      let sealed = 0;
      for (const row of await repo.findPlainCredentials(db)) {
        if (!row.headers) continue;
        const value = sealHeaders(row.publisher_id, row.seller_id, row.headers);
        if (await repo.sealRow(db, row.id, value)) sealed += 1;
      }
      let unreadable = 0;
      for (const row of await repo.listSealed(db)) {
        try {
          deps.secrets.open(row.headers_sealed!, sealContext(row.publisher_id, row.seller_id));
        } catch (err) {
          if (!(err instanceof SecretsError)) throw err;
          unreadable += 1;
        }
      }
      if (sealed > 0) targets.clear();
      return { sealed, unreadable };
    },
  };
}
