/**
 * Harvest benchmark (issue 4): the bundled sandbox booking system scaled to N ScheduledSessions
 * (on the PostgreSQL server, so the publisher is not the bottleneck) is harvested over HTTP into
 * a fresh PostgreSQL database by activehub's harvester, in a child process whose peak RSS is
 * read from /proc. In the same run: the publisher's own serving rate (pages read, nothing
 * written) and a raw multi-row INSERT of the same normalised rows.
 *
 *   npm run bench:harvest -- [--sessions 100000] [--pg-url postgres://postgres@127.0.0.1:5432] [--concurrency 4] [--keep-sandbox] [--max-old-space-mb 256]
 *
 * Targets: ≥ 20,000 items/s, ≥ 0.3× the raw load rate, peak RSS < 400 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100000' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
    concurrency: { type: 'string', default: '4' },
    port: { type: 'string', default: '3390' },
    'keep-sandbox': { type: 'boolean', default: false },
    // V8's old-space limit for the harvesting process (0: Node's default, which on a large
    // machine lets the heap grow lazily to several hundred MB although little of it is live).
    'max-old-space-mb': { type: 'string', default: '256' },
  },
});
const sessions = Number(values.sessions);
const pgUrl = new URL(values['pg-url']);
const SANDBOX_DB = `ah_bench_sandbox_${sessions}`;
const HARVEST_DB = 'ah_bench_harvest';
const url = (db: string) => {
  const u = new URL(pgUrl);
  u.pathname = `/${db}`;
  return u.toString();
};

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url('postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const children: ChildProcess[] = [];
const cleanup = () => children.forEach((c) => c.kill('SIGTERM'));
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const loadAtStart = loadavg()
  .map((l) => l.toFixed(2))
  .join(' ');

async function main() {
  // The sandbox database is kept between runs (generating 1M sessions takes minutes) unless it
  // is missing; the harvest database is always new.
  const exists = await (async () => {
    const c = new pg.Client({ connectionString: url('postgres') });
    await c.connect();
    const r = await c.query('select 1 from pg_database where datname = $1', [SANDBOX_DB]);
    await c.end();
    return r.rowCount === 1;
  })();
  if (!exists) await admin(`create database ${SANDBOX_DB}`);
  await admin(`drop database if exists ${HARVEST_DB} with (force)`);
  await admin(`create database ${HARVEST_DB}`);

  const port = values.port;
  process.stdout.write(
    `Starting the sandbox with ${sessions.toLocaleString()} sessions on PostgreSQL (${exists ? 'existing data' : 'generating'})…\n`,
  );
  const genStarted = Date.now();
  const sandbox = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'sandbox', '--port', port, '--sessions', String(sessions)],
    {
      cwd: ROOT,
      env: { ...process.env, SANDBOX_DATABASE_URL: url(SANDBOX_DB), LOG_LEVEL: 'warn', SANDBOX_CHURN_SECONDS: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  children.push(sandbox);
  const datasetUrl = `http://localhost:${port}/openactive`;
  for (;;) {
    if (sandbox.exitCode !== null) throw new Error('the sandbox exited');
    try {
      const r = await fetch(datasetUrl);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  process.stdout.write(`Sandbox ready in ${((Date.now() - genStarted) / 1000).toFixed(0)} s. Harvesting…\n`);

  const heapMb = Number(values['max-old-space-mb']);
  const heapFlags = heapMb > 0 ? [`--max-old-space-size=${heapMb}`] : [];
  const child = spawn(process.execPath, [...heapFlags, '--import', 'tsx', 'bench/harvest/harvest-child.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      BENCH_DATABASE_URL: url(HARVEST_DB),
      BENCH_DATASET_URL: datasetUrl,
      BENCH_CONCURRENCY: values.concurrency,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`harvest child exited ${code}`)))),
  );
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as {
    walkItems: number;
    walkSeconds: number;
    items: number;
    seconds: number;
    failed: number;
    peakRssMb: number;
    rssBeforeHarvestMb: number;
    rawRows: number;
    rawSeconds: number;
    harvesterCpuSeconds: number;
    databaseCpuSeconds: number;
  };
  const rate = r.items / r.seconds;
  const walkRate = r.walkItems / r.walkSeconds;
  const rawRate = r.rawRows / r.rawSeconds;
  const rows = [
    [
      'publisher alone (read pages, write nothing)',
      `${r.walkItems.toLocaleString()} items`,
      `${r.walkSeconds.toFixed(1)} s`,
      `${Math.round(walkRate).toLocaleString()} items/s`,
    ],
    [
      'activehub harvest into PostgreSQL',
      `${r.items.toLocaleString()} items`,
      `${r.seconds.toFixed(1)} s`,
      `${Math.round(rate).toLocaleString()} items/s`,
    ],
    [
      'raw multi-row INSERT of the same rows',
      `${r.rawRows.toLocaleString()} rows`,
      `${r.rawSeconds.toFixed(1)} s`,
      `${Math.round(rawRate).toLocaleString()} rows/s`,
    ],
  ];
  process.stdout.write(
    `\n${rows.map((x) => `${x[0]!.padEnd(46)} ${x[1]!.padStart(16)} ${x[2]!.padStart(9)} ${x[3]!.padStart(18)}`).join('\n')}\n\n`,
  );
  process.stdout.write(
    `peak RSS of the harvesting process: ${r.peakRssMb} MB (${r.rssBeforeHarvestMb} MB before the harvest began; V8 old space ${heapMb > 0 ? `capped at ${heapMb} MB` : 'at Node’s default'}); failing feeds: ${r.failed}\n`,
  );
  process.stdout.write(
    `targets: ≥ 20,000 items/s: ${rate >= 20000 ? 'met' : 'NOT met'}; ≥ 0.3× raw load: ${(rate / rawRate).toFixed(2)}× ${rate / rawRate >= 0.3 ? 'met' : 'NOT met'}; RSS < 400 MB: ${r.peakRssMb < 400 ? 'met' : 'NOT met'}\n`,
  );
  const perThousand = (s: number) => `${((s * 1000 * 1000) / r.items).toFixed(0)} ms`;
  process.stdout.write(
    `CPU per 1,000 items harvested: harvester process ${perThousand(r.harvesterCpuSeconds)}, database server ${r.databaseCpuSeconds > 0 ? perThousand(r.databaseCpuSeconds) : 'not measured (not on this machine)'}\n`,
  );
  process.stdout.write(
    `load average (1, 5, 15 min): ${loadAtStart} at the start, ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end, on ${cpus().length} cores\n`,
  );
  process.stdout.write('(publisher, harvester and PostgreSQL share this machine’s cores)\n');
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    cleanup();
    await admin(`drop database if exists ${HARVEST_DB} with (force)`).catch(() => undefined);
    if (!values['keep-sandbox'])
      await admin(`drop database if exists ${SANDBOX_DB} with (force)`).catch(() => undefined);
  });
