import { readFileSync } from 'node:fs';

/** activehub's version, from package.json (user agent, OpenAPI, /health). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
