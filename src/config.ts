import { isIP } from 'node:net';
import path from 'node:path';
import { parseHostEntry } from './lib/outbound.js';
import { parseSecretsKey } from './lib/secrets.js';

/**
 * The only reader of process.env. Every setting is parsed and checked here once; all problems
 * are reported together so an operator fixes a bad environment in one go.
 */
export interface Config {
  port: number;
  host: string;
  publicBaseUrl: string;
  /** Postgres server URL; when absent the embedded PGlite database under `dataDir` is used. */
  databaseUrl: string | undefined;
  dataDir: string;
  logLevel: string;
  /** Key for the demo broker created on a fresh install (otherwise one is generated and printed). */
  demoApiKey: string | undefined;
  seedDemo: boolean;
  rateLimit: RateLimitConfig;
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (Fastify's `trustProxy`):
   * false (the default) ignores forwarded headers, so a client cannot choose its own bucket.
   */
  trustProxy: boolean | number | string[];
  /** Redis server for state shared by several processes (the rate-limit counters); unset: per process. */
  redisUrl: string | undefined;
  /** Prefix of every key this deployment writes in Redis. */
  redisKeyPrefix: string;
  /** Seconds a cached API-key lookup may be reused before the database is asked again. */
  authCacheTtlMs: number;
  /** How long a seller's booking endpoint and credentials are reused before they are read again. */
  bookingTargetCacheMs: number;
  jobs: JobsConfig;
  shutdownTimeoutMs: number;
  /** The bundled OpenActive booking system (src/sandbox): its own port, database and data. */
  sandbox: SandboxConfig;
  /** Operator key for the /admin API; the admin API is closed when unset. */
  adminApiKey: string | undefined;
  /**
   * The key sealing stored secrets (sellers' booking credentials), SECRETS_KEY; when unset, a key
   * file `<dataDir>/secrets.key` is made on first start and used.
   */
  secretsKey: Buffer | undefined;
  /** Bearer token for /metrics (besides the operator key); with neither, /metrics is this machine's only. */
  metricsToken: string | undefined;
  harvest: HarvestConfig;
  /** Outgoing email (confirmation and refund emails). */
  mail: MailConfig;
  /** How checkouts take payment (test-mode checkouts always use the sandbox provider). */
  payments: PaymentsConfig;
  recovery: RecoveryConfig;
  /** Where requests to publisher-chosen URLs may go (src/lib/outbound.ts). */
  outbound: OutboundConfig;
}

/** Fixed windows of `windowMs`; every request counts (src/http/rate-limit.ts). */
export interface RateLimitConfig {
  /** Requests per API key (by its hash) per window. */
  max: number;
  windowMs: number;
  /** Requests per client address per window, with or without a key. */
  addressMax: number;
  /** Rejected API keys (unknown, revoked, wrong operator key) per client address per window. */
  authFailuresMax: number;
}

export interface JobsConfig {
  /** Run job workers (and take turns at job maintenance) in this process. */
  enabled: boolean;
  pollIntervalSeconds: number;
  /**
   * A running job's lease, renewed by its process while it runs: a job whose process died is
   * retried once its lease has lapsed (within lease + maintenance interval).
   */
  leaseSeconds: number;
  /** How often job maintenance (reclaiming abandoned jobs, archiving) runs across all processes. */
  maintenanceIntervalSeconds: number;
  /** A queue whose due jobs wait this long with none started is reported stalled (/health, logs, metrics). */
  stallAfterSeconds: number;
}

/** Checkout recovery: when a pending order counts as interrupted and is settled by the sweep. */
export interface RecoveryConfig {
  afterSeconds: number;
}

export interface OutboundConfig {
  /** Allow loopback, private, link-local, CGNAT and unique-local addresses (cloud metadata never). */
  allowPrivate: boolean;
  /** `host` or `host:port` entries reached whatever address they resolve to. */
  allowedHosts: string[];
}

export interface PaymentsConfig {
  /** Provider for live-mode checkouts: the built-in sandbox (Stripe test-card rules) or Stripe. */
  provider: 'sandbox' | 'stripe';
  /** Set when `provider` is 'stripe' (or when the keys are given anyway). */
  stripe: StripeConfig | undefined;
}

export interface StripeConfig {
  secretKey: string;
  publishableKey: string;
  /** Another Stripe-speaking server (tests); unset: https://api.stripe.com. */
  apiBase: string | undefined;
}

export interface MailConfig {
  /** smtp:// or smtps:// URL of the SMTP relay; unset: emails are kept in the local outbox. */
  smtpUrl: string | undefined;
  /** From address when the broker has none, e.g. `activehub <no-reply@example.org>`. */
  defaultFrom: string;
  /** Serve the dev mailbox pages (/dev/mailbox) while no SMTP_URL is set. */
  devMailbox: boolean;
}

/** `address@domain` or `Display Name <address@domain>` (one mailbox, no CR/LF). */
export const MAILBOX_PATTERN = /^(?:[^<>\r\n@]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

export interface HarvestConfig {
  /** Harvest registered publishers continuously in the server process. */
  enabled: boolean;
  /** Wait before polling a caught-up feed's last page again. */
  pollIntervalMs: number;
  /** Feeds harvested at once. */
  concurrency: number;
  /** Register the bundled sandbox's dataset site as a publisher on start. */
  registerSandbox: boolean;
  /** Further dataset sites to register on start (comma-separated URLs). */
  datasetUrls: string[];
}

export interface SandboxConfig {
  /** Start it alongside the platform (`npm start`). */
  enabled: boolean;
  port: number;
  /** Base of every identifier and feed URL the sandbox publishes. */
  publicUrl: string;
  /** PGlite directory when `databaseUrl` is absent. */
  dataDir: string;
  databaseUrl: string | undefined;
  /** Seed of the deterministic data generator. */
  seed: number;
  /** How many ScheduledSessions the generator makes (approximately). */
  sessions: number;
  /** Seconds between churn rounds (capacity changes, cancellations, deletions); 0 = off. */
  churnSeconds: number;
  /**
   * Sandbox booking systems `npm start` runs: instance n (from 0) listens on port + n with seed
   * + n; instances after the first keep their data in `<dataDir>-<n+1>` (always embedded).
   */
  instances: number;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const problems: string[] = [];

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    // Decimal digits only: Number() would also take "0x50", "3e3" and a blank value (as 0).
    const value = /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };
  // `new URL` alone accepts "localhost:3000" (scheme "localhost:"), so the scheme is checked too.
  const url = (name: string, kind: 'http' | 'postgres' = 'http'): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const schemes = kind === 'http' ? ['http:', 'https:'] : ['postgres:', 'postgresql:'];
    if (URL.canParse(raw) && schemes.includes(new URL(raw).protocol)) return raw;
    problems.push(
      kind === 'http'
        ? `${name} must be an absolute http(s) URL (got "${raw}")`
        : `${name} must be a postgres:// or postgresql:// URL (got "${raw}")`,
    );
    return undefined;
  };

  const port = int('PORT', 3000, 0, 65535);
  const host = env.HOST || '0.0.0.0';
  const publicBaseUrl = (url('PUBLIC_BASE_URL') ?? `http://localhost:${port}`).replace(/\/+$/, '');
  const databaseUrl = url('DATABASE_URL', 'postgres');
  const dataDir = path.resolve(env.DATA_DIR || './data');
  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "${logLevel}")`);
  }
  const demoApiKey = env.DEMO_API_KEY || undefined;
  if (demoApiKey !== undefined && !/^[A-Za-z0-9_-]{16,128}$/.test(demoApiKey)) {
    problems.push('DEMO_API_KEY must be 16-128 characters of A-Z, a-z, 0-9, _ or -');
  }

  const sandboxPort = int('SANDBOX_PORT', 3100, 0, 65535);
  const sandbox: SandboxConfig = {
    enabled: bool('SANDBOX_ENABLED', true),
    port: sandboxPort,
    publicUrl: (url('SANDBOX_PUBLIC_URL') ?? `http://localhost:${sandboxPort}`).replace(/\/+$/, ''),
    dataDir: path.resolve(env.SANDBOX_DATA_DIR || path.join(dataDir, 'sandbox')),
    databaseUrl: url('SANDBOX_DATABASE_URL', 'postgres'),
    seed: int('SANDBOX_SEED', 42, 0, 2 ** 31 - 1),
    sessions: int('SANDBOX_SESSIONS', 2000, 0, 10_000_000),
    churnSeconds: int('SANDBOX_CHURN_SECONDS', 0, 0, 86_400),
    instances: int('SANDBOX_INSTANCES', 2, 1, 10),
  };

  const adminApiKey = env.ADMIN_API_KEY || undefined;
  const secretsKey = env.SECRETS_KEY ? parseSecretsKey(env.SECRETS_KEY) : undefined;
  if (env.SECRETS_KEY && !secretsKey) {
    problems.push('SECRETS_KEY must be 32 random bytes as 64 hex digits or base64 (openssl rand -base64 32)');
  }
  if (adminApiKey !== undefined && adminApiKey.length < 16)
    problems.push('ADMIN_API_KEY must be at least 16 characters');
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && !/^[\x21-\x7e]{16,200}$/.test(metricsToken))
    problems.push('METRICS_TOKEN must be 16-200 visible ASCII characters (no spaces)');
  const datasetUrls = (env.HARVEST_DATASET_URLS ?? '')
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  for (const u of datasetUrls) {
    try {
      new URL(u);
    } catch {
      problems.push(`HARVEST_DATASET_URLS must be comma-separated absolute URLs (got "${u}")`);
    }
  }
  const harvest: HarvestConfig = {
    enabled: bool('HARVEST_ENABLED', true),
    pollIntervalMs: int('HARVEST_POLL_INTERVAL_SECONDS', 8, 1, 86_400) * 1000,
    concurrency: int('HARVEST_CONCURRENCY', 4, 1, 64),
    registerSandbox: bool('HARVEST_REGISTER_SANDBOX', true),
    datasetUrls,
  };

  const smtpRaw = env.SMTP_URL || undefined;
  let smtpUrl: string | undefined;
  if (smtpRaw !== undefined) {
    // The URL may carry a password: problems never echo it.
    const parsed = URL.canParse(smtpRaw) ? new URL(smtpRaw) : undefined;
    if (parsed && ['smtp:', 'smtps:'].includes(parsed.protocol) && parsed.hostname !== '') smtpUrl = smtpRaw;
    else
      problems.push(
        'SMTP_URL must be an smtp:// or smtps:// URL with a host, e.g. smtp://user:pass@mail.example.org:587',
      );
  }
  const defaultFrom = (env.EMAIL_FROM_DEFAULT || 'activehub <no-reply@localhost>').trim();
  if (!MAILBOX_PATTERN.test(defaultFrom)) {
    problems.push(`EMAIL_FROM_DEFAULT must be an address or "Name <address>" (got "${env.EMAIL_FROM_DEFAULT ?? ''}")`);
  }
  const mail: MailConfig = { smtpUrl, defaultFrom, devMailbox: bool('DEV_MAILBOX', true) };

  const paymentProvider = env.PAYMENT_PROVIDER || 'sandbox';
  if (paymentProvider !== 'sandbox' && paymentProvider !== 'stripe') {
    problems.push(`PAYMENT_PROVIDER must be sandbox or stripe (got "${paymentProvider}")`);
  }
  const stripeSecretKey = env.STRIPE_SECRET_KEY || undefined;
  const stripePublishableKey = env.STRIPE_PUBLISHABLE_KEY || undefined;
  const stripeApiBase = url('STRIPE_API_BASE');
  // Keys are secrets: problems name the variable, never echo its value.
  if (stripeSecretKey !== undefined && !/^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}$/.test(stripeSecretKey)) {
    problems.push('STRIPE_SECRET_KEY must be a Stripe secret key (sk_test_…, sk_live_…, or a restricted rk_… key)');
  }
  if (stripePublishableKey !== undefined && !/^pk_(test|live)_[A-Za-z0-9_]{8,}$/.test(stripePublishableKey)) {
    problems.push('STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key (pk_test_… or pk_live_…)');
  }
  if (paymentProvider === 'stripe') {
    if (stripeSecretKey === undefined) problems.push('STRIPE_SECRET_KEY is required when PAYMENT_PROVIDER is stripe');
    if (stripePublishableKey === undefined) {
      problems.push('STRIPE_PUBLISHABLE_KEY is required when PAYMENT_PROVIDER is stripe');
    }
  }
  const secretMode = /^(?:sk|rk)_(test|live)_/.exec(stripeSecretKey ?? '')?.[1];
  const publishableMode = /^pk_(test|live)_/.exec(stripePublishableKey ?? '')?.[1];
  if (secretMode && publishableMode && secretMode !== publishableMode) {
    problems.push(
      `STRIPE_SECRET_KEY is a ${secretMode} key but STRIPE_PUBLISHABLE_KEY is a ${publishableMode} key; use a pair from one mode`,
    );
  }
  const payments: PaymentsConfig = {
    provider: paymentProvider === 'stripe' ? 'stripe' : 'sandbox',
    stripe:
      stripeSecretKey !== undefined && stripePublishableKey !== undefined
        ? { secretKey: stripeSecretKey, publishableKey: stripePublishableKey, apiBase: stripeApiBase }
        : undefined,
  };

  const allowedHosts = (env.OUTBOUND_ALLOWED_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  for (const h of allowedHosts) {
    try {
      parseHostEntry(h);
    } catch {
      problems.push(`OUTBOUND_ALLOWED_HOSTS must be comma-separated host or host:port entries (got "${h}")`);
    }
  }
  const outbound: OutboundConfig = {
    allowPrivate: bool('OUTBOUND_ALLOW_PRIVATE', false),
    allowedHosts: allowedHosts.filter((h) => {
      try {
        parseHostEntry(h);
        return true;
      } catch {
        return false;
      }
    }),
  };

  const trustProxy = parseTrustProxy(env.TRUST_PROXY, problems);
  const redisRaw = env.REDIS_URL || undefined;
  let redisUrl: string | undefined;
  if (redisRaw !== undefined) {
    // The URL may carry a password: problems never echo it.
    const parsed = URL.canParse(redisRaw) ? new URL(redisRaw) : undefined;
    if (parsed && ['redis:', 'rediss:'].includes(parsed.protocol) && parsed.hostname !== '') redisUrl = redisRaw;
    else problems.push('REDIS_URL must be a redis:// or rediss:// URL with a host, e.g. redis://127.0.0.1:6379');
  }
  const redisKeyPrefix = env.REDIS_KEY_PREFIX ?? 'activehub:';
  if (!/^[A-Za-z0-9:._-]{1,64}$/.test(redisKeyPrefix)) {
    problems.push(
      `REDIS_KEY_PREFIX must be 1-64 characters of A-Z, a-z, 0-9, ":", ".", "_" or "-" (got "${redisKeyPrefix}")`,
    );
  }

  const config: Config = {
    port,
    host,
    publicBaseUrl,
    databaseUrl,
    dataDir,
    logLevel,
    demoApiKey,
    seedDemo: bool('SEED_DEMO', true),
    rateLimit: {
      max: int('RATE_LIMIT_MAX', 1200, 1, 10_000_000),
      windowMs: int('RATE_LIMIT_WINDOW_MS', 60_000, 1000, 86_400_000),
      addressMax: int('RATE_LIMIT_ADDRESS_MAX', 3000, 1, 10_000_000),
      authFailuresMax: int('RATE_LIMIT_AUTH_FAILURES_MAX', 20, 1, 10_000_000),
    },
    trustProxy,
    redisUrl,
    redisKeyPrefix,
    authCacheTtlMs: int('AUTH_CACHE_TTL_MS', 5000, 0, 600_000),
    bookingTargetCacheMs: int('BOOKING_TARGET_CACHE_MS', 10_000, 0, 600_000),
    jobs: {
      enabled: bool('JOBS_ENABLED', true),
      pollIntervalSeconds: int('JOBS_POLL_INTERVAL_SECONDS', 1, 1, 3600),
      leaseSeconds: int('JOBS_LEASE_SECONDS', 60, 2, 3600),
      maintenanceIntervalSeconds: int('JOBS_MAINTENANCE_INTERVAL_SECONDS', 30, 1, 3600),
      stallAfterSeconds: int('JOBS_STALL_AFTER_SECONDS', 120, 1, 86_400),
    },
    recovery: { afterSeconds: int('CHECKOUT_RECOVERY_AFTER_SECONDS', 120, 1, 86_400) },
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    sandbox,
    adminApiKey,
    secretsKey,
    metricsToken,
    harvest,
    mail,
    payments,
    outbound,
    ...overrides,
  };

  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * TRUST_PROXY: unset/false, true (every hop), a hop count, or comma-separated addresses and
 * CIDR ranges of the proxies (or proxy-addr's names loopback, linklocal, uniquelocal).
 */
function parseTrustProxy(raw: string | undefined, problems: string[]): boolean | number | string[] {
  const value = (raw ?? '').trim();
  if (value === '' || ['0', 'false', 'no', 'off'].includes(value.toLowerCase())) return false;
  if (['true', 'yes', 'on'].includes(value.toLowerCase())) return true;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops >= 1 && hops <= 100) return hops;
  }
  const entries = value.split(',').map((e) => e.trim());
  const bad = entries.filter((e) => !isProxyEntry(e));
  if (bad.length === 0) return entries;
  problems.push(
    `TRUST_PROXY must be true, false, a hop count (1-100) or comma-separated proxy addresses or CIDR ranges (got "${value}")`,
  );
  return false;
}

function isProxyEntry(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address, bits, ...rest] = entry.split('/');
  if (rest.length > 0 || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * The bundled sandbox booking systems `npm start` runs (SANDBOX_INSTANCES of them): instance n
 * listens on port + n with seed + n and keeps its data in `<dataDir>-<n+1>` (always embedded).
 */
export function sandboxInstances(config: Config): SandboxConfig[] {
  if (!config.sandbox.enabled) return [];
  return Array.from({ length: config.sandbox.instances }, (_, n) =>
    n === 0
      ? config.sandbox
      : {
          ...config.sandbox,
          port: config.sandbox.port + n,
          publicUrl: config.sandbox.publicUrl.replace(/:(\d+)$/, (_m, p: string) => `:${Number(p) + n}`),
          seed: config.sandbox.seed + n,
          dataDir: `${config.sandbox.dataDir}-${n + 1}`,
          databaseUrl: undefined,
        },
  );
}

/**
 * OUTBOUND_ALLOWED_HOSTS plus, while the bundled sandbox is enabled, exactly its instances'
 * origins (it is harvested and booked by this process over HTTP, usually on localhost).
 */
export function outboundAllowedHosts(config: Config): string[] {
  const sandbox = sandboxInstances(config).map((s) => {
    const u = new URL(s.publicUrl);
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  });
  return [...new Set([...config.outbound.allowedHosts, ...sandbox])];
}
