import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The checkout's static files, read once at start-up and served with a content-hash version. */
export interface StaticAsset {
  body: string;
  contentType: string;
  version: string;
}

function asset(body: string, contentType: string): StaticAsset {
  return { body, contentType, version: createHash('sha256').update(body).digest('hex').slice(0, 12) };
}

/**
 * Stripe Elements, loaded only on a payment page whose PaymentForm is 'stripe': mounts the card
 * field, confirms the PaymentIntent (manual capture, so it ends in requires_capture) and then
 * posts the form with the PaymentIntent id for our server to authorise against.
 */
const STRIPE_CHECKOUT_JS = `(function () {
  'use strict';
  var form = document.getElementById('stripe-form');
  if (!form || typeof window.Stripe !== 'function') return;
  var stripe = window.Stripe(form.getAttribute('data-publishable-key'));
  var card = stripe.elements().create('card', { hidePostalCode: true });
  card.mount('#card-element');
  var errors = document.getElementById('card-errors');
  var button = form.querySelector('button[type="submit"]');
  var busy = false;
  card.on('change', function (event) {
    errors.textContent = event.error ? event.error.message : '';
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (busy) return;
    busy = true;
    button.disabled = true;
    var name = document.getElementById('cardName').value;
    stripe
      .confirmCardPayment(form.getAttribute('data-client-secret'), {
        payment_method: { card: card, billing_details: { name: name } },
      })
      .then(function (result) {
        if (result.error) {
          errors.textContent = result.error.message || 'Your card could not be authorised.';
          busy = false;
          button.disabled = false;
          return;
        }
        form.submit();
      });
  });
})();
`;

export const ASSETS = {
  css: asset(readFileSync(new URL('./checkout.css', import.meta.url), 'utf8'), 'text/css; charset=utf-8'),
  stripeJs: asset(STRIPE_CHECKOUT_JS, 'text/javascript; charset=utf-8'),
};

export const ASSET_PATHS = {
  css: `/checkout/_assets/checkout.css?v=${ASSETS.css.version}`,
  stripeJs: `/checkout/_assets/stripe-checkout.js?v=${ASSETS.stripeJs.version}`,
};
