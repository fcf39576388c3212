import { AppError } from '../http/errors.js';

/*
 * Publisher-scoped identity (issue 15 point 5). Two publishers can publish the same `@id`; a
 * caller names the one it means by its data source: what our output exposes as
 * `imin:dataSource` (`{ "type": "WebAPI", "identifier": "<publisher id>" }`), or that identifier
 * alone. An id held by one publisher needs no naming (clients written against imin's docs work
 * unchanged); one held by several, unnamed, is an explicit 409 naming the candidates — never a
 * silent pick.
 */

/** `dataSource` as given (query string, or `imin:dataSource` in a body) → a publisher id. */
export function parseDataSource(value: unknown): number | null | 'invalid' {
  if (value === undefined || value === null) return null;
  const raw =
    typeof value === 'object' && !Array.isArray(value) ? (value as { identifier?: unknown }).identifier : value;
  const text = typeof raw === 'number' ? String(raw) : raw;
  if (typeof text !== 'string' || !/^[1-9][0-9]{0,11}$/.test(text)) return 'invalid';
  return Number(text);
}

/** The 409 for an id several publishers hold: names each candidate's data source identifier. */
export function ambiguousIdentifier(
  what: string,
  id: string,
  publisherIds: readonly number[],
  how: string,
  path?: string,
): AppError {
  const names = [...new Set(publisherIds)]
    .sort((a, b) => a - b)
    .map((p) => `"${p}"`)
    .join(', ');
  const message = `The ${what} "${id}" is published by more than one data source (imin:dataSource.identifier ${names}); ${how}.`;
  return new AppError('AMBIGUOUS_IDENTIFIER', message, {
    ...(path ? { fieldErrors: [{ path, message: `must name one of the data sources ${names}` }] } : {}),
  });
}
