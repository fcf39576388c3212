import type { CheckoutBranding } from '../../index.js';
import { markup, safeColour, safeEmail, safeUrl, type SafeHtml } from '../html.js';

export interface PageShell {
  /** The broker's branding; null on pages shown before a broker is known (unknown broker). */
  branding: CheckoutBranding | null;
  navigationLinks: { name: string; url: string }[];
  testMode: boolean;
  /** Page title (before " – broker name"). */
  title: string;
  /** Per-response nonce for the one inline <style> (brand colours). */
  nonce: string;
  assets: { css: string; stripeJs: string };
  /** Load Stripe.js and our Elements script. */
  stripe?: boolean;
  /** Seconds until the page reloads itself (a payment in progress). */
  refreshSeconds?: number;
}

/** The origins images may come from: self, data: URLs (barcode) and the broker's logo/background hosts. */
export function imageOrigins(branding: CheckoutBranding | null): string[] {
  const origins = new Set<string>();
  for (const u of [branding?.logoUrl, branding?.backgroundImageUrl]) {
    const url = safeUrl(u);
    if (url) origins.add(new URL(url).origin);
  }
  return [...origins];
}

/** Black or white text, whichever reads better on a #hex background (null: keep the default). */
export function readableOn(colour: string): string | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})(?:[0-9a-f]{1,2})?$/i.exec(colour);
  if (!m) return null;
  const hex = m[1]!.length === 3 ? [...m[1]!].map((c) => c + c).join('') : m[1]!;
  const channel = (i: number) => {
    const v = parseInt(hex.slice(i, i + 2), 16) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
  // Contrast with white is (1.05)/(L+0.05), with near-black (#111) (L+0.05)/(0.0056+0.05).
  return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.0556 ? '#ffffff' : '#111111';
}

function brandStyle(branding: CheckoutBranding | null, nonce: string): SafeHtml | null {
  const primary = safeColour(branding?.primaryColor);
  const secondary = safeColour(branding?.secondaryColor);
  if (!primary && !secondary) return null;
  // Only validated colour values reach this sheet (safeColour rejects anything but plain colours).
  const onPrimary = primary ? readableOn(primary) : null;
  const decls = [
    primary ? `--brand-primary:${primary};` : '',
    onPrimary ? `--brand-on-primary:${onPrimary};` : '',
    secondary ? `--brand-secondary:${secondary};` : '',
  ];
  return markup`<style nonce="${nonce}">
    :root{${decls.join('')}}
  </style>`;
}

export function layout(shell: PageShell, content: SafeHtml): SafeHtml {
  const b = shell.branding;
  const brokerName = b?.name ?? 'Checkout';
  const brokerUrl = safeUrl(b?.url);
  const logo = safeUrl(b?.logoUrl);
  const background = safeUrl(b?.backgroundImageUrl);
  const contact = safeEmail(b?.contactEmail);
  const terms = safeUrl(b?.termsUrl);
  const links = shell.navigationLinks.flatMap((l) => {
    const url = safeUrl(l.url);
    return url ? [{ name: l.name, url }] : [];
  });
  const brand = logo ? markup`<img class="brand-logo" src="${logo}" alt="${brokerName}" />` : markup`${brokerName}`;
  return markup`<!doctype html>
    <html lang="en-GB">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        ${shell.refreshSeconds ? markup`<meta http-equiv="refresh" content="${shell.refreshSeconds}" />` : null}
        <title>${shell.title} – ${brokerName}</title>
        <link rel="stylesheet" href="${shell.assets.css}" />
        ${brandStyle(b, shell.nonce)}
        ${
          shell.stripe
            ? markup`<script src="https://js.stripe.com/v3/"></script>
                <script src="${shell.assets.stripeJs}" defer></script>`
            : null
        }
      </head>
      <body>
        <a class="skip-link" href="#main">Skip to main content</a>
        ${
          shell.testMode
            ? markup`<div class="test-banner" role="note">
                <strong>Test mode.</strong> This is a test booking: no money is taken and no place is booked with the
                venue.
              </div>`
            : null
        }
        <header class="site-header">
          ${background ? markup`<img class="brand-background" src="${background}" alt="" />` : null}
          <div class="site-header__inner">
            ${brokerUrl ? markup`<a class="brand" href="${brokerUrl}">${brand}</a>` : markup`<span class="brand">${brand}</span>`}
            ${
              links.length
                ? markup`<nav class="site-nav" aria-label="${brokerName}">
                    <ul>
                      ${links.map((l) => markup`<li><a href="${l.url}">${l.name}</a></li>`)}
                    </ul>
                  </nav>`
                : null
            }
          </div>
        </header>
        <main id="main" class="page" tabindex="-1">${content}</main>
        <footer class="site-footer">
          ${contact ? markup`<p>Questions about your booking? Email <a href="mailto:${contact}">${contact}</a>.</p>` : null}
          ${terms ? markup`<p><a href="${terms}">${brokerName} terms and conditions</a></p>` : null}
          <p class="site-footer__small">Secure checkout for ${brokerName}.</p>
        </footer>
      </body>
    </html> `;
}
