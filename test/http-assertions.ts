import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

/** The keys every error body has (DECISIONS §3), plus the optional field-error list. */
const ERROR_KEYS = ['@context', '@type', 'name', 'description', 'statusCode', 'instance'];

/**
 * Asserts `res` is an OpenActive error object of exactly the DECISIONS §3 shape, with the given
 * status and `@type`, whose `instance` is the request id in `X-Request-Id`. Returns the body.
 */
export function expectError(res: LightMyRequestResponse, status: number, type: string): ErrorBodyJson {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json\b/);
  const body = res.json<ErrorBodyJson>();
  expectErrorShape(body, res);
  expect(body['@type']).toBe(type);
  expect(body.statusCode).toBe(status);
  return body;
}

/** Shape only: for property tests, where the status varies. */
export function expectErrorShape(body: ErrorBodyJson, res: LightMyRequestResponse): void {
  const keys = Object.keys(body).filter((k) => k !== 'activehub:fieldErrors');
  expect(keys.sort()).toEqual([...ERROR_KEYS].sort());
  expect(body['@context']).toBe('https://openactive.io/');
  expect(body['@type']).toMatch(/^[A-Za-z]+Error$/);
  expect(typeof body.name).toBe('string');
  expect(body.name.length).toBeGreaterThan(0);
  expect(typeof body.description).toBe('string');
  expect(body.description.length).toBeGreaterThan(0);
  expect(body.statusCode).toBe(res.statusCode);
  expect(typeof res.headers['x-request-id']).toBe('string');
  expect(body.instance).toBe(res.headers['x-request-id']);
  if ('activehub:fieldErrors' in body) {
    expect(body['activehub:fieldErrors']!.length).toBeGreaterThan(0);
    for (const fe of body['activehub:fieldErrors']!) {
      expect(Object.keys(fe).sort()).toEqual(['message', 'path']);
      expect(fe.path.length).toBeGreaterThan(0);
      expect(fe.message.length).toBeGreaterThan(0);
    }
  }
}

export interface ErrorBodyJson {
  '@context': string;
  '@type': string;
  name: string;
  description: string;
  statusCode: number;
  instance: string;
  'activehub:fieldErrors'?: { path: string; message: string }[];
}
