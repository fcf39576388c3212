import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import validator from '@openactive/data-model-validator';

/*
 * @openactive/data-model-validator as a test oracle, offline (DECISIONS §9). The validator
 * fetches the activity list over HTTP and caches it in `remoteJsonCachePath` under
 * sha256(url); seeding that file from our vendored copy (with a fetch time far in the future)
 * makes it never go to the network (openactive.md §4).
 */

const ACTIVITY_LIST_URL = 'https://openactive.io/activity-list';
const VENDORED_LIST = new URL('../../../vendor/openactive/activity-list.jsonld', import.meta.url);

let cacheDir: string | undefined;

function seededCacheDir(): string {
  if (cacheDir) return cacheDir;
  const dir = path.join(os.tmpdir(), `activehub-oa-validator-${process.pid}`);
  fs.mkdirSync(dir, { recursive: true });
  const key = createHash('sha256').update(ACTIVITY_LIST_URL).digest('hex');
  fs.writeFileSync(
    path.join(dir, `${key}.json`),
    JSON.stringify({
      errorCode: 'error_none',
      data: JSON.parse(fs.readFileSync(VENDORED_LIST, 'utf8')),
      statusCode: 200,
      url: ACTIVITY_LIST_URL,
      exception: null,
      contentType: 'application/ld+json',
      fetchTime: Date.parse('2100-01-01T00:00:00Z'),
    }),
  );
  cacheDir = dir;
  return dir;
}

export interface ValidationResult {
  severity: 'failure' | 'warning' | 'suggestion' | 'notice';
  path: string;
  message: string;
}

export type ValidationMode =
  | 'C1Response'
  | 'C1ResponseOrderItemError'
  | 'C2Response'
  | 'C2ResponseOrderItemError'
  | 'BResponse'
  | 'BResponseOrderItemError'
  | 'OrdersFeed'
  | 'OrderStatus'
  | 'OpenBookingError'
  | 'C1Request'
  | 'C2Request'
  | 'BRequest'
  | 'OrderPatch';

/** The validator's failures (not warnings) for `json` in `mode`, as "path: message" lines. */
export async function validationFailures(json: unknown, mode: ValidationMode): Promise<string[]> {
  const results = (await validator.validate(json, {
    validationMode: mode,
    loadRemoteJson: true,
    remoteJsonCachePath: seededCacheDir(),
    remoteJsonCacheTimeToLive: 3600,
  })) as ValidationResult[];
  return results.filter((r) => r.severity === 'failure').map((r) => `${r.path}: ${r.message.split('\n')[0]}`);
}
