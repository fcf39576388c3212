import { Type, type TSchema } from 'typebox';
import { OPENACTIVE_CONTEXT } from './jsonld.js';

/** A string limited to fixed values, as a plain JSON-Schema `enum` (clearer errors than anyOf). */
export const StringEnum = <const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

export const JsonLdContext = Type.Unsafe<string | string[]>({
  anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
  description: `JSON-LD context, normally "${OPENACTIVE_CONTEXT}"`,
});

/** The OpenActive error object every 4xx/5xx carries (DECISIONS §3). */
export const ErrorResponse = Type.Object(
  {
    '@context': Type.String(),
    '@type': Type.String({ description: 'OpenActive error type, e.g. NotFoundError' }),
    name: Type.String(),
    description: Type.String(),
    statusCode: Type.Integer(),
    instance: Type.String({ description: 'The request id (also in X-Request-Id)' }),
    'activehub:fieldErrors': Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'ErrorResponse', description: 'OpenActive error object' },
);

const errorRef = Type.Unsafe({ $ref: 'ErrorResponse#' });

/** Standard error responses for an authenticated route, merged into its `response` schema. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {};
  for (const s of [400, 401, 403, 429, ...statuses]) out[s] = errorRef;
  return out;
}

export const IdentifierParam = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'Customer identifier' }),
});
