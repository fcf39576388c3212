/**
 * Customer-accounts benchmark (issue 2): drives create and get with autocannon against activehub
 * on the PostgreSQL server, against a bare Fastify + pg baseline doing the same INSERT and SELECT
 * (bench/customers/baseline.ts), and against activehub on embedded PGlite — all in one run, each
 * server a child process of this one. Prints one table and whether the targets are met:
 * activehub ≥ 0.7× the baseline's requests/s and p99 < 25 ms, on PostgreSQL.
 *
 *   npm run bench:customers -- [--duration 15] [--warmup 5] [--slice 3] [--connections 64]
 *                              [--pg-url URL] [--targets activehub-pg,baseline,activehub-pglite]
 *                              [--log-level warn] [--cpu-prof DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { freePort } from '../../test/net.js';
import { cpuMs } from '../lib/proc.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const API_KEY = 'ah_bench_0123456789abcdefghijklmnop';
const ACTIVEHUB_DB = 'activehub_bench';
const BASELINE_DB = 'activehub_bench_baseline';
const TARGET_RATIO = 0.7;
const TARGET_P99_MS = 25;
const ALL_TARGETS = ['activehub-pg', 'baseline', 'activehub-pglite'] as const;
type TargetName = (typeof ALL_TARGETS)[number];
type Phase = 'create' | 'get';
const TARGET_LABELS: Record<TargetName, string> = {
  'activehub-pg': 'activehub, PostgreSQL',
  baseline: 'bare Fastify+pg, PostgreSQL',
  'activehub-pglite': 'activehub, PGlite (embedded)',
};

// The canonical CustomerAccount body of the create example (imin-booking §2.1).
const CREATE_BODY = JSON.stringify({
  '@context': 'https://openactive.io/',
  '@type': 'CustomerAccount',
  customer: {
    '@type': 'Person',
    email: 'geoffcapes@example.com',
    telephone: '020 811 8055',
    givenName: 'Geoff',
    familyName: 'Capes',
    birthDate: '1970-01-01',
    gender: 'https://schema.org/Female',
    'imin:is13OrOver': true,
    address: {
      '@type': 'PostalAddress',
      streetAddress: 'Raynes Park High School, 46A West Barnes Lane',
      addressLocality: 'New Malden',
      addressRegion: 'London',
      postalCode: 'NW5 3DU',
      addressCountry: 'GB',
    },
    emergencyContact: { '@type': 'Person', name: 'Ralph Capes', telephone: '020 811 8055' },
  },
});

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '5' },
    slice: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
    targets: { type: 'string', default: ALL_TARGETS.join(',') },
    'log-level': { type: 'string', default: 'warn' },
    'cpu-prof': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(
    [
      'npm run bench:customers -- [options]',
      '  --duration S       measured seconds per phase (default 15)',
      '  --warmup S         unmeasured warm-up seconds before each phase (default 5)',
      '  --slice S          activehub and the baseline take turns in slices of S measured seconds (default 3)',
      '  --connections N    concurrent connections (default 64)',
      '  --pg-url URL       PostgreSQL server, without database (default postgres://postgres@127.0.0.1:5432)',
      `  --targets LIST     comma-separated subset of ${ALL_TARGETS.join(',')}`,
      '  --log-level L      activehub LOG_LEVEL (default warn)',
      '  --cpu-prof DIR     write V8 CPU profiles of the server processes to DIR/<target>/',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const positiveInt = (name: string, raw: string, min: number): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min} (got "${raw}")`);
  return n;
};
const duration = positiveInt('duration', args.duration, 1);
const warmup = positiveInt('warmup', args.warmup, 0);
const slice = positiveInt('slice', args.slice, 1);
const connections = positiveInt('connections', args.connections, 1);
const pgUrl = args['pg-url'].replace(/\/+$/, '');
const targets = args.targets.split(',').map((t) => t.trim()) as TargetName[];
for (const t of targets) {
  if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target "${t}"; choose from ${ALL_TARGETS.join(', ')}`);
}
// Shown with the figures: a machine busy with other work explains figures that look off.
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const startLoad = loadAverage();
const cpuProfDir = args['cpu-prof'] ? path.resolve(args['cpu-prof']) : undefined;

// ---------------------------------------------------------------------------------------------
// Clean-up: everything started is registered here and undone in reverse order, on success,
// on error and on Ctrl-C alike.

const cleanups: { label: string; run: () => Promise<void> }[] = [];
let cleaningUp: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaningUp ??= (async () => {
    while (cleanups.length) {
      const step = cleanups.pop()!;
      try {
        await step.run();
      } catch (err) {
        process.stderr.write(`clean-up "${step.label}" failed: ${String(err)}\n`);
      }
    }
  })();
  return cleaningUp;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: cleaning up\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL databases

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${pgUrl}/postgres` });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function freshDatabase(name: string): Promise<string> {
  await admin(async (c) => {
    // A leftover from an interrupted run is dropped first.
    await c.query(`drop database if exists ${name} with (force)`);
    await c.query(`create database ${name}`);
  });
  cleanups.push({
    label: `drop database ${name}`,
    run: () => admin(async (c) => void (await c.query(`drop database if exists ${name} with (force)`))),
  });
  return `${pgUrl}/${name}`;
}

// ---------------------------------------------------------------------------------------------
// Child servers

interface Server {
  url: string;
  child: ChildProcess;
  /** The last lines the child wrote, shown when something goes wrong. */
  output: () => string;
  /** Stops the child now rather than at the end, so an idle server holds no connections meanwhile. */
  stop: () => Promise<void>;
}

async function startServer(label: string, script: string, env: Record<string, string>, nodeArgs: string[] = []) {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['DATABASE_URL', 'DATA_DIR', 'PORT', 'HOST', 'PUBLIC_BASE_URL', 'LOG_LEVEL']) {
    delete childEnv[name];
  }
  Object.assign(childEnv, env, { PORT: String(port), HOST: '127.0.0.1' });
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopStep = {
    label: `stop ${label}`,
    run: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  cleanups.push(stopStep);
  const server: Server = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => lines.join('\n'),
    stop: async () => {
      const index = cleanups.indexOf(stopStep);
      if (index >= 0) cleanups.splice(index, 1);
      await stopStep.run();
    },
  };

  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${label} exited during start-up:\n${server.output()}`);
    try {
      const res = await fetch(`${server.url}/health`);
      if (res.ok) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${label} did not become healthy in 90 s:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ---------------------------------------------------------------------------------------------
// Load

interface PhaseResult {
  requests: number;
  seconds: number;
  /** Server-process CPU per response (ms); NaN where /proc is not available. */
  cpuMsPerRequest: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  /** Responses with another status than the phase's expected one (201 for create, 200 for get). */
  unexpected: number;
  statuses: Record<string, number>;
  /** Socket errors and timeouts. */
  errors: number;
}

const headers = { 'x-api-key': API_KEY, 'content-type': 'application/json' };
const identifierFromLocation = (location: string | string[] | undefined): string | undefined => {
  const value = Array.isArray(location) ? location[0] : location;
  return value?.slice(value.lastIndexOf('/') + 1) || undefined;
};

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** What one autocannon run saw. */
interface Sample {
  /** Response times (ms) of the responses with the expected status. */
  times: number[];
  seconds: number;
  unexpected: number;
  errors: number;
  statuses: Record<string, number>;
  /** CPU the server process used during the run (ms), when known. */
  serverCpuMs: number | undefined;
}

/** One autocannon run. `ids` collects created identifiers (create) or is read round-robin (get). */
async function drive(server: Server, phase: Phase, seconds: number, ids: string[]): Promise<Sample> {
  let next = 0;
  const request: autocannon.Request =
    phase === 'create'
      ? {
          method: 'POST',
          path: '/api/v2/customer-accounts',
          headers,
          body: CREATE_BODY,
          onResponse: (status, _body, _context, responseHeaders) => {
            if (status !== 201) return;
            const id = identifierFromLocation(responseHeaders.location ?? responseHeaders.Location);
            if (id) ids.push(id);
          },
        }
      : {
          method: 'GET',
          headers: { 'x-api-key': API_KEY },
          setupRequest: (req) => {
            req.path = `/api/v2/customer-accounts/${ids[next % ids.length]!}`;
            next += 1;
            return req;
          },
        };
  const expected = phase === 'create' ? 201 : 200;
  const cpuBefore = cpuMs(server.child.pid);
  const instance = autocannon({ url: server.url, connections, duration: seconds, timeout: 10, requests: [request] });
  // autocannon's own histogram has 1 ms resolution; exact per-request times give honest
  // sub-millisecond percentiles. Only responses with the expected status are timed.
  const times: number[] = [];
  let unexpected = 0;
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode === expected) times.push(responseTime);
    else unexpected += 1;
  });
  const result = await instance;
  const cpuAfter = cpuMs(server.child.pid);
  return {
    times,
    seconds: result.duration,
    unexpected,
    errors: result.errors + result.timeouts,
    statuses: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
    serverCpuMs: cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined,
  };
}

function summarise(samples: Sample[]): PhaseResult {
  const sorted = Float64Array.from(samples.flatMap((x) => x.times)).sort();
  const seconds = samples.reduce((sum, x) => sum + x.seconds, 0);
  const statuses: Record<string, number> = {};
  for (const x of samples) {
    for (const [code, count] of Object.entries(x.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
  }
  const cpu = samples.every((x) => x.serverCpuMs !== undefined)
    ? samples.reduce((sum, x) => sum + x.serverCpuMs!, 0)
    : NaN;
  return {
    requests: sorted.length,
    seconds,
    cpuMsPerRequest: cpu / (sorted.length + samples.reduce((sum, x) => sum + x.unexpected, 0)),
    rps: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    unexpected: samples.reduce((sum, x) => sum + x.unexpected, 0),
    statuses,
    errors: samples.reduce((sum, x) => sum + x.errors, 0),
  };
}

/** One request of each kind, checked field by field, before any load. */
async function smokeTest(label: string, baseUrl: string, ids: string[]): Promise<void> {
  const created = await fetch(`${baseUrl}/api/v2/customer-accounts`, {
    method: 'POST',
    headers,
    body: CREATE_BODY,
  });
  const body = (await created.json()) as { identifier?: string; customer?: { email?: string } };
  const id = identifierFromLocation(created.headers.get('location') ?? undefined);
  if (created.status !== 201 || !id || body.identifier !== id || body.customer?.email !== 'geoffcapes@example.com') {
    throw new Error(`${label}: create answered ${created.status} ${JSON.stringify(body)}`);
  }
  const got = await fetch(`${baseUrl}/api/v2/customer-accounts/${id}`, { headers: { 'x-api-key': API_KEY } });
  const account = (await got.json()) as { identifier?: string; customer?: { address?: { postalCode?: string } } };
  if (got.status !== 200 || account.identifier !== id || account.customer?.address?.postalCode !== 'NW5 3DU') {
    throw new Error(`${label}: get answered ${got.status} ${JSON.stringify(account)}`);
  }
  ids.push(id);
}

interface Member {
  name: TargetName;
  server: Server;
  /** Identifiers this target created, read back in the get phase. */
  ids: string[];
}

type Results = Partial<Record<TargetName, Record<Phase, PhaseResult>>>;

/**
 * Benchmarks targets that are to be compared. Their measured time is cut into slices taken in
 * turn (A, B, A, B …) rather than one target after the other, so that background activity on
 * the shared machine (other processes, a PostgreSQL checkpoint) falls on both alike instead of
 * skewing the ratio.
 */
async function benchGroup(members: Member[], results: Results): Promise<void> {
  for (const m of members) await smokeTest(TARGET_LABELS[m.name], m.server.url, m.ids);
  const sliceSeconds = members.length > 1 ? slice : duration;
  for (const phase of ['create', 'get'] as const) {
    if (warmup > 0) {
      for (const m of members) {
        process.stderr.write(`  ${TARGET_LABELS[m.name]}: ${phase} warm-up ${warmup} s\n`);
        await drive(m.server, phase, warmup, m.ids);
      }
    }
    const samples = new Map<Member, Sample[]>(members.map((m) => [m, []]));
    for (let done = 0; done < duration; done += sliceSeconds) {
      const seconds = Math.min(sliceSeconds, duration - done);
      for (const m of members) {
        process.stderr.write(`  ${TARGET_LABELS[m.name]}: ${phase} measured ${done}-${done + seconds} s\n`);
        samples.get(m)!.push(await drive(m.server, phase, seconds, m.ids));
      }
    }
    for (const m of members) {
      results[m.name] ??= {} as Record<Phase, PhaseResult>;
      results[m.name]![phase] = summarise(samples.get(m)!);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Targets

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'activehub-bench-'));
  cleanups.push({ label: `remove ${dir}`, run: async () => fs.rmSync(dir, { recursive: true, force: true }) });
  return dir;
}

/**
 * Only the customer-accounts API under test: the bundled sandbox booking system and the harvester
 * would otherwise run in the same process and take CPU from it. A temporary DATA_DIR keeps
 * anything written (PGlite, the sandbox's data) out of the working tree.
 */
function activehubEnv(): Record<string, string> {
  return {
    DATA_DIR: tempDir(),
    DEMO_API_KEY: API_KEY,
    SEED_DEMO: 'true',
    LOG_LEVEL: args['log-level'],
    RATE_LIMIT_MAX: '10000000',
    RATE_LIMIT_ADDRESS_MAX: '10000000',
    JOBS_ENABLED: 'false',
    SANDBOX_ENABLED: 'false',
    HARVEST_ENABLED: 'false',
  };
}

function profileArgs(name: string): string[] {
  if (!cpuProfDir) return [];
  // One folder per target: Node writes a profile per thread (tsx's loader runs in its own), and
  // the main thread's is the largest file.
  const dir = path.join(cpuProfDir, name);
  fs.mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

async function startTarget(name: TargetName): Promise<Server> {
  switch (name) {
    case 'activehub-pg': {
      const url = await freshDatabase(ACTIVEHUB_DB);
      return startServer(
        TARGET_LABELS[name],
        'src/main.ts',
        { ...activehubEnv(), DATABASE_URL: url },
        profileArgs('activehub-pg'),
      );
    }
    case 'baseline': {
      const url = await freshDatabase(BASELINE_DB);
      // The same pool size as activehub's `pg` pool (src/db/database.ts), so neither side gets
      // more database concurrency than the other.
      return startServer(
        TARGET_LABELS[name],
        'bench/customers/baseline.ts',
        { DATABASE_URL: url, API_KEY, POOL_SIZE: '20' },
        profileArgs('baseline'),
      );
    }
    case 'activehub-pglite':
      return startServer(TARGET_LABELS[name], 'src/main.ts', activehubEnv(), profileArgs('activehub-pglite'));
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

function report(results: Results): boolean {
  const rows: string[][] = [
    ['target', 'phase', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'server CPU ms/req', 'requests', 'non-2xx', 'errors'],
  ];
  let valid = true;
  for (const name of targets) {
    const r = results[name];
    if (!r) continue;
    for (const phase of ['create', 'get'] as const) {
      const p = r[phase];
      if (p.unexpected > 0 || p.errors > 0) valid = false;
      rows.push([
        TARGET_LABELS[name],
        phase,
        fmt(p.rps, 0),
        fmt(p.p50, 2),
        fmt(p.p90, 2),
        fmt(p.p99, 2),
        fmt(p.cpuMsPerRequest, 3),
        String(p.requests),
        String(p.unexpected),
        String(p.errors),
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const out: string[] = [
    '',
    `Customer accounts benchmark — ${connections} connections, ${warmup} s warm-up (not measured) + ${duration} s measured per phase`,
    `activehub and the baseline take turns in ${slice} s slices; PGlite runs on its own afterwards.`,
    `Node ${process.version}, ${os.cpus().length} CPU cores (${os.cpus()[0]?.model.trim() ?? 'unknown'}); activehub LOG_LEVEL=${args['log-level']}`,
    `Load average (1, 5, 15 min) before the run ${startLoad}, after it ${loadAverage()}.`,
    `Note: the load generator (autocannon, this process), the server under test and PostgreSQL all share these ${os.cpus().length} cores,`,
    '      so every figure includes their contention; compare targets within one run, not across machines.',
    '',
    line(rows[0]!),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.slice(1).map(line),
    '',
  ];

  const ours = results['activehub-pg'];
  const base = results.baseline;
  if (ours && base) {
    out.push('Targets (activehub on PostgreSQL vs the bare baseline in this run):');
    for (const phase of ['create', 'get'] as const) {
      const ratio = ours[phase].rps / base[phase].rps;
      const ratioOk = ratio >= TARGET_RATIO;
      const p99Ok = ours[phase].p99 < TARGET_P99_MS;
      out.push(
        `  ${phase.padEnd(6)}  req/s ratio ${fmt(ratio, 2)}× (target ≥ ${TARGET_RATIO}×: ${ratioOk ? 'met' : 'NOT met'})` +
          `   p99 ${fmt(ours[phase].p99, 2)} ms (target < ${TARGET_P99_MS} ms: ${p99Ok ? 'met' : 'NOT met'})` +
          `   server CPU per request ${fmt(ours[phase].cpuMsPerRequest / base[phase].cpuMsPerRequest, 2)}× the baseline's`,
      );
    }
  } else {
    out.push('Targets not evaluated: needs both activehub-pg and baseline in --targets.');
  }
  out.push(
    `With a closed loop of ${connections} connections, mean latency = ${connections} ÷ req/s (Little's law): a p99 under ` +
      `${TARGET_P99_MS} ms needs well over ${Math.round((connections * 1000) / TARGET_P99_MS)} req/s.`,
  );
  if (results['activehub-pglite']) {
    out.push('PGlite figures are for information: embedded, single connection, no baseline.');
  }
  out.push(
    valid
      ? 'Valid run: every response had the expected status (201 create, 200 get), no socket errors or timeouts.'
      : 'INVALID RUN: some responses had an unexpected status or failed; figures above are not a valid result.',
  );
  for (const name of targets) {
    const r = results[name];
    if (!r) continue;
    for (const phase of ['create', 'get'] as const) {
      if (r[phase].unexpected > 0 || r[phase].errors > 0) {
        out.push(`  ${TARGET_LABELS[name]} ${phase}: statuses ${JSON.stringify(r[phase].statuses)}`);
      }
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return valid;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const results: Results = {};
  const groups = [
    targets.filter((t) => t !== 'activehub-pglite'),
    targets.filter((t) => t === 'activehub-pglite'),
  ].filter((g) => g.length > 0);
  for (const group of groups) {
    const members: Member[] = [];
    try {
      for (const name of group) {
        process.stderr.write(`${TARGET_LABELS[name]}: starting\n`);
        members.push({ name, server: await startTarget(name), ids: [] });
      }
      await benchGroup(members, results);
    } catch (err) {
      for (const m of members) process.stderr.write(`${TARGET_LABELS[m.name]} output:\n${m.server.output()}\n`);
      throw err;
    }
    for (const m of members) await m.server.stop();
  }
  return report(results) ? 0 : 1;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
} finally {
  await cleanUp();
}
process.exit(exitCode);
