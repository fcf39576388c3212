import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp, buildServices } from './app.js';
import { loadConfig, sandboxInstances, type Config } from './config.js';
import { migrateToLatest } from './db/migrate.js';
import { closeDeps, createDeps } from './deps.js';
import { createHarvestScheduler } from './modules/catalog/index.js';
import { createRecoveryScheduler } from './modules/checkout/index.js';
import { createProjectionScheduler } from './modules/search/index.js';
import { createOrdersFeedScheduler } from './modules/orders/index.js';
import { startSandbox, type SandboxHandle } from './sandbox/main.js';

/**
 * Runs a start-up step that several servers starting together on one database all run (seeding
 * the demo broker, registering publishers): each is idempotent run after another, but run at
 * the same moment two may collide on a unique constraint (or deadlock); the loser runs it again
 * and finds what the winner wrote.
 */
async function alongsidePeers<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= 3 || (code !== '23505' && code !== '40P01')) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt + Math.random() * 200));
    }
  }
}

/** Starts the platform: migrate, seed the demo broker, listen, run background jobs. */
export async function runServer(config: Config = loadConfig()): Promise<void> {
  const deps = await createDeps(config);
  await migrateToLatest(deps.database.db);
  // Services define their job queues; starting the queue after that creates them all.
  const services = buildServices(deps);
  // Credentials stored in plain JSON by earlier versions are sealed; ones this key cannot open
  // (another SECRETS_KEY) are reported now rather than at a customer's checkout.
  if (config.databaseUrl && !config.secretsKey) {
    deps.log.warn(
      { file: path.join(config.dataDir, 'secrets.key') },
      'SECRETS_KEY is not set: booking credentials are sealed with the key file; set SECRETS_KEY (the same on every server) when servers on other machines share this database',
    );
  }
  const credentials = await services.booking.prepareStoredCredentials();
  if (credentials.sealed > 0) deps.log.info({ rows: credentials.sealed }, 'sealed stored booking credentials');
  if (credentials.unreadable > 0) {
    deps.log.error(
      { rows: credentials.unreadable, keyId: deps.secrets.keyId },
      'stored booking credentials do not open with this SECRETS_KEY: bookings with those sellers fail until the key is restored or the credentials are set again',
    );
  }
  await deps.jobs.start();
  const app = await buildApp(deps, services);

  let demoKey: string | undefined;
  let demoMode: string | undefined;
  if (config.seedDemo) {
    // A test key (unless DEMO_API_KEY is an ah_live_ key): the worked example books the bundled
    // sandbox, a test booking system, with test payments.
    const demo = await alongsidePeers(() => services.brokers.ensureDemoBroker(config.demoApiKey));
    demoKey = demo.key;
    demoMode = demo.mode;
    // Embedded installs keep the generated demo key beside the data so a restart can show it
    // again (the database holds only its hash). Server installs print it once.
    const keyFile = path.join(config.dataDir, 'demo-api-key.txt');
    if (!config.databaseUrl) {
      if (demoKey && !config.demoApiKey) fs.writeFileSync(keyFile, `${demoKey}\n`, { mode: 0o600 });
      else if (!demoKey && fs.existsSync(keyFile)) demoKey = fs.readFileSync(keyFile, 'utf8').trim();
    }
  }

  await app.listen({ port: config.port, host: config.host });
  // The bundled booking system: same process, own port and database; reached only over HTTP.
  // Two instances by default (different seeds): two independent publishers to harvest.
  const sandboxes: { handle: SandboxHandle; publicUrl: string }[] = [];
  // Their origins are open to the outbound policy (deps.ts: outboundAllowedHosts).
  for (const instance of sandboxInstances(config)) {
    sandboxes.push({
      handle: await startSandbox(instance, { log: deps.log, host: config.host }),
      publicUrl: instance.publicUrl,
    });
  }

  // Publishers to harvest: the bundled sandbox (unless turned off) and any configured dataset
  // sites. Registering again refreshes their metadata and feed list. The sandbox is a test
  // booking system: a test publisher, booked by test keys only; configured sites keep the mode an
  // operator gave them (new ones are live).
  const sandboxDatasetUrls = config.harvest.registerSandbox ? sandboxes.map((s) => `${s.publicUrl}/openactive`) : [];
  const datasetUrls = [...sandboxDatasetUrls, ...config.harvest.datasetUrls];
  for (const datasetUrl of datasetUrls) {
    try {
      const sandbox = sandboxDatasetUrls.includes(datasetUrl);
      const { publisher, feeds } = await alongsidePeers(() =>
        services.catalog.addPublisher({ datasetUrl, ...(sandbox ? { mode: 'test' as const } : {}) }),
      );
      deps.log.info({ publisher: publisher.name, mode: publisher.mode, feeds: feeds.length }, 'publisher registered');
      // The bundled sandbox knows activehub as booking partner 'activehub' (its test credential).
      // Credentials an operator has set since are kept.
      if (sandbox) {
        await alongsidePeers(() =>
          services.booking.setCredentials({
            publisherId: publisher.id,
            sellerId: null,
            headers: { 'X-OpenActive-Test-Client-Id': 'activehub' },
            onlyIfMissing: true,
          }),
        );
      }
    } catch (err) {
      deps.log.warn({ datasetUrl, err: (err as Error).message }, 'could not register publisher');
    }
  }
  const scheduler = createHarvestScheduler({ harvester: services.harvester, jobs: deps.jobs, log: deps.log });
  const projection = createProjectionScheduler({ projector: services.projector, jobs: deps.jobs, log: deps.log });
  // Sellers' Orders feeds: cancellations, attendance and totals, refunds (openactive.md §1.12).
  const ordersFeeds = createOrdersFeedScheduler({ reader: services.ordersFeed, jobs: deps.jobs, log: deps.log });
  // Pending orders left undecided (a crash mid-checkout) are settled by a sweep (checkout/recovery.ts).
  const recovery = createRecoveryScheduler({
    recovery: services.checkout.recovery,
    jobs: deps.jobs,
    log: deps.log,
    olderThanMs: config.recovery.afterSeconds * 1000,
  });
  // Brokers' checkout hosts made elsewhere (the CLI) are picked up, jobs or not.
  services.checkoutHosts.start();
  // Stalled job queues (database-wide) are logged and shown by /health in every process.
  deps.jobs.startMonitor();
  if (config.jobs.enabled) {
    await deps.jobs.startWorkers();
    recovery.start();
    if (config.harvest.enabled) scheduler.start();
    projection.start();
    ordersFeeds.start();
  }

  const lines = [
    '',
    `activehub is running at ${config.publicBaseUrl}  (database: ${deps.database.kind}${deps.database.kind === 'pglite' ? ` in ${config.dataDir}` : ''})`,
    `  API docs:      ${config.publicBaseUrl}/docs`,
    demoKey
      ? `  Demo broker "Acme Fitness" API key (${demoMode ?? (demoKey.startsWith('ah_live_') ? 'live' : 'test')} mode): ${demoKey}`
      : '  Demo broker "Acme Fitness" exists; make a key with: npm run activehub -- keys create --broker acme --mode test',
    demoKey
      ? `  Try: curl -H 'X-API-KEY: ${demoKey}' -H 'content-type: application/json' -d '{"email":"louis@example.com","givenName":"Louis","familyName":"Wu","imin:is13OrOver":false}' ${config.publicBaseUrl}/api/v2/customer-accounts`
      : '',
    ...sandboxes.map((s, i) => `  Sandbox booking system ${i + 1}: ${s.publicUrl}/openactive`),
    '',
  ];
  process.stdout.write(`${lines.filter((l, i) => l !== '' || i === 0 || i === lines.length - 1).join('\n')}\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    deps.log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      deps.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    timer.unref();
    try {
      scheduler.stop();
      projection.stop();
      ordersFeeds.stop();
      recovery.stop();
      services.checkoutHosts.stop();
      await app.close();
      for (const s of sandboxes) await s.handle.close();
      await closeDeps(deps);
      process.exit(0);
    } catch (err) {
      deps.log.error({ err }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runServer().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
