import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from './errors.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function createAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    // Bodies are validated exactly as sent: an unknown property or a wrong type is an error,
    // never silently dropped or coerced. Query strings and path params arrive as text and
    // are coerced (a repeated parameter becomes an array).
    coerceTypes: coerce ? 'array' : false,
    removeAdditional: false,
    useDefaults: true,
    allErrors: true,
    verbose: true,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

const bodyAjv = createAjv(false);
const textAjv = createAjv(true);

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv;
  const validate = ajv.compile(schema as object);
  return httpPart === 'headers' ? validate : withStorableText(validate);
};

const UNSTORABLE_MESSAGE = 'must not contain NUL characters or unpaired surrogates';
// NUL is refused by Postgres in `text` and `jsonb`; an unpaired UTF-16 surrogate is not Unicode
// text at all (the driver would store U+FFFD instead, or jsonb refuse it). Either would surface
// as a database failure, so it is reported as a field error before any handler runs.
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const isUnstorable = (text: string) => text.includes('\u0000') || UNPAIRED_SURROGATE.test(text);

const pointerSegment = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** JSON pointers of the strings (values or keys) in `value` that Postgres cannot store as sent. */
function findUnstorableText(value: unknown): string[] {
  const found: string[] = [];
  // Iterative: a body can nest far deeper than the call stack allows.
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0 && found.length < 20) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      if (isUnstorable(item)) found.push(path);
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i -= 1) stack.push([item[i], `${path}/${i}`]);
    } else if (item !== null && typeof item === 'object') {
      const entries = Object.entries(item);
      for (let i = entries.length - 1; i >= 0; i -= 1) {
        const [key, child] = entries[i]!;
        const childPath = `${path}/${pointerSegment(key)}`;
        if (isUnstorable(key)) found.push(childPath);
        else stack.push([child, childPath]);
      }
    }
  }
  return found;
}

function withStorableText(validate: ValidateFunction) {
  const check = Object.assign(
    (data: unknown): boolean => {
      const valid = validate(data);
      const unstorable = findUnstorableText(data);
      if (valid && unstorable.length === 0) {
        check.errors = null;
        return true;
      }
      check.errors = [
        ...(validate.errors ?? []),
        ...unstorable.map((instancePath): ErrorObject => ({
          instancePath,
          schemaPath: '#/storableText',
          keyword: 'storableText',
          params: {},
          message: UNSTORABLE_MESSAGE,
        })),
      ];
      return false;
    },
    { errors: null as ErrorObject[] | null },
  );
  return check;
}

const typeNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

const formatMessages: Record<string, string> = {
  email: 'must be an email address',
  date: 'must be a real date in the form YYYY-MM-DD',
  'date-time': 'must be a date and time in ISO 8601 form, e.g. 2026-01-31T09:30:00Z',
  uri: 'must be an absolute URL',
  uuid: 'must be a UUID',
};

function describe(error: ErrorObject): FieldError {
  const base = error.instancePath;
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: `${base}/${String(p.missingProperty)}`, message: 'is required' };
    case 'additionalProperties':
      return { path: `${base}/${String(p.additionalProperty)}`, message: 'is not an allowed property' };
    case 'type':
      return { path: base, message: `must be ${typeNames[String(p.type)] ?? String(p.type)}` };
    case 'format':
      return { path: base, message: formatMessages[String(p.format)] ?? `must be in ${String(p.format)} format` };
    case 'minLength':
      return {
        path: base,
        message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters`,
      };
    case 'maxLength':
      return { path: base, message: `must be at most ${String(p.limit)} characters` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path: base, message: `must be ${String(p.comparison)} ${String(p.limit)}` };
    case 'const':
      return { path: base, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'enum':
      return {
        path: base,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'minProperties':
      return { path: base, message: `must have at least ${String(p.limit)} propert${p.limit === 1 ? 'y' : 'ies'}` };
    case 'minItems':
      return { path: base, message: `must have at least ${String(p.limit)} item(s)` };
    case 'maxItems':
      return { path: base, message: `must have at most ${String(p.limit)} item(s)` };
    case 'pattern':
      return {
        path: base,
        message: (error.parentSchema?.description as string | undefined) ?? 'is not in the expected form',
      };
    default:
      return { path: base, message: error.message ?? 'is invalid' };
  }
}

const isAlternative = (e: ErrorObject) => e.keyword === 'anyOf' || e.keyword === 'oneOf';
const isWithin = (path: string, base: string) => path === base || path.startsWith(`${base}/`);

/**
 * Where a schema accepts several forms (`anyOf`), keeps only the errors of the form the value
 * got closest to (fewest errors), so a client sees the mistakes in what it meant to send rather
 * than every mismatch with forms it did not use. Each `anyOf` is judged on its own, outermost
 * first: two nullable fields that are both wrong are both reported.
 */
function pruneAlternatives(errors: ErrorObject[]): ErrorObject[] {
  let kept = errors;
  const alternatives = errors.filter(isAlternative).sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  for (const alternative of alternatives) {
    if (!kept.includes(alternative)) continue;
    const base = `${alternative.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of kept) {
      if (!e.schemaPath.startsWith(base) || !isWithin(e.instancePath, alternative.instancePath)) continue;
      const branch = e.schemaPath.slice(base.length).split('/')[0]!;
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
    }
    if (branches.size < 2) continue;
    const score = (list: ErrorObject[]) => list.filter((e) => !isAlternative(e)).length;
    // A stable sort: on a tie the first form listed in the schema wins.
    const [best, ...losers] = [...branches.values()].sort((a, b) => score(a) - score(b));
    const losing = new Set(losers.flat());
    if (best) kept = kept.filter((e) => !losing.has(e));
  }
  return kept;
}

/** Turns Ajv errors into field errors (JSON pointers into the request part, prefixed). */
export function toFieldErrors(errors: ErrorObject[], prefix = ''): FieldError[] {
  const chosen = pruneAlternatives(errors).filter((e) => !isAlternative(e));
  // A value failing several keywords (too short and no non-space character) is reported once,
  // by the first keyword that failed.
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of chosen) {
    const fe = describe(e);
    if (seen.has(fe.path)) continue;
    seen.add(fe.path);
    out.push({ path: `${prefix}${fe.path}` || '/', message: fe.message });
  }
  return out;
}
