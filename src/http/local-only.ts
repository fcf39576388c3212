import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A route only this machine may see (checked by its plugin with `isLocalRequest`). It is
     * left out of the app's 405 answers, whose Allow header would reveal it to anyone else.
     */
    localOnly?: boolean;
  }
}

/**
 * Headers a proxy adds when it passes a request on. A request that carries any of them came
 * through a proxy, so the loopback peer says nothing about where it started.
 */
const FORWARDING_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'via',
];

const isLoopbackAddress = (ip: string | undefined): boolean =>
  ip !== undefined && (ip === '::1' || /^(::ffff:)?127\./.test(ip));

/**
 * Whether the request was made on this machine: its TCP peer is a loopback address and it
 * carries no forwarding header. A reverse proxy on the same host connects from loopback too, but
 * it adds such headers (and a proxy that adds none must not be put in front of local-only pages:
 * README). The socket address is read, never `request.ip`, which trusting a proxy may rewrite.
 */
export function isLocalRequest(request: FastifyRequest): boolean {
  if (!isLoopbackAddress(request.socket.remoteAddress)) return false;
  return FORWARDING_HEADERS.every((h) => request.headers[h] === undefined);
}
