import PDFDocument from 'pdfkit';
import { formatMoney } from './orders.render.js';
import type { ReceiptSnapshot } from './orders-api.tables.js';

/*
 * A receipt as a PDF (imin-booking §3.5): seller, broker, customer, items with prices and tax
 * as the seller reports it, what was paid, refunds, and what the order costs now. Made with
 * pdfkit's built-in Helvetica (no font files), so the text stays extractable.
 */

export interface ReceiptDocument {
  receiptNumber: string;
  issuedAt: Date;
  reason: string;
  snapshot: ReceiptSnapshot;
  /** Read from the order when the PDF is made (after erasure: the placeholders). */
  customer: { name: string; email: string | null };
  attendees: Record<string, string>;
}

const STATUS_TEXT: Record<string, string> = {
  'https://openactive.io/OrderItemConfirmed': 'Booked',
  'https://openactive.io/CustomerCancelled': 'Cancelled by the customer',
  'https://openactive.io/SellerCancelled': 'Cancelled by the organiser',
  'https://openactive.io/AttendeeAttended': 'Attended',
  'https://openactive.io/AttendeeAbsent': 'Absent',
};

const REASON_TEXT: Record<string, string> = {
  order: 'Receipt for your booking',
  refund: 'Updated receipt after a refund',
  change: 'Updated receipt after a change to your booking',
};

function when(iso: string | null): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat('en-GB', {
    dateStyle: 'full',
    timeStyle: 'short',
    timeZone: 'Europe/London',
  }).format(d);
}

export function renderReceiptPdf(doc: ReceiptDocument): Promise<Buffer> {
  const s = doc.snapshot;
  const money = (minor: number) => formatMoney(minor, s.currency);
  const pdf = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: { Title: `Receipt ${doc.receiptNumber}`, Author: s.broker.name, Subject: `Booking ${s.orderNumber}` },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pdf.on('data', (chunk: Buffer) => chunks.push(chunk));
    pdf.on('end', () => resolve(Buffer.concat(chunks)));
    pdf.on('error', reject);
  });

  pdf.font('Helvetica-Bold').fontSize(20).text(s.broker.name);
  if (s.broker.url) pdf.font('Helvetica').fontSize(9).fillColor('#555555').text(s.broker.url).fillColor('black');
  pdf.moveDown();
  pdf
    .font('Helvetica-Bold')
    .fontSize(14)
    .text(`${REASON_TEXT[doc.reason] ?? 'Receipt'}${s.testMode ? ' (TEST)' : ''}`);
  pdf.font('Helvetica').fontSize(10);
  pdf.text(`Receipt number: ${doc.receiptNumber}`);
  pdf.text(`Issued: ${when(doc.issuedAt.toISOString())}`);
  pdf.text(`Booking reference: ${s.orderNumber}`);
  pdf.moveDown();

  pdf.font('Helvetica-Bold').text('Sold by');
  pdf.font('Helvetica').text(s.seller.name);
  if (s.seller.url) pdf.text(s.seller.url);
  if (s.seller.email) pdf.text(s.seller.email);
  if (s.seller.taxId) pdf.text(`VAT number: ${s.seller.taxId}`);
  pdf.moveDown(0.5);
  pdf.font('Helvetica-Bold').text('Booked through');
  pdf.font('Helvetica').text(s.broker.name);
  pdf.moveDown(0.5);
  pdf.font('Helvetica-Bold').text('Customer');
  pdf.font('Helvetica').text(doc.customer.name);
  if (doc.customer.email) pdf.text(doc.customer.email);
  pdf.moveDown();

  pdf.font('Helvetica-Bold').fontSize(12).text('Items');
  pdf.fontSize(10);
  for (const item of s.items) {
    pdf.moveDown(0.4);
    pdf.font('Helvetica-Bold').text(`${item.name} - ${money(item.price)}`);
    pdf.font('Helvetica');
    if (item.startDate) pdf.text(when(item.startDate));
    if (item.offerName) pdf.text(`Ticket: ${item.offerName}`);
    const attendee = doc.attendees[item.id];
    if (attendee) pdf.text(`Attendee: ${attendee}`);
    pdf.text(`Status: ${STATUS_TEXT[item.status] ?? item.status}`);
    for (const tax of item.tax) {
      const rate =
        tax.rate !== null
          ? ` at ${(tax.rate * 100).toFixed(tax.rate * 100 === Math.round(tax.rate * 100) ? 0 : 1)}%`
          : '';
      pdf.text(`Includes ${tax.name ?? 'tax'}${rate}: ${formatMoney(tax.amount, tax.currency)}`);
    }
  }
  pdf.moveDown();

  pdf.font('Helvetica-Bold').fontSize(12).text('Payment');
  pdf.font('Helvetica').fontSize(10);
  pdf.text(`Paid: ${money(s.paid)}${s.paymentReference ? ` (payment ${s.paymentReference})` : ''}`);
  for (const r of s.refunds) pdf.text(`Refund on ${when(r.date)}: -${money(r.amount)} (${r.reason})`);
  if (s.refunds.length > 0) pdf.text(`Total refunded: ${money(s.refunded)}`);
  pdf.font('Helvetica-Bold').text(`Order total now: ${money(s.totalDue)}`);
  pdf.font('Helvetica');
  pdf.text(
    s.totalTax === null
      ? 'Tax: the organiser reports no tax for this order.'
      : `Tax as reported by the organiser: ${money(s.totalTax)}`,
  );
  pdf.moveDown();
  pdf
    .fontSize(8)
    .fillColor('#555555')
    .text(
      `${s.seller.name} provides the activity; ${s.broker.name} took the booking and payment on its behalf. Keep this receipt for your records.`,
    );
  pdf.end();
  return done;
}
