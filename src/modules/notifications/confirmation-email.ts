import { qrCodePng } from './barcode.js';
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
import type { StoredAttachment } from './notifications.tables.js';

export interface ConfirmationEmailInput {
  broker: EmailBranding;
  customer: { givenName: string; familyName: string; email: string };
  /** Booking reference shown to the customer. */
  orderNumber: string;
  /** Value encoded in the entry barcode. */
  barcode: string;
  items: {
    name: string;
    startDate: string;
    endDate?: string | null;
    locationName?: string | null;
    address?: string | null;
    attendeeName?: string | null;
    /** '£5.50' or 'Free' */
    priceText: string;
  }[];
  totalText: string;
  seller: { name: string; termsUrl?: string | null; email?: string | null; telephone?: string | null };
  navigationLinks?: { name: string; url: string }[];
  testMode?: boolean;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
  attachments: StoredAttachment[] | undefined;
}

/** Content-ID of the inline barcode picture (`<img src="cid:…">`). */
export const BARCODE_CID = 'entry-barcode@activehub';

export function confirmationSubject(input: Pick<ConfirmationEmailInput, 'items' | 'orderNumber' | 'testMode'>): string {
  const first = input.items[0]?.name ?? 'your booking';
  const more = input.items.length > 1 ? ` and ${input.items.length - 1} more` : '';
  return oneLine(
    `${input.testMode ? '[TEST] ' : ''}Booking confirmed: ${oneLine(first, 120)}${more} (ref ${input.orderNumber})`,
    250,
  );
}

function sellerContactHtml(seller: ConfirmationEmailInput['seller']): string {
  const parts: string[] = [];
  const email = safeEmail(seller.email);
  if (email) parts.push(`<a href="mailto:${escapeHtml(email)}" style="color:inherit">${escapeHtml(email)}</a>`);
  if (seller.telephone) parts.push(escapeHtml(seller.telephone));
  return parts.join(' · ');
}

/**
 * The order confirmation: branded with the broker, every booked item, the total, the entry barcode
 * (QR code inline as a cid attachment, and its value as text), the seller and its terms. HTML and
 * a complete plain-text version; every interpolated value is escaped.
 */
export function renderConfirmationEmail(input: ConfirmationEmailInput): RenderedEmail {
  const colour = safeColour(input.broker.primaryColor);
  const subject = confirmationSubject(input);
  const sellerTerms = safeHttpUrl(input.seller.termsUrl);
  const sellerContact = sellerContactHtml(input.seller);
  const png = qrCodePng(input.barcode);

  const itemsHtml = input.items
    .map((item) => {
      const where = [item.locationName, item.address].filter((x): x is string => Boolean(x && x.trim()));
      const rows = [
        `<div style="font-weight:bold;font-size:17px">${escapeHtml(item.name)}</div>`,
        `<div>${escapeHtml(formatWhen(item.startDate, item.endDate))}</div>`,
        where.length ? `<div style="color:#52525b">${where.map(escapeHtml).join(', ')}</div>` : '',
        item.attendeeName ? `<div style="color:#52525b">Attendee: ${escapeHtml(item.attendeeName)}</div>` : '',
      ].filter(Boolean);
      return `<tr>
<td style="padding:12px 0;border-bottom:1px solid #e4e4e7;vertical-align:top">${rows.join('\n')}</td>
<td style="padding:12px 0 12px 12px;border-bottom:1px solid #e4e4e7;vertical-align:top;text-align:right;white-space:nowrap">${escapeHtml(item.priceText)}</td>
</tr>`;
    })
    .join('\n');

  const bodyHtml = `<h1 style="margin:0 0 16px;font-size:24px;color:${colour}">Your booking is confirmed</h1>
<p style="margin:0 0 16px">Hi ${escapeHtml(input.customer.givenName)},</p>
<p style="margin:0 0 16px">Thank you for booking with ${escapeHtml(input.broker.name)}. Your booking reference is <strong style="white-space:nowrap">${escapeHtml(input.orderNumber)}</strong>.</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin:0 0 8px;font-size:15px">
${itemsHtml}
<tr><td style="padding:12px 0;font-weight:bold">Total</td><td style="padding:12px 0 12px 12px;font-weight:bold;text-align:right;white-space:nowrap">${escapeHtml(input.totalText)}</td></tr>
</table>
<div style="margin:24px 0;text-align:center">
<p style="margin:0 0 8px;font-weight:bold">Your entry code</p>
<img src="cid:${BARCODE_CID}" alt="Entry QR code for ${escapeHtml(input.barcode)}" width="180" height="180" style="display:inline-block;width:180px;height:180px;border:0">
<p style="margin:8px 0 0;font-family:'Courier New',Courier,monospace;font-size:18px;letter-spacing:2px">${escapeHtml(input.barcode)}</p>
<p style="margin:4px 0 0;font-size:14px;color:#52525b">Show this code when you arrive.</p>
</div>
<p style="margin:0 0 8px;font-size:14px">This booking is with <strong>${escapeHtml(input.seller.name)}</strong>, who runs the activity${sellerTerms ? `, under their <a href="${escapeHtml(sellerTerms)}" style="color:${colour}">terms and conditions</a>` : ''}.${sellerContact ? ` Contact them: ${sellerContact}.` : ''}</p>
<p style="margin:0;font-size:14px">Booked for ${escapeHtml(input.customer.givenName)} ${escapeHtml(input.customer.familyName)} (${escapeHtml(input.customer.email)}).</p>`;

  const itemsText = input.items
    .map((item) => {
      const where = [item.locationName, item.address].filter((x): x is string => Boolean(x && x.trim()));
      return [
        `* ${oneLine(item.name)} - ${item.priceText}`,
        `  ${formatWhen(item.startDate, item.endDate)}`,
        ...(where.length ? [`  ${where.map((w) => oneLine(w)).join(', ')}`] : []),
        ...(item.attendeeName ? [`  Attendee: ${oneLine(item.attendeeName)}`] : []),
      ].join('\n');
    })
    .join('\n\n');
  const sellerText = [safeEmail(input.seller.email), input.seller.telephone].filter(Boolean).join(', ');
  const bodyText = `YOUR BOOKING IS CONFIRMED

Hi ${oneLine(input.customer.givenName)},

Thank you for booking with ${oneLine(input.broker.name)}. Your booking reference is ${input.orderNumber}.

${itemsText}

Total: ${input.totalText}

Your entry code: ${input.barcode}
(shown as a QR code in the HTML version of this email; show it when you arrive)

This booking is with ${oneLine(input.seller.name)}, who runs the activity.${sellerTerms ? `\nTheir terms and conditions: ${sellerTerms}` : ''}${sellerText ? `\nContact them: ${sellerText}` : ''}

Booked for ${oneLine(input.customer.givenName)} ${oneLine(input.customer.familyName)} (${input.customer.email}).`;

  return {
    subject,
    html: renderLayout({
      broker: input.broker,
      title: subject,
      preheader: `Booking reference ${input.orderNumber}: ${input.items.map((i) => i.name).join(', ')}`,
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
    attachments: [
      { filename: 'entry-code.png', contentType: 'image/png', contentBase64: png.toString('base64'), cid: BARCODE_CID },
    ],
  };
}
