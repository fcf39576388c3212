import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import validator from '@openactive/data-model-validator';

/*
 * @openactive/data-model-validator as a test oracle, offline (DECISIONS §9). It fetches the
 * activity list over HTTP and caches it as `<remoteJsonCachePath>/<sha256(url)>.json`; a cache
 * entry seeded from the vendored list with a fetch time far in the future means it never goes to
 * the network (openactive.md §4). A failed fetch would be cached too, so the directory is our own.
 */

const ACTIVITY_LIST_URL = 'https://openactive.io/activity-list';
const VENDORED_LIST = new URL('../vendor/openactive/activity-list.jsonld', import.meta.url);

let cacheDir: string | undefined;

export function seededValidatorCache(): string {
  if (cacheDir) return cacheDir;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'activehub-oa-validator-'));
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

export interface ValidationMessage {
  severity: 'failure' | 'warning' | 'suggestion' | 'notice';
  path: string;
  message: string;
  type?: string;
}

/** Everything the validator reports for `json` in `mode` ('RPDEFeed', 'BookableRPDEFeed', 'DatasetSite', …). */
export async function validateOpenActive(json: unknown, mode: string): Promise<ValidationMessage[]> {
  return (await validator.validate(json, {
    validationMode: mode,
    loadRemoteJson: true,
    remoteJsonCachePath: seededValidatorCache(),
    remoteJsonCacheTimeToLive: 3600,
  })) as ValidationMessage[];
}

/** Only the failures, one line each ("path: message"), for readable assertion diffs. */
export async function validationFailures(json: unknown, mode: string): Promise<string[]> {
  return (await validateOpenActive(json, mode))
    .filter((r) => r.severity === 'failure')
    .map((r) => `${r.path}: ${r.message.split('\n')[0]}`);
}
