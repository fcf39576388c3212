import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthContext, BrokersService, Product } from '../modules/brokers/index.js';
import { AppError } from './errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The product an API key must grant to call this route; absent = public route. `admin`
     * routes take the operator's ADMIN_API_KEY instead of a broker key.
     */
    product?: Product | 'admin';
    /** Whether a display-only key (browser use) may call this route. */
    displayKeyAllowed?: boolean;
    idempotent?: boolean;
  }
  interface FastifyRequest {
    auth: AuthContext | null;
  }
}

/** The broker behind the request. Only call from routes that declare a `product`. */
export function authOf(request: FastifyRequest): AuthContext {
  if (!request.auth) throw new AppError('UNAUTHENTICATED', 'Send your API key in the X-API-KEY header.');
  return request.auth;
}

/** X-API-KEY → broker, and the product check (DECISIONS §2). */
export function registerAuth(
  app: FastifyInstance,
  brokers: BrokersService,
  adminApiKey: string | undefined,
  options: { onRejectedKey?: (request: FastifyRequest) => Promise<void> } = {},
): void {
  const adminHash = adminApiKey ? createHash('sha256').update(adminApiKey).digest() : null;
  // A key that was sent and refused counts against its address's failure budget (rate-limit.ts).
  const rejected = async (request: FastifyRequest, description: string): Promise<AppError> => {
    await options.onRejectedKey?.(request);
    return new AppError('INVALID_API_TOKEN', description);
  };
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (request) => {
    const product = request.routeOptions.config?.product;
    if (!product) return;
    const header = request.headers['x-api-key'];
    const rawKey = Array.isArray(header) ? header[0] : header;
    if (!rawKey) throw new AppError('UNAUTHENTICATED', 'Send your API key in the X-API-KEY header.');
    if (rawKey.length > 200) throw await rejected(request, 'The API key is unknown or has been revoked.');
    if (product === 'admin') {
      const given = createHash('sha256').update(rawKey).digest();
      if (!adminHash || !timingSafeEqual(given, adminHash)) {
        // A broker key is not an operator key: same answer as an unknown key.
        throw await rejected(request, 'This endpoint needs the operator key (ADMIN_API_KEY).');
      }
      return;
    }
    const auth = await brokers.authenticate(rawKey);
    if (!auth) throw await rejected(request, 'The API key is unknown or has been revoked.');
    if (!auth.products.includes(product)) {
      throw new AppError('FORBIDDEN', `This API key does not grant the "${product}" product.`);
    }
    if (auth.displayOnly && !request.routeOptions.config?.displayKeyAllowed) {
      throw new AppError('FORBIDDEN', 'A display-only API key may only read public search data.');
    }
    request.auth = auth;
  });
}
