import { sql, type Kysely } from 'kysely';

/*
 * Checkout sessions left `paying` by a crash before their pending order was written (issue 14,
 * point 7) are found by the recovery sweep through this index: only sessions being paid for are in
 * it, so the scheduler's check reads a handful of entries however many sessions there are.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index checkout_sessions_paying_idx on checkout_sessions (updated_at) where state = 'paying'`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index checkout_sessions_paying_idx`.execute(db);
}
