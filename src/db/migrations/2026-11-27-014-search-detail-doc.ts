import { sql, type Kysely } from 'kysely';

/**
 * Search read model, a search-only series document: the parts of `search_series.doc` only By-ID
 * answers use — `detail` (offers, provider, leader, accessibility … as shown By-ID) and `offers`
 * (as published, for the occurrences that inherit them) — move to their own column,
 * `detail_doc` = `{ detail, offers }`, so a search reads about half the bytes per series. Out of
 * line like `doc` (migration 2026-11-26-004). Existing rows are split in place; the documents'
 * other keys keep their order (`json`, not `jsonb`, which would reorder them).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table search_series add column detail_doc json not null default '{}'`.execute(db);
  await sql`alter table search_series alter column detail_doc set storage external`.execute(db);
  await sql`update search_series s set
      detail_doc = json_build_object('detail', coalesce(s.doc->'detail', '{}'::json), 'offers', coalesce(s.doc->'offers', '[]'::json)),
      doc = coalesce((select json_object_agg(e.key, e.value order by e.n)
        from json_each(s.doc) with ordinality e(key, value, n) where e.key not in ('detail', 'offers')), '{}'::json)
    where json_typeof(s.doc) = 'object' and (s.doc->'detail' is not null or s.doc->'offers' is not null)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`update search_series s set doc = coalesce((select json_object_agg(e.key, e.value order by e.n)
      from (select * from json_each(s.doc) with ordinality a(key, value, n)
            union all select key, value, n + 1000 from json_each(s.detail_doc) with ordinality b(key, value, n)) e), '{}'::json)
    where s.detail_doc::text <> '{}'`.execute(db);
  await sql`alter table search_series drop column detail_doc`.execute(db);
}
