import { parseArgs } from 'node:util';
import { buildServices } from './app.js';
import { loadConfig, type Config } from './config.js';
import { migrateToLatest } from './db/migrate.js';
import { closeDeps, createDeps, type Deps } from './deps.js';
import { AppError, isAppError } from './http/errors.js';
import { runServer } from './main.js';
import { runSandbox } from './sandbox/main.js';

const HELP = `activehub — OpenActive search and booking platform

Usage: activehub <command> [options]

Commands:
  serve                                  Run the platform (the default; same as npm start)
  migrate                                Apply database migrations and exit
  brokers create --slug S --name N [--url U] [--contact-email E] [--email-from F]
                 [--terms-url U] [--logo-url U] [--primary-color C] [--checkout-host H]
                 [--webhook-url U]
  brokers list
  keys create --broker S [--products search,firehose,booking,checkout,sellers]
              [--mode live|test] [--name N]  Prints the new key once; only its hash is stored
  keys list [--broker S]
  keys revoke <id>
  sandbox [--port N] [--seed S] [--sessions N] [--churn SECONDS]
                                         Run the bundled OpenActive booking system on its own
  publishers add <dataset-site-url> [--name N] [--test | --live]
                                         --test: a test booking system (only test keys book it);
                                         adding a known site again keeps its mode unless given
  publishers add --name N --feed KIND=URL [--feed KIND=URL …] [--test]
  publishers list
  publishers remove <id>                 Also removes everything harvested from it
  harvest [--once]                       Harvest every due feed with a progress display
                                         (--once: until all are caught up, then exit)
  feeds                                  Feed health: position, items, lag, errors
  mailbox [--limit N] [--to ADDRESS]     Stored emails, newest first (the outbox; see /dev/mailbox)
  mailbox show <id> [--html]             One email: headers and text (or its HTML)

Configuration comes from the environment (see README): DATABASE_URL, DATA_DIR, PORT, …`;

function print(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown): string => {
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.join(',');
    if (v === null || v === undefined) return '';
    return typeof v === 'object' ? JSON.stringify(v) : `${v as string | number | boolean}`;
  };
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(cols)}\n${rows.map((r) => line(cols.map((c) => cell(r[c])))).join('\n')}\n`);
}

async function withServices<T>(
  config: Config,
  fn: (s: ReturnType<typeof buildServices>, deps: Deps) => Promise<T>,
): Promise<T> {
  const deps = await createDeps({ ...config, logLevel: 'warn' });
  try {
    await migrateToLatest(deps.database.db);
    return await fn(buildServices(deps), deps);
  } finally {
    await closeDeps(deps);
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const [command = 'serve', sub, ...rest] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const config = loadConfig();

  if (command === 'serve') {
    await runServer(config);
    return -1; // keeps running
  }
  if (command === 'migrate') {
    const deps = await createDeps({ ...config, logLevel: 'warn' });
    try {
      const applied = await migrateToLatest(deps.database.db);
      await deps.jobs.start();
      process.stdout.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Database is up to date.\n');
    } finally {
      await closeDeps(deps);
    }
    return 0;
  }
  if (command === 'brokers') {
    const { values } = parseArgs({
      args: rest,
      options: {
        slug: { type: 'string' },
        name: { type: 'string' },
        url: { type: 'string' },
        'contact-email': { type: 'string' },
        'email-from': { type: 'string' },
        'terms-url': { type: 'string' },
        'logo-url': { type: 'string' },
        'primary-color': { type: 'string' },
        'checkout-host': { type: 'string' },
        'webhook-url': { type: 'string' },
      },
    });
    if (sub === 'list') {
      await withServices(config, async (s) =>
        print(
          (await s.brokers.listBrokers()).map((b) => ({
            id: b.id,
            slug: b.slug,
            name: b.name,
            url: b.url,
            created: b.created_at,
          })),
        ),
      );
      return 0;
    }
    if (sub === 'create') {
      if (!values.slug || !values.name) throw new UsageError('brokers create needs --slug and --name');
      await withServices(config, async (s) => {
        const b = await s.brokers.createBroker({
          slug: values.slug!,
          name: values.name!,
          url: values.url,
          contactEmail: values['contact-email'],
          emailFrom: values['email-from'],
          termsUrl: values['terms-url'],
          logoUrl: values['logo-url'],
          primaryColor: values['primary-color'],
          checkoutHost: values['checkout-host'],
          webhookUrl: values['webhook-url'],
        });
        process.stdout.write(
          `Created broker ${b.slug} (id ${b.id}). Make a key: activehub keys create --broker ${b.slug}\n`,
        );
      });
      return 0;
    }
    throw new UsageError('brokers needs a subcommand: create or list');
  }
  if (command === 'keys') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        broker: { type: 'string' },
        products: { type: 'string' },
        mode: { type: 'string' },
        name: { type: 'string' },
      },
    });
    if (sub === 'create') {
      if (!values.broker) throw new UsageError('keys create needs --broker');
      if (values.mode && values.mode !== 'live' && values.mode !== 'test')
        throw new UsageError('--mode is live or test');
      await withServices(config, async (s) => {
        const k = await s.brokers.createKey(values.broker!, {
          ...(values.products ? { products: values.products.split(',').map((p) => p.trim()) } : {}),
          ...(values.mode ? { mode: values.mode as 'live' | 'test' } : {}),
          ...(values.name ? { name: values.name } : {}),
        });
        process.stdout.write(
          `Key ${k.id} (${k.mode}; ${k.products.join(', ')}):\n\n  ${k.key}\n\nStore it now: it is not shown again.\n`,
        );
      });
      return 0;
    }
    if (sub === 'list') {
      await withServices(config, async (s) => print(await s.brokers.listKeys(values.broker)));
      return 0;
    }
    if (sub === 'revoke') {
      const id = Number(positionals[0]);
      if (!Number.isInteger(id) || id <= 0) throw new UsageError('keys revoke needs a key id (see keys list)');
      await withServices(config, async (s) => {
        await s.brokers.revokeKey(id);
        process.stdout.write(`Revoked key ${id}.\n`);
      });
      return 0;
    }
    throw new UsageError('keys needs a subcommand: create, list or revoke');
  }
  if (command === 'sandbox') {
    const { values } = parseArgs({
      args: sub === undefined ? [] : [sub, ...rest],
      options: {
        port: { type: 'string' },
        seed: { type: 'string' },
        sessions: { type: 'string' },
        churn: { type: 'string' },
      },
    });
    const int = (name: string, raw: string | undefined, fallback: number, max: number): number => {
      if (raw === undefined) return fallback;
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${name} must be an integer 0-${max}`);
      return n;
    };
    const port = int('port', values.port, config.sandbox.port, 65535);
    await runSandbox({
      ...config,
      sandbox: {
        ...config.sandbox,
        port,
        // The default public URL follows the port unless SANDBOX_PUBLIC_URL set one.
        publicUrl:
          values.port !== undefined && config.sandbox.publicUrl === `http://localhost:${config.sandbox.port}`
            ? `http://localhost:${port}`
            : config.sandbox.publicUrl,
        seed: int('seed', values.seed, config.sandbox.seed, 2 ** 31 - 1),
        sessions: int('sessions', values.sessions, config.sandbox.sessions, 10_000_000),
        churnSeconds: int('churn', values.churn, config.sandbox.churnSeconds, 86_400),
      },
    });
    return -1; // keeps running
  }
  if (command === 'publishers') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        name: { type: 'string' },
        feed: { type: 'string', multiple: true },
        test: { type: 'boolean' },
        live: { type: 'boolean' },
      },
    });
    if (sub === 'list') {
      await withServices(config, async (s) =>
        print(
          (await s.catalog.listPublishers()).map((p) => ({
            id: p.id,
            name: p.name,
            dataset: p.dataset_url,
            licence: p.license,
            mode: p.mode,
            booking: p.booking_endpoint_url,
          })),
        ),
      );
      return 0;
    }
    if (sub === 'add') {
      if (values.test && values.live) throw new UsageError('publishers add takes --test or --live, not both');
      const mode = values.test ? 'test' : values.live ? 'live' : undefined;
      const feeds = (values.feed ?? []).map((f) => {
        const eq = f.indexOf('=');
        if (eq < 1)
          throw new UsageError(
            '--feed takes KIND=URL, e.g. --feed ScheduledSession=https://…/feeds/scheduled-sessions',
          );
        return { kind: f.slice(0, eq), url: f.slice(eq + 1) };
      });
      await withServices(config, async (s) => {
        const { publisher, feeds: rows } = await s.catalog.addPublisher({
          ...(positionals[0] ? { datasetUrl: positionals[0] } : {}),
          ...(values.name ? { name: values.name } : {}),
          ...(feeds.length ? { feeds } : {}),
          ...(mode ? { mode } : {}),
        });
        process.stdout.write(
          `Publisher ${publisher.id} "${publisher.name}" (${publisher.mode}) with ${rows.length} feed(s):\n`,
        );
        print(rows.map((f) => ({ id: f.id, kind: f.kind, url: f.url })));
      });
      return 0;
    }
    if (sub === 'remove') {
      const id = Number(positionals[0]);
      if (!Number.isInteger(id) || id <= 0)
        throw new UsageError('publishers remove needs a publisher id (see publishers list)');
      await withServices(config, async (s) => {
        await s.catalog.removePublisher(id);
        process.stdout.write(`Removed publisher ${id} and its data.\n`);
      });
      return 0;
    }
    throw new UsageError('publishers needs a subcommand: add, list or remove');
  }
  if (command === 'mailbox') {
    const { values, positionals } = parseArgs({
      args: [sub, ...rest].filter((a): a is string => a !== undefined),
      allowPositionals: true,
      options: { limit: { type: 'string' }, to: { type: 'string' }, html: { type: 'boolean' } },
    });
    if (positionals[0] === 'show') {
      const id = positionals[1];
      if (!id) throw new UsageError('mailbox show needs an email id (see mailbox)');
      await withServices(config, async (s) => {
        const email = await s.mailer.get(id);
        if (!email) throw new AppError('NOT_FOUND', `There is no email "${id}" (see activehub mailbox).`);
        const headers = [
          ['From', email.from],
          ['To', email.to],
          ['Subject', email.subject],
          ['Kind', email.kind],
          ['Status', `${email.status} (${email.attempts} attempt(s))${email.lastError ? `: ${email.lastError}` : ''}`],
          ['Order', email.orderId ?? ''],
          ['Message-ID', email.messageId ?? ''],
          ['Created', email.createdAt.toISOString()],
          ['Sent', email.sentAt?.toISOString() ?? ''],
          ['Attachments', email.attachments.map((a) => `${a.filename} (${a.contentType})`).join(', ')],
        ].filter(([, v]) => v !== '');
        process.stdout.write(
          `${headers.map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${values.html ? email.html : email.text}\n`,
        );
      });
      return 0;
    }
    if (positionals.length > 0) throw new UsageError('mailbox takes no arguments but show <id>');
    const limit = values.limit === undefined ? 20 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError('--limit must be an integer 1-500');
    await withServices(config, async (s) =>
      print(
        (await s.mailer.list({ limit, ...(values.to ? { to: values.to } : {}) })).map((e) => ({
          id: e.id,
          created: e.createdAt,
          status: e.status,
          kind: e.kind,
          to: e.to,
          subject: e.subject.length > 60 ? `${e.subject.slice(0, 59)}…` : e.subject,
        })),
      ),
    );
    return 0;
  }
  if (command === 'feeds') {
    await withServices(config, async (s) => {
      const queue = await s.catalog.harvestQueueHealth();
      if (queue?.status === 'stalled') process.stdout.write(`The harvest queue is stalled: ${queue.description}\n`);
      print(
        (await s.catalog.feedHealth()).map((f) => ({
          id: f.id,
          kind: f.kind,
          status: f.stalled ? `stalled (${f.status})` : f.status,
          items: f.itemsUpdated,
          deleted: f.itemsDeleted,
          lag_s: f.lagSeconds,
          faults: f.faults.map((x) => `${x.fault}×${x.count}`).join(' '),
          error: f.lastError,
          url: f.url,
        })),
      );
    });
    return 0;
  }
  if (command === 'harvest') {
    const { values } = parseArgs({
      args: [sub, ...rest].filter((a): a is string => a !== undefined),
      options: { once: { type: 'boolean' } },
    });
    await withServices(config, async (s) => {
      const started = Date.now();
      let items = 0;
      const tty = process.stderr.isTTY;
      const show = (r: { feedId: number; updated: number; deleted: number; position: string }) => {
        const position = r.position;
        items += r.updated + r.deleted;
        const secs = (Date.now() - started) / 1000;
        const line = `feed ${r.feedId}: ${items.toLocaleString()} items, ${Math.round(items / Math.max(secs, 0.001)).toLocaleString()} items/s, at ${position.slice(0, 90)}`;
        process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      };
      for (;;) {
        const results = await s.harvester.runOnce({
          onPage: show,
        });
        if (tty) process.stderr.write('\n');
        const failed = results.filter((r) => r.failed).length;
        process.stdout.write(
          `Harvested ${results.length} feed(s): ${results.reduce((a, r) => a + r.updated, 0)} updated, ${results.reduce((a, r) => a + r.deleted, 0)} deleted, ${failed} failing, in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
        if (values.once) return;
        await new Promise((r) => setTimeout(r, 2000));
      }
    });
    return 0;
  }
  throw new UsageError(`Unknown command "${command}"`);
}

class UsageError extends Error {}

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) process.stderr.write(`${err.message}\n\n${HELP}\n`);
    else if (isAppError(err)) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(err instanceof UsageError ? 64 : 1);
  },
);
