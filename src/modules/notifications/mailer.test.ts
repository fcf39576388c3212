import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { startSmtpSink, type SmtpSink } from '../../../test/smtp-sink.js';
import { qrCodeMatrix } from './barcode.js';
import { BARCODE_CID, renderConfirmationEmail } from './confirmation-email.js';
import { SEND_EMAIL_JOB, type OutgoingEmail } from './mailer.js';
import { modulesOf, sampleConfirmation } from './notifications.fixtures.js';
import { notificationsDb } from './notifications.tables.js';

// Delivery over SMTP to a real SMTP server on a local port (test/smtp-sink.ts).

let t: TestContext;
let sink: SmtpSink;
let brokerId: number;

beforeAll(async () => {
  sink = await startSmtpSink({ auth: { user: 'relay-user', pass: 's3cret pass' } });
  t = await createTestContext({
    config: { mail: { smtpUrl: sink.url, defaultFrom: 'activehub <no-reply@activehub.test>', devMailbox: true } },
  });
  await t.deps.jobs.start();
  brokerId = (await t.newBroker()).brokerId;
});
afterAll(async () => {
  await t?.close();
  await sink?.stop();
});

function confirmationEmail(to: string, orderId: string): OutgoingEmail {
  const rendered = renderConfirmationEmail(
    sampleConfirmation({ customer: { givenName: 'Louis', familyName: 'Wu', email: to } }),
  );
  return {
    brokerId,
    orderId,
    kind: 'order-confirmation',
    from: t.services.mailer.senderFor({ name: 'Acme Fitness', emailFrom: 'bookings@acme.example' }),
    to,
    ...rendered,
  };
}

async function jobsFor(emailId: string) {
  const { rows } = await sql<{ state: string; retry_count: number; output: unknown }>`
    select state, retry_count, output from pgboss.job where name = ${SEND_EMAIL_JOB} and data->>'emailId' = ${emailId}`.execute(
    t.deps.database.db,
  );
  return rows;
}

async function countRows(table: 'emails' | 'pgboss.job', where = sql`true`) {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} where ${where}`.execute(
    t.deps.database.db,
  );
  return rows[0]!.n;
}

describe('mailer over SMTP', () => {
  it('enqueue inside a transaction that rolls back leaves no email and no job', async () => {
    const emailsBefore = await countRows('emails');
    const jobsBefore = await countRows('pgboss.job', sql`name = ${SEND_EMAIL_JOB}`);
    let enqueuedId: string | undefined;
    await expect(
      t.deps.database.db.transaction().execute(async (trx) => {
        enqueuedId = (await t.services.mailer.enqueue(trx, confirmationEmail('rollback@example.com', 'order-r'))).id;
        // Inside the transaction both exist (read through the transaction itself)…
        expect(await sql`select 1 from emails where id = ${enqueuedId}`.execute(trx)).toMatchObject({ rows: [{}] });
        throw new Error('order failed');
      }),
    ).rejects.toThrow('order failed');
    expect(enqueuedId).toMatch(/^[0-9a-f-]{36}$/);
    // …after the rollback neither does.
    expect(await countRows('emails')).toBe(emailsBefore);
    expect(await countRows('pgboss.job', sql`name = ${SEND_EMAIL_JOB}`)).toBe(jobsBefore);
    expect(await t.services.mailer.get(enqueuedId!)).toBeUndefined();
    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(0);
    expect(sink.messages).toHaveLength(0);
  });

  it('a committed email is delivered by its job: From, To, subject, HTML, text and the inline QR code', async () => {
    const email = confirmationEmail('louis@example.com', 'order-1');
    const { id } = await t.deps.database.db.transaction().execute((trx) => t.services.mailer.enqueue(trx, email));
    expect((await t.services.mailer.get(id))?.status).toBe('queued');
    expect(await jobsFor(id)).toHaveLength(1);

    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(1);
    const [message] = await sink.waitFor(1);
    const parsed = message!.parsed;
    expect(message!.envelope).toEqual({ from: 'bookings@acme.example', to: ['louis@example.com'] });
    expect(parsed.from?.value).toEqual([{ address: 'bookings@acme.example', name: 'Acme Fitness' }]);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value : []).toEqual([
      { address: 'louis@example.com', name: '' },
    ]);
    expect(parsed.subject).toBe('Booking confirmed: Yoga Flow and 1 more (ref AH-7Q2K9D)');
    expect(parsed.html).toContain('Your booking is confirmed');
    expect(parsed.html).toContain('AH-7Q2K9D');
    expect(parsed.html).toContain('Bristol Leisure Trust');
    expect(parsed.text).toContain('Your entry code: AH7Q2K9D-01');
    expect(parsed.text).toContain('Total: £5.50');

    // The barcode: one inline PNG, referenced from the HTML by its Content-ID.
    expect(parsed.attachments).toHaveLength(1);
    const png = parsed.attachments[0]!;
    expect(png.contentType).toBe('image/png');
    expect(png.contentId).toBe(`<${BARCODE_CID}>`);
    expect(png.contentDisposition).toBe('inline');
    expect(parsed.html).toContain(`src="cid:${BARCODE_CID}"`);
    expect(png.content.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    // Read the picture back: it draws exactly the QR code of the order's barcode value.
    const expected = qrCodeMatrix('AH7Q2K9D-01');
    expect(modulesOf(png.content, expected.length)).toEqual(expected);

    const stored = await t.services.mailer.get(id);
    expect(stored).toMatchObject({ status: 'sent', attempts: 1, lastError: null, orderId: 'order-1' });
    expect(stored?.sentAt).toBeInstanceOf(Date);
    expect(stored?.messageId).toBe(parsed.messageId);
    expect(parsed.messageId).toBe(`<${id}@acme.example>`);
    expect((await jobsFor(id))[0]?.state).toBe('completed');

    // Never twice: the job again, or the handler called again, sends nothing.
    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(0);
    await t.services.mailer.deliver(id);
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.messages).toHaveLength(1);
  });

  it('an email queued as a template is rendered by its delivery job, not by the request that queued it', async () => {
    const data = sampleConfirmation({
      customer: { givenName: 'Teela', familyName: 'Brown', email: 'teela@example.com' },
    });
    const expected = renderConfirmationEmail(data);
    const { id } = await t.deps.database.db.transaction().execute((trx) =>
      t.services.mailer.enqueue(trx, {
        brokerId,
        orderId: 'order-t',
        kind: 'order-confirmation',
        from: 'bookings@acme.example',
        to: 'teela@example.com',
        template: { name: 'order-confirmation', data },
      }),
    );
    // Queued: the subject and the template's data, no content yet…
    const queued = await notificationsDb(t.deps.database.db)
      .selectFrom('emails')
      .select(['subject', 'html_body', 'text_body', 'attachments', 'template', 'template_data'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(queued).toMatchObject({ subject: expected.subject, html_body: '', text_body: '', attachments: [] });
    expect(queued.template).toBe('order-confirmation');
    expect(queued.template_data).toEqual(data);
    // …but a reader (dev mailbox, CLI) sees it as it will be sent.
    expect(await t.services.mailer.get(id)).toMatchObject({
      status: 'queued',
      subject: expected.subject,
      html: expected.html,
      text: expected.text,
      attachments: expected.attachments,
    });

    const before = sink.messages.length;
    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(1);
    const message = (await sink.waitFor(before + 1)).find((m) => m.envelope.to[0] === 'teela@example.com');
    expect(message?.parsed.subject).toBe(expected.subject);
    expect(message?.parsed.html).toContain('Hi Teela,');
    expect(message?.parsed.text).toBe(expected.text);
    expect(message?.parsed.attachments[0]?.content.toString('base64')).toBe(expected.attachments?.[0]?.contentBase64);
    // Stored rendered, the template's data gone.
    const sent = await notificationsDb(t.deps.database.db)
      .selectFrom('emails')
      .select(['status', 'html_body', 'text_body', 'template_data'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(sent).toEqual({ status: 'sent', html_body: expected.html, text_body: expected.text, template_data: null });
  });

  it('with the SMTP server down the job fails and is retried; once delivered, never again', async () => {
    await sink.stop();
    const { id } = await t.services.mailer.enqueue(
      t.deps.database.db,
      confirmationEmail('down@example.com', 'order-2'),
    );
    await expect(t.deps.jobs.runDue(SEND_EMAIL_JOB)).rejects.toThrow(/could not be delivered/);

    const failed = await t.services.mailer.get(id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1 });
    expect(failed?.lastError).toMatch(/ECONNREFUSED|connect/i);
    const [job] = await jobsFor(id);
    expect(job?.state).toBe('retry');
    // The job's record holds no address (pg-boss keeps it after the email is erased).
    expect(JSON.stringify(job?.output)).not.toContain('down@example.com');

    // The relay comes back on the same port; the retry (backoff 2–4 s) delivers it.
    sink = await startSmtpSink({ port: sink.port, auth: { user: 'relay-user', pass: 's3cret pass' } });
    const deadline = Date.now() + 15_000;
    let ran = 0;
    while (ran === 0 && Date.now() < deadline) {
      ran = await t.deps.jobs.runDue(SEND_EMAIL_JOB);
      if (ran === 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ran).toBe(1);
    const [message] = await sink.waitFor(1);
    expect(message?.envelope.to).toEqual(['down@example.com']);
    expect(await t.services.mailer.get(id)).toMatchObject({ status: 'sent', attempts: 2, lastError: null });
    expect((await jobsFor(id))[0]?.state).toBe('completed');

    await t.services.mailer.deliver(id);
    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(sink.messages).toHaveLength(1);
  });

  it('an attempt already in progress is not doubled: a second delivery of a claimed email waits', async () => {
    const { id } = await t.services.mailer.enqueue(
      t.deps.database.db,
      confirmationEmail('claim@example.com', 'order-3'),
    );
    // Another worker has just claimed it (as deliver does before talking to the relay).
    await sql`update emails set status = 'sending', claimed_at = now(), attempts = 1 where id = ${id}`.execute(
      t.deps.database.db,
    );
    await expect(t.services.mailer.deliver(id)).rejects.toThrow(/another attempt/);
    expect(sink.messages.filter((m) => m.envelope.to.includes('claim@example.com'))).toHaveLength(0);
    // A claim abandoned long ago (the worker died) is taken over.
    await sql`update emails set claimed_at = now() - interval '1 hour' where id = ${id}`.execute(t.deps.database.db);
    await t.services.mailer.deliver(id);
    await sink.waitFor(2);
    expect(await t.services.mailer.get(id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('has no dev mailbox while emails go out over SMTP', async () => {
    expect((await t.request({ method: 'GET', url: '/dev/mailbox' })).statusCode).toBe(404);
    const [email] = await t.services.mailer.list({ limit: 1 });
    expect((await t.request({ method: 'GET', url: `/dev/mailbox/${email!.id}` })).statusCode).toBe(404);
  });
});
