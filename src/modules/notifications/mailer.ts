import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { MailConfig } from '../../config.js';
import type { Database, Executor } from '../../db/database.js';
import type { Clock } from '../../lib/clock.js';
import type { Jobs } from '../../lib/jobs.js';
import type { ErasureHook } from '../customers/index.js';
import { confirmationSubject, renderConfirmationEmail, type ConfirmationEmailInput } from './confirmation-email.js';
import * as repo from './notifications.repository.js';
import type { EmailRow, RenderedContent } from './notifications.repository.js';
import type { EmailStatus, StoredAttachment } from './notifications.tables.js';

export const SEND_EMAIL_JOB = 'notifications.send-email';

/** A delivery attempt older than this is taken to have died with its worker and may be retried. */
const STALE_CLAIM_MS = 2 * 60_000;
const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;

interface EmailEnvelope {
  brokerId: number;
  customerId?: number | null;
  orderId?: string | null;
  /** 'order-confirmation' | 'refund' | … */
  kind: string;
  from: string;
  to: string;
}

/**
 * An email the delivery job renders (HTML, text, pictures) before it sends or stores it, so the
 * request that causes it does not pay for that. Its data must be plain JSON; until it is rendered
 * it is stored with the email (and erased with it).
 */
export type EmailTemplate = { name: 'order-confirmation'; data: ConfirmationEmailInput };

/** An email to queue: rendered by the caller, or a template for the delivery job to render. */
export type OutgoingEmail = EmailEnvelope &
  (
    | { subject: string; html: string; text: string; attachments?: StoredAttachment[]; template?: undefined }
    | { template: EmailTemplate }
  );

/** The subject is known when the email is queued (lists show it); the rest is rendered later. */
function templateSubject(template: EmailTemplate): string {
  return confirmationSubject(template.data);
}

function renderTemplate(name: string | null, data: unknown): RenderedContent {
  if (name !== 'order-confirmation') throw new Error(`Unknown email template: ${String(name)}`);
  const rendered = renderConfirmationEmail(data as ConfirmationEmailInput);
  return {
    subject: rendered.subject,
    html_body: rendered.html,
    text_body: rendered.text,
    attachments: JSON.stringify(rendered.attachments ?? []),
    template_data: null,
  };
}

/** The row as it will be delivered: rendered now if it still waits for its template. */
function withContent(row: EmailRow): EmailRow {
  if (row.template_data === null || row.template_data === undefined) return row;
  const c = renderTemplate(row.template, row.template_data);
  return {
    ...row,
    subject: c.subject,
    html_body: c.html_body,
    text_body: c.text_body,
    attachments: JSON.parse(c.attachments) as StoredAttachment[],
    template_data: null,
  };
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
  /** Every email of the customer for their data export: recipient, subject, text, status, dates. */
  exportCustomer(customerId: number): Promise<object[]>;
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

function toStored(stored: EmailRow): StoredEmail {
  const row = withContent(stored);
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
  const subject = email.template ? templateSubject(email.template) : email.subject;
  if (/[\r\n]/.test(subject)) problems.push('subject must be one line');
  let bytes = 0;
  for (const a of email.template ? [] : (email.attachments ?? [])) {
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
    const content = email.template
      ? {
          subject: templateSubject(email.template),
          html_body: '',
          text_body: '',
          attachments: '[]',
          template: email.template.name,
          template_data: JSON.stringify(email.template.data),
        }
      : {
          subject: email.subject,
          html_body: email.html,
          text_body: email.text,
          attachments: JSON.stringify(email.attachments ?? []),
        };
    await repo.insertEmail(trx, {
      id,
      broker_id: email.brokerId,
      customer_id: email.customerId ?? null,
      order_id: email.orderId ?? null,
      kind: email.kind,
      from_address: email.from,
      to_address: email.to,
      ...content,
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
      // Queued to be rendered: rendered here, and written by the update that takes the email.
      const rendered = row.template_data == null ? undefined : renderTemplate(row.template, row.template_data);
      if (!config.smtpUrl) {
        await repo.markStored(db, id, clock.now(), rendered);
        return;
      }
      const now = clock.now();
      const claimed = await repo.claimForSending(db, id, now, new Date(now.getTime() - STALE_CLAIM_MS), rendered);
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

    async exportCustomer(customerId) {
      return (await repo.listCustomerEmails(db, customerId)).map(toStored).map((e) => ({
        identifier: e.id,
        'activehub:kind': e.kind,
        ...(e.orderId ? { 'activehub:orderId': e.orderId } : {}),
        sender: e.from,
        recipient: e.to,
        about: e.subject,
        text: e.text,
        'activehub:status': e.status,
        dateCreated: e.createdAt.toISOString(),
        ...(e.sentAt ? { dateSent: e.sentAt.toISOString() } : {}),
      }));
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
