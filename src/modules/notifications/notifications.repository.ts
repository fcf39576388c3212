import { sql, type Insertable, type Selectable } from 'kysely';
import type { Executor } from '../../db/database.js';
import { notificationsDb, type EmailsTable, type EmailStatus } from './notifications.tables.js';

export type EmailRow = Selectable<EmailsTable>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

export function insertEmail(db: Executor, email: Insertable<EmailsTable>) {
  return notificationsDb(db).insertInto('emails').values(email).returning(['id']).executeTakeFirstOrThrow();
}

export function findEmail(db: Executor, id: string) {
  return notificationsDb(db).selectFrom('emails').selectAll().where('id', '=', id).executeTakeFirst();
}

export function listEmails(db: Executor, options: { limit: number; to?: string | undefined }) {
  let q = notificationsDb(db).selectFrom('emails').selectAll();
  if (options.to !== undefined) q = q.where(sql<string>`lower(to_address)`, '=', options.to.toLowerCase());
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(options.limit).execute();
}

/** Every email of a customer, oldest first (their data export). */
export function listCustomerEmails(db: Executor, customerId: number) {
  return notificationsDb(db)
    .selectFrom('emails')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/**
 * What the delivery job writes when it renders an email that was queued to be rendered: the
 * content, and the template's data cleared. The status conditions of the updates that take it
 * (`markStored`, `claimForSending`) keep it off emails cancelled by erasure meanwhile.
 */
export interface RenderedContent {
  subject: string;
  html_body: string;
  text_body: string;
  attachments: string;
  template_data: null;
}

/** Outbox mode: the email is kept, not sent (with its content when it was just rendered). */
export function markStored(db: Executor, id: string, at: Date, rendered?: RenderedContent) {
  return notificationsDb(db)
    .updateTable('emails')
    .set({ ...rendered, status: 'stored', sent_at: at, last_error: null })
    .where('id', '=', id)
    .where('status', 'in', ['queued', 'failed'])
    .returning(['id'])
    .executeTakeFirst();
}

/**
 * Takes the email for one delivery attempt: waiting ones, and ones whose previous attempt was
 * claimed before `staleBefore` (a worker that died mid-send). Nothing when another attempt holds
 * it or it is done.
 */
export function claimForSending(db: Executor, id: string, at: Date, staleBefore: Date, rendered?: RenderedContent) {
  return notificationsDb(db)
    .updateTable('emails')
    .set((eb) => ({ ...rendered, status: 'sending', claimed_at: at, attempts: eb('attempts', '+', 1) }))
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('status', 'in', ['queued', 'failed']),
        eb.and([eb('status', '=', 'sending'), eb('claimed_at', '<', staleBefore)]),
      ]),
    )
    .returningAll()
    .executeTakeFirst();
}

export function markSent(db: Executor, id: string, messageId: string, at: Date) {
  return notificationsDb(db)
    .updateTable('emails')
    .set({ status: 'sent', message_id: messageId, sent_at: at, last_error: null, claimed_at: null })
    .where('id', '=', id)
    .execute();
}

export function markFailed(db: Executor, id: string, error: string) {
  return notificationsDb(db)
    .updateTable('emails')
    .set({ status: 'failed', last_error: error, claimed_at: null })
    .where('id', '=', id)
    .where('status', '=', 'sending')
    .execute();
}

/**
 * Erasure: the customer's emails keep their bookkeeping (kind, broker, order, status, dates) but
 * lose recipient, content, attachments and the data of a template not yet rendered; emails not yet
 * delivered are cancelled.
 */
export function eraseCustomerEmails(
  db: Executor,
  customerId: number,
  placeholders: { to: string; subject: string; html: string; text: string },
) {
  return notificationsDb(db)
    .updateTable('emails')
    .set((eb) => ({
      to_address: placeholders.to,
      subject: placeholders.subject,
      html_body: placeholders.html,
      text_body: placeholders.text,
      attachments: '[]',
      template_data: null,
      last_error: null,
      status: eb
        .case()
        .when('status', 'in', ['queued', 'sending', 'failed'] satisfies EmailStatus[])
        .then(sql.lit<EmailStatus>('cancelled'))
        .else(eb.ref('status'))
        .end(),
    }))
    .where('customer_id', '=', customerId)
    .execute();
}
