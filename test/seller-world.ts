import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { startSandbox, type SandboxHandle } from '../src/sandbox/main.js';
import { freePort } from './net.js';

/*
 * A seller for tests that run activehub as separate processes: the bundled sandbox booking
 * system (in the test's process, so it outlives the servers a test kills), reached through a
 * small HTTP proxy in front of it. The sandbox's public URL is the proxy's, so every feed,
 * identifier and booking call goes through the proxy, which can hold the next B (order creation)
 * for as long as the test wants: the moment a server is killed "mid-checkout".
 */

const MEDIA = 'application/vnd.openactive.booking+json; version=1';
export const TEST_CLIENT = { 'X-OpenActive-Test-Client-Id': 'activehub' };

export interface HeldBooking {
  /** Resolves with the order UUID when the B request has arrived (and is being held). */
  arrived: Promise<string>;
  /** Sends it on to the seller (whether or not the caller is still there). */
  release(): void;
}

export interface SellerWorld {
  /** The seller's public base URL (the proxy). */
  url: string;
  datasetUrl: string;
  sandbox: SandboxHandle;
  /** Holds the next B request until released. */
  holdNextBooking(): HeldBooking;
  /**
   * A bookable ScheduledSession (10 places) from the test interface, cancellable unless another
   * test-interface criterion is named (e.g. `TestOpportunityBookableNonFree`); its @id.
   */
  createOpportunity(criteria?: string): Promise<string>;
  /** The sandbox's remaining capacity of one of its ScheduledSessions. */
  remaining(sessionId: string): Promise<number>;
  /** The sandbox's orders: UUID and how many of its items are booked (not cancelled). */
  orders(): Promise<{ uuid: string; booked: number; cancelled: number }[]>;
  close(): Promise<void>;
}

export async function startSellerWorld(options: { sessions?: number; seed?: number } = {}): Promise<SellerWorld> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'activehub-seller-'));
  const proxyPort = await freePort();
  const url = `http://127.0.0.1:${proxyPort}`;
  const sandbox = await startSandbox(
    {
      enabled: true,
      port: await freePort(),
      publicUrl: url,
      dataDir,
      databaseUrl: undefined,
      seed: options.seed ?? 11,
      sessions: options.sessions ?? 200,
      churnSeconds: 0,
      instances: 1,
    },
    { log: pino({ level: 'silent' }), host: '127.0.0.1' },
  );
  const upstream = sandbox.address;

  let hold: { resolve: (uuid: string) => void; released: Promise<void> } | null = null;
  const proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const b = /\/api\/openbooking\/orders\/([0-9a-f-]{36})$/i.exec(req.url ?? '');
        if (b && req.method === 'PUT' && hold) {
          const h = hold;
          hold = null;
          h.resolve(b[1]!);
          await h.released;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v;
        }
        const body = chunks.length ? Buffer.concat(chunks) : undefined;
        let answer: Response;
        try {
          answer = await fetch(`${upstream}${req.url ?? '/'}`, {
            method: req.method ?? 'GET',
            headers,
            ...(body && req.method !== 'GET' && req.method !== 'HEAD' ? { body } : {}),
            redirect: 'manual',
          });
        } catch {
          res.writeHead(502).end();
          return;
        }
        const text = Buffer.from(await answer.arrayBuffer());
        const out: Record<string, string> = {};
        answer.headers.forEach((v, k) => {
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
        });
        // The caller may be gone (killed): the seller has still seen the request.
        if (!res.destroyed) res.writeHead(answer.status, out).end(text);
      })();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));

  const sandboxDb = sandbox.database.db;
  return {
    url,
    datasetUrl: `${url}/openactive`,
    sandbox,
    holdNextBooking() {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let resolve!: (uuid: string) => void;
      const arrived = new Promise<string>((r) => (resolve = r));
      hold = { resolve, released };
      return { arrived, release };
    },
    async createOpportunity(criteria = 'TestOpportunityBookableCancellable') {
      const res = await fetch(`${url}/api/openbooking/test-interface/datasets/process-tests/opportunities`, {
        method: 'POST',
        headers: { 'content-type': MEDIA },
        body: JSON.stringify({
          '@context': ['https://openactive.io/', 'https://openactive.io/test-interface'],
          '@type': 'ScheduledSession',
          superEvent: {
            '@type': 'SessionSeries',
            organizer: { '@type': 'Organization', '@id': `${url}/api/identifiers/sellers/1` },
          },
          'test:testOpportunityCriteria': `https://openactive.io/test-interface#${criteria}`,
          'test:testOpenBookingFlow': 'https://openactive.io/test-interface#OpenBookingSimpleFlow',
        }),
      });
      if (res.status !== 201) throw new Error(`test interface: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { '@id': string })['@id'];
    },
    async remaining(sessionId) {
      const id = Number(/\/scheduled-sessions\/(\d+)$/.exec(sessionId)![1]);
      const { rows } = await sql<{ remaining: number }>`
        select remaining_attendee_capacity as remaining from scheduled_sessions where id = ${id}`.execute(sandboxDb);
      return Number(rows[0]!.remaining);
    },
    async orders() {
      const { rows } = await sql<{ uuid: string; booked: number; cancelled: number }>`
        select o.uuid,
               count(*) filter (where i.status not like '%Cancelled')::int as booked,
               count(*) filter (where i.status like '%Cancelled')::int as cancelled
          from orders o join order_items i on i.partner_id = o.partner_id and i.order_uuid = o.uuid
         group by o.uuid`.execute(sandboxDb);
      return rows.map((r) => ({ uuid: r.uuid, booked: Number(r.booked), cancelled: Number(r.cancelled) }));
    },
    async close() {
      hold?.resolve('');
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await sandbox.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
