import type { CheckoutView } from '../../index.js';
import { markup, safeUrl, trustedHtml, type SafeHtml } from '../html.js';
import { isoOrNull, when } from './format.js';
import { layout, type PageShell } from './layout.js';

/** What a step page needs besides the view. */
export interface StepContext {
  /** `/checkout/<broker>/s/<session>`: the page, and the base of its form actions. */
  pagePath: string;
  csrfToken: string;
  nonce: string;
  assets: PageShell['assets'];
  /** A message from the previous post that never reached the service (e.g. an unreadable expiry date). */
  flash?: string | null;
  /** The entry barcode as a data: URL (confirmation step). */
  barcodeDataUrl?: string | null;
}

export interface RenderedPage {
  status: number;
  body: string;
  /** The page loads Stripe.js (the CSP must allow it). */
  stripe: boolean;
}

const MAX_PLACES = 10;

function shellFor(view: CheckoutView, ctx: StepContext, title: string, extra: Partial<PageShell> = {}): PageShell {
  return {
    branding: view.branding,
    navigationLinks: view.navigationLinks,
    testMode: view.testMode,
    title,
    nonce: ctx.nonce,
    assets: ctx.assets,
    ...extra,
  };
}

function progress(current: 1 | 2 | 3): SafeHtml {
  const steps = ['Choose', 'Details and payment', 'Confirmation'];
  return markup`<ol class="progress" aria-label="Checkout progress">
    ${steps.map(
      (name, i) =>
        markup`<li
          class="${i + 1 === current ? 'is-current' : i + 1 < current ? 'is-done' : ''}"
          ${i + 1 === current ? trustedHtml('aria-current="step"') : null}
        >
          ${name}
        </li>`,
    )}
  </ol>`;
}

function alertBox(message: string | null | undefined): SafeHtml {
  // Always present so screen readers announce a message that appears; role=alert when there is one.
  return message
    ? markup`<div id="form-error" class="alert" role="alert" tabindex="-1" autofocus>${message}</div>`
    : markup`<div id="form-error" class="visually-hidden" aria-live="polite"></div>`;
}

function csrfField(ctx: StepContext): SafeHtml {
  return markup`<input type="hidden" name="_csrf" value="${ctx.csrfToken}" />`;
}

function summary(view: CheckoutView): SafeHtml {
  const choice = view.choices.find((c) => c.opportunityId === view.selected?.opportunityId) ?? view.choices[0];
  const start = choice?.startDate;
  const offer = choice?.offers.find((o) => o.id === view.selected?.offerId);
  const seller = view.seller;
  const sellerTerms = safeUrl(seller?.termsUrl);
  return markup`<section class="card summary" aria-labelledby="summary-heading">
    <h2 id="summary-heading">Your booking</h2>
    <dl>
      <div>
        <dt>Activity</dt>
        <dd>${view.title}</dd>
      </div>
      ${
        start
          ? markup`<div>
              <dt>When</dt>
              <dd><time datetime="${isoOrNull(start)}">${when(start, choice?.endDate)}</time></dd>
            </div>`
          : null
      }
      ${
        view.location && (view.location.name || view.location.address)
          ? markup`<div>
              <dt>Where</dt>
              <dd>${[view.location.name, view.location.address].filter(Boolean).join(', ')}</dd>
            </div>`
          : null
      }
      ${
        seller
          ? markup`<div>
              <dt>Provided by</dt>
              <dd>${seller.name}</dd>
            </div>`
          : null
      }
      ${
        offer
          ? markup`<div>
              <dt>Ticket</dt>
              <dd>${offer.name} (${offer.priceText})</dd>
            </div>`
          : null
      }
      ${
        view.selected
          ? markup`<div>
              <dt>Places</dt>
              <dd>${view.selected.quantity}</dd>
            </div>`
          : null
      }
      ${
        view.total
          ? markup`<div class="summary__total">
              <dt>Total</dt>
              <dd>${view.total.text}</dd>
            </div>`
          : null
      }
    </dl>
    ${
      view.selected && view.selected.attendees.length > 0
        ? markup`<h3>Attendees</h3>
            <ul class="attendees">
              ${view.selected.attendees.map((a) => markup`<li>${a.name}</li>`)}
            </ul>`
        : null
    }
    ${
      sellerTerms && seller
        ? markup`<p class="small">
            Your booking is with ${seller.name} under their <a href="${sellerTerms}">terms and conditions</a>.
          </p>`
        : null
    }
  </section>`;
}

// ---- step (a): choose ---------------------------------------------------------------------------

function chooseStep(view: CheckoutView, ctx: StepContext): SafeHtml {
  const bookable = view.choices.filter((c) => c.bookable);
  const group = (view.selected?.attendees.length ?? 0) > 0;
  const selectedChoice = bookable.find((c) => c.opportunityId === view.selected?.opportunityId) ?? bookable[0];
  const offers = selectedChoice?.offers ?? [];
  const maxPlaces = Math.max(1, Math.min(MAX_PLACES, selectedChoice?.remaining ?? MAX_PLACES));
  const quantity = view.selected?.quantity ?? 1;
  const error = ctx.flash ?? view.problem?.message;
  if (bookable.length === 0) {
    return markup`${progress(1)}
      <h1>${view.title}</h1>
      ${alertBox(error)}
      <p>Sorry, there are no times left that can be booked online.</p>`;
  }
  return markup`${progress(1)}
    <h1>${view.title}</h1>
    ${alertBox(error)}
    <form class="card form" method="post" action="${ctx.pagePath}/choose" novalidate>
      ${csrfField(ctx)}
      ${
        view.choices.length === 1
          ? markup`<input type="hidden" name="opportunityId" value="${bookable[0]!.opportunityId}" />
              <p class="chosen-time">
                <strong>When:</strong>
                <time datetime="${isoOrNull(bookable[0]!.startDate)}"
                  >${when(bookable[0]!.startDate, bookable[0]!.endDate)}</time
                >
                ${bookable[0]!.remaining !== null ? markup`<span class="badge">${bookable[0]!.remaining} left</span>` : null}
              </p>`
          : markup`<fieldset>
              <legend>Choose a time</legend>
              ${view.choices.map(
                (c, i) =>
                  markup`<div class="option">
                    <input
                      type="radio"
                      id="time-${i}"
                      name="opportunityId"
                      value="${c.opportunityId}"
                      ${c.bookable ? null : trustedHtml('disabled')}
                      ${c === selectedChoice ? trustedHtml('checked') : null}
                    />
                    <label for="time-${i}"
                      ><time datetime="${isoOrNull(c.startDate)}">${when(c.startDate, c.endDate)}</time>
                      ${c.bookable ? (c.remaining !== null ? markup` <span class="badge">${c.remaining} left</span>` : null) : markup` <span class="badge badge--full">Full</span>`}</label
                    >
                  </div>`,
              )}
            </fieldset>`
      }
      <fieldset>
        <legend>Choose a ticket</legend>
        ${offers.map(
          (o, i) =>
            markup`<div class="option">
              <input
                type="radio"
                id="offer-${i}"
                name="offerId"
                value="${o.id}"
                ${(view.selected?.offerId ? o.id === view.selected.offerId : i === 0) ? trustedHtml('checked') : null}
              />
              <label for="offer-${i}"
                >${o.name} <span class="price">${o.priceText}</span>${
                  o.ageRange ? markup` <span class="small">(${o.ageRange})</span>` : null
                }${o.membersOnly ? markup` <span class="badge">Members</span>` : null}</label
              >
            </div>`,
        )}
      </fieldset>
      ${
        group
          ? markup`<p>Booking for ${view.selected!.attendees.length} people:</p>
              <ul class="attendees">
                ${view.selected!.attendees.map((a) => markup`<li>${a.name}</li>`)}
              </ul>`
          : markup`<div class="field">
              <label for="quantity">Number of places</label>
              <select id="quantity" name="quantity">
                ${Array.from(
                  { length: maxPlaces },
                  (_, i) =>
                    markup`<option value="${i + 1}" ${i + 1 === quantity ? trustedHtml('selected') : null}>${i + 1}</option>`,
                )}
              </select>
            </div>`
      }
      <button class="button" type="submit">Continue</button>
    </form>`;
}

// ---- step (b): details, then payment -----------------------------------------------------------

function detailsStep(view: CheckoutView, ctx: StepContext): SafeHtml {
  const c = view.customer;
  const error = ctx.flash ?? view.problem?.message;
  const paid = (view.total?.amount ?? 0) > 0;
  const form = view.needsCustomerDetails
    ? markup`<h2>Your details</h2>
        <div class="field">
          <label for="givenName">First name</label>
          <input
            id="givenName"
            name="givenName"
            type="text"
            autocomplete="given-name"
            required
            maxlength="200"
            value="${c?.givenName ?? ''}"
            ${error ? trustedHtml('aria-describedby="form-error"') : null}
          />
        </div>
        <div class="field">
          <label for="familyName">Last name</label>
          <input
            id="familyName"
            name="familyName"
            type="text"
            autocomplete="family-name"
            required
            maxlength="200"
            value="${c?.familyName ?? ''}"
          />
        </div>
        <div class="field">
          <label for="email">Email address</label>
          <input
            id="email"
            name="email"
            type="email"
            autocomplete="email"
            required
            maxlength="254"
            value="${c?.email ?? ''}"
            aria-describedby="email-hint"
          />
          <p class="hint" id="email-hint">We will send your booking confirmation here.</p>
        </div>`
    : markup`<h2>Your details</h2>
        <p>
          Booking as <strong>${c ? `${c.givenName} ${c.familyName}` : ''}</strong>${c ? markup` (${c.email})` : null}.
        </p>
        <input type="hidden" name="givenName" value="${c?.givenName ?? ''}" />
        <input type="hidden" name="familyName" value="${c?.familyName ?? ''}" />
        <input type="hidden" name="email" value="${c?.email ?? ''}" />`;
  return markup`${progress(2)}
    <h1>${view.title}</h1>
    ${alertBox(error)}
    <div class="columns">
      <form class="card form" method="post" action="${ctx.pagePath}/details" novalidate>
        ${csrfField(ctx)} ${form}
        <button class="button" type="submit">${paid ? 'Continue to payment' : 'Continue'}</button>
      </form>
      ${summary(view)}
    </div>`;
}

function cardFields(): SafeHtml {
  return markup`<div class="field">
      <label for="cardName">Name on card</label>
      <input id="cardName" name="cardName" type="text" autocomplete="cc-name" maxlength="200" required />
    </div>
    <div class="field">
      <label for="cardNumber">Card number</label>
      <input
        id="cardNumber"
        name="cardNumber"
        type="text"
        inputmode="numeric"
        autocomplete="cc-number"
        maxlength="23"
        required
      />
    </div>
    <div class="field-row">
      <div class="field">
        <label for="cardExpiry">Expiry date <span class="hint">(MM/YY)</span></label>
        <input
          id="cardExpiry"
          name="cardExpiry"
          type="text"
          inputmode="numeric"
          autocomplete="cc-exp"
          maxlength="7"
          placeholder="MM/YY"
          required
        />
      </div>
      <div class="field">
        <label for="cardCvc">Security code <span class="hint">(CVC)</span></label>
        <input
          id="cardCvc"
          name="cardCvc"
          type="text"
          inputmode="numeric"
          autocomplete="cc-csc"
          maxlength="4"
          required
        />
      </div>
    </div>`;
}

function payStep(view: CheckoutView, ctx: StepContext): { content: SafeHtml; stripe: boolean; refresh: boolean } {
  const error = ctx.flash ?? view.problem?.message;
  const amount = view.total?.amount ?? 0;
  const c = view.customer;
  const who = c ? markup`<p>Booking as <strong>${c.givenName} ${c.familyName}</strong> (${c.email}).</p>` : null;
  const head = markup`${progress(2)}
    <h1>${view.title}</h1>
    ${alertBox(error)}`;
  const action = `${ctx.pagePath}/pay`;
  if (amount <= 0) {
    return {
      stripe: false,
      refresh: false,
      content: markup`${head}
        <div class="columns">
          <form class="card form" method="post" action="${action}">
            ${csrfField(ctx)}
            <h2>Confirm your booking</h2>
            ${who}
            <p>This booking is free: no payment is needed.</p>
            <button class="button" type="submit">Confirm booking</button>
          </form>
          ${summary(view)}
        </div>`,
    };
  }
  const payment = view.payment;
  if (!payment) {
    // A payment for this session is being processed (another tab, or a retry in flight).
    return {
      stripe: false,
      refresh: true,
      content: markup`${head}
        <div class="card" role="status">
          <h2>Processing your payment</h2>
          <p>Please wait: this page refreshes by itself.</p>
        </div>`,
    };
  }
  if (payment.kind === 'stripe') {
    return {
      stripe: true,
      refresh: false,
      content: markup`${head}
        <div class="columns">
          <form
            class="card form"
            id="stripe-form"
            method="post"
            action="${action}"
            data-publishable-key="${payment.publishableKey}"
            data-client-secret="${payment.clientSecret}"
          >
            ${csrfField(ctx)}
            <input type="hidden" name="providerReference" value="${payment.providerReference}" />
            <h2>Payment</h2>
            ${who}
            <div class="field">
              <label for="cardName">Name on card</label>
              <input id="cardName" name="cardName" type="text" autocomplete="cc-name" maxlength="200" required />
            </div>
            <div class="field">
              <span class="label" id="card-label">Card details</span>
              <div id="card-element" class="stripe-element" role="group" aria-labelledby="card-label"></div>
              <div id="card-errors" class="field-error" role="alert" aria-live="assertive"></div>
            </div>
            <button class="button" type="submit">Pay ${view.total?.text ?? ''}</button>
          </form>
          ${summary(view)}
        </div>`,
    };
  }
  return {
    stripe: false,
    refresh: false,
    content: markup`${head}
      <div class="columns">
        <form class="card form" method="post" action="${action}" novalidate>
          ${csrfField(ctx)}
          <h2>Payment</h2>
          ${who} ${cardFields()}
          <button class="button" type="submit">Pay ${view.total?.text ?? ''}</button>
          <p class="small">Your card is authorised now and charged once the venue confirms your place.</p>
        </form>
        ${summary(view)}
      </div>`,
  };
}

// ---- step (c): confirmation --------------------------------------------------------------------

function confirmedStep(view: CheckoutView, ctx: StepContext): SafeHtml {
  const order = view.order;
  const links = view.navigationLinks.flatMap((l) => {
    const url = safeUrl(l.url);
    return url ? [{ name: l.name, url }] : [];
  });
  return markup`${progress(3)}
    <h1>Booking confirmed</h1>
    <div class="card confirmation" role="status">
      <p class="lead">
        Thank you${view.customer ? `, ${view.customer.givenName}` : ''}. You are booked on
        <strong>${view.title}</strong>.
      </p>
      ${
        order
          ? markup`<p>
                Booking reference: <strong class="reference" id="booking-reference">${order.orderNumber}</strong>
              </p>
              ${
                ctx.barcodeDataUrl
                  ? markup`<figure class="barcode">
                      <img
                        src="${ctx.barcodeDataUrl}"
                        alt="Entry barcode for booking ${order.orderNumber}"
                        width="200"
                        height="200"
                      />
                      <figcaption>
                        Show this code when you arrive: <span class="barcode__value">${order.barcode}</span>
                      </figcaption>
                    </figure>`
                  : null
              }
              <p>We have sent a confirmation email to <strong>${order.emailSentTo}</strong>.</p>`
          : markup`<p>Your booking is confirmed. The confirmation email has your booking reference.</p>`
      }
    </div>
    ${
      order
        ? markup`<section class="card" aria-labelledby="items-heading">
            <h2 id="items-heading">What you booked</h2>
            <ul class="items">
              ${order.items.map(
                (i) =>
                  markup`<li>
                    <span class="items__name">${i.name}</span>
                    <time datetime="${isoOrNull(i.startDate)}">${when(i.startDate)}</time>
                    ${i.attendeeName ? markup`<span>for ${i.attendeeName}</span>` : null}
                    <span class="price">${i.priceText}</span>
                  </li>`,
              )}
            </ul>
            <p class="summary__total">Total: <strong>${order.totalText}</strong></p>
          </section>`
        : null
    }
    ${
      links.length
        ? markup`<nav class="back-links" aria-label="Where next">
            ${links.map((l) => markup`<a class="button button--secondary" href="${l.url}">${l.name}</a>`)}
          </nav>`
        : null
    }`;
}

// ---- problem pages that are a session's state ------------------------------------------------

function problemContent(view: CheckoutView, heading: string, message: string): SafeHtml {
  const back = view.navigationLinks.map((l) => ({ name: l.name, url: safeUrl(l.url) })).find((l) => l.url);
  const brokerUrl = back?.url ?? safeUrl(view.branding.url);
  return markup`<h1>${heading}</h1>
    <div class="card" role="alert">
      <p>${message}</p>
    </div>
    ${brokerUrl ? markup`<p><a class="button button--secondary" href="${brokerUrl}">${back?.name ?? `Back to ${view.branding.name}`}</a></p>` : null}`;
}

/** The page for a session in its current step. */
export function renderCheckoutPage(view: CheckoutView, ctx: StepContext): RenderedPage {
  const page = (status: number, title: string, content: SafeHtml, extra: Partial<PageShell> = {}): RenderedPage => ({
    status,
    body: layout(shellFor(view, ctx, title, extra), content).value,
    stripe: extra.stripe ?? false,
  });
  if (view.step === 'expired' || view.problem?.code === 'expired') {
    return page(
      410,
      'Checkout expired',
      problemContent(
        view,
        'This checkout has expired',
        view.problem?.message ??
          'Checkouts are kept for 24 hours. Nothing was booked and no money was taken. Please start again from the booking page.',
      ),
    );
  }
  if (view.step === 'failed' || (view.problem?.code === 'full' && view.step !== 'confirmed')) {
    const full = view.problem?.code === 'full';
    return page(
      409,
      full ? 'Sorry, this is full' : 'Booking not possible',
      problemContent(
        view,
        full ? `Sorry, ${view.title} is now full` : 'We could not complete this booking',
        full
          ? 'All places have been taken since you started. Nothing was booked and no money was taken.'
          : (view.problem?.message ?? 'This can no longer be booked. No money was taken.'),
      ),
    );
  }
  switch (view.step) {
    case 'choose':
      return page(200, `Book ${view.title}`, chooseStep(view, ctx));
    case 'details':
      return page(200, `Your details – ${view.title}`, detailsStep(view, ctx));
    case 'pay': {
      const { content, stripe, refresh } = payStep(view, ctx);
      return page(200, `Payment – ${view.title}`, content, { stripe, ...(refresh ? { refreshSeconds: 3 } : {}) });
    }
    case 'confirmed':
      return page(200, `Booking confirmed – ${view.title}`, confirmedStep(view, ctx));
  }
}
