/**
 * Sandbox feeds benchmark (issue 3): items/s served when walking each open-data RPDE feed of the
 * sandbox end to end over HTTP, at N ScheduledSessions, on PGlite and on the PostgreSQL server;
 * compared in the same run with a raw keyset-paged SELECT of the same rows (same page size, no
 * rendering, no HTTP). The server runs in a child process; its peak RSS (VmHWM) is read from /proc
 * after start-up and after the walk, to show memory stays flat.
 *
 *   npm run bench:sandbox-feeds -- [--sessions 100000] [--targets pglite,postgres]
 *        [--pg-url postgres://postgres@127.0.0.1:5432] [--port 3391] [--regenerate]
 *
 * Targets: ≥ 20,000 items/s and ≥ 0.5× the raw query rate (scheduled-sessions feed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { createVocabularies } from '../../src/lib/vocabularies.js';
import { migrateSandbox, openSandboxDatabase, type SandboxDatabase } from '../../src/sandbox/db/database.js';
import { ensureDataset } from '../../src/sandbox/generator/generate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100000' },
    targets: { type: 'string', default: 'pglite,postgres' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
    port: { type: 'string', default: '3391' },
    regenerate: { type: 'boolean', default: false },
  },
});
const sessions = Number(values.sessions);
const port = Number(values.port);
const FEEDS = [
  ['session-series', 'session_series'],
  ['scheduled-sessions', 'scheduled_sessions'],
  ['facility-uses', 'facility_uses'],
  ['individual-facility-use-slots', 'slots'],
] as const;
const PAGE = 500;

const children: ChildProcess[] = [];
const temporary: string[] = [];
const cleanup = () => {
  children.forEach((c) => c.kill('SIGTERM'));
  temporary.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const pgUrl = (db: string) => {
  const u = new URL(values['pg-url']);
  u.pathname = `/${db}`;
  return u.toString();
};

async function prepare(target: string): Promise<{ open: () => Promise<SandboxDatabase>; env: Record<string, string> }> {
  if (target === 'postgres') {
    const name = `ah_bench_sandbox_feeds_${sessions}`;
    const admin = new pg.Client({ connectionString: pgUrl('postgres') });
    await admin.connect();
    if (values.regenerate) await admin.query(`drop database if exists ${name} with (force)`);
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount;
    if (!exists) await admin.query(`create database ${name}`);
    await admin.end();
    return { open: () => openSandboxDatabase({ url: pgUrl(name) }), env: { BENCH_DATABASE_URL: pgUrl(name) } };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ah-bench-sandbox-'));
  temporary.push(dir);
  return { open: () => openSandboxDatabase({ dataDir: dir }), env: { BENCH_DATA_DIR: dir } };
}

/** Raw keyset pages of the same rows: the floor any feed implementation is measured against. */
async function rawRate(database: SandboxDatabase, table: string): Promise<{ rows: number; perSecond: number }> {
  const started = performance.now();
  let rows = 0;
  let after = { m: -1, id: 0 };
  for (;;) {
    const page = await sql<{ modified: number; id: number }>`
      select * from ${sql.table(table)} where (modified, id) > (${after.m}, ${after.id})
      order by modified, id limit ${PAGE}`.execute(database.db);
    if (page.rows.length === 0) break;
    rows += page.rows.length;
    const last = page.rows.at(-1)!;
    after = { m: Number(last.modified), id: last.id };
  }
  return { rows, perSecond: rows / ((performance.now() - started) / 1000) };
}

function peakRss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function walk(feed: string): Promise<{ items: number; perSecond: number; pages: number }> {
  let url = `http://127.0.0.1:${port}/feeds/${feed}`;
  let items = 0;
  let pages = 0;
  const started = performance.now();
  for (;;) {
    const res = await fetch(url);
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
    const page = (await res.json()) as { next: string; items: unknown[] };
    pages += 1;
    if (page.items.length === 0) {
      if (page.next !== url) throw new Error(`${url}: empty page whose next is not itself`);
      break;
    }
    items += page.items.length;
    url = page.next;
  }
  return { items, pages, perSecond: items / ((performance.now() - started) / 1000) };
}

async function startServer(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/sandbox-feeds/serve.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, BENCH_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('READY')) resolve();
    });
  });
  return child;
}

async function main() {
  const fmt = (n: number) => Math.round(n).toLocaleString('en-GB');
  const summary: string[] = [];
  for (const target of values.targets.split(',')) {
    const { open, env } = await prepare(target);
    const database = await open();
    await migrateSandbox(database.db);
    const genStart = performance.now();
    const { info, generated } = await ensureDataset(database.db, createVocabularies(), {
      seed: 42,
      sessions,
      now: new Date(),
    });
    process.stdout.write(
      `\n== ${target}: ${fmt(info.counts.scheduledSessions)} sessions, ${fmt(info.counts.slots)} slots` +
        (generated ? ` (generated in ${((performance.now() - genStart) / 1000).toFixed(1)} s)` : ' (existing data)') +
        '\n',
    );
    const raw = new Map<string, { rows: number; perSecond: number }>();
    for (const [feed, table] of FEEDS) raw.set(feed, await rawRate(database, table));
    await database.close();

    const server = await startServer(env);
    const rssAtStart = peakRss(server.pid!);
    for (const [feed] of FEEDS) {
      const walked = await walk(feed);
      const base = raw.get(feed)!;
      if (walked.items !== base.rows) throw new Error(`${feed}: walked ${walked.items} items, table has ${base.rows}`);
      const line = `${target.padEnd(9)} ${feed.padEnd(30)} ${fmt(walked.items).padStart(10)} items  ${fmt(walked.perSecond).padStart(8)} items/s   raw SELECT ${fmt(base.perSecond).padStart(8)} rows/s   ratio ${(walked.perSecond / base.perSecond).toFixed(2)}`;
      process.stdout.write(`${line}\n`);
      summary.push(line);
    }
    const rssAtEnd = peakRss(server.pid!);
    const memory = `${target.padEnd(9)} server peak RSS: ${fmt(rssAtStart)} MB after start-up, ${fmt(rssAtEnd)} MB after walking every feed`;
    process.stdout.write(`${memory}\n`);
    summary.push(memory);
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  process.stdout.write(`\nSummary (targets: ≥ 20,000 items/s, ≥ 0.5× raw):\n${summary.join('\n')}\n`);
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
