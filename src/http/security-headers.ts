import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/*
 * Security headers on every response (issue 14 point 9). A route that sends a page sets its own
 * policy (the hosted checkout pages: a nonce and the broker's image hosts; the dev mailbox); every
 * other answer gets one of the two below, and all get nosniff and no referrer.
 */

/** JSON, text and errors: nothing may load from them, and no page may frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * The one inline `<style>` element Swagger UI renders: inside the SVG logo of its top bar (in
 * swagger-ui-standalone-preset.js). Allowed by its hash; the browser test of /docs fails if an
 * upgrade changes it.
 */
const SWAGGER_LOGO_STYLE = '.logo_small_svg__cls-2{fill:#fff}.logo_small_svg__cls-3{fill:#85ea2d}';
const styleHash = (css: string) => `'sha256-${createHash('sha256').update(css).digest('base64')}'`;

/**
 * Swagger UI at /docs: its scripts, styles, icons and the OpenAPI document it fetches all come
 * from /docs on this origin (no inline script; styles set by script are CSSOM, which CSP allows;
 * icons are data: URIs). Not framed, no plugins, no base or form targets.
 */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  `style-src 'self' ${styleHash(SWAGGER_LOGO_STYLE)}`,
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const DOCS_PATH = /^\/docs(\/|$|\?)/;

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (!reply.hasHeader('x-content-type-options')) void reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('referrer-policy')) void reply.header('referrer-policy', 'no-referrer');
    if (!reply.hasHeader('content-security-policy')) {
      void reply.header('content-security-policy', DOCS_PATH.test(request.url) ? DOCS_CSP : API_CSP);
    }
    return payload;
  });
}
