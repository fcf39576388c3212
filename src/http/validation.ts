import { Ajv, type ErrorObject } from 'ajv';
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
  return ajv.compile(schema as object);
};

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

/**
 * Turns Ajv errors into field errors. Where a schema accepts several forms (`anyOf`), the form
 * the request got closest to (fewest errors) is reported, so a client sees the mistakes in
 * what it meant to send rather than every mismatch with forms it did not use.
 */
export function toFieldErrors(errors: ErrorObject[], prefix = ''): FieldError[] {
  let chosen = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
  const branches = new Map<string, ErrorObject[]>();
  for (const e of chosen) {
    const m = /^(.*?\/(?:anyOf|oneOf)\/\d+)\//.exec(e.schemaPath);
    if (!m) continue;
    const list = branches.get(m[1]!) ?? [];
    list.push(e);
    branches.set(m[1]!, list);
  }
  if (branches.size > 1) {
    const best = [...branches.entries()].sort((a, b) => a[1].length - b[1].length)[0]!;
    const branchPaths = [...branches.keys()];
    chosen = chosen.filter((e) => !branchPaths.some((bp) => e.schemaPath.startsWith(`${bp}/`)) || best[1].includes(e));
  }
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
