import type { ColumnType, Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { Executor } from '../../db/database.js';

/*
 * Types of the notifications tables (migration 2026-11-27-006-notifications). They live with the
 * module that owns the tables; `notificationsDb` widens the shared Kysely instance with them.
 */

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export interface StoredAttachment {
  filename: string;
  contentType: string;
  contentBase64: string;
  cid?: string;
}

/**
 * queued: waiting for its delivery job; sending: claimed by a delivery attempt; sent: accepted by
 * the SMTP relay; stored: kept in the local outbox (no SMTP_URL); failed: the last attempt failed
 * (the job retries); cancelled: the customer was erased before it went out.
 */
export type EmailStatus = 'queued' | 'sending' | 'sent' | 'stored' | 'failed' | 'cancelled';

export interface EmailsTable {
  id: string;
  broker_id: number;
  customer_id: number | null;
  order_id: string | null;
  kind: string;
  from_address: string;
  to_address: string;
  subject: string;
  html_body: string;
  text_body: string;
  attachments: Json<StoredAttachment[]>;
  /** The template the delivery job renders the email from (migration 012); null: stored rendered. */
  template: ColumnType<string | null, string | null | undefined, string | null>;
  /** The template's data while the email waits to be rendered; cleared by rendering and erasure. */
  template_data: ColumnType<unknown, string | null | undefined, string | null>;
  status: EmailStatus;
  attempts: ColumnType<number, number | undefined, number>;
  last_error: string | null;
  message_id: string | null;
  created_at: Timestamp;
  claimed_at: Timestamp | null;
  sent_at: Timestamp | null;
}

export type NotificationsTables = { emails: EmailsTable };
export type NotificationsDB = DB & NotificationsTables;
export type NotificationsExecutor = Kysely<NotificationsDB> | Transaction<NotificationsDB>;

/** `db` (the database or an open transaction) seen with the notifications tables. */
export function notificationsDb(db: Executor): NotificationsExecutor {
  // A transaction stays a transaction: Transaction#withTables returns a Transaction.
  return (db as Kysely<DB>).withTables<NotificationsTables>();
}
