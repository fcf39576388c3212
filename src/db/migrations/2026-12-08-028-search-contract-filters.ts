import { sql, type Kysely } from 'kysely';

/**
 * Search read model: what the Swagger-listed Events API filters `specialRequirementId`,
 * `leaderGender`, `availableChannelAdult` and `availableChannelJunior` match (issue 15 point 7;
 * docs/search.md). Added empty: a row gets its values when its series is next projected (the
 * projector rewrites a series whenever it or its parent changes in the feed).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table search_series
    add column special_requirement_ids text[] not null default '{}',
    add column leader_genders text[] not null default '{}',
    add column adult_channels text[] not null default '{}',
    add column junior_channels text[] not null default '{}'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table search_series
    drop column special_requirement_ids,
    drop column leader_genders,
    drop column adult_channels,
    drop column junior_channels`.execute(db);
}
