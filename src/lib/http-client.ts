import type { Logger } from 'pino';

/**
 * The one way out of the process over HTTP (ARCHITECTURE §9): timeouts, bounded retries with
 * exponential backoff and jitter for idempotent requests, a user agent, a response size cap and
 * a log line per failure. Tests point it at real local servers.
 */
export interface HttpClientOptions {
  userAgent: string;
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

export interface HttpResponse {
  status: number;
  headers: Headers;
  url: string;
  text: string;
  /** How long the request took, including retries. */
  elapsedMs: number;
}

export type HttpErrorKind = 'timeout' | 'network' | 'too_large' | 'http';

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
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Full-jitter exponential backoff: a random delay in [0, base·2^attempt], capped. */
export function backoffDelay(attempt: number, baseMs: number, capMs = 60_000, random = Math.random): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

export function createHttpClient(options: HttpClientOptions) {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const retries = options.retries ?? 2;
  const retryBaseMs = options.retryBaseMs ?? 500;
  const maxBytes = options.maxResponseBytes ?? 50 * 1024 * 1024;
  const sleep = options.sleep ?? defaultSleep;

  async function readCapped(response: Response, url: string): Promise<string> {
    const declared = Number(response.headers.get('content-length') ?? '0');
    if (declared > maxBytes)
      throw new HttpError('too_large', `Response of ${declared} bytes exceeds the limit`, response.status, url);
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

  async function attempt(url: string, init: RequestInit): Promise<HttpResponse> {
    const started = Date.now();
    let response: Response;
    try {
      response = await fetch(url, { ...init, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') {
        throw new HttpError('timeout', `No response within ${timeoutMs} ms`, undefined, url);
      }
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new HttpError('network', cause?.code ?? cause?.message ?? (err as Error).message, undefined, url);
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
      headers: response.headers,
      url: response.url || url,
      text,
      elapsedMs: Date.now() - started,
    };
  }

  return {
    /**
     * Sends a request. Network errors, timeouts, 429 and 5xx are retried for idempotent methods;
     * any other status is returned to the caller to interpret.
     */
    async request(
      url: string,
      init: { method?: string; headers?: Record<string, string>; body?: string; retries?: number } = {},
    ): Promise<HttpResponse> {
      const method = (init.method ?? 'GET').toUpperCase();
      const maxRetries = IDEMPOTENT.has(method) ? (init.retries ?? retries) : 0;
      const started = Date.now();
      for (let n = 0; ; n += 1) {
        try {
          const res = await attempt(url, {
            method,
            headers: { 'user-agent': options.userAgent, accept: 'application/json', ...init.headers },
            ...(init.body !== undefined ? { body: init.body } : {}),
          });
          const retryable = res.status === 429 || res.status >= 500;
          if (!retryable || n >= maxRetries) return { ...res, elapsedMs: Date.now() - started };
          options.log?.warn({ url, status: res.status, attempt: n + 1 }, 'retrying HTTP request');
        } catch (err) {
          if (!(err instanceof HttpError) || err.kind === 'too_large' || n >= maxRetries) throw err;
          options.log?.warn({ url, kind: err.kind, attempt: n + 1 }, 'retrying HTTP request');
        }
        await sleep(retryBaseMs + backoffDelay(n, retryBaseMs));
      }
    },
  };
}

export type HttpClient = ReturnType<typeof createHttpClient>;
