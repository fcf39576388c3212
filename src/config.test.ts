import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, outboundAllowedHosts } from './config.js';

/** The problems `env` is rejected with (fails the test if it is accepted). */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

const SECRETS_KEY_PROBLEM = 'SECRETS_KEY must be 32 random bytes as 64 hex digits or base64 (openssl rand -base64 32)';

describe('loadConfig', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('needs no configuration at all: embedded database under ./data, port 3000', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      publicBaseUrl: 'http://localhost:3000',
      databaseUrl: undefined,
      dataDir: path.resolve('./data'),
      logLevel: 'info',
      demoApiKey: undefined,
      seedDemo: true,
      rateLimit: { max: 1200, windowMs: 60_000, addressMax: 3000, authFailuresMax: 20 },
      trustProxy: false,
      redisUrl: undefined,
      redisKeyPrefix: 'activehub:',
      authCacheTtlMs: 5000,
      bookingTargetCacheMs: 10_000,
      jobs: {
        enabled: true,
        pollIntervalSeconds: 1,
        leaseSeconds: 60,
        maintenanceIntervalSeconds: 30,
        stallAfterSeconds: 120,
      },
      recovery: { afterSeconds: 120 },
      shutdownTimeoutMs: 10_000,
      adminApiKey: undefined,
      metricsToken: undefined,
    });
    expect(config.sandbox).toMatchObject({
      enabled: true,
      port: 3100,
      publicUrl: 'http://localhost:3100',
      dataDir: path.join(path.resolve('./data'), 'sandbox'),
      databaseUrl: undefined,
    });
    expect(config.harvest).toMatchObject({ enabled: true, datasetUrls: [] });
  });

  it('reads every setting from the environment it is given', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      PUBLIC_BASE_URL: 'https://activehub.example.org/',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/activehub',
      DATA_DIR: '/tmp/activehub-data',
      LOG_LEVEL: 'warn',
      DEMO_API_KEY: 'demo_key_0123456789',
      SEED_DEMO: 'false',
      RATE_LIMIT_MAX: '10',
      RATE_LIMIT_WINDOW_MS: '1000',
      RATE_LIMIT_ADDRESS_MAX: '30',
      RATE_LIMIT_AUTH_FAILURES_MAX: '3',
      TRUST_PROXY: '2',
      REDIS_URL: 'redis://:secret@127.0.0.1:6380/2',
      REDIS_KEY_PREFIX: 'ah-prod:',
      AUTH_CACHE_TTL_MS: '0',
      BOOKING_TARGET_CACHE_MS: '250',
      JOBS_ENABLED: 'no',
      JOBS_POLL_INTERVAL_SECONDS: '5',
      JOBS_LEASE_SECONDS: '20',
      JOBS_MAINTENANCE_INTERVAL_SECONDS: '7',
      JOBS_STALL_AFTER_SECONDS: '45',
      CHECKOUT_RECOVERY_AFTER_SECONDS: '9',
      SHUTDOWN_TIMEOUT_MS: '2500',
      SANDBOX_PORT: '9100',
      SANDBOX_DATABASE_URL: 'postgresql://postgres@127.0.0.1/sandbox',
      ADMIN_API_KEY: 'admin-key-0123456789',
      METRICS_TOKEN: 'metrics-token-0123456789',
      HARVEST_DATASET_URLS: 'https://a.example.com/, https://b.example.com/openactive',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      // Trailing slashes are dropped so `${publicBaseUrl}/api/...` has no double slash.
      publicBaseUrl: 'https://activehub.example.org',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/activehub',
      dataDir: '/tmp/activehub-data',
      logLevel: 'warn',
      demoApiKey: 'demo_key_0123456789',
      seedDemo: false,
      rateLimit: { max: 10, windowMs: 1000, addressMax: 30, authFailuresMax: 3 },
      trustProxy: 2,
      redisUrl: 'redis://:secret@127.0.0.1:6380/2',
      redisKeyPrefix: 'ah-prod:',
      authCacheTtlMs: 0,
      bookingTargetCacheMs: 250,
      jobs: {
        enabled: false,
        pollIntervalSeconds: 5,
        leaseSeconds: 20,
        maintenanceIntervalSeconds: 7,
        stallAfterSeconds: 45,
      },
      recovery: { afterSeconds: 9 },
      shutdownTimeoutMs: 2500,
      adminApiKey: 'admin-key-0123456789',
      metricsToken: 'metrics-token-0123456789',
    });
    expect(config.sandbox).toMatchObject({
      port: 9100,
      publicUrl: 'http://localhost:9100',
      dataDir: '/tmp/activehub-data/sandbox',
      databaseUrl: 'postgresql://postgres@127.0.0.1/sandbox',
    });
    expect(config.harvest.datasetUrls).toEqual(['https://a.example.com/', 'https://b.example.com/openactive']);
  });

  it('derives the public base URL from PORT when it is not set', () => {
    expect(loadConfig({ PORT: '4000' }).publicBaseUrl).toBe('http://localhost:4000');
  });

  it('accepts the usual spellings of booleans and treats empty values as unset', () => {
    for (const yes of ['1', 'true', 'TRUE', 'yes', 'on']) expect(loadConfig({ SEED_DEMO: yes }).seedDemo).toBe(true);
    for (const no of ['0', 'false', 'False', 'no', 'off']) expect(loadConfig({ SEED_DEMO: no }).seedDemo).toBe(false);
    expect(loadConfig({ PORT: '', DATABASE_URL: '', SEED_DEMO: '' })).toMatchObject({
      port: 3000,
      databaseUrl: undefined,
      seedDemo: true,
    });
  });

  it('reads only the environment it is given, not process.env', () => {
    process.env.PORT = '1234';
    process.env.DATABASE_URL = 'postgres://elsewhere/db';
    expect(loadConfig({})).toMatchObject({ port: 3000, databaseUrl: undefined });
  });

  it('lets explicit overrides win over the environment', () => {
    const config = loadConfig({ PORT: '8080' }, { port: 9999, logLevel: 'silent' });
    expect(config.port).toBe(9999);
    expect(config.logLevel).toBe('silent');
  });

  const integerProblem = (name: string, min: number, max: number, raw: string) =>
    `${name} must be an integer between ${min} and ${max} (got "${raw}")`;

  const bad: [string, string, string][] = [
    ['PORT', 'abc', integerProblem('PORT', 0, 65535, 'abc')],
    ['PORT', '65536', integerProblem('PORT', 0, 65535, '65536')],
    ['PORT', '-1', integerProblem('PORT', 0, 65535, '-1')],
    ['PORT', '3000.5', integerProblem('PORT', 0, 65535, '3000.5')],
    // Not decimal integers, though Number() would read them as such.
    ['PORT', '0x50', integerProblem('PORT', 0, 65535, '0x50')],
    ['PORT', '3e3', integerProblem('PORT', 0, 65535, '3e3')],
    // Blank is not "0" (which would mean "any free port").
    ['PORT', '  ', integerProblem('PORT', 0, 65535, '  ')],
    ['SANDBOX_PORT', 'http', integerProblem('SANDBOX_PORT', 0, 65535, 'http')],
    ['RATE_LIMIT_MAX', '0', integerProblem('RATE_LIMIT_MAX', 1, 10_000_000, '0')],
    ['RATE_LIMIT_WINDOW_MS', '999', integerProblem('RATE_LIMIT_WINDOW_MS', 1000, 86_400_000, '999')],
    ['RATE_LIMIT_ADDRESS_MAX', '0', integerProblem('RATE_LIMIT_ADDRESS_MAX', 1, 10_000_000, '0')],
    ['RATE_LIMIT_AUTH_FAILURES_MAX', 'many', integerProblem('RATE_LIMIT_AUTH_FAILURES_MAX', 1, 10_000_000, 'many')],
    [
      'TRUST_PROXY',
      '10.0.0.0/33',
      'TRUST_PROXY must be true, false, a hop count (1-100) or comma-separated proxy addresses or CIDR ranges (got "10.0.0.0/33")',
    ],
    [
      'REDIS_URL',
      'http://127.0.0.1:6379',
      'REDIS_URL must be a redis:// or rediss:// URL with a host, e.g. redis://127.0.0.1:6379',
    ],
    [
      'REDIS_KEY_PREFIX',
      'has space',
      'REDIS_KEY_PREFIX must be 1-64 characters of A-Z, a-z, 0-9, ":", ".", "_" or "-" (got "has space")',
    ],
    ['AUTH_CACHE_TTL_MS', '-5', integerProblem('AUTH_CACHE_TTL_MS', 0, 600_000, '-5')],
    ['JOBS_POLL_INTERVAL_SECONDS', '0', integerProblem('JOBS_POLL_INTERVAL_SECONDS', 1, 3600, '0')],
    ['SHUTDOWN_TIMEOUT_MS', 'soon', integerProblem('SHUTDOWN_TIMEOUT_MS', 0, 600_000, 'soon')],
    ['SEED_DEMO', 'maybe', 'SEED_DEMO must be true or false (got "maybe")'],
    ['JOBS_ENABLED', 'enabled', 'JOBS_ENABLED must be true or false (got "enabled")'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "loud")'],
    ['DEMO_API_KEY', 'short', 'DEMO_API_KEY must be 16-128 characters of A-Z, a-z, 0-9, _ or -'],
    ['DEMO_API_KEY', 'has spaces in it, sixteen+', 'DEMO_API_KEY must be 16-128 characters of A-Z, a-z, 0-9, _ or -'],
    ['ADMIN_API_KEY', 'tooshort', 'ADMIN_API_KEY must be at least 16 characters'],
    ['SECRETS_KEY', 'short', SECRETS_KEY_PROBLEM],
    ['SECRETS_KEY', 'a'.repeat(63), SECRETS_KEY_PROBLEM],
    ['SECRETS_KEY', Buffer.alloc(16, 7).toString('base64'), SECRETS_KEY_PROBLEM],
    ['METRICS_TOKEN', 'tooshort', 'METRICS_TOKEN must be 16-200 visible ASCII characters (no spaces)'],
    [
      'METRICS_TOKEN',
      'has a space in it, long enough',
      'METRICS_TOKEN must be 16-200 visible ASCII characters (no spaces)',
    ],
    ['PUBLIC_BASE_URL', 'not a url', 'PUBLIC_BASE_URL must be an absolute http(s) URL (got "not a url")'],
    // `new URL` reads these as URLs with a "localhost:" or "javascript:" scheme.
    ['PUBLIC_BASE_URL', 'localhost:3000', 'PUBLIC_BASE_URL must be an absolute http(s) URL (got "localhost:3000")'],
    [
      'PUBLIC_BASE_URL',
      'javascript:alert(1)',
      'PUBLIC_BASE_URL must be an absolute http(s) URL (got "javascript:alert(1)")',
    ],
    ['DATABASE_URL', 'nope', 'DATABASE_URL must be a postgres:// or postgresql:// URL (got "nope")'],
    [
      'DATABASE_URL',
      'localhost:5432/activehub',
      'DATABASE_URL must be a postgres:// or postgresql:// URL (got "localhost:5432/activehub")',
    ],
    [
      'DATABASE_URL',
      'mysql://root@localhost/db',
      'DATABASE_URL must be a postgres:// or postgresql:// URL (got "mysql://root@localhost/db")',
    ],
    [
      'SANDBOX_DATABASE_URL',
      'http://localhost/db',
      'SANDBOX_DATABASE_URL must be a postgres:// or postgresql:// URL (got "http://localhost/db")',
    ],
    [
      'HARVEST_DATASET_URLS',
      'https://ok.example.com/,not a url',
      'HARVEST_DATASET_URLS must be comma-separated absolute URLs (got "not a url")',
    ],
    [
      'SMTP_URL',
      'http://mail.example.org',
      'SMTP_URL must be an smtp:// or smtps:// URL with a host, e.g. smtp://user:pass@mail.example.org:587',
    ],
    ['EMAIL_FROM_DEFAULT', 'no-reply', 'EMAIL_FROM_DEFAULT must be an address or "Name <address>" (got "no-reply")'],
    ['DEV_MAILBOX', 'perhaps', 'DEV_MAILBOX must be true or false (got "perhaps")'],
  ];

  it('reads SECRETS_KEY as 32 bytes in hex or base64, and leaves it unset (key file) otherwise', () => {
    const key = Buffer.alloc(32, 9);
    expect(loadConfig({ SECRETS_KEY: key.toString('hex') }).secretsKey).toEqual(key);
    expect(loadConfig({ SECRETS_KEY: key.toString('base64') }).secretsKey).toEqual(key);
    expect(loadConfig({}).secretsKey).toBeUndefined();
    // A problem never echoes the value given.
    expect(() => loadConfig({ SECRETS_KEY: 'not-a-key-but-a-secret' })).toThrow(/^(?![\s\S]*not-a-key-but-a-secret)/);
  });

  it('reads the mail settings: local outbox and dev mailbox unless SMTP_URL is set', () => {
    expect(loadConfig({}).mail).toEqual({
      smtpUrl: undefined,
      defaultFrom: 'activehub <no-reply@localhost>',
      devMailbox: true,
    });
    expect(
      loadConfig({
        SMTP_URL: 'smtps://relay%40acme:p%40ss@mail.example.org:465',
        EMAIL_FROM_DEFAULT: 'Acme Bookings <bookings@acme.example>',
        DEV_MAILBOX: 'false',
      }).mail,
    ).toEqual({
      smtpUrl: 'smtps://relay%40acme:p%40ss@mail.example.org:465',
      defaultFrom: 'Acme Bookings <bookings@acme.example>',
      devMailbox: false,
    });
    expect(loadConfig({ EMAIL_FROM_DEFAULT: 'no-reply@example.org' }).mail.defaultFrom).toBe('no-reply@example.org');
    expect(loadConfig({ SMTP_URL: 'smtp://127.0.0.1:2525' }).mail.smtpUrl).toBe('smtp://127.0.0.1:2525');
  });

  it('never repeats an SMTP password in a problem, and refuses addresses with line breaks', () => {
    const problems = problemsOf({ SMTP_URL: 'mailto://user:hunter2-secret@mail.example.org' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain('hunter2-secret');
    expect(problemsOf({ SMTP_URL: 'smtp://' })).toHaveLength(1);
    expect(problemsOf({ EMAIL_FROM_DEFAULT: 'a@b.example\r\nBcc: c@d.example' })).toHaveLength(1);
    expect(problemsOf({ EMAIL_FROM_DEFAULT: 'Two <a@b.example>, <c@d.example>' })).toHaveLength(1);
  });

  it('reads TRUST_PROXY as Fastify takes it: off, every hop, a hop count, or the proxies', () => {
    for (const off of ['', 'false', 'off', '0']) expect(loadConfig({ TRUST_PROXY: off }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.1, 10.1.0.0/16,::1,fd00::/8,loopback' }).trustProxy).toEqual([
      '10.0.0.1',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    for (const wrong of ['maybe', '10.0.0.300', '10.0.0.1/8/8', '::1/129', '101', '10.0.0.1,,10.0.0.2']) {
      expect(problemsOf({ TRUST_PROXY: wrong }), wrong).toHaveLength(1);
    }
  });

  it('never repeats a Redis password in a problem', () => {
    const problems = problemsOf({ REDIS_URL: 'tcp://:hunter2-secret@127.0.0.1:6379' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain('hunter2-secret');
    expect(loadConfig({ REDIS_URL: 'rediss://cache.example.org:6380' }).redisUrl).toBe(
      'rediss://cache.example.org:6380',
    );
  });

  it.each(bad)('reports %s=%j', (name, value, problem) => {
    expect(problemsOf({ [name]: value })).toEqual([problem]);
  });

  it('reports every problem at once, in one error', () => {
    const env = Object.fromEntries(
      bad.filter(([name], i) => bad.findIndex(([n]) => n === name) === i).map(([n, v]) => [n, v]),
    );
    const problems = problemsOf(env);
    expect(problems).toHaveLength(Object.keys(env).length);
    for (const name of Object.keys(env))
      expect(
        problems.some((p) => p.startsWith(`${name} `)),
        name,
      ).toBe(true);
    let message = '';
    try {
      loadConfig(env);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message.split('\n')[0]).toBe('Invalid configuration:');
    for (const p of problems) expect(message).toContain(`  - ${p}`);
  });
});

describe('loadConfig: payments', () => {
  const sk = 'sk_test_51ExampleSecretKey0123';
  const pk = 'pk_test_51ExamplePublishKey0123';

  it('uses the sandbox provider by default, with no Stripe keys needed', () => {
    expect(loadConfig({}).payments).toEqual({ provider: 'sandbox', stripe: undefined });
  });

  it('reads the Stripe provider, keys and API base', () => {
    const config = loadConfig({
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_SECRET_KEY: sk,
      STRIPE_PUBLISHABLE_KEY: pk,
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
    });
    expect(config.payments).toEqual({
      provider: 'stripe',
      stripe: { secretKey: sk, publishableKey: pk, apiBase: 'http://127.0.0.1:12111' },
    });
    expect(
      loadConfig({
        PAYMENT_PROVIDER: 'stripe',
        STRIPE_SECRET_KEY: 'rk_live_restricted0123',
        STRIPE_PUBLISHABLE_KEY: 'pk_live_abcdefgh0123',
      }).payments.stripe,
    ).toEqual({ secretKey: 'rk_live_restricted0123', publishableKey: 'pk_live_abcdefgh0123', apiBase: undefined });
  });

  it('reports every payments problem together, without echoing secret keys', () => {
    const problems = problemsOf({
      PAYMENT_PROVIDER: 'paypal',
      STRIPE_SECRET_KEY: 'pk_test_notasecretkey',
      STRIPE_PUBLISHABLE_KEY: 'sk_test_notpublishable',
      STRIPE_API_BASE: 'ftp://stripe.example',
    });
    expect(problems).toEqual([
      'PAYMENT_PROVIDER must be sandbox or stripe (got "paypal")',
      'STRIPE_API_BASE must be an absolute http(s) URL (got "ftp://stripe.example")',
      'STRIPE_SECRET_KEY must be a Stripe secret key (sk_test_…, sk_live_…, or a restricted rk_… key)',
      'STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key (pk_test_… or pk_live_…)',
    ]);
    expect(problems.join('\n')).not.toContain('notasecretkey');
  });

  it('needs both keys for the Stripe provider, from the same mode', () => {
    expect(problemsOf({ PAYMENT_PROVIDER: 'stripe' })).toEqual([
      'STRIPE_SECRET_KEY is required when PAYMENT_PROVIDER is stripe',
      'STRIPE_PUBLISHABLE_KEY is required when PAYMENT_PROVIDER is stripe',
    ]);
    expect(
      problemsOf({ PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: sk, STRIPE_PUBLISHABLE_KEY: 'pk_live_abcdefgh0123' }),
    ).toEqual(['STRIPE_SECRET_KEY is a test key but STRIPE_PUBLISHABLE_KEY is a live key; use a pair from one mode']);
  });

  it('payments problems are reported along with the others', () => {
    const problems = problemsOf({ PORT: 'x', PAYMENT_PROVIDER: 'stripe', LOG_LEVEL: 'loud' });
    expect(problems).toHaveLength(4);
    expect(problems.some((p) => p.startsWith('PORT '))).toBe(true);
    expect(problems.some((p) => p.startsWith('LOG_LEVEL '))).toBe(true);
    expect(problems.filter((p) => p.startsWith('STRIPE_'))).toHaveLength(2);
  });

  it('closes the outbound policy by default, opening exactly the bundled sandbox origins while it runs', () => {
    const config = loadConfig({});
    expect(config.outbound).toEqual({ allowPrivate: false, allowedHosts: [] });
    expect(outboundAllowedHosts(config)).toEqual(['localhost:3100', 'localhost:3101']);
    expect(outboundAllowedHosts(loadConfig({ SANDBOX_ENABLED: 'false' }))).toEqual([]);
    const custom = loadConfig({
      OUTBOUND_ALLOW_PRIVATE: 'true',
      OUTBOUND_ALLOWED_HOSTS: 'booking.internal, 10.0.0.5:8443,[::1]:9000',
      SANDBOX_PUBLIC_URL: 'https://sandbox.example.org',
      SANDBOX_INSTANCES: '1',
    });
    expect(custom.outbound).toEqual({
      allowPrivate: true,
      allowedHosts: ['booking.internal', '10.0.0.5:8443', '[::1]:9000'],
    });
    expect(outboundAllowedHosts(custom)).toEqual([
      'booking.internal',
      '10.0.0.5:8443',
      '[::1]:9000',
      'sandbox.example.org:443',
    ]);
  });

  it('refuses OUTBOUND_ALLOWED_HOSTS entries that are not host[:port]', () => {
    expect(problemsOf({ OUTBOUND_ALLOWED_HOSTS: 'ok.example, http://x.example/, a:99999' })).toEqual([
      'OUTBOUND_ALLOWED_HOSTS must be comma-separated host or host:port entries (got "http://x.example/")',
      'OUTBOUND_ALLOWED_HOSTS must be comma-separated host or host:port entries (got "a:99999")',
    ]);
    expect(problemsOf({ OUTBOUND_ALLOW_PRIVATE: 'maybe' })).toEqual([
      'OUTBOUND_ALLOW_PRIVATE must be true or false (got "maybe")',
    ]);
  });
});
