import { sql, type Kysely } from 'kysely';

/*
 * Emails queued "to render": the request that causes an email (a checkout's payment) stores the
 * template's name and the data it needs, and the delivery job renders it (HTML, text, the entry
 * code's QR picture) before sending or keeping it in the outbox. `template_data` is set exactly
 * while the email waits to be rendered; rendering (and erasure) clears it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table emails add column template text, add column template_data jsonb`.execute(db);
}
