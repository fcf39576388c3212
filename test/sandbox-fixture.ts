import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startSandbox, type SandboxHandle } from '../src/sandbox/main.js';
import { freePort } from './net.js';

export interface TestSandbox {
  handle: SandboxHandle;
  /** The sandbox's dataset site, what `catalog.addPublisher` takes. */
  datasetUrl: string;
  close(): Promise<void>;
}

/**
 * The bundled sandbox booking system on a free port with its own embedded database in a
 * temporary folder, generated from `seed` with `sessions` ScheduledSessions and no churn, so a
 * test harvesting it over HTTP sees the same data every run.
 */
export async function startTestSandbox(options: { seed: number; sessions: number }): Promise<TestSandbox> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'activehub-test-sandbox-'));
  const port = await freePort();
  try {
    const handle = await startSandbox(
      {
        enabled: true,
        port,
        publicUrl: `http://127.0.0.1:${port}`,
        dataDir,
        databaseUrl: undefined,
        seed: options.seed,
        sessions: options.sessions,
        churnSeconds: 0,
        instances: 1,
      },
      { log: pino({ level: 'silent' }), host: '127.0.0.1' },
    );
    return {
      handle,
      datasetUrl: `http://127.0.0.1:${port}/openactive`,
      async close() {
        await handle.close();
        fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
