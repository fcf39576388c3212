/*
 * bench/probes/fuzz.ts: fuzzed requests over every operation of a running activehub.
 *
 * The world (bench/probes/common.ts) has a seller, two brokers and their keys; the probe adds demo
 * data: customer accounts (live and test), orders made through the hosted checkout pages (live:
 * the seller's paid sessions; test: imin's test item), their receipts and checkout sessions. It
 * then reads `/openapi.json` and, for every operation there (and the hosted pages, the guest links
 * and the dev mailbox, which are not in it), sends `--per-op` variants built from a seeded PRNG:
 * wrong types, huge and empty strings, unicode (NUL, lone surrogates, RTL, emoji), numbers at
 * limits, 1e308, deep nesting, arrays for scalars, missing required and extra fields, malformed
 * JSON, invalid UTF-8, wrong or missing content types, bodies over 1 MB, path params of other
 * shapes (UUID of nobody, SQL-ish, ../, %00, long), URLs over 2,048 characters and bad query
 * strings — with a valid key, no key, a bogus key, a display-only key, the other mode's key and
 * the other broker's key.
 *
 * Defects (exit 1): a 5xx, no answer, a 4xx whose body is not an OpenActive error
 * (`@context`, `@type`, `statusCode` equal to the status) on the JSON API, a 2xx that is not
 * JSON where JSON is the contract; after the run, the server not healthy, a customer or order
 * the fuzz never addressed by its id that reads differently, or one it did address that no longer
 * reads as JSON. Destructive operations (DELETE) never get a stored id.
 *
 * Finally a short sub-run on the default rate limits: distinct bogus keys from one address,
 * counted by answer (429 once auth-failure limiting exists; not a defect either way).
 *
 *   npm run probe:fuzz -- [--per-op 330] [--seed 14] [--concurrency 8] [--pg-url postgres://…]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { ADMIN_KEY, call, checkout, createCustomer, loadavg, prng, startWorld, table, type World } from './common.js';

const { values } = parseArgs({
  options: {
    'per-op': { type: 'string', default: '330' },
    seed: { type: 'string', default: '14' },
    concurrency: { type: 'string', default: '8' },
    'pg-url': { type: 'string' },
    'bogus-keys': { type: 'string', default: '300' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'npm run probe:fuzz -- [--per-op 330] [--seed 14] [--concurrency 8] [--bogus-keys 300] [--pg-url postgres://user@host:5432/postgres]',
  );
  console.log('  without --pg-url the server runs on embedded PGlite in a temporary DATA_DIR');
  process.exit(0);
}
const PER_OP = Number(values['per-op']);
const SEED = Number(values.seed);
const CONCURRENCY = Number(values.concurrency);
const BOGUS_KEYS = Number(values['bogus-keys']);

type Schema = Record<string, unknown> & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
};

interface Operation {
  method: string;
  path: string;
  pathParams: string[];
  query: { name: string; schema: Schema; required: boolean }[];
  body?: Schema | undefined;
  /** broker key, operator key, or none */
  auth: 'broker' | 'admin' | 'none';
  /** JSON is the contract of error answers (false: HTML pages). */
  json: boolean;
  /** 2xx answers that are not JSON (metrics, receipts PDFs, pages). */
  nonJsonOk: boolean;
  form?: boolean;
}

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | undefined;
  summary: string;
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

const r = prng(SEED);

/* ---- values ------------------------------------------------------------------------------------ */

const deep = (n: number): unknown => {
  let v: unknown = 'bottom';
  for (let i = 0; i < n; i += 1) v = i % 2 ? [v] : { a: v };
  return v;
};
const STRINGS: [string, string][] = [
  ['empty', ''],
  ['space', ' '],
  ['huge 100k', 'a'.repeat(100_000)],
  ['long 5k', 'ab'.repeat(2500)],
  ['NUL', '\u0000'],
  ['NUL inside', 'Lou\u0000is'],
  ['lone high surrogate', '\ud800'],
  ['lone low surrogate', 'x\udfffy'],
  ['RTL override', '\u202eevil\u202c'],
  ['emoji', '🏃‍♀️🏊'.repeat(20)],
  ['zero-width', '\u200b\ufeff'],
  ['combining', 'e\u0301\u0301\u0301'],
  ['sql', "' OR '1'='1' --"],
  ['sql drop', "x'); drop table customers; --"],
  ['dotdot', '../../../etc/passwd'],
  ['html', '<script>alert(1)</script>'],
  ['template', '${7*7}{{7*7}}'],
  ['percent', '%00%ff%'],
  ['CRLF', 'a\r\nX-Injected: 1'],
  ['uuid of nobody', '6f1c1d7e-3b8e-4c55-9a57-5a2d8f0c0b4e'],
  ['url', 'http://169.254.169.254/latest/meta-data/'],
  ['email-ish', 'a@b'],
];
const NUMBERS: [string, unknown][] = [
  ['0', 0],
  ['-1', -1],
  ['1e308', 1e308],
  ['-1e308', -1e308],
  ['2^31', 2147483648],
  ['2^53+2', 9007199254740994],
  ['1.5', 1.5],
  ['-0', -0],
  ['5e-324', 5e-324],
];
const OTHERS: [string, unknown][] = [
  ['null', null],
  ['true', true],
  ['false', false],
  ['[]', []],
  ['{}', {}],
  ['array of strings', ['a', 'b']],
  ['object', { a: 1 }],
  ['deep 200', deep(200)],
];
const ALL_VALUES: [string, unknown][] = [...STRINGS, ...NUMBERS, ...OTHERS];

const PATH_VALUES: [string, string][] = [
  ['uuid of nobody', '6f1c1d7e-3b8e-4c55-9a57-5a2d8f0c0b4e'],
  ['nobody', 'doesnotexist'],
  ['sql', "1'%20OR%20'1'='1"],
  ['sql 2', '1;select%20pg_sleep(1)'],
  ['dotdot', '..%2F..%2Fadmin'],
  ['raw dotdot', '../../admin/publishers'],
  ['%00', 'abc%00'],
  ['%ff', '%ff%fe'],
  ['bad percent', '%zz'],
  ['surrogate bytes', '%ED%A0%80'],
  ['RTL', '%E2%80%AEabc'],
  ['emoji', '%F0%9F%8F%83'],
  ['long 1k', 'x'.repeat(1000)],
  ['number 0', '0'],
  ['number -1', '-1'],
  ['1e308', '1e308'],
  ['2^63', '9223372036854775808'],
  ['NaN', 'NaN'],
  ['space', '%20'],
  ['json', '%7B%22a%22%3A1%7D'],
  ['double slash', 'a%2F%2Fb'],
  ['semicolon', 'a;b=c'],
];

/** Percent-encodes by UTF-8 bytes (lone surrogates become U+FFFD, as a browser would send). */
const enc = (s: string) =>
  [...Buffer.from(s, 'utf8')]
    .map((b) =>
      (b >= 0x30 && b <= 0x39) ||
      (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a) ||
      '-._~'.includes(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

/** A plausible valid value for a schema (the base the mutations start from). */
function sample(s: Schema | undefined, depth = 0): unknown {
  if (!s || depth > 6) return 'x';
  if (s.const !== undefined) return s.const;
  if (s.enum?.length) return s.enum[0];
  const alts = s.anyOf ?? s.oneOf;
  if (alts?.length) return sample(alts.find((a) => a.type !== 'null') ?? alts[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) {
        if ((s.required ?? []).includes(k) || r.next() < 0.6) o[k] = sample(v, depth + 1);
      }
      return o;
    }
    case 'array':
      return [sample(s.items, depth + 1)];
    case 'integer':
      return Math.max(s.minimum ?? 1, 1);
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      if (s.format === 'email') return 'fuzz@example.com';
      if (s.format === 'uri') return 'https://example.com/x';
      if (s.format === 'date') return '2000-01-01';
      if (s.format === 'date-time') return '2030-01-01T10:00:00Z';
      return 'fuzz'.slice(0, Math.max(1, s.maxLength ?? 4));
    default:
      return 'x';
  }
}

/** Every path (as key lists) to a value inside a JSON value. */
function leaves(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  if (at.length) out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => leaves(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) leaves(x, [...at, k], out);
  return out;
}
function setAt(root: unknown, at: (string | number)[], value: unknown): unknown {
  if (at.length === 0) return value;
  const copy: unknown = structuredClone(root);
  let cur = copy as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[at.at(-1)!] = value;
  return copy;
}
function deleteAt(root: unknown, at: (string | number)[]): unknown {
  const copy: unknown = structuredClone(root);
  let cur = copy as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  if (Array.isArray(cur)) cur.splice(Number(at.at(-1)), 1);
  else delete cur[at.at(-1)!];
  return copy;
}

/* ---- the operations ---------------------------------------------------------------------------- */

function operationsOf(spec: { paths: Record<string, Record<string, Record<string, unknown>>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [p, methods] of Object.entries(spec.paths)) {
    for (const [method, o] of Object.entries(methods)) {
      const params = (o.parameters ?? []) as { in: string; name: string; required?: boolean; schema: Schema }[];
      const security = (o.security ?? []) as Record<string, unknown>[];
      const content = (o.requestBody as { content?: Record<string, { schema: Schema }> } | undefined)?.content;
      ops.push({
        method: method.toUpperCase(),
        path: p,
        pathParams: params.filter((x) => x.in === 'path').map((x) => x.name),
        query: params
          .filter((x) => x.in === 'query')
          .map((x) => ({ name: x.name, schema: x.schema, required: !!x.required })),
        body: content?.['application/json']?.schema,
        auth: security.some((s) => 'adminKey' in s) ? 'admin' : security.some((s) => 'apiKey' in s) ? 'broker' : 'none',
        json: true,
        nonJsonOk: p === '/metrics' || p.startsWith('/api/v2/receipts/'),
      });
    }
  }
  // Not in the OpenAPI document: the hosted pages, guest links and the dev mailbox (HTML).
  const page = { query: [], auth: 'none' as const, json: false, nonJsonOk: true };
  ops.push(
    { ...page, method: 'GET', path: '/checkout/{brokerSlug}/s/{sessionId}', pathParams: ['brokerSlug', 'sessionId'] },
    ...['choose', 'details', 'pay'].map((step) => ({
      ...page,
      method: 'POST',
      path: `/checkout/{brokerSlug}/s/{sessionId}/${step}`,
      pathParams: ['brokerSlug', 'sessionId'],
      form: true,
    })),
    {
      ...page,
      method: 'GET',
      path: '/checkout/{brokerSlug}/v1/scheduled-sessions/{encodedIdentifier}',
      pathParams: ['brokerSlug', 'encodedIdentifier'],
      query: [{ name: 'mode', schema: { type: 'string' }, required: false }],
    },
    { ...page, method: 'GET', path: '/checkout/_assets/{file}', pathParams: ['file'] },
    { ...page, method: 'GET', path: '/dev/mailbox', pathParams: [] },
    { ...page, method: 'GET', path: '/dev/mailbox/{id}', pathParams: ['id'] },
  );
  return ops;
}

/* ---- the demo data ----------------------------------------------------------------------------- */

interface Data {
  /** Ids the fuzz may address, per path parameter (never with DELETE). */
  targets: Record<string, string[]>;
  /** What the untouched records read as (path + key → body text). */
  protectedReads: { path: string; key: string; text: string }[];
  /** Records the fuzz addresses: each must still read as JSON at the end. */
  targetReads: { path: string; key: string }[];
}

async function seed(world: World): Promise<Data> {
  const { base, keys } = world;
  const person = (n: string) => ({ email: `${n}@example.com`, givenName: n, familyName: 'Fuzz' });
  const kept = [
    await createCustomer(base, keys.acmeLive, person('kept1')),
    await createCustomer(base, keys.acmeLive, person('kept2')),
  ];
  const aimed = [
    await createCustomer(base, keys.acmeLive, person('aimed1')),
    await createCustomer(base, keys.acmeLive, person('aimed2')),
  ];
  const keptTest = await createCustomer(base, keys.acmeTest, person('keptTest'));
  const sessions: string[] = [];
  const book = async (key: string, opportunity: string, customer: string) => {
    const c = await checkout(base, 'acme', key, opportunity, customer);
    if (c.end !== 'confirmed') throw new Error(`demo checkout: ${c.end} ${c.why ?? ''}`);
    sessions.push(/\/s\/([^/?#]+)/.exec(c.page!)![1]!);
  };
  await book(keys.acmeLive, world.opportunities[0]!, kept[0]!);
  await book(keys.acmeLive, world.opportunities[0]!, aimed[0]!);
  await book(keys.acmeTest, 'test-item-ScheduledSession-paid', keptTest);

  const idsIn = (text: string, re: RegExp) => [...new Set([...text.matchAll(re)].map((m) => m[1]!))];
  const ordersOf = async (key: string, customer: string) => {
    const list = await call(base, 'GET', `/api/v2/orders?customerIdentifier=${customer}`, key);
    if (list.status !== 200) throw new Error(`orders of ${customer}: ${list.status} ${list.text}`);
    return idsIn(list.text, /\/api\/v2\/orders\/([A-Za-z0-9_-]+)/g);
  };
  const keptOrders = [...(await ordersOf(keys.acmeLive, kept[0]!)), ...(await ordersOf(keys.acmeTest, keptTest))];
  const aimedOrders = await ordersOf(keys.acmeLive, aimed[0]!);
  if (keptOrders.length < 2 || aimedOrders.length < 1) throw new Error('demo orders missing');
  const receipts: string[] = [];
  for (const [key, o] of [
    ...keptOrders.map((o, i) => [i === keptOrders.length - 1 ? keys.acmeTest : keys.acmeLive, o] as const),
    ...aimedOrders.map((o) => [keys.acmeLive, o] as const),
  ]) {
    receipts.push(
      ...idsIn((await call(base, 'GET', `/api/v2/orders/${o}`, key)).text, /\/api\/v2\/receipts\/([A-Za-z0-9_-]+)/g),
    );
  }

  const protectedPaths: [string, string][] = [
    ...kept.map((c) => [`/api/v2/customer-accounts/${c}`, keys.acmeLive] as [string, string]),
    ...kept.map((c) => [`/api/v2/orders?customerIdentifier=${c}`, keys.acmeLive] as [string, string]),
    [`/api/v2/customer-accounts/${keptTest}`, keys.acmeTest],
    [`/api/v2/orders?customerIdentifier=${keptTest}`, keys.acmeTest],
    ...keptOrders.map(
      (o, i) =>
        [`/api/v2/orders/${o}`, i === keptOrders.length - 1 ? keys.acmeTest : keys.acmeLive] as [string, string],
    ),
  ];
  const protectedReads = [];
  for (const [p, key] of protectedPaths) {
    const res = await call(base, 'GET', p, key);
    if (res.status !== 200) throw new Error(`${p}: ${res.status}`);
    protectedReads.push({ path: p, key, text: res.text });
  }
  console.log(
    `  demo data: ${kept.length + aimed.length + 1} customers, ${keptOrders.length + aimedOrders.length} orders (${receipts.length} receipts), ${sessions.length} checkout sessions`,
  );
  return {
    targets: {
      id: [...aimed, ...aimedOrders, ...receipts, ...sessions],
      sessionId: sessions,
      brokerSlug: ['acme', 'rival'],
      customerIdentifier: [...aimed, ...kept, keptTest],
      encodedIdentifier: [encodeURIComponent(world.opportunities[1]!)],
      file: ['checkout.css', 'app.js'],
      slug: ['activity-list'],
    },
    protectedReads,
    targetReads: [
      ...aimed.map((c) => ({ path: `/api/v2/customer-accounts/${c}`, key: keys.acmeLive })),
      ...aimedOrders.map((o) => ({ path: `/api/v2/orders/${o}`, key: keys.acmeLive })),
    ],
  };
}

/* ---- building one request ---------------------------------------------------------------------- */

const BODY_KINDS = [
  'valid',
  'wrong type',
  'string value',
  'number value',
  'other value',
  'array for scalar',
  'missing required',
  'extra fields',
  'deep nesting',
  'malformed JSON',
  'invalid UTF-8',
  'wrong content type',
  'no content type',
  'empty body',
  'over 1 MB',
  'top-level non-object',
] as const;
const URL_KINDS = [
  'path param',
  'query value',
  'unknown query',
  'malformed query',
  'long URL',
  'repeated param',
] as const;

function build(op: Operation, data: Data, keys: World['keys']): Sent {
  const notes: string[] = [];
  // The key
  const k = r.next();
  let key: string | undefined;
  if (op.auth === 'admin') {
    if (k < 0.7) key = ADMIN_KEY;
    else if (k < 0.8) key = undefined;
    else if (k < 0.9) key = `bogus-admin-${r.int(1e9)}`;
    else key = keys.acmeLive;
  } else if (op.auth === 'broker') {
    if (k < 0.6) key = keys.acmeLive;
    else if (k < 0.68) key = undefined;
    else if (k < 0.76) key = `ah_live_bogus${r.int(1e9)}xxxxxxxxxxxxxxxxxxx`;
    else if (k < 0.84) key = keys.acmeDisplay;
    else if (k < 0.92) key = keys.acmeTest;
    else key = keys.rivalLive;
  } else key = r.next() < 0.2 ? keys.acmeLive : undefined;
  notes.push(
    key === undefined
      ? 'no key'
      : key === ADMIN_KEY
        ? 'admin key'
        : key === keys.acmeLive
          ? 'valid key'
          : key === keys.acmeDisplay
            ? 'display-only key'
            : key === keys.acmeTest
              ? 'test key'
              : key === keys.rivalLive
                ? 'other broker key'
                : 'bogus key',
  );

  // The path
  const urlKind = r.next() < 0.45 ? r.pick(URL_KINDS) : undefined;
  let path = op.path;
  for (const name of op.pathParams) {
    const real = data.targets[name] ?? [];
    const mayUseReal = op.method !== 'DELETE' && !(op.auth === 'admin' && op.method !== 'GET');
    let value: string;
    if (urlKind === 'path param' || real.length === 0 || !mayUseReal || r.next() < 0.25) {
      const [label, v] = r.pick(PATH_VALUES);
      value = v;
      notes.push(`${name}=${label}`);
    } else {
      value = name === 'id' && op.auth === 'admin' ? '1' : r.pick(real);
      if (op.auth === 'admin' && name === 'id') value = '1';
    }
    path = path.replace(`{${name}}`, value);
  }
  path = path.replace(/\{[^}]+\}/g, '1');

  // The query string
  const q: string[] = [];
  for (const p of op.query) {
    if (p.required || r.next() < 0.3) {
      const real = data.targets[p.name];
      const v = real?.length && r.next() < 0.7 ? r.pick(real) : String(sample(p.schema));
      q.push(`${enc(p.name)}=${enc(v)}`);
    }
  }
  if (urlKind === 'query value' && op.query.length) {
    const p = r.pick(op.query);
    const [label, v] = r.pick(ALL_VALUES);
    q.push(`${enc(p.name)}=${enc(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))}`);
    notes.push(`query ${p.name}=${label}`);
  } else if (urlKind === 'unknown query') {
    q.push(`${enc(`zz${r.int(100)}`)}=${enc(r.pick(STRINGS)[1].slice(0, 500))}`);
    notes.push('unknown query param');
  } else if (urlKind === 'malformed query') {
    const m = r.pick([
      '%zz',
      '&&&',
      '=',
      'a[=1',
      'a]]=1',
      '%',
      'a=%E0%A4%A',
      'limit=1&limit=2&limit=',
      '%00=%00',
      'geo[radial]=1,2,3,4,5',
    ]);
    q.push(m);
    notes.push(`malformed query ${m}`);
  } else if (urlKind === 'repeated param' && op.query.length) {
    const p = r.pick(op.query);
    for (let i = 0; i < 50; i += 1) q.push(`${enc(p.name)}=${i}`);
    notes.push(`${p.name} x50`);
  } else if (urlKind === 'long URL') {
    q.push(`pad=${'y'.repeat(r.next() < 0.5 ? 2100 : 9000)}`);
    notes.push('long URL');
  }
  if (q.length) path += `?${q.join('&')}`;

  // The body
  const headers: Record<string, string> = {};
  if (key !== undefined) headers['x-api-key'] = key;
  let body: Buffer | undefined;
  if (op.form) {
    const kind = r.pick(['valid-ish', 'huge', 'unicode', 'json', 'garbage', 'empty']);
    notes.push(`form ${kind}`);
    const fields = new URLSearchParams({
      cardName: 'Fuzz',
      cardNumber: '4242 4242 4242 4242',
      cardExpiry: '12/40',
      cardCvc: '123',
      email: 'f@example.com',
      givenName: 'F',
      familyName: 'Z',
    });
    if (kind === 'huge') fields.set('givenName', 'g'.repeat(200_000));
    if (kind === 'unicode') fields.set(r.pick(['givenName', 'cardNumber', 'email']), r.pick(STRINGS)[1]);
    headers['content-type'] = kind === 'json' ? 'application/json' : 'application/x-www-form-urlencoded';
    body =
      kind === 'json'
        ? Buffer.from('{"a":')
        : kind === 'garbage'
          ? Buffer.from([0xff, 0xfe, 0x25, 0x7a, 0x7a, 0x3d, 0x26])
          : kind === 'empty'
            ? Buffer.alloc(0)
            : Buffer.from(fields.toString());
  } else if (op.body) {
    const kind = r.pick(BODY_KINDS);
    notes.push(`body ${kind}`);
    let value: unknown = sample(op.body);
    const spots = leaves(value);
    const spot = spots.length ? r.pick(spots) : [];
    let raw: string | Buffer | undefined;
    let contentType: string | undefined = 'application/json';
    switch (kind) {
      case 'valid':
        break;
      case 'wrong type': {
        const [label, v] = r.pick(ALL_VALUES);
        value = setAt(value, spot, v);
        notes.push(`${spot.join('.') || 'root'}=${label}`);
        break;
      }
      case 'string value': {
        const [label, v] = r.pick(STRINGS);
        value = setAt(value, spot, v);
        notes.push(`${spot.join('.') || 'root'}=${label}`);
        break;
      }
      case 'number value': {
        const [label, v] = r.pick(NUMBERS);
        value = setAt(value, spot, v);
        notes.push(`${spot.join('.') || 'root'}=${label}`);
        break;
      }
      case 'other value': {
        const [label, v] = r.pick(OTHERS);
        value = setAt(value, spot, v);
        notes.push(`${spot.join('.') || 'root'}=${label}`);
        break;
      }
      case 'array for scalar':
        value = setAt(value, spot, [r.pick(STRINGS)[1].slice(0, 50), 1]);
        notes.push(`${spot.join('.') || 'root'}=[…]`);
        break;
      case 'missing required':
        if (spot.length) value = deleteAt(value, spot);
        notes.push(`without ${spot.join('.')}`);
        break;
      case 'extra fields':
        value = setAt(value, [...spot.slice(0, -1), `extra${r.int(100)}`], r.pick(ALL_VALUES)[1]);
        if (value && typeof value === 'object' && !Array.isArray(value)) {
          (value as Record<string, unknown>)['__proto__'] = { admin: true };
          (value as Record<string, unknown>)['constructor'] = { prototype: { polluted: 1 } };
        }
        break;
      case 'deep nesting':
        raw = JSON.stringify(setAt(value, spot, 'DEEP')).replace('"DEEP"', '['.repeat(5000) + ']'.repeat(5000));
        break;
      case 'malformed JSON':
        raw = r.pick([
          '{',
          '{"a":}',
          "{'a':1}",
          '{"a":1,}',
          'NaN',
          '{"a":NaN}',
          '[1,2',
          'nul',
          '{"a":"\\ud800"}',
          '{"a":"\\u0000"}',
          '{"a":1}{"b":2}',
          '\u0000',
        ]);
        notes.push(`raw ${JSON.stringify(raw)}`);
        break;
      case 'invalid UTF-8':
        raw = Buffer.concat([
          Buffer.from('{"email":"'),
          Buffer.from([0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80]),
          Buffer.from('"}'),
        ]);
        break;
      case 'wrong content type':
        contentType = r.pick([
          'text/plain',
          'application/xml',
          'multipart/form-data; boundary=x',
          'application/x-www-form-urlencoded',
          'application/json; charset=utf-16',
          'application/jsonx',
        ]);
        notes.push(contentType);
        break;
      case 'no content type':
        contentType = undefined;
        break;
      case 'empty body':
        raw = '';
        break;
      case 'over 1 MB':
        value = setAt(value, spot, 'z'.repeat(1_100_000));
        break;
      case 'top-level non-object':
        value = r.pick(OTHERS.concat(NUMBERS, STRINGS.slice(0, 6)))[1];
        break;
    }
    if (contentType) headers['content-type'] = contentType;
    body = Buffer.isBuffer(raw) ? raw : Buffer.from(raw ?? JSON.stringify(value) ?? 'null', 'utf8');
  } else if (r.next() < 0.05) {
    // A body where none is expected
    headers['content-type'] = 'application/json';
    body = Buffer.from('{"unexpected":true}');
    notes.push('unexpected body');
  }
  return { method: op.method, path, headers, body, summary: notes.join(', ') };
}

/* ---- sending ----------------------------------------------------------------------------------- */

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/**
 * Sends one request; a reset on a reused keep-alive connection (the server closes the connection
 * after some answers, e.g. 413, and the agent may already have picked it) is tried once more on a
 * connection of its own.
 */
async function send(base: string, s: Sent): Promise<Answer | Error> {
  const a = await sendOnce(base, s, agent);
  if (a instanceof Error && /ECONNRESET|socket hang up|EPIPE/.test(a.message)) return sendOnce(base, s, false);
  return a;
}

function sendOnce(base: string, s: Sent, via: http.Agent | false): Promise<Answer | Error> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let req: http.ClientRequest;
    try {
      req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: s.method,
          path: s.path,
          agent: via,
          headers: { ...s.headers, ...(s.body ? { 'content-length': String(s.body.length) } : {}) },
          timeout: 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              contentType: String(res.headers['content-type'] ?? ''),
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (e) => resolve(e));
        },
      );
    } catch (e) {
      resolve(e as Error);
      return;
    }
    req.on('timeout', () => req.destroy(new Error('timed out after 30 s')));
    req.on('error', (e) => resolve(e));
    req.end(s.body);
  });
}

/** Why an answer breaks the contract, or undefined. */
function defectOf(op: Operation, a: Answer): string | undefined {
  if (a.status >= 500) return `${a.status}`;
  const isJson = /^application\/(.+\+)?json/.test(a.contentType);
  if (a.status >= 400 && op.json) {
    if (!isJson) return `${a.status} with ${a.contentType || 'no content type'}`;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(a.text) as Record<string, unknown>;
    } catch {
      return `${a.status} body not JSON`;
    }
    const context = body['@context'];
    const okContext =
      context === 'https://openactive.io/' || (Array.isArray(context) && context.includes('https://openactive.io/'));
    if (!okContext || typeof body['@type'] !== 'string' || body.statusCode !== a.status)
      return `${a.status} not an OpenActive error`;
  }
  if (a.status >= 200 && a.status < 300 && !op.nonJsonOk && !isJson && a.status !== 204 && a.status !== 202)
    return `${a.status} with ${a.contentType || 'no content type'}`;
  return undefined;
}

async function main() {
  const kind = values['pg-url'] ? `PostgreSQL (${new URL(values['pg-url']).host})` : 'PGlite';
  console.log(`fuzz probe: ${PER_OP} variants per operation, seed ${SEED}, ${CONCURRENCY} at a time, ${kind}`);
  console.log(`  load average at start: ${loadavg()}`);
  const world = await startWorld({ pgUrl: values['pg-url'], prefix: 'ah_probe_fuzz' });
  process.on('SIGINT', () => void world.close().then(() => process.exit(130)));
  try {
    const data = await seed(world);
    const spec = (await (await fetch(`${world.base}/openapi.json`)).json()) as Parameters<typeof operationsOf>[0];
    const ops = operationsOf(spec);
    const work: { op: Operation; sent: Sent }[] = [];
    for (const op of ops) for (let i = 0; i < PER_OP; i += 1) work.push({ op, sent: build(op, data, world.keys) });

    const perOp = new Map<Operation, Map<number, number>>();
    const byStatus = new Map<number, number>();
    const defects: { op: Operation; sent: Sent; why: string; answer: string }[] = [];
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < work.length; i = next++) {
          const { op, sent } = work[i]!;
          const a = await send(world.base, sent);
          const status = a instanceof Error ? 0 : a.status;
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
          const m = perOp.get(op) ?? new Map<number, number>();
          m.set(status, (m.get(status) ?? 0) + 1);
          perOp.set(op, m);
          const why = a instanceof Error ? `no answer: ${a.message}` : defectOf(op, a);
          if (why) defects.push({ op, sent, why, answer: a instanceof Error ? '' : a.text.slice(0, 300) });
        }
      }),
    );
    const wall = Date.now() - t0;

    // After: healthy, the untouched records unchanged, the addressed ones still readable.
    const health = await call(world.base, 'GET', '/health', undefined);
    const changed: string[] = [];
    for (const p of data.protectedReads) {
      const now = await call(world.base, 'GET', p.path, p.key);
      if (now.status !== 200 || now.text !== p.text) changed.push(`${p.path}: ${now.status} ${now.text.slice(0, 200)}`);
    }
    const unreadable: string[] = [];
    for (const p of data.targetReads) {
      const now = await call(world.base, 'GET', p.path, p.key);
      if (now.status !== 200 || now.body === undefined)
        unreadable.push(`${p.path}: ${now.status} ${now.text.slice(0, 200)}`);
    }

    // Bogus keys on the default limits (restart with the documented defaults given explicitly:
    // server processes started for tests raise them otherwise).
    await world.restart({ RATE_LIMIT_MAX: '1200', RATE_LIMIT_ADDRESS_MAX: '3000', RATE_LIMIT_AUTH_FAILURES_MAX: '20' });
    const bogus = new Map<number, number>();
    for (let i = 0; i < BOGUS_KEYS; i += 1) {
      const a = await send(world.base, {
        method: 'GET',
        path: '/api/v2/customer-accounts/nobody',
        headers: { 'x-api-key': `ah_live_bogus_${SEED}_${i}_xxxxxxxxxxxxxxxx` },
        summary: '',
      });
      const status = a instanceof Error ? 0 : a.status;
      bogus.set(status, (bogus.get(status) ?? 0) + 1);
    }

    const statuses = [...byStatus.keys()].sort((a, b) => a - b);
    console.log(`\n  ${work.length} fuzzed requests over ${ops.length} operations in ${(wall / 1000).toFixed(1)} s`);
    table([
      ['operation', 'sent', ...statuses.map(String), 'defects'],
      ...ops.map((op) => {
        const m = perOp.get(op)!;
        return [
          `${op.method} ${op.path}`,
          PER_OP,
          ...statuses.map((s) => m.get(s) ?? 0),
          defects.filter((d) => d.op === op).length,
        ];
      }),
      ['all', work.length, ...statuses.map((s) => byStatus.get(s) ?? 0), defects.length],
    ]);
    console.log(`  (status 0: no answer)`);
    console.log(`  defects: ${defects.length}`);
    const shown = new Set<string>();
    for (const d of defects) {
      const sig = `${d.op.method} ${d.op.path} ${d.why}`;
      if (shown.has(sig)) continue;
      shown.add(sig);
      const n = defects.filter((x) => `${x.op.method} ${x.op.path} ${x.why}` === sig).length;
      console.log(
        `    ${n}× ${d.sent.method} ${d.sent.path.slice(0, 160)} [${d.sent.summary.slice(0, 200)}] → ${d.why}: ${d.answer.slice(0, 240)}`,
      );
    }
    console.log(
      `  /health after: ${health.status} ${(health.body as { status?: string } | undefined)?.status ?? health.text.slice(0, 100)}`,
    );
    console.log(
      `  untouched records read differently: ${changed.length}${changed.length ? `\n    ${changed.join('\n    ')}` : ''}`,
    );
    console.log(
      `  addressed records no longer readable: ${unreadable.length}${unreadable.length ? `\n    ${unreadable.join('\n    ')}` : ''}`,
    );
    console.log(
      `  ${BOGUS_KEYS} distinct bogus keys from one address on the default limits: ${[...bogus]
        .sort((a, b) => a[0] - b[0])
        .map(([s, n]) => `${s} ×${n}`)
        .join(', ')}`,
    );
    console.log(`  load average at end: ${loadavg()}`);
    const healthy = health.status === 200 && (health.body as { status?: string } | undefined)?.status === 'ok';
    return defects.length + changed.length + unreadable.length > 0 || !healthy ? 1 : 0;
  } finally {
    agent.destroy();
    await world.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
