import type { RenderedEmail } from './confirmation-email.js';
import {
  escapeHtml,
  formatWhen,
  oneLine,
  renderLayout,
  renderTextLayout,
  safeColour,
  safeEmail,
  safeHttpUrl,
  type EmailBranding,
} from './email-layout.js';

export interface RefundEmailInput {
  broker: EmailBranding;
  customer: { givenName: string; familyName: string; email: string };
  orderNumber: string;
  /** The cancelled items the refund is for (empty for a refund not tied to items). */
  items: {
    name: string;
    startDate: string;
    endDate?: string | null;
    attendeeName?: string | null;
    amountText: string;
  }[];
  /** '£5.50' */
  refundTotalText: string;
  /** Why, in words for the customer (e.g. 'The session was cancelled by the organiser.'). */
  reason?: string | null;
  seller: { name: string; termsUrl?: string | null; email?: string | null; telephone?: string | null };
  navigationLinks?: { name: string; url: string }[];
  testMode?: boolean;
}

/** The refund notice, in the confirmation email's style: HTML + complete text, values escaped. */
export function renderRefundEmail(input: RefundEmailInput): RenderedEmail {
  const colour = safeColour(input.broker.primaryColor);
  const subject = oneLine(
    `${input.testMode ? '[TEST] ' : ''}Refund of ${input.refundTotalText} for your booking (ref ${input.orderNumber})`,
    250,
  );
  const sellerTerms = safeHttpUrl(input.seller.termsUrl);
  const sellerEmail = safeEmail(input.seller.email);

  const itemsHtml = input.items
    .map(
      (item) => `<tr>
<td style="padding:12px 0;border-bottom:1px solid #e4e4e7;vertical-align:top"><div style="font-weight:bold">${escapeHtml(item.name)}</div>
<div>${escapeHtml(formatWhen(item.startDate, item.endDate))}</div>${item.attendeeName ? `\n<div style="color:#52525b">Attendee: ${escapeHtml(item.attendeeName)}</div>` : ''}</td>
<td style="padding:12px 0 12px 12px;border-bottom:1px solid #e4e4e7;vertical-align:top;text-align:right;white-space:nowrap">${escapeHtml(item.amountText)}</td>
</tr>`,
    )
    .join('\n');
  const bodyHtml = `<h1 style="margin:0 0 16px;font-size:24px;color:${colour}">Your refund is on its way</h1>
<p style="margin:0 0 16px">Hi ${escapeHtml(input.customer.givenName)},</p>
<p style="margin:0 0 16px">We have refunded <strong>${escapeHtml(input.refundTotalText)}</strong> for your booking <strong>${escapeHtml(input.orderNumber)}</strong>.${input.reason ? ` ${escapeHtml(input.reason)}` : ''}</p>
${
  input.items.length
    ? `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin:0 0 8px;font-size:15px">
${itemsHtml}
<tr><td style="padding:12px 0;font-weight:bold">Refund total</td><td style="padding:12px 0 12px 12px;font-weight:bold;text-align:right;white-space:nowrap">${escapeHtml(input.refundTotalText)}</td></tr>
</table>`
    : ''
}
<p style="margin:0 0 16px">Refunds usually reach your account within 5 to 10 working days, depending on your bank.</p>
<p style="margin:0;font-size:14px">The activity is run by <strong>${escapeHtml(input.seller.name)}</strong>${sellerTerms ? ` (<a href="${escapeHtml(sellerTerms)}" style="color:${colour}">terms and conditions</a>)` : ''}.${sellerEmail ? ` Contact them: <a href="mailto:${escapeHtml(sellerEmail)}" style="color:inherit">${escapeHtml(sellerEmail)}</a>.` : ''}${input.seller.telephone ? ` Telephone: ${escapeHtml(input.seller.telephone)}.` : ''}</p>`;

  const itemsText = input.items
    .map((item) =>
      [
        `* ${oneLine(item.name)} - ${item.amountText}`,
        `  ${formatWhen(item.startDate, item.endDate)}`,
        ...(item.attendeeName ? [`  Attendee: ${oneLine(item.attendeeName)}`] : []),
      ].join('\n'),
    )
    .join('\n\n');
  const bodyText = `YOUR REFUND IS ON ITS WAY

Hi ${oneLine(input.customer.givenName)},

We have refunded ${input.refundTotalText} for your booking ${input.orderNumber}.${input.reason ? ` ${oneLine(input.reason, 500)}` : ''}
${input.items.length ? `\n${itemsText}\n\nRefund total: ${input.refundTotalText}\n` : ''}
Refunds usually reach your account within 5 to 10 working days, depending on your bank.

The activity is run by ${oneLine(input.seller.name)}.${sellerTerms ? `\nTheir terms and conditions: ${sellerTerms}` : ''}${sellerEmail ? `\nContact them: ${sellerEmail}` : ''}${input.seller.telephone ? `\nTelephone: ${input.seller.telephone}` : ''}`;

  return {
    subject,
    html: renderLayout({
      broker: input.broker,
      title: subject,
      preheader: `Refund of ${input.refundTotalText} for booking ${input.orderNumber}`,
      bodyHtml,
      navigationLinks: input.navigationLinks,
      testMode: input.testMode,
    }),
    text: renderTextLayout({
      broker: input.broker,
      body: bodyText,
      navigationLinks: input.navigationLinks,
      testMode: input.testMode,
    }),
    attachments: [],
  };
}
