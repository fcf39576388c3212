import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';
import { createTicker } from '../../lib/ticker.js';
import { checkoutDb } from './checkout.tables.js';

/*
 * Brokers' own checkout hosts (DECISIONS §1): a broker with a `checkout_host` (e.g.
 * `checkout.acme-fitness.example.com`, a CNAME to this server) has `https://<host>` as its
 * checkoutBaseUrl, so its checkout API, guest links and pages are asked for on that host without
 * the `/checkout/<slug>` prefix. Requests are matched on their Host header and their path is
 * rewritten to the broker's `/checkout/<slug>/…` routes before routing; everything else about
 * them (keys, CSRF, the broker's own sessions only) is what those routes already do.
 *
 * Fastify rewrites URLs synchronously, so the hosts are kept in memory: read when the app is
 * built, again every `refreshMs` (brokers created by the CLI, another process, show up within
 * that time), and at once after `refresh()` (the admin API calls it after a change).
 */

/** A broker's checkoutBaseUrl (DECISIONS §1): its own host, else a path under the public base URL. */
export function checkoutBaseUrl(broker: { slug: string; checkout_host: string | null }, publicBaseUrl: string): string {
  return broker.checkout_host
    ? `https://${broker.checkout_host}`
    : `${publicBaseUrl}/checkout/${encodeURIComponent(broker.slug)}`;
}

/** Paths a broker's checkout host serves, below its checkoutBaseUrl: these, or below them. */
const CHECKOUT_PATHS = ['/api/checkout-sessions', '/checkout-sessions', '/s', '/v1'];

/** The host name of a Host header, lower-cased, without its port. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const host = header.trim().toLowerCase();
  const m = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host);
  return m?.[1] || undefined;
}

/**
 * The path to route a request to: `/checkout/<slug><url>` when `host` is a broker's checkout host
 * and `url` is one of the paths it serves; else `url` unchanged.
 */
export function rewriteForHost(url: string, slug: string | undefined): string {
  if (!slug || url.startsWith('/checkout/')) return url;
  const path = url.split('?', 1)[0]!;
  const served = CHECKOUT_PATHS.some((p) => path === p || path.startsWith(`${p}/`));
  return served ? `/checkout/${encodeURIComponent(slug)}${url}` : url;
}

export function createCheckoutHosts({
  database,
  log,
  refreshMs = 30_000,
}: {
  database: Database;
  log: Logger;
  refreshMs?: number;
}) {
  const db = checkoutDb(database.db);
  let slugs = new Map<string, string>();

  async function refresh(): Promise<void> {
    const rows = await db
      .selectFrom('brokers')
      .select(['slug', 'checkout_host'])
      .where('checkout_host', 'is not', null)
      .execute();
    const next = new Map<string, string>();
    for (const r of rows) {
      const host = hostName(r.checkout_host ?? undefined);
      if (host) next.set(host, r.slug);
    }
    slugs = next;
  }

  const ticker = createTicker(refresh, { intervalMs: refreshMs, log, what: 'checkout hosts refresh' });
  return {
    refresh,
    start: () => ticker.start(),
    stop: () => ticker.stop(),
    /** The slug of the broker whose checkout host this Host header names. */
    slugFor: (hostHeader: string | undefined): string | undefined => {
      const host = hostName(hostHeader);
      return host ? slugs.get(host) : undefined;
    },
    /** `rewriteForHost` for a request's URL and Host header. */
    rewrite: (url: string, hostHeader: string | undefined): string => {
      const host = hostName(hostHeader);
      return rewriteForHost(url, host ? slugs.get(host) : undefined);
    },
  };
}

export type CheckoutHosts = ReturnType<typeof createCheckoutHosts>;
