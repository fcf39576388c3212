import type { Logger } from 'pino';
import { fetch as undiciFetch } from 'undici';
import { isOutboundBlocked, type OutboundPolicy } from './outbound.js';

/**
 * The one way out of the process over HTTP (ARCHITECTURE §9): timeouts, bounded retries with
 * exponential backoff and jitter for idempotent requests, a user agent, a response size cap and
 * a log line per failure. Every request obeys the outbound policy (`lib/outbound.ts`): its URL
 * and every redirect hop are checked, and connections are made through the policy's dispatcher,
 * so the address checked is the one connected to. Redirects are followed here, hop by hop (at
 * most 5), never by the fetch implementation. Tests point it at real local servers.
 */
export interface HttpClientOptions {
  userAgent: string;
  /** Where requests may go (lib/outbound.ts). */
  outbound: OutboundPolicy;
  log?: Logger;
  /** Per-attempt timeout. */
  timeoutMs?: number;
  /** Extra attempts after the first for retryable failures (GET/HEAD/PUT/DELETE only). */
  retries?: number;
  /** Base delay of the exponential backoff. */
  retryBaseMs?: number;
  /** Responses larger than this are refused (protects memory against a broken publisher). */
  maxResponseBytes?: number;
  /** Replaceable sleep (tests). */
  sleep?: (ms: number) => Promise<void>;
}

export interface HttpRequestInit {
  method?: string;
  headers?: Record<string, string>;
  /**
   * Headers that only go to the origin of `url` (booking-partner credentials): a redirect to
   * another origin is followed without them.
   */
  credentials?: Record<string, string>;
  body?: string;
  retries?: number;
  /** `follow` (default): redirects followed and re-checked hop by hop; `manual`: a 3xx is returned as it is. */
  redirect?: 'follow' | 'manual';
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** The URL that answered (after redirects). */
  url: string;
  text: string;
  /** How long the request took, including retries. */
  elapsedMs: number;
}

/** `blocked`: refused by the outbound policy (scheme, address, redirect target); never retried. */
export type HttpErrorKind = 'timeout' | 'network' | 'too_large' | 'http' | 'blocked' | 'redirect';

export class HttpError extends Error {
  constructor(
    readonly kind: HttpErrorKind,
    message: string,
    readonly status?: number,
    readonly url?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
/** Never carried to another origin, whoever set them (as browsers and fetch do). */
const ORIGIN_BOUND = new Set(['authorization', 'cookie', 'proxy-authorization']);
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full-jitter exponential backoff: a random delay in [0, base·2^attempt], capped. */
export function backoffDelay(attempt: number, baseMs: number, capMs = 60_000, random = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** The policy's refusal behind a failed fetch (undici wraps connection errors in `cause`). */
function blockedCause(err: unknown): Error | undefined {
  for (let e = err as { cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i += 1) {
    if (isOutboundBlocked(e)) return e;
  }
  return undefined;
}

export function createHttpClient(options: HttpClientOptions) {
  const { outbound } = options;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const retries = options.retries ?? 2;
  const retryBaseMs = options.retryBaseMs ?? 500;
  const maxBytes = options.maxResponseBytes ?? 50 * 1024 * 1024;
  const sleep = options.sleep ?? defaultSleep;

  async function readCapped(response: Awaited<ReturnType<typeof undiciFetch>>, url: string): Promise<string> {
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > maxBytes) {
      await response.body?.cancel();
      throw new HttpError('too_large', `Response of ${declared} bytes exceeds the limit`, response.status, url);
    }
    if (!response.body) return '';
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new HttpError('too_large', `Response exceeds ${maxBytes} bytes`, response.status, url);
      }
      chunks.push(value);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  function refuse(url: string, err: Error): never {
    options.log?.warn({ url: url.slice(0, 500), reason: err.message }, 'outbound request refused by policy');
    throw new HttpError('blocked', err.message, undefined, url);
  }

  /** One attempt: the request and the redirects it leads to, each hop checked. */
  async function attempt(
    startUrl: string,
    init: { method: string; headers: Record<string, string>; credentials: Record<string, string>; body?: string },
    redirect: 'follow' | 'manual',
  ): Promise<HttpResponse> {
    const started = Date.now();
    const signal = AbortSignal.timeout(timeoutMs);
    let url = startUrl;
    let { method, body } = init;
    let headers = { ...init.headers, ...init.credentials };
    const origin = (() => {
      try {
        return new URL(startUrl).origin;
      } catch {
        return null;
      }
    })();
    for (let hop = 0; ; hop += 1) {
      let target: URL;
      try {
        target = outbound.checkUrl(url);
      } catch (err) {
        refuse(url, err as Error);
      }
      let response: Awaited<ReturnType<typeof undiciFetch>>;
      try {
        response = await undiciFetch(target, {
          method,
          headers,
          ...(body !== undefined ? { body } : {}),
          redirect: 'manual',
          signal,
          dispatcher: outbound.dispatcher,
        });
      } catch (err) {
        const blocked = blockedCause(err);
        if (blocked) refuse(url, blocked);
        const name = (err as Error).name;
        if (name === 'TimeoutError' || name === 'AbortError') {
          throw new HttpError('timeout', `No response within ${timeoutMs} ms`, undefined, url);
        }
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new HttpError('network', cause?.code ?? cause?.message ?? (err as Error).message, undefined, url);
      }
      const location = response.headers.get('location');
      if (redirect === 'follow' && REDIRECTS.has(response.status) && location !== null) {
        await response.body?.cancel();
        if (hop >= MAX_REDIRECTS) {
          throw new HttpError('redirect', `More than ${MAX_REDIRECTS} redirects`, response.status, url);
        }
        let next: URL;
        try {
          next = new URL(location, target);
        } catch {
          throw new HttpError('redirect', `Redirect to an invalid URL`, response.status, url);
        }
        // RFC 9110 §15.4: 303 (and, by long practice, 301/302 after POST) continue as GET.
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'content-type'));
        }
        if (next.origin !== origin) {
          const bound = new Set([...ORIGIN_BOUND, ...Object.keys(init.credentials).map((k) => k.toLowerCase())]);
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !bound.has(k.toLowerCase())));
        }
        url = next.href;
        continue;
      }
      let text: string;
      try {
        text = await readCapped(response, url);
      } catch (err) {
        if (err instanceof HttpError) throw err;
        const name = (err as Error).name;
        if (name === 'TimeoutError' || name === 'AbortError') {
          throw new HttpError('timeout', `Body not received within ${timeoutMs} ms`, response.status, url);
        }
        throw new HttpError('network', (err as Error).message, response.status, url);
      }
      return {
        status: response.status,
        headers: response.headers as unknown as Headers,
        url,
        text,
        elapsedMs: Date.now() - started,
      };
    }
  }

  return {
    /**
     * Throws HttpError `blocked` when the outbound policy refuses the URL outright (scheme, an IP
     * literal in a refused range): for checking a URL when it is registered. A host name passes
     * here and is judged by the addresses it resolves to when it is fetched.
     */
    checkUrl(url: string): void {
      try {
        outbound.checkUrl(url);
      } catch (err) {
        throw new HttpError('blocked', (err as Error).message, undefined, url);
      }
    },

    /**
     * Sends a request. Network errors, timeouts, 429 and 5xx are retried for idempotent methods;
     * any other status is returned to the caller to interpret. Refusals by the outbound policy
     * are HttpErrors of kind `blocked`, never retried.
     */
    async request(url: string, init: HttpRequestInit = {}): Promise<HttpResponse> {
      const method = (init.method ?? 'GET').toUpperCase();
      const maxRetries = IDEMPOTENT.has(method) ? (init.retries ?? retries) : 0;
      const started = Date.now();
      const headers = { 'user-agent': options.userAgent, accept: 'application/json', ...init.headers };
      for (let n = 0; ; n += 1) {
        try {
          const res = await attempt(
            url,
            {
              method,
              headers,
              credentials: init.credentials ?? {},
              ...(init.body !== undefined ? { body: init.body } : {}),
            },
            init.redirect ?? 'follow',
          );
          const retryable = res.status === 429 || res.status >= 500;
          if (!retryable || n >= maxRetries) return { ...res, elapsedMs: Date.now() - started };
          options.log?.warn({ url, status: res.status, attempt: n + 1 }, 'retrying HTTP request');
        } catch (err) {
          if (
            !(err instanceof HttpError) ||
            err.kind === 'too_large' ||
            err.kind === 'blocked' ||
            err.kind === 'redirect' ||
            n >= maxRetries
          )
            throw err;
          options.log?.warn({ url, kind: err.kind, attempt: n + 1 }, 'retrying HTTP request');
        }
        await sleep(retryBaseMs + backoffDelay(n, retryBaseMs));
      }
    },
  };
}

export type HttpClient = ReturnType<typeof createHttpClient>;
