/*
 * Preloaded into the activehub server by bench/checkout (`node --import tsx --import ./count-sql.ts`):
 * counts the SQL statements each HTTP request sends — every round trip on a pg pool client
 * (Kysely's queries, pg-boss's job inserts, BEGIN and COMMIT) — into the request's timing scope,
 * which the server reports as `Server-Timing: sql;desc="N"`. Benchmark use only: the server
 * itself never patches its driver.
 */
import pg from 'pg';
import { currentTimingScope } from '../../src/lib/server-timing.js';

const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
const query = proto.query;
proto.query = function (this: unknown, ...args: unknown[]) {
  const scope = currentTimingScope();
  if (scope) scope.statements += 1;
  return query.apply(this, args);
};
