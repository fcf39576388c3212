import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { validatorCompiler } from '../http/validation.js';
import type { Clock } from '../lib/clock.js';
import { createVocabularies, type Vocabularies } from '../lib/vocabularies.js';
import { openBookingApi } from './booking/index.js';
import { datasetSiteRoutes } from './dataset-site.routes.js';
import type { SandboxDB } from './db/schema.js';
import { registerSandboxErrorHandling } from './errors.js';
import { feedRoutes } from './feeds.routes.js';
import { imageRoutes } from './images.routes.js';
import { pageRoutes } from './pages.routes.js';
import type { SandboxUrls } from './ids.js';
import { testInterfaceDatasetRoutes } from './test-interface.routes.js';

/** Everything the sandbox's routes need, created by main.ts (or a test) and passed in. */
export interface SandboxDeps {
  db: Kysely<SandboxDB>;
  urls: SandboxUrls;
  clock: Clock;
  log?: FastifyBaseLogger;
  /** RPDE page size (500 unless a test wants short pages). */
  feedPageSize?: number;
  /** The vendored OpenActive vocabularies (loaded once by the caller; built here if absent). */
  vocab: Vocabularies;
}

const JSON_TYPES = ['application/json', 'application/ld+json', 'application/vnd.openactive.booking+json'];

/**
 * The sandbox booking system's HTTP app: dataset site, open-data RPDE feeds, and the Open
 * Booking API under `/api/openbooking` (incl. the test interface). Route groups are registered
 * here by hand, each a plain function of the deps.
 */
export async function buildSandboxApp(
  input: Omit<SandboxDeps, 'vocab'> & { vocab?: Vocabularies },
): Promise<FastifyInstance> {
  const deps: SandboxDeps = { ...input, vocab: input.vocab ?? createVocabularies() };
  const logger: FastifyBaseLogger = deps.log ?? pino({ level: 'silent' });
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: 1024 * 1024,
    genReqId: () => randomUUID(),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 500 },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.removeAllContentTypeParsers();
  // An empty body is "no body" (a DELETE sent with a JSON content type), not malformed JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else void parseJson(request, body as string, done);
  });
  registerSandboxErrorHandling(app);

  await app.register(datasetSiteRoutes(deps));
  await app.register(feedRoutes(deps));
  await app.register(imageRoutes());
  await app.register(pageRoutes(deps));
  await app.register(testInterfaceDatasetRoutes(deps));
  await app.register(openBookingApi(deps));
  return app;
}
