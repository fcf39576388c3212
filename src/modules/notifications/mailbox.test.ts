import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app.js';
import { expectError } from '../../../test/http-assertions.js';
import { createTestContext, type TestContext } from '../../../test/helpers.js';
import { renderConfirmationEmail } from './confirmation-email.js';
import { SEND_EMAIL_JOB, type OutgoingEmail } from './mailer.js';
import { sampleConfirmation } from './notifications.fixtures.js';

// Without SMTP_URL: emails are kept in the local outbox and shown by the dev mailbox pages.

let t: TestContext;
let brokerId: number;
const HOSTILE_SUBJECT = '<script>alert("subject")</script> & more';

beforeAll(async () => {
  t = await createTestContext();
  await t.deps.jobs.start();
  brokerId = (await t.newBroker()).brokerId;
});
afterAll(async () => {
  await t?.close();
});

function email(overrides: Partial<OutgoingEmail> = {}): OutgoingEmail {
  return {
    brokerId,
    kind: 'order-confirmation',
    from: t.services.mailer.senderFor({ name: 'Acme Fitness' }),
    to: 'louis@example.com',
    ...renderConfirmationEmail(sampleConfirmation()),
    ...overrides,
  };
}

describe('local outbox and dev mailbox', () => {
  let confirmationId: string;
  let hostileId: string;

  it('stores emails instead of sending them', async () => {
    confirmationId = (await t.services.mailer.enqueue(t.deps.database.db, email({ orderId: 'order-1' }))).id;
    await new Promise((r) => setTimeout(r, 5)); // a later created_at, for "newest first"
    hostileId = (
      await t.services.mailer.enqueue(
        t.deps.database.db,
        email({
          to: 'mallory@example.com',
          subject: HOSTILE_SUBJECT,
          html: '<p>Hi</p><script>alert("body")</script><img src="x" onerror="alert(2)">',
          text: '</pre><script>alert("text")</script>',
          attachments: [
            {
              filename: '<evil>.html',
              contentType: 'text/html',
              contentBase64: Buffer.from('<script>1</script>').toString('base64'),
            },
          ],
        }),
      )
    ).id;
    expect(await t.deps.jobs.runDue(SEND_EMAIL_JOB)).toBe(2);
    const stored = await t.services.mailer.get(confirmationId);
    expect(stored).toMatchObject({
      status: 'stored',
      from: '"Acme Fitness" <no-reply@localhost>',
      to: 'louis@example.com',
      orderId: 'order-1',
      messageId: null,
    });
    expect(stored?.sentAt).toBeInstanceOf(Date);
    // Idempotent: delivering again changes nothing.
    await t.services.mailer.deliver(confirmationId);
    expect((await t.services.mailer.get(confirmationId))?.status).toBe('stored');
    expect((await t.services.mailer.list({ to: 'LOUIS@example.com' })).map((e) => e.id)).toEqual([confirmationId]);
  });

  it('lists stored emails, newest first, every value escaped', async () => {
    const res = await t.request({ method: 'GET', url: '/dev/mailbox' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(res.body).toContain('Booking confirmed: Yoga Flow and 1 more (ref AH-7Q2K9D)');
    expect(res.body).toContain(`href="/dev/mailbox/${confirmationId}"`);
    expect(res.body).toContain('&lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt; &amp; more');
    expect(res.body).not.toContain('<script');
    expect(res.body.indexOf(hostileId)).toBeLessThan(res.body.indexOf(confirmationId));

    const filtered = await t.request({ method: 'GET', url: '/dev/mailbox?to=mallory@example.com&limit=5' });
    expect(filtered.statusCode).toBe(200);
    expect(filtered.body).toContain(hostileId);
    expect(filtered.body).not.toContain(confirmationId);
  });

  it('shows one email: headers, the HTML in a sandboxed frame, the text, the attachments', async () => {
    const res = await t.request({ method: 'GET', url: `/dev/mailbox/${confirmationId}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('&quot;Acme Fitness&quot; &lt;no-reply@localhost&gt;');
    expect(res.body).toMatch(/<iframe title="Email HTML" sandbox="" [^>]*srcdoc="&lt;!doctype html&gt;/);
    // The inline QR code is served by the attachment route inside the frame.
    expect(res.body).toContain(`src=&quot;/dev/mailbox/${confirmationId}/attachments/0&quot;`);
    expect(res.body).toContain('Your entry code: AH7Q2K9D-01');

    const png = await t.request({ method: 'GET', url: `/dev/mailbox/${confirmationId}/attachments/0` });
    expect(png.statusCode).toBe(200);
    expect(png.headers['content-type']).toBe('image/png');
    expect(png.rawPayload.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  });

  it('never lets a hostile email run anything on the page', async () => {
    const res = await t.request({ method: 'GET', url: `/dev/mailbox/${hostileId}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('<script');
    expect(res.body).not.toMatch(/<img[^>]*onerror/);
    expect(res.body).toContain('&lt;script&gt;alert(&quot;subject&quot;)&lt;/script&gt;');
    expect(res.body).toContain('&lt;/pre&gt;&lt;script&gt;alert(&quot;text&quot;)&lt;/script&gt;');
    expect(res.body).toContain('&lt;evil&gt;.html');
    // An HTML attachment is a download under a sandboxing policy, never a page of ours.
    const attachment = await t.request({ method: 'GET', url: `/dev/mailbox/${hostileId}/attachments/0` });
    expect(attachment.statusCode).toBe(200);
    expect(attachment.headers['content-type']).toBe('application/octet-stream');
    expect(attachment.headers['content-disposition']).toBe('attachment; filename="_evil_.html"');
    expect(attachment.headers['content-security-policy']).toContain('sandbox');
  });

  it('answers 404 for unknown emails and attachments, 400 for malformed ids', async () => {
    expectError(
      await t.request({ method: 'GET', url: '/dev/mailbox/00000000-0000-4000-8000-000000000000' }),
      404,
      'NotFoundError',
    );
    expectError(
      await t.request({ method: 'GET', url: `/dev/mailbox/${confirmationId}/attachments/1` }),
      404,
      'NotFoundError',
    );
    expectError(await t.request({ method: 'GET', url: '/dev/mailbox/not-a-uuid' }), 400, 'BadRequestError');
    expectError(
      await t.request({ method: 'GET', url: `/dev/mailbox/${confirmationId}/attachments/x` }),
      400,
      'BadRequestError',
    );
    expectError(await t.request({ method: 'GET', url: '/dev/mailbox?limit=0' }), 400, 'BadRequestError');
    expectError(await t.request({ method: 'GET', url: '/dev/mailbox?limit=abc' }), 400, 'BadRequestError');
  });

  it('answers only to this machine: a request from another address finds nothing', async () => {
    for (const remoteAddress of ['203.0.113.7', '10.0.0.2', '::ffff:192.168.1.4', '2001:db8::1']) {
      for (const url of [
        '/dev/mailbox',
        `/dev/mailbox/${confirmationId}`,
        `/dev/mailbox/${confirmationId}/attachments/0`,
      ]) {
        const res = await t.app.inject({ method: 'GET', url, remoteAddress });
        // The same answer as a path that does not exist: the mailbox is not even revealed.
        expectError(res, 404, 'UnknownOrIncorrectEndpointError');
        expect(res.body).not.toContain('louis@example.com');
        expect(res.body).not.toContain('mailbox is');
      }
    }
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      expect((await t.app.inject({ method: 'GET', url: '/dev/mailbox', remoteAddress })).statusCode).toBe(200);
    }
  });

  it('refuses a reverse proxy on this machine: a loopback peer with any forwarding header finds nothing', async () => {
    const forwarded: Record<string, string>[] = [
      { 'x-forwarded-for': '203.0.113.7' },
      { 'x-forwarded-for': '127.0.0.1' },
      { forwarded: 'for=203.0.113.7;proto=https' },
      { 'x-forwarded-host': 'activehub.example.org' },
      { 'x-forwarded-proto': 'https' },
      { 'x-real-ip': '203.0.113.7' },
      { via: '1.1 nginx' },
    ];
    for (const headers of forwarded) {
      for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
        for (const url of ['/dev/mailbox', `/dev/mailbox/${confirmationId}`]) {
          const res = await t.app.inject({ method: 'GET', url, remoteAddress, headers });
          expectError(res, 404, 'UnknownOrIncorrectEndpointError');
          expect(res.body).not.toContain('louis@example.com');
        }
      }
    }
    // Nor does another method give it away (a 405 with Allow: GET would): unknown path too.
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const) {
      for (const url of ['/dev/mailbox', `/dev/mailbox/${confirmationId}`]) {
        const remote = await t.app.inject({ method, url, remoteAddress: '203.0.113.7' });
        expectError(remote, 404, 'UnknownOrIncorrectEndpointError');
        expect(remote.headers.allow).toBeUndefined();
        const proxied = await t.app.inject({ method, url, headers: { 'x-forwarded-for': '203.0.113.7' } });
        expectError(proxied, 404, 'UnknownOrIncorrectEndpointError');
      }
    }
    const head = await t.app.inject({ method: 'HEAD', url: '/dev/mailbox', remoteAddress: '203.0.113.7' });
    expect(head.statusCode).toBe(404);
    // The socket peer decides, whatever request.ip says: a remote peer claiming to be local is refused.
    const spoofed = await t.app.inject({
      method: 'GET',
      url: '/dev/mailbox',
      remoteAddress: '203.0.113.7',
      headers: { 'x-forwarded-for': '127.0.0.1' },
    });
    expectError(spoofed, 404, 'UnknownOrIncorrectEndpointError');
    // Without forwarding headers, from loopback: served.
    const direct = await t.app.inject({ method: 'GET', url: '/dev/mailbox', remoteAddress: '127.0.0.1' });
    expect(direct.statusCode).toBe(200);
    expect(direct.body).toContain('louis@example.com');
  });

  it('over a real connection from 127.0.0.1: served directly, refused through a proxy', async () => {
    const app = await buildApp({ ...t.deps, metrics: new Registry() }, t.services);
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const direct = await fetch(`${base}/dev/mailbox`);
      expect(direct.status).toBe(200);
      expect(await direct.text()).toContain('louis@example.com');
      const proxied = await fetch(`${base}/dev/mailbox`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
      expect(proxied.status).toBe(404);
      expect(await proxied.text()).not.toContain('louis@example.com');
    } finally {
      await app.close();
    }
  });

  it('is left out of the OpenAPI document', async () => {
    const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/dev/'))).toEqual([]);
  });
});

describe('SMTP_URL set', () => {
  it('has no mailbox at all, even for this machine', async () => {
    const config = { ...t.deps.config, mail: { ...t.deps.config.mail, smtpUrl: 'smtp://127.0.0.1:2525' } };
    const app = await buildApp({ ...t.deps, config, metrics: new Registry() }, t.services);
    try {
      const id = (await t.services.mailer.list())[0]!.id;
      for (const url of ['/dev/mailbox', `/dev/mailbox/${id}`, `/dev/mailbox/${id}/attachments/0`]) {
        const res = await app.inject({ method: 'GET', url, remoteAddress: '127.0.0.1' });
        expectError(res, 404, 'UnknownOrIncorrectEndpointError');
      }
    } finally {
      await app.close();
    }
  });
});

describe('DEV_MAILBOX=false', () => {
  it('turns the pages off', async () => {
    const config = { ...t.deps.config, mail: { ...t.deps.config.mail, devMailbox: false } };
    const app = await buildApp({ ...t.deps, config, metrics: new Registry() }, t.services);
    try {
      expect((await app.inject({ method: 'GET', url: '/dev/mailbox' })).statusCode).toBe(404);
      expect(
        (await app.inject({ method: 'GET', url: `/dev/mailbox/${(await t.services.mailer.list())[0]!.id}` }))
          .statusCode,
      ).toBe(404);
    } finally {
      await app.close();
    }
  });
});
