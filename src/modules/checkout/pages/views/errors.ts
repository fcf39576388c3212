import { markup } from '../html.js';
import { layout, type PageShell } from './layout.js';

export type ErrorPageKind =
  | 'not-found'
  | 'unknown-opportunity'
  | 'full'
  | 'not-bookable'
  | 'ambiguous'
  | 'expired'
  | 'forbidden'
  | 'bad-form'
  | 'too-many'
  | 'seller-unavailable'
  | 'internal';

const PAGES: Record<ErrorPageKind, { status: number; title: string; message: string }> = {
  'not-found': {
    status: 404,
    title: 'Page not found',
    message:
      'We could not find this checkout. The link may be mistyped, or it belongs to another website. Please go back and start the booking again.',
  },
  'unknown-opportunity': {
    status: 404,
    title: 'Activity not found',
    message: 'We could not find this activity. It may have been cancelled or removed. Please choose another.',
  },
  full: {
    status: 409,
    title: 'Sorry, this is full',
    message: 'All places have been taken. Nothing was booked and no money was taken. Please choose another time.',
  },
  'not-bookable': {
    status: 409,
    title: 'This cannot be booked online',
    message: 'This activity cannot be booked online at the moment.',
  },
  ambiguous: {
    status: 409,
    title: 'Which venue did you mean?',
    message:
      'More than one venue publishes an activity under this link, and the link does not say which one. Nothing was booked. Please go back and choose the activity again on the booking site.',
  },
  expired: {
    status: 410,
    title: 'This checkout has expired',
    message:
      'Checkouts are kept for 24 hours. Nothing was booked and no money was taken. Please start again from the booking page.',
  },
  forbidden: {
    status: 403,
    title: 'Please reload the page',
    message:
      'For your security we could not accept this form: it was sent from another website or the page is out of date. Nothing was booked. Go back to the checkout page, reload it and try again.',
  },
  'bad-form': {
    status: 400,
    title: 'We could not read that form',
    message: 'Some of what was sent could not be read. Nothing was booked. Please go back and try again.',
  },
  'too-many': {
    status: 429,
    title: 'Too many requests',
    message: 'We have had too many requests from you in a short time. Please wait a minute and try again.',
  },
  'seller-unavailable': {
    status: 503,
    title: 'The venue is not answering',
    message:
      "The venue's booking system cannot be reached right now. Nothing was booked. Please try again in a few minutes.",
  },
  internal: {
    status: 500,
    title: 'Something went wrong',
    message: 'Something went wrong on our side. Please try again in a few minutes.',
  },
};

/**
 * A human error page (no broker branding: these are shown when the broker or session could not be
 * loaded). `detail` is a customer-safe message from the service, shown instead of the default.
 */
export function renderErrorPage(
  kind: ErrorPageKind,
  shell: Pick<PageShell, 'nonce' | 'assets'> & { retryPath?: string | null; detail?: string | null },
): { status: number; body: string } {
  const page = PAGES[kind];
  const content = markup`<h1>${page.title}</h1>
    <div class="card" role="alert">
      <p>${shell.detail ?? page.message}</p>
    </div>
    ${shell.retryPath ? markup`<p><a class="button button--secondary" href="${shell.retryPath}">Back to the checkout</a></p>` : null}`;
  return {
    status: page.status,
    body: layout(
      {
        branding: null,
        navigationLinks: [],
        testMode: false,
        title: page.title,
        nonce: shell.nonce,
        assets: shell.assets,
      },
      content,
    ).value,
  };
}
