import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { MailConfig } from '../../config.js';
import type { Database, Executor } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import type { Jobs } from '../../lib/jobs.js';
import type { ErasureHook } from '../customers/index.js';
import * as repo from './notifications.repository.js';
import type { EmailRow } from './notifications.repository.js';
import type { EmailStatus, StoredAttachment } from './notifications.tables.js';

export const SEND_EMAIL_JOB = 'notifications.send-email';

/** A delivery attempt older than this is taken to have died with its worker and may be retried. */
const STALE_CLAIM_MS = 2 * 60_000;
const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

export interface OutgoingEmail {
  brokerId: number;
  customerId?: number | null;
  orderId?: string | null;
  /** 'order-confirmation' | 'refund' | … */
  kind: string;
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  attachments?: StoredAttachment[];
}

export interface StoredEmail {
  id: string;
  brokerId: number;
  customerId: number | null;
  orderId: string | null;
  kind: string;
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  attachments: StoredAttachment[];
  status: EmailStatus;
  attempts: number;
  lastError: string | null;
  messageId: string | null;
  createdAt: Date;
  sentAt: Date | null;
}

export interface Mailer {
  /**
   * Stores the email and inserts its delivery job with the SAME executor: call it inside the
   * transaction of the change the email reports (the order), so the email exists exactly when
   * that change commits. On PGlite the job queue must already be started (`deps.jobs.start()`,
   * done by the server at start-up) before the transaction opens: starting it needs the one
   * connection the transaction holds. With a plain database executor it opens its own transaction.
   */
  enqueue(executor: Executor, email: OutgoingEmail): Promise<{ id: string }>;
  /**
   * The job handler. With SMTP_URL: sends through SMTP, keeps the relay's message id, throws on
   * failure (the job is retried with backoff). Without: marks the email stored (the local outbox).
   * Idempotent: an email marked sent or stored is never sent again.
   */
  deliver(id: string): Promise<void>;
  /** Newest first (dev mailbox, CLI, tests). */
  list(options?: { limit?: number; to?: string }): Promise<StoredEmail[]>;
  get(id: string): Promise<StoredEmail | undefined>;
  /** Erasure hook (customers ErasureHook): replaces personal data in stored emails of that customer. */
  eraseCustomer: ErasureHook;
  /** The From address to use for a broker (its own, else EMAIL_FROM_DEFAULT under its name). */
  senderFor(broker: { name: string; emailFrom?: string | null }): string;
  /** Whether emails go out over SMTP (else they stay in the local outbox). */
  readonly smtpEnabled: boolean;
}

export interface MailerDeps {
  database: Database;
  jobs: Jobs;
  log: Logger;
  clock: Clock;
  config: MailConfig;
}

/** Any mail address in an error message becomes `<address>`: job records must hold no personal data. */
export function redactAddresses(message: string): string {
  return message.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, '<address>').slice(0, 1000);
}

/** A display name safe inside a quoted-string (no quotes, backslashes or line breaks). */
function displayName(name: string): string {
  return name
    .replace(/[\\"\r\n]+/g, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
}

/** `Name <addr>` with `addr` taken from `address` (which may itself be `Other <addr>`). */
export function formatSender(name: string, address: string): string {
  const bare = /<([^<>]+)>\s*$/.exec(address)?.[1] ?? address.trim();
  const shown = displayName(name);
  return shown ? `"${shown}" <${bare}>` : bare;
}

function toStored(row: EmailRow): StoredEmail {
  return {
    id: row.id,
    brokerId: row.broker_id,
    customerId: row.customer_id,
    orderId: row.order_id,
    kind: row.kind,
    from: row.from_address,
    to: row.to_address,
    subject: row.subject,
    html: row.html_body,
    text: row.text_body,
    attachments: row.attachments,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    messageId: row.message_id,
    createdAt: row.created_at,
    sentAt: row.sent_at,
  };
}

function checkEmail(email: OutgoingEmail): void {
  const problems: string[] = [];
  if (!/\S+@\S+/.test(email.to) || /[\r\n]/.test(email.to)) problems.push('to must be a mail address');
  if (!/\S+@\S+/.test(email.from) || /[\r\n]/.test(email.from)) problems.push('from must be a mail address');
  if (/[\r\n]/.test(email.subject)) problems.push('subject must be one line');
  let bytes = 0;
  for (const a of email.attachments ?? []) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(a.contentBase64)) problems.push(`attachment ${a.filename} is not base64`);
    bytes += (a.contentBase64.length * 3) / 4;
  }
  if (bytes > MAX_ATTACHMENT_BYTES) problems.push('attachments are limited to 5 MB');
  // A programming error in the caller, not bad user input: it must fail loudly.
  if (problems.length) throw new Error(`Invalid email: ${problems.join('; ')}`);
}

export function createMailer({ database, jobs, log, clock, config }: MailerDeps): Mailer {
  const { db } = database;
  let transport: ReturnType<typeof nodemailer.createTransport> | undefined;
  const transporter = () =>
    (transport ??= nodemailer.createTransport({
      url: config.smtpUrl,
      // A dead relay must fail an attempt quickly (the job retries), not hold a worker for minutes.
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 60_000,
    }));

  async function insert(trx: Executor, email: OutgoingEmail): Promise<{ id: string }> {
    const id = randomUUID();
    await repo.insertEmail(trx, {
      id,
      broker_id: email.brokerId,
      customer_id: email.customerId ?? null,
      order_id: email.orderId ?? null,
      kind: email.kind,
      from_address: email.from,
      to_address: email.to,
      subject: email.subject,
      html_body: email.html,
      text_body: email.text,
      attachments: JSON.stringify(email.attachments ?? []),
      status: 'queued',
      created_at: clock.now(),
    });
    // The payload is the id alone: pg-boss's tables never hold the email's personal data.
    await jobs.send(SEND_EMAIL_JOB, { emailId: id }, { executor: trx });
    return { id };
  }

  async function send(row: EmailRow): Promise<void> {
    const domain = /@([^\s<>@]+)>?\s*$/.exec(row.from_address)?.[1] ?? 'activehub.invalid';
    try {
      const info = await transporter().sendMail({
        from: row.from_address,
        to: row.to_address,
        subject: row.subject,
        html: row.html_body,
        text: row.text_body,
        // Our own id: a resend after a lost acknowledgement carries the same Message-ID.
        messageId: `<${row.id}@${domain}>`,
        attachments: row.attachments.map((a) => ({
          filename: a.filename,
          contentType: a.contentType,
          content: Buffer.from(a.contentBase64, 'base64'),
          ...(a.cid ? { cid: a.cid } : {}),
        })),
      });
      await repo.markSent(db, row.id, info.messageId, clock.now());
      log.info({ emailId: row.id, kind: row.kind, messageId: info.messageId }, 'email sent');
    } catch (err) {
      const message = redactAddresses(err instanceof Error ? err.message : String(err));
      await repo.markFailed(db, row.id, message);
      log.warn({ emailId: row.id, kind: row.kind, attempt: row.attempts, error: message }, 'email delivery failed');
      throw new Error(`Email ${row.id} could not be delivered (attempt ${row.attempts}): ${message}`);
    }
  }

  return {
    smtpEnabled: config.smtpUrl !== undefined,

    senderFor(broker) {
      return formatSender(broker.name, broker.emailFrom || config.defaultFrom);
    },

    async enqueue(executor, email) {
      checkEmail(email);
      if (executor.isTransaction) return insert(executor, email);
      await jobs.start();
      return db.transaction().execute((trx) => insert(trx, email));
    },

    async deliver(id) {
      if (!repo.isUuid(id)) throw new Error(`Not an email id: ${id}`);
      const row = await repo.findEmail(db, id);
      if (!row) {
        log.warn({ emailId: id }, 'email to deliver does not exist');
        return;
      }
      if (row.status === 'sent' || row.status === 'stored' || row.status === 'cancelled') return;
      if (!config.smtpUrl) {
        await repo.markStored(db, id, clock.now());
        return;
      }
      const now = clock.now();
      const claimed = await repo.claimForSending(db, id, now, new Date(now.getTime() - STALE_CLAIM_MS));
      if (!claimed) {
        const current = await repo.findEmail(db, id);
        if (!current || current.status !== 'sending') return; // finished by another attempt
        throw new Error(`Email ${id} is being delivered by another attempt; retrying later`);
      }
      await send(claimed);
    },

    async list(options = {}) {
      const limit = Math.min(Math.max(Math.trunc(options.limit ?? 50), 1), 500);
      return (await repo.listEmails(db, { limit, to: options.to })).map(toStored);
    },

    async get(id) {
      if (!repo.isUuid(id)) return undefined;
      const row = await repo.findEmail(db, id);
      return row && toStored(row);
    },

    async eraseCustomer(trx, customer) {
      await repo.eraseCustomerEmails(trx, customer.id, {
        to: customer.placeholderEmail,
        subject: 'Erased email',
        html: '<p>This email was erased at the customer’s request.</p>',
        text: 'This email was erased at the customer’s request.',
      });
    },
  };
}
