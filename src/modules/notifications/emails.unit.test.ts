import { describe, expect, it } from 'vitest';
import { qrCodeMatrix } from './barcode.js';
import { BARCODE_CID, renderConfirmationEmail } from './confirmation-email.js';
import { formatWhen, TEST_MODE_NOTICE } from './email-layout.js';
import { formatSender, redactAddresses } from './mailer.js';
import { modulesOf, sampleConfirmation } from './notifications.fixtures.js';
import { renderRefundEmail } from './refund-email.js';

const HOSTILE = `<img src=x onerror="alert(1)">&'"`;
const HOSTILE_ESCAPED = '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#39;&quot;';

describe('renderConfirmationEmail', () => {
  const email = renderConfirmationEmail(sampleConfirmation());

  it('carries the booking: branding, items, total, seller, contact, links, entry code', () => {
    expect(email.subject).toBe('Booking confirmed: Yoga Flow and 1 more (ref AH-7Q2K9D)');
    for (const part of [
      'Acme Fitness',
      'background:#ff6600',
      'src="https://acme.example/logo.png"',
      'Hi Louis,',
      'AH-7Q2K9D',
      'Yoga Flow',
      'Saturday 5 December 2026, 10:00–11:00',
      'Riverside Leisure Centre, 1 River Road, Bristol, BS1 1AA',
      'Attendee: Mei Wu',
      '£5.50',
      'Free',
      'Bristol Leisure Trust',
      'href="https://seller.example/terms"',
      'href="mailto:bookings@seller.example"',
      '0117 496 0000',
      'href="mailto:help@acme.example"',
      'href="https://acme.example/terms"',
      '<a href="https://acme.example/bookings" style="color:#ff6600;margin-right:16px">My bookings</a>',
      'Find more activities',
      `src="cid:${BARCODE_CID}"`,
      'AH7Q2K9D-01',
    ]) {
      expect(email.html, part).toContain(part);
    }
    expect(email.html).not.toContain(TEST_MODE_NOTICE);
  });

  it('has a complete plain-text version', () => {
    for (const part of [
      'Acme Fitness',
      'YOUR BOOKING IS CONFIRMED',
      'Hi Louis,',
      'Your booking reference is AH-7Q2K9D.',
      '* Yoga Flow - £5.50',
      '  Saturday 5 December 2026, 10:00–11:00',
      '  Riverside Leisure Centre, 1 River Road, Bristol, BS1 1AA',
      '  Attendee: Louis Wu',
      '* Spin Class - Free',
      '  Sunday 6 December 2026, 18:30',
      'Total: £5.50',
      'Your entry code: AH7Q2K9D-01',
      'This booking is with Bristol Leisure Trust',
      'Their terms and conditions: https://seller.example/terms',
      'Contact them: bookings@seller.example, 0117 496 0000',
      'My bookings: https://acme.example/bookings',
      'Find more activities: https://acme.example/search',
      'Questions? Email help@acme.example.',
      'Acme Fitness terms: https://acme.example/terms',
    ]) {
      expect(email.text, part).toContain(part);
    }
    expect(email.text).not.toMatch(/<[a-z]/i);
  });

  it('attaches the entry code as an inline QR code PNG of the barcode value', () => {
    expect(email.attachments).toHaveLength(1);
    const [png] = email.attachments!;
    expect(png).toMatchObject({ contentType: 'image/png', cid: BARCODE_CID });
    const bytes = Buffer.from(png!.contentBase64, 'base64');
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const expected = qrCodeMatrix('AH7Q2K9D-01');
    expect(modulesOf(bytes, expected.length)).toEqual(expected);
    expect(modulesOf(bytes, expected.length)).not.toEqual(qrCodeMatrix('AH7Q2K9D-02'));
  });

  it('shows the test-mode banner in testing mode, in HTML, text and subject', () => {
    const test = renderConfirmationEmail(sampleConfirmation({ testMode: true }));
    expect(test.subject).toMatch(/^\[TEST\] Booking confirmed/);
    expect(test.html).toContain(TEST_MODE_NOTICE);
    expect(test.text).toContain(TEST_MODE_NOTICE);
  });

  it('escapes every interpolated value and drops unsafe links and colours', () => {
    const hostile = renderConfirmationEmail(
      sampleConfirmation({
        broker: {
          name: HOSTILE,
          url: 'javascript:alert(1)',
          logoUrl: 'javascript:alert(2)',
          primaryColor: 'red;background:url(https://evil.example/x)',
          contactEmail: `"><script>@x.y`,
          termsUrl: 'data:text/html,<script>alert(3)</script>',
        },
        customer: { givenName: HOSTILE, familyName: HOSTILE, email: `${HOSTILE}@example.com` },
        orderNumber: HOSTILE,
        barcode: HOSTILE,
        items: [
          {
            name: HOSTILE,
            startDate: HOSTILE,
            endDate: HOSTILE,
            locationName: HOSTILE,
            address: HOSTILE,
            attendeeName: HOSTILE,
            priceText: HOSTILE,
          },
        ],
        totalText: HOSTILE,
        seller: { name: HOSTILE, termsUrl: 'vbscript:x', email: HOSTILE, telephone: HOSTILE },
        navigationLinks: [
          { name: HOSTILE, url: 'javascript:alert(4)' },
          { name: HOSTILE, url: 'https://ok.example/' },
        ],
      }),
    );
    expect(hostile.html).not.toContain('<img src=x');
    expect(hostile.html).not.toContain('<script');
    expect(hostile.html).not.toMatch(/javascript:|vbscript:|data:text/);
    expect(hostile.html).not.toContain('evil.example');
    expect(hostile.html).toContain('background:#1f4e79');
    expect(hostile.html).toContain(HOSTILE_ESCAPED);
    expect(hostile.html).toContain('<a href="https://ok.example/"');
    // No attribute is broken out of: with every quoted attribute value blanked, no tag has a handler.
    expect(hostile.html.replace(/"[^"]*"/g, '""').match(/<[a-z][^>]*\bon[a-z]+=/gi)).toBeNull();
    expect(hostile.subject).not.toMatch(/[\r\n]/);
  });
});

describe('renderRefundEmail', () => {
  const input = {
    broker: { name: 'Acme Fitness', primaryColor: '#003366', contactEmail: 'help@acme.example' },
    customer: { givenName: 'Louis', familyName: 'Wu', email: 'louis@example.com' },
    orderNumber: 'AH-7Q2K9D',
    items: [{ name: 'Yoga Flow', startDate: '2026-12-05T10:00:00Z', attendeeName: 'Louis Wu', amountText: '£5.50' }],
    refundTotalText: '£5.50',
    reason: 'The session was cancelled by the organiser.',
    seller: { name: 'Bristol Leisure Trust', termsUrl: 'https://seller.example/terms' },
  };

  it('says what was refunded, for what and why, in HTML and text', () => {
    const email = renderRefundEmail(input);
    expect(email.subject).toBe('Refund of £5.50 for your booking (ref AH-7Q2K9D)');
    for (const part of [
      'Hi Louis,',
      'AH-7Q2K9D',
      'Yoga Flow',
      '£5.50',
      'cancelled by the organiser',
      'Bristol Leisure Trust',
    ]) {
      expect(email.html, part).toContain(part);
      expect(email.text, part).toContain(part);
    }
    expect(email.text).toContain('Their terms and conditions: https://seller.example/terms');
    expect(email.attachments).toEqual([]);
    expect(renderRefundEmail({ ...input, testMode: true }).html).toContain(TEST_MODE_NOTICE);
  });

  it('escapes every value', () => {
    const email = renderRefundEmail({
      ...input,
      customer: { givenName: HOSTILE, familyName: HOSTILE, email: HOSTILE },
      orderNumber: HOSTILE,
      items: [{ name: HOSTILE, startDate: HOSTILE, attendeeName: HOSTILE, amountText: HOSTILE }],
      refundTotalText: HOSTILE,
      reason: HOSTILE,
      seller: { name: HOSTILE, email: HOSTILE, telephone: HOSTILE },
    });
    expect(email.html).not.toContain('<img src=x');
    expect(email.html).toContain(HOSTILE_ESCAPED);
  });
});

describe('helpers', () => {
  it('formats times in UK time, across the clock change', () => {
    expect(formatWhen('2026-07-01T09:00:00Z', '2026-07-01T10:30:00Z')).toBe('Wednesday 1 July 2026, 10:00–11:30');
    expect(formatWhen('2026-01-01T09:00:00Z')).toBe('Thursday 1 January 2026, 09:00');
    expect(formatWhen('not a date')).toBe('not a date');
  });

  it('builds From headers that cannot be broken by the display name', () => {
    expect(formatSender('Acme Fitness', 'bookings@acme.example')).toBe('"Acme Fitness" <bookings@acme.example>');
    expect(formatSender('Acme "Best"\r\nBcc: x@y.z', 'activehub <no-reply@activehub.test>')).toBe(
      '"Acme Best Bcc: x@y.z" <no-reply@activehub.test>',
    );
  });

  it('removes mail addresses from error messages', () => {
    expect(redactAddresses('550 5.1.1 <louis@example.com>: Recipient address rejected (louis.wu@x.co)')).toBe(
      '550 5.1.1 <<address>>: Recipient address rejected (<address>)',
    );
  });
});
