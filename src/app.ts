import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { Counter, Histogram } from 'prom-client';
import type { Deps } from './deps.js';
import { registerAuth } from './http/auth.js';
import { handleClientError, handleFrameworkError, registerErrorHandling } from './http/error-handler.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { registerServerTiming } from './http/server-timing.js';
import { AppError } from './http/errors.js';
import { registerIdempotency } from './http/idempotency.js';
import { createMemoryStore, createRedisStore, registerRateLimits, trustProxyOption } from './http/rate-limit.js';
import { opsRoutes } from './http/ops.routes.js';
import { ErrorResponse } from './http/schemas.js';
import { validatorCompiler } from './http/validation.js';
import { createBrokersService } from './modules/brokers/index.js';
import { createCustomersService, customersRoutes, ERASE_JOB } from './modules/customers/index.js';
import { catalogRoutes, createCatalogService, createHarvester, HARVEST_JOB } from './modules/catalog/index.js';
import { bookingRoutes, createBookingService } from './modules/booking/index.js';
import { createProjector, createSearchService, PROJECT_JOB, searchRoutes } from './modules/search/index.js';
import { createMailer, mailboxRoutes, SEND_EMAIL_JOB } from './modules/notifications/index.js';
import { createPaymentsService } from './modules/payments/index.js';
import {
  checkoutBaseUrl,
  checkoutRoutes,
  createCheckoutHosts,
  createCheckoutService,
  eraseCheckoutCustomer,
  exportCheckoutCustomer,
  RECOVER_ORDER_JOB,
  RECOVER_ORDERS_JOB,
} from './modules/checkout/index.js';
import { checkoutPagesRoutes } from './modules/checkout/pages/index.js';
import {
  createOrdersApi,
  createOrdersFeedReader,
  createOrdersService,
  ORDERS_FEED_JOB,
  orderFeedsAdminRoutes,
  ORDERS_HOUSEKEEPING_JOB,
  ordersRoutes,
  REFUND_JOB,
} from './modules/orders/index.js';
import { createVocabularies } from './lib/vocabularies.js';
import { VERSION } from './lib/version.js';

const MAX_URL_LENGTH = 2048;
const BODY_LIMIT = 1024 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_TYPES = ['application/json', 'application/ld+json', 'application/vnd.openactive.booking+json'];

export { VERSION };

/** Builds the services from `deps` and the HTTP app around them: the one composition root. */
export function buildServices(deps: Deps) {
  const brokers = createBrokersService({
    database: deps.database,
    clock: deps.clock,
    authCacheTtlMs: deps.config.authCacheTtlMs,
    metrics: deps.metrics,
  });
  const mailer = createMailer({
    database: deps.database,
    jobs: deps.jobs,
    log: deps.log,
    clock: deps.clock,
    config: deps.config.mail,
  });
  // Retries with exponential backoff come with every job (jobs.send: 10 tries from 2 s).
  deps.jobs.define<{ emailId: string }>(SEND_EMAIL_JOB, (data) => mailer.deliver(data.emailId), {
    concurrency: 2,
    pollEverySeconds: 2,
  });
  // The order record (written by checkout); its erasure hook puts placeholders in orders.
  const orders = createOrdersService({ database: deps.database, clock: deps.clock });
  const payments = createPaymentsService({
    database: deps.database,
    clock: deps.clock,
    log: deps.log,
    config: deps.config.payments,
  });
  const customers = createCustomersService({
    database: deps.database,
    jobs: deps.jobs,
    clock: deps.clock,
    publicBaseUrl: deps.config.publicBaseUrl,
    erasureHooks: [mailer.eraseCustomer, orders.eraseCustomer, eraseCheckoutCustomer],
    // The export holds what erasure reaches (README: GDPR access request).
    exportSections: [
      async (c) => {
        const held = await orders.exportCustomer(c.id);
        const paymentIds = held.flatMap((o) => o['activehub:paymentId'] ?? []);
        return { 'activehub:orders': held, 'activehub:payments': await payments.exportPayments(paymentIds) };
      },
      async (c) => ({ 'activehub:emails': await mailer.exportCustomer(c.id) }),
      async (c) => ({ 'activehub:checkoutSessions': await exportCheckoutCustomer(deps.database.db, c.id) }),
    ],
  });
  // Queues that need not answer within a second poll less often when idle (each poll is a query).
  deps.jobs.define<{ customerId: number }>(ERASE_JOB, (data) => customers.eraseCustomer(data.customerId), {
    pollEverySeconds: 5,
  });
  const vocab = createVocabularies();
  const catalog = createCatalogService({
    database: deps.database,
    http: deps.http,
    clock: deps.clock,
    // Feed health shows whether the harvest queue itself is stalled (lib/jobs.ts).
    harvestQueue: async () => (await deps.jobs.queueHealth()).queues.find((q) => q.queue === HARVEST_JOB),
    stallAfterSeconds: deps.config.jobs.stallAfterSeconds,
  });
  // Open Booking API client for sellers' booking systems (checkout books through it).
  const booking = createBookingService({
    database: deps.database,
    http: deps.http,
    clock: deps.clock,
    log: deps.log,
    catalog,
    secrets: deps.secrets,
    targetCacheMs: deps.config.bookingTargetCacheMs,
  });
  const harvester = createHarvester({
    database: deps.database,
    http: deps.http,
    clock: deps.clock,
    log: deps.log,
    vocab,
    pollIntervalMs: deps.config.harvest.pollIntervalMs,
    concurrency: deps.config.harvest.concurrency,
  });
  deps.jobs.define<{ feedId: number }>(HARVEST_JOB, async (data) => void (await harvester.walkFeed(data.feedId)), {
    policy: 'stately',
    concurrency: deps.config.harvest.concurrency,
    // The harvest scheduler sends due feeds every 2 s.
    pollEverySeconds: 2,
  });
  const projector = createProjector({ database: deps.database, catalog, vocab, clock: deps.clock, log: deps.log });
  deps.jobs.define(PROJECT_JOB, async () => void (await projector.runOnce({ budgetMs: 20_000 })), {
    policy: 'stately',
  });
  const search = createSearchService({
    database: deps.database,
    vocab,
    clock: deps.clock,
    publicBaseUrl: deps.config.publicBaseUrl,
    // DECISIONS §1: the broker's own checkout host, else a path under the public base URL.
    checkoutBaseUrl: async (auth) =>
      checkoutBaseUrl(
        (await brokers.findBrokerBySlug(auth.brokerSlug)) ?? { slug: auth.brokerSlug, checkout_host: null },
        deps.config.publicBaseUrl,
      ),
    // Bookability per key mode (test keys book test publishers only): a small cached map.
    publisherModes: () => catalog.publisherModes(),
  });
  // Checkout (issue 6): sessions API, C1/C2, pay = authorize → B → capture → order + email. Each
  // pending order carries a durable job that settles it if the process stopped half-way.
  const checkout = createCheckoutService({
    database: deps.database,
    clock: deps.clock,
    log: deps.log,
    jobs: deps.jobs,
    publicBaseUrl: deps.config.publicBaseUrl,
    orders,
    catalog,
    payments,
    booking,
    mailer,
    emailFromDefault: deps.config.mail.defaultFrom,
  });
  // The recovery sweep (one at a time), and the per-order jobs queued by earlier versions.
  deps.jobs.define<{ olderThanMs?: number }>(
    RECOVER_ORDERS_JOB,
    async (data) =>
      void (await checkout.recovery.runOnce(data.olderThanMs !== undefined ? { olderThanMs: data.olderThanMs } : {})),
    { policy: 'stately', pollEverySeconds: 10 },
  );
  deps.jobs.define<{ orderId: string }>(RECOVER_ORDER_JOB, (data) => checkout.recovery.handleJob(data), {
    pollEverySeconds: 30,
  });
  // Orders API (issue 7) and the reader of the sellers' Orders feeds: refunds are jobs.
  const ordersApi = createOrdersApi({
    database: deps.database,
    clock: deps.clock,
    jobs: deps.jobs,
    log: deps.log,
    publicBaseUrl: deps.config.publicBaseUrl,
    booking,
    payments,
    mailer,
  });
  deps.jobs.define<{ refundId: string }>(REFUND_JOB, (data) => ordersApi.runRefund(data.refundId), {
    pollEverySeconds: 5,
  });
  const ordersFeed = createOrdersFeedReader({
    database: deps.database,
    http: deps.http,
    clock: deps.clock,
    log: deps.log,
    booking,
    orders: ordersApi,
  });
  deps.jobs.define<{ feedId: number }>(ORDERS_FEED_JOB, async (data) => void (await ordersFeed.readFeed(data.feedId)), {
    policy: 'stately',
    pollEverySeconds: 5,
  });
  // New sellers' feeds and receipts not yet issued, once per 30 s across processes.
  deps.jobs.define(
    ORDERS_HOUSEKEEPING_JOB,
    async () => {
      await ordersFeed.discoverFeeds();
      await ordersApi.issueMissingReceipts();
    },
    { pollEverySeconds: 5 },
  );
  // Brokers' own checkout hosts (DECISIONS §1), matched on the Host header.
  const checkoutHosts = createCheckoutHosts({ database: deps.database, log: deps.log });
  return {
    brokers,
    customers,
    checkoutHosts,
    vocab,
    catalog,
    booking,
    harvester,
    projector,
    search,
    mailer,
    payments,
    checkout,
    orders,
    ordersApi,
    ordersFeed,
  };
}

export type Services = ReturnType<typeof buildServices>;

export async function buildApp(deps: Deps, services: Services = buildServices(deps)): Promise<FastifyInstance> {
  // Fastify's logger type is narrower than pino's; the instance is the same.
  const logger: FastifyBaseLogger = deps.log;
  await services.checkoutHosts.refresh();
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: BODY_LIMIT,
    // A broker's checkout host serves its checkout without the /checkout/<slug> prefix.
    rewriteUrl: (req) => services.checkoutHosts.rewrite(req.url ?? '/', req.headers.host),
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
    frameworkErrors: handleFrameworkError,
    // Off unless TRUST_PROXY says which proxies' X-Forwarded-For to believe (request.ip).
    trustProxy: trustProxyOption(deps.config.trustProxy),
    clientErrorHandler: handleClientError,
    ajv: { customOptions: { strict: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.addSchema(ErrorResponse);

  // Only JSON bodies are accepted; anything else is a 415 rather than a confusing 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    JSON_TYPES,
    { parseAs: 'string', bodyLimit: BODY_LIMIT },
    app.getDefaultJsonParser('error', 'error'),
  );

  // Every route is also put in a router of our own so an unknown method on a known path can
  // answer 405 with Allow instead of 404.
  const routeTable = FindMyWay({ ignoreTrailingSlash: true });
  app.addHook('onRoute', (route) => {
    if (route.config?.localOnly) return; // never revealed by a 405 (http/local-only.ts)
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || method === 'OPTIONS') continue;
      try {
        routeTable.on(method as HTTPMethod, route.url, () => undefined);
      } catch {
        // duplicate registration (e.g. HEAD twin) — already known
      }
    }
  });
  const allowedMethods = (url: string): string[] => {
    const path = url.split('?')[0] ?? '/';
    return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => routeTable.find(m as HTTPMethod, path) !== null);
  };

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (request.url.length > MAX_URL_LENGTH) {
      throw new AppError('URI_TOO_LONG', `URLs are limited to ${MAX_URL_LENGTH} characters.`);
    }
  });

  registerErrorHandling(app, allowedMethods);
  // nosniff, no referrer and a Content-Security-Policy on everything (pages set their own).
  registerSecurityHeaders(app);
  // Server-Timing: how long a request waited on sellers' booking systems (seller;dur=…).
  registerServerTiming(app);

  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [deps.metrics],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [deps.metrics],
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: request.method, route, status: reply.statusCode });
    httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  // Every request counts: per address, per key hash, and rejected keys per address (rate-limit.ts).
  const rateLimits = registerRateLimits(app, {
    limits: deps.config.rateLimit,
    store: deps.config.redisUrl
      ? await createRedisStore({ url: deps.config.redisUrl, prefix: `${deps.config.redisKeyPrefix}rl:` })
      : createMemoryStore(),
    log: deps.log,
    metrics: deps.metrics,
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'activehub API',
        version: VERSION,
        description:
          'Search, firehose, customer accounts, checkout and orders over OpenActive data, compatible with the documented imin Platform API. Errors are OpenActive error objects.',
      },
      servers: [{ url: deps.config.publicBaseUrl }],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-KEY', description: "A broker's API key" },
          adminKey: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-KEY',
            description: 'The operator key (ADMIN_API_KEY)',
          },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, for scraping /metrics' },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerAuth(app, services.brokers, deps.config.adminApiKey, { onRejectedKey: rateLimits.noteRejectedKey });
  registerIdempotency(app, deps.database.db, deps.clock);

  await app.register(
    opsRoutes({
      database: deps.database,
      metrics: deps.metrics,
      version: VERSION,
      queueHealth: () => deps.jobs.queueHealth(),
      log: deps.log,
      adminApiKey: deps.config.adminApiKey,
      metricsToken: deps.config.metricsToken,
    }),
  );
  app.get('/openapi.json', { schema: { hide: true }, config: { rateLimit: false } }, async () => app.swagger());
  await app.register(customersRoutes(services.customers));
  await app.register(catalogRoutes(services.catalog));
  await app.register(bookingRoutes(services.booking));
  await app.register(searchRoutes(services.search));
  await app.register(ordersRoutes(services.ordersApi));
  await app.register(orderFeedsAdminRoutes(services.ordersFeed));
  await app.register(checkoutRoutes(services.checkout));
  // The hosted, broker-branded checkout pages (HTML; form posts parsed in that plugin only).
  await app.register(checkoutPagesRoutes(services.checkout));
  // The local outbox as pages, only while emails are not sent anywhere (development, demos).
  if (!deps.config.mail.smtpUrl && deps.config.mail.devMailbox) {
    deps.log.warn(
      'SMTP_URL is not set: emails stay in the local outbox, readable from this machine at /dev/mailbox (DEV_MAILBOX=false hides it)',
    );
    await app.register(mailboxRoutes(services.mailer));
  }

  return app;
}
