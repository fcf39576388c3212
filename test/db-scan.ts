import { sql } from 'kysely';
import type { Database } from '../src/db/database.js';

/*
 * The whole database as text, for tests that prove personal data is gone everywhere (erasure):
 * every row of every base table outside the system schemas — ours and pg-boss's.
 */

export async function allTables(database: Database): Promise<{ schema: string; table: string }[]> {
  const { rows } = await sql<{ schema: string; table: string }>`
    select distinct c.table_schema as schema, c.table_name as table
    from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema not in ('pg_catalog', 'information_schema') and t.table_type = 'BASE TABLE'
    order by 1, 2`.execute(database.db);
  return rows;
}

export async function dumpDatabase(database: Database): Promise<{ where: string; text: string }[]> {
  const out: { where: string; text: string }[] = [];
  for (const { schema, table } of await allTables(database)) {
    const { rows } = await sql<{
      row: string;
    }>`select r::text as row from ${sql.table(`${schema}.${table}`)} r`.execute(database.db);
    for (const r of rows) out.push({ where: `${schema}.${table}`, text: r.row });
  }
  return out;
}

/** Where each of `values` (case-insensitive) occurs: `name in schema.table: row…`. */
export async function findValues(database: Database, values: Record<string, string>): Promise<string[]> {
  const found: string[] = [];
  for (const { where, text } of await dumpDatabase(database)) {
    const lower = text.toLowerCase();
    for (const [name, value] of Object.entries(values)) {
      if (lower.includes(value.toLowerCase())) found.push(`${name} in ${where}: ${text.slice(0, 300)}`);
    }
  }
  return found;
}
