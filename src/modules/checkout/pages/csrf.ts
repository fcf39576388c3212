import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * CSRF tokens for the checkout forms: an HMAC of the broker and session id under a secret made
 * when the process starts (never stored, never in the repo). Every form of a session carries the
 * token; a page from another origin cannot read it, so it cannot forge a post. A restart makes
 * open pages' tokens stale: the customer reloads the page (the 403 page says so).
 */
export interface Csrf {
  token(brokerSlug: string, sessionId: string): string;
  verify(brokerSlug: string, sessionId: string, token: unknown): boolean;
}

export function createCsrf(secret: Buffer = randomBytes(32)): Csrf {
  if (secret.length < 32) throw new Error('The CSRF secret must be at least 32 bytes.');
  const mac = (brokerSlug: string, sessionId: string) =>
    createHmac('sha256', secret).update(`checkout-form\0${brokerSlug}\0${sessionId}`).digest();
  return {
    token: (brokerSlug, sessionId) => mac(brokerSlug, sessionId).toString('base64url'),
    verify(brokerSlug, sessionId, token) {
      if (typeof token !== 'string' || token.length !== 43 || !/^[A-Za-z0-9_-]+$/.test(token)) return false;
      const given = Buffer.from(token, 'base64url');
      const expected = mac(brokerSlug, sessionId);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/**
 * Browsers say where a request comes from (`Sec-Fetch-Site`): a cross-site form post is refused
 * before the token is looked at. (Origin is not compared with Host: behind a proxy they differ.)
 */
export function isCrossSite(headers: Record<string, string | string[] | undefined>): boolean {
  return headers['sec-fetch-site'] === 'cross-site';
}
