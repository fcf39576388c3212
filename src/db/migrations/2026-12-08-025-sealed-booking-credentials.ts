import { sql, type Kysely } from 'kysely';

/*
 * Sellers' booking credentials are stored sealed (issue 14 point 9): `headers_sealed` holds them
 * encrypted under the server's secrets key (src/lib/secrets.ts). Migrations have no key, so rows
 * stored in plain JSON before this are sealed by the booking service at start-up, which then
 * clears `headers`; until then a row has one form or the other.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table booking_credentials add column headers_sealed text`.execute(db);
  await sql`alter table booking_credentials alter column headers drop not null`.execute(db);
  await sql`alter table booking_credentials add constraint booking_credentials_held
    check (headers is not null or headers_sealed is not null)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Sealed rows cannot be opened here (no key): they are removed and must be set again.
  await sql`delete from booking_credentials where headers is null`.execute(db);
  await sql`alter table booking_credentials drop constraint booking_credentials_held`.execute(db);
  await sql`alter table booking_credentials alter column headers set not null`.execute(db);
  await sql`alter table booking_credentials drop column headers_sealed`.execute(db);
}
