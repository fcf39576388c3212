import { AsyncLocalStorage } from 'node:async_hooks';

/*
 * Time a request spends waiting on sellers' booking systems, reported to the client in a
 * `Server-Timing` header (`total;dur=<ms>, seller;dur=<ms>`): the hosted checkout's pages and the
 * API answer with how long the server took and what the seller took of it, so activehub's own
 * share of a checkout is the rest. Each request runs in its own scope (src/http/server-timing.ts
 * opens it); outside one nothing is recorded.
 */
export interface TimingScope {
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** Milliseconds spent inside calls to sellers (request sent → answer read, retries included). */
  sellerMs: number;
  sellerCalls: number;
  /** SQL statements sent, when something counts them (the checkout bench's preload does). */
  statements: number;
}

const scopes = new AsyncLocalStorage<TimingScope>();

/** Runs `fn` (and everything it starts) in a fresh scope. */
export function runInTimingScope<T>(fn: () => T): T {
  return scopes.run({ startedAt: performance.now(), sellerMs: 0, sellerCalls: 0, statements: 0 }, fn);
}

/** The scope of the current request, if any. */
export function currentTimingScope(): TimingScope | undefined {
  return scopes.getStore();
}

/** Awaits a call to a seller, adding its duration to the current scope. */
export async function timeSellerCall<T>(call: () => Promise<T>): Promise<T> {
  const scope = scopes.getStore();
  if (!scope) return call();
  const started = performance.now();
  try {
    return await call();
  } finally {
    scope.sellerMs += performance.now() - started;
    scope.sellerCalls += 1;
  }
}

/** The `Server-Timing` value for a scope, as the response is sent. */
export function serverTimingHeader(scope: TimingScope): string {
  const metrics = [`total;dur=${(performance.now() - scope.startedAt).toFixed(1)}`];
  if (scope.sellerCalls > 0)
    metrics.push(`seller;dur=${scope.sellerMs.toFixed(1)};desc="${scope.sellerCalls} call(s)"`);
  if (scope.statements > 0) metrics.push(`sql;desc="${scope.statements}"`);
  return metrics.join(', ');
}
