import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import { unknownEndpoint } from '../../http/error-handler.js';
import { AppError } from '../../http/errors.js';
import { isLocalRequest } from '../../http/local-only.js';
import { escapeHtml } from './email-layout.js';
import type { Mailer, StoredEmail } from './mailer.js';

/*
 * The dev mailbox: the local outbox as web pages, for development and demos when no SMTP relay is
 * configured (only registered then, and DEV_MAILBOX can turn it off). Plain server-rendered HTML,
 * no scripts; an email's own HTML is shown in a sandboxed iframe (srcdoc) so nothing in it runs.
 */

const ErrorRef = Type.Unsafe({ $ref: 'ErrorResponse#' });
const Html = Type.String({ description: 'HTML page' });
const EmailParams = Type.Object({ id: Type.String({ format: 'uuid', description: 'Email id' }) });

// No script anywhere; inline styles only; images from anywhere (emails link remote logos); the
// email frame is srcdoc (inherits this policy).
const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src http: https: data:; frame-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function sendPage(reply: FastifyReply, title: string, body: string) {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store').send(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · activehub dev mailbox</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;color:#18181b;background:#f4f4f5}
header{background:#18181b;color:#fff;padding:12px 16px}header a{color:#fff}
main{padding:16px;max-width:1100px;margin:0 auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:8px;border-bottom:1px solid #e4e4e7;vertical-align:top;font-size:14px}
.status{font-size:12px;padding:2px 6px;border-radius:4px;background:#e4e4e7}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;background:#fff;padding:12px}
dt{font-weight:bold}dd{margin:0;word-break:break-all}
iframe{width:100%;height:70vh;border:1px solid #d4d4d8;background:#fff}
pre{white-space:pre-wrap;background:#fff;padding:12px;border:1px solid #d4d4d8}
</style>
</head>
<body>
<header><a href="/dev/mailbox">activehub dev mailbox</a> — emails kept locally because SMTP_URL is not set</header>
<main>
${body}
</main>
</body>
</html>
`);
}

function listPage(emails: StoredEmail[], to: string | undefined): string {
  const rows = emails
    .map(
      (e) => `<tr>
<td><a href="/dev/mailbox/${escapeHtml(e.id)}">${escapeHtml(e.subject)}</a></td>
<td>${escapeHtml(e.to)}</td>
<td>${escapeHtml(e.from)}</td>
<td>${escapeHtml(e.kind)}</td>
<td><span class="status">${escapeHtml(e.status)}</span></td>
<td>${escapeHtml(e.createdAt.toISOString())}</td>
</tr>`,
    )
    .join('\n');
  return `<h1>Mailbox</h1>
<form method="get" action="/dev/mailbox"><label>To <input type="email" name="to" value="${escapeHtml(to ?? '')}"></label> <button>Filter</button></form>
${
  emails.length
    ? `<table>
<thead><tr><th>Subject</th><th>To</th><th>From</th><th>Kind</th><th>Status</th><th>Created</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : '<p>No emails yet.</p>'
}`;
}

function detailPage(email: StoredEmail): string {
  // Inline images (cid:) point at the attachment route so the barcode shows in the browser.
  let html = email.html;
  email.attachments.forEach((a, n) => {
    if (a.cid) html = html.split(`cid:${a.cid}`).join(`/dev/mailbox/${email.id}/attachments/${n}`);
  });
  const attachments = email.attachments
    .map(
      (a, n) =>
        `<li><a href="/dev/mailbox/${escapeHtml(email.id)}/attachments/${n}">${escapeHtml(a.filename)}</a> (${escapeHtml(a.contentType)}${a.cid ? `, inline ${escapeHtml(a.cid)}` : ''})</li>`,
    )
    .join('\n');
  const field = (name: string, value: string | number | null) =>
    value === null || value === '' ? '' : `<dt>${escapeHtml(name)}</dt><dd>${escapeHtml(value)}</dd>`;
  return `<h1>${escapeHtml(email.subject)}</h1>
<dl>
${field('From', email.from)}
${field('To', email.to)}
${field('Subject', email.subject)}
${field('Kind', email.kind)}
${field('Status', email.status)}
${field('Attempts', email.attempts)}
${field('Last error', email.lastError)}
${field('Message-ID', email.messageId)}
${field('Order', email.orderId)}
${field('Created', email.createdAt.toISOString())}
${field('Sent', email.sentAt?.toISOString() ?? null)}
</dl>
<h2>HTML</h2>
<iframe title="Email HTML" sandbox="" referrerpolicy="no-referrer" srcdoc="${escapeHtml(html)}"></iframe>
<h2>Text</h2>
<pre>${escapeHtml(email.text)}</pre>
${attachments ? `<h2>Attachments</h2>\n<ul>\n${attachments}\n</ul>` : ''}`;
}

export function mailboxRoutes(mailer: Mailer): FastifyPluginAsyncTypebox {
  return async (app) => {
    const notFound = (id: string) => new AppError('NOT_FOUND', `There is no email "${id}" in the mailbox.`);

    // The outbox holds every broker's customers' emails and the pages take no key: they answer
    // only on this machine (a browser on localhost, the CLI), never to the network nor through a
    // proxy on this machine; to anyone else they do not exist (the unknown-path answer).
    app.addHook('onRequest', async (request) => {
      if (!isLocalRequest(request)) throw unknownEndpoint(request);
    });

    app.get(
      '/dev/mailbox',
      {
        config: { localOnly: true },
        schema: {
          hide: true,
          summary: 'Dev mailbox: stored emails, newest first',
          querystring: Type.Object({
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
            to: Type.Optional(Type.String({ maxLength: 320 })),
          }),
          response: { 200: Html, 400: ErrorRef },
        },
      },
      async (request, reply) => {
        const to = request.query.to?.trim() || undefined;
        const emails = await mailer.list({ limit: request.query.limit, ...(to ? { to } : {}) });
        return sendPage(reply, 'Mailbox', listPage(emails, to));
      },
    );

    app.get(
      '/dev/mailbox/:id',
      {
        config: { localOnly: true },
        schema: {
          hide: true,
          summary: 'Dev mailbox: one email',
          params: EmailParams,
          response: { 200: Html, 400: ErrorRef, 404: ErrorRef },
        },
      },
      async (request, reply) => {
        const email = await mailer.get(request.params.id);
        if (!email) throw notFound(request.params.id);
        return sendPage(reply, email.subject, detailPage(email));
      },
    );

    app.get(
      '/dev/mailbox/:id/attachments/:n',
      {
        config: { localOnly: true },
        schema: {
          hide: true,
          summary: 'Dev mailbox: an attachment of an email',
          params: Type.Object({
            id: Type.String({ format: 'uuid', description: 'Email id' }),
            n: Type.Integer({ minimum: 0, maximum: 99, description: 'Attachment index, from 0' }),
          }),
          response: { 200: Type.Unsafe({ type: 'string', format: 'binary' }), 400: ErrorRef, 404: ErrorRef },
        },
      },
      async (request, reply) => {
        const email = await mailer.get(request.params.id);
        const attachment = email?.attachments[request.params.n];
        if (!email || !attachment) throw notFound(`${request.params.id}/attachments/${request.params.n}`);
        // Pictures are shown; anything else is downloaded. Either way nothing in it can run here.
        const inline = /^image\/(png|jpeg|gif|webp)$/.test(attachment.contentType);
        const filename = attachment.filename.replace(/[^\w.-]+/g, '_') || 'attachment';
        return reply
          .header('content-type', inline ? attachment.contentType : 'application/octet-stream')
          .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="${filename}"`)
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('x-content-type-options', 'nosniff')
          .header('cache-control', 'no-store')
          .send(Buffer.from(attachment.contentBase64, 'base64'));
      },
    );
  };
}
