/*
 * A customer's browser on activehub's hosted checkout pages, without a browser, over real HTTP
 * (for tests against server processes): read each page's form as it stands, post it, follow the
 * 303 to the next page. The payment form gets the sandbox test card.
 */

export const TEST_CARD = {
  cardName: 'Process Test',
  cardNumber: '4242 4242 4242 4242',
  cardExpiry: '12/40',
  cardCvc: '123',
};

const decode = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

const attr = (tag: string, name: string) => {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? decode(m[1]!) : undefined;
};

export interface PageForm {
  action: string;
  fields: URLSearchParams;
  isPayment: boolean;
}

/** The page's first POST form, with the values a browser would send as the page stands. */
export function readForm(html: string, base: string): PageForm | undefined {
  const start = /<form\b[^>]*method="post"[^>]*>/.exec(html);
  if (!start) return undefined;
  const body = html.slice(start.index, html.indexOf('</form>', start.index));
  const fields = new Map<string, string>();
  for (const m of body.matchAll(/<input\b[^>]*>/g)) {
    const tag = m[0];
    const name = attr(tag, 'name');
    if (!name) continue;
    if ((attr(tag, 'type') ?? 'text') === 'radio') {
      if (/\schecked\b/.test(tag) || (!fields.has(name) && !/\sdisabled\b/.test(tag)))
        fields.set(name, attr(tag, 'value') ?? '');
    } else fields.set(name, attr(tag, 'value') ?? '');
  }
  for (const m of body.matchAll(/<select\b[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/select>/g)) {
    const options = [...m[2]!.matchAll(/<option\b[^>]*>/g)].map((o) => o[0]);
    const chosen = options.find((o) => /\sselected\b/.test(o)) ?? options[0];
    if (chosen) fields.set(decode(m[1]!), attr(chosen, 'value') ?? '');
  }
  const isPayment = fields.has('cardNumber');
  if (isPayment) for (const [k, v] of Object.entries(TEST_CARD)) fields.set(k, v);
  return {
    action: new URL(attr(start[0], 'action')!, base).toString(),
    fields: new URLSearchParams([...fields]),
    isPayment,
  };
}

async function getPage(url: string): Promise<string> {
  const res = await fetch(url, { redirect: 'manual' });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

/** Posts a form; the URL of the page it redirects to. */
export async function submitForm(form: PageForm): Promise<string> {
  const res = await fetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.fields.toString(),
    redirect: 'manual',
  });
  const location = res.headers.get('location');
  if (res.status !== 303 || !location) throw new Error(`POST ${form.action}: ${res.status} ${await res.text()}`);
  return new URL(location, form.action).toString();
}

/** Walks the pages from `pageUrl` (choice, details) to the payment form, and returns that form. */
export async function walkToPayment(pageUrl: string): Promise<PageForm> {
  let url = pageUrl;
  for (let step = 0; step < 6; step += 1) {
    const form = readForm(await getPage(url), url);
    if (!form) throw new Error(`no form at ${url}`);
    if (form.isPayment) return form;
    url = await submitForm(form);
  }
  throw new Error(`no payment form after 6 pages from ${pageUrl}`);
}

/** The text of the page a checkout ends on (after payment). */
export async function pageText(url: string): Promise<string> {
  return (await getPage(url)).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

/** A checkout session made through the API by the broker's server; the hosted page's URL. */
export async function createCheckoutSession(
  base: string,
  brokerSlug: string,
  key: string,
  opportunityId: string,
  customer: { email: string; givenName: string; familyName: string },
): Promise<string> {
  const res = await fetch(`${base}/checkout/${brokerSlug}/api/checkout-sessions`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({
      'imin:initialOrder': {
        customer,
        orderedItem: [{ orderedItem: { type: 'ScheduledSession', identifier: opportunityId } }],
      },
    }),
  });
  const body = (await res.json()) as { potentialAction?: { target: string }[] };
  if (res.status !== 201) throw new Error(`checkout session: ${res.status} ${JSON.stringify(body)}`);
  return body.potentialAction![0]!.target;
}

/** A whole paid checkout; the text of the page it ends on. */
export async function checkoutThroughPages(
  base: string,
  brokerSlug: string,
  key: string,
  opportunityId: string,
  customer: { email: string; givenName: string; familyName: string },
): Promise<string> {
  const page = await createCheckoutSession(base, brokerSlug, key, opportunityId, customer);
  return pageText(await submitForm(await walkToPayment(page)));
}
