/*
 * The pieces every customer email shares: escaping, safe links and colours, the broker-branded
 * frame (header, test-mode banner, navigation, footer) and their plain-text equivalents. Email
 * clients ignore <style> blocks unevenly, so styles are inline and the layout is tables.
 */

export interface EmailBranding {
  name: string;
  url?: string | null;
  logoUrl?: string | null;
  primaryColor?: string | null;
  contactEmail?: string | null;
  termsUrl?: string | null;
}

const DEFAULT_COLOUR = '#1f4e79';
const TIME_ZONE = 'Europe/London';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text as HTML (element content or a quoted attribute value). */
export function escapeHtml(value: string | number | null | undefined): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** An absolute http(s) URL, or null: nothing else may become a link or an image source. */
export function safeHttpUrl(value: string | null | undefined): string | null {
  if (!value || !URL.canParse(value)) return null;
  const url = new URL(value);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : null;
}

/** A plain mail address (for mailto: links), or null. */
export function safeEmail(value: string | null | undefined): string | null {
  return value && /^[^\s<>"'@]+@[^\s<>"'@]+\.[^\s<>"'@]+$/.test(value) ? value : null;
}

/** A #rgb / #rrggbb colour, else the default: broker data never reaches a style attribute raw. */
export function safeColour(value: string | null | undefined): string {
  return value && /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(value) ? value : DEFAULT_COLOUR;
}

/** Black or white, whichever reads better on `colour` (WCAG relative luminance). */
export function textColourOn(colour: string): string {
  const hex = colour.length === 4 ? colour.replace(/^#(.)(.)(.)$/, '#$1$1$2$2$3$3') : colour;
  const [r, g, b] = [1, 3, 5].map((i) => {
    const v = parseInt(hex.slice(i, i + 2), 16) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.179 ? '#111111' : '#ffffff';
}

/** One line: no CR/LF (headers), trimmed, bounded. */
export function oneLine(value: string, max = 200): string {
  const line = value
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/\s{2,}/g, ' ')
    .trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const dayFormat = new Intl.DateTimeFormat('en-GB', {
  timeZone: TIME_ZONE,
  weekday: 'long',
  day: 'numeric',
  month: 'long',
  year: 'numeric',
});
const timeFormat = new Intl.DateTimeFormat('en-GB', { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit' });

/** "Saturday 5 December 2026" (built from parts: ICU versions differ on the comma after the weekday). */
function day(date: Date): string {
  const parts = Object.fromEntries(dayFormat.formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.weekday} ${parts.day} ${parts.month} ${parts.year}`;
}

/** "Saturday 5 December 2026, 10:00–11:00" in UK time; unparseable input is shown as given. */
export function formatWhen(startDate: string, endDate?: string | null): string {
  const start = new Date(startDate);
  if (Number.isNaN(start.getTime())) return startDate;
  let text = `${day(start)}, ${timeFormat.format(start)}`;
  const end = endDate ? new Date(endDate) : null;
  if (end && !Number.isNaN(end.getTime()) && end > start) {
    text += day(end) === day(start) ? `–${timeFormat.format(end)}` : ` to ${day(end)}, ${timeFormat.format(end)}`;
  }
  return text;
}

export const TEST_MODE_NOTICE =
  'TEST BOOKING: this booking was made in testing mode. No real payment was taken and no real place is held.';

export interface LayoutInput {
  broker: EmailBranding;
  title: string;
  /** Inbox preview line. */
  preheader: string;
  /** Already-escaped HTML of the message body. */
  bodyHtml: string;
  navigationLinks?: { name: string; url: string }[] | undefined;
  testMode?: boolean | undefined;
}

export function navigationOf(links: { name: string; url: string }[] | undefined) {
  return (links ?? []).flatMap((l) => {
    const url = safeHttpUrl(l.url);
    return url && l.name.trim() ? [{ name: oneLine(l.name, 80), url }] : [];
  });
}

/** The branded frame around a message. */
export function renderLayout(input: LayoutInput): string {
  const { broker } = input;
  const colour = safeColour(broker.primaryColor);
  const onColour = textColourOn(colour);
  const logo = safeHttpUrl(broker.logoUrl);
  const home = safeHttpUrl(broker.url);
  const contact = safeEmail(broker.contactEmail);
  const terms = safeHttpUrl(broker.termsUrl);
  const nav = navigationOf(input.navigationLinks);
  const brand = logo
    ? `<img src="${escapeHtml(logo)}" alt="${escapeHtml(broker.name)}" height="40" style="display:block;height:40px;max-width:240px;border:0">`
    : `<span style="font-size:20px;font-weight:bold;color:${onColour}">${escapeHtml(broker.name)}</span>`;
  const banner = input.testMode
    ? `<tr><td style="background:#fff3cd;color:#5c4400;padding:12px 24px;font-size:14px;font-weight:bold;border-bottom:2px solid #e0b000">${escapeHtml(TEST_MODE_NOTICE)}</td></tr>`
    : '';
  const navHtml = nav.length
    ? `<tr><td style="padding:16px 24px;border-top:1px solid #e4e4e7;font-size:14px">${nav
        .map(
          (l) => `<a href="${escapeHtml(l.url)}" style="color:${colour};margin-right:16px">${escapeHtml(l.name)}</a>`,
        )
        .join(' ')}</td></tr>`
    : '';
  const footerParts = [
    `You receive this email because you made a booking through ${home ? `<a href="${escapeHtml(home)}" style="color:#52525b">${escapeHtml(broker.name)}</a>` : escapeHtml(broker.name)}.`,
    contact
      ? `Questions? Email <a href="mailto:${escapeHtml(contact)}" style="color:#52525b">${escapeHtml(contact)}</a>.`
      : '',
    terms ? `<a href="${escapeHtml(terms)}" style="color:#52525b">${escapeHtml(broker.name)} terms</a>` : '',
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${escapeHtml(input.title)}</title>
</head>
<body style="margin:0;padding:0;background:#f4f4f5;font-family:Arial,Helvetica,sans-serif;color:#18181b">
<div style="display:none;max-height:0;overflow:hidden">${escapeHtml(input.preheader)}</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f5">
<tr><td align="center" style="padding:16px 8px">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:600px;background:#ffffff;border-radius:8px;overflow:hidden">
<tr><td style="background:${colour};padding:20px 24px">${home ? `<a href="${escapeHtml(home)}" style="text-decoration:none">${brand}</a>` : brand}</td></tr>
${banner}
<tr><td style="padding:24px;font-size:16px;line-height:1.5">
${input.bodyHtml}
</td></tr>
${navHtml}
<tr><td style="padding:16px 24px;background:#fafafa;color:#52525b;font-size:12px;line-height:1.5">${footerParts.join('<br>')}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;
}

/** The plain-text frame: the same content, nothing lost. */
export function renderTextLayout(input: {
  broker: EmailBranding;
  body: string;
  navigationLinks?: { name: string; url: string }[] | undefined;
  testMode?: boolean | undefined;
}): string {
  const { broker } = input;
  const nav = navigationOf(input.navigationLinks);
  const contact = safeEmail(broker.contactEmail);
  const home = safeHttpUrl(broker.url);
  const terms = safeHttpUrl(broker.termsUrl);
  const lines = [
    oneLine(broker.name),
    ...(input.testMode ? ['', `*** ${TEST_MODE_NOTICE} ***`] : []),
    '',
    input.body.trim(),
    ...(nav.length ? ['', ...nav.map((l) => `${l.name}: ${l.url}`)] : []),
    '',
    '--',
    `You receive this email because you made a booking through ${oneLine(broker.name)}${home ? ` (${home})` : ''}.`,
    ...(contact ? [`Questions? Email ${contact}.`] : []),
    ...(terms ? [`${oneLine(broker.name)} terms: ${terms}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
