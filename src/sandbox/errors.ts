import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { toFieldErrors } from '../http/validation.js';

export const OPENACTIVE_CONTEXT = 'https://openactive.io/';
export const BOOKING_MEDIA_TYPE = 'application/vnd.openactive.booking+json; version=1';
export const OPEN_BOOKING_PREFIX = '/api/openbooking';

/**
 * The sandbox's one error type: an OpenActive error object (Open Booking API §1.7 in
 * openactive.md). `type` is the OpenActive `@type` (e.g. `OpportunityIsFullError`), sent with
 * `statusCode`. `extra` properties are merged into the body. It is separate from the platform's
 * AppError on purpose: the sandbox stands in for a third-party system.
 */
export class OpenActiveError extends Error {
  constructor(
    readonly type: string,
    readonly statusCode: number,
    description: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(description);
    this.name = 'OpenActiveError';
  }

  body(): Record<string, unknown> {
    return {
      '@context': OPENACTIVE_CONTEXT,
      '@type': this.type,
      description: this.message,
      ...this.extra,
    };
  }
}

export const isOpenActiveError = (e: unknown): e is OpenActiveError => e instanceof OpenActiveError;

export const badRequest = (description: string, extra?: Record<string, unknown>) =>
  new OpenActiveError('BadRequestError', 400, description, extra);

export const unknownEndpoint = (method: string, path: string) =>
  new OpenActiveError('UnknownOrIncorrectEndpointError', 404, `There is no ${method} endpoint at ${path}.`);

/** Booking API responses use the OpenActive booking media type; everything else plain JSON. */
export function errorContentType(url: string): string {
  return url.startsWith(OPEN_BOOKING_PREFIX) ? BOOKING_MEDIA_TYPE : 'application/json; charset=utf-8';
}

function normalise(error: unknown): OpenActiveError {
  if (isOpenActiveError(error)) return error;
  const fe = error as FastifyError & { validationContext?: string };
  if (fe?.validation) {
    const fieldErrors = toFieldErrors(fe.validation as never);
    const where = fe.validationContext === 'querystring' ? 'query string' : (fe.validationContext ?? 'request');
    return badRequest(
      `The ${where} is invalid: ${fieldErrors
        .slice(0, 3)
        .map((f) => `${f.path} ${f.message}`)
        .join('; ')}.`,
    );
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const description =
      fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'The request body is not valid JSON.'
        : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? `Send the request body as ${BOOKING_MEDIA_TYPE}.`
          : fe.message;
    return new OpenActiveError('BadRequestError', fe.statusCode, description);
  }
  return new OpenActiveError('InternalApplicationError', 500, 'The booking system failed to handle the request.');
}

export async function sendOpenActiveError(
  request: FastifyRequest,
  reply: FastifyReply,
  error: OpenActiveError,
): Promise<void> {
  await sendJson(reply, error.statusCode, error.body(), errorContentType(request.url));
}

export function registerSandboxErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(async (error, request, reply) => {
    const oa = normalise(error);
    if (oa.statusCode >= 500) request.log.error({ err: error }, 'sandbox request failed');
    await sendOpenActiveError(request, reply, oa);
  });
  // Any unknown path, including under the Open Booking API base, is this error (the test
  // suite's common-error-conditions feature checks it).
  app.setNotFoundHandler(async (request, reply) => {
    await sendOpenActiveError(request, reply, unknownEndpoint(request.method, request.url.split('?')[0] ?? '/'));
  });
}

/**
 * Sends `body` as JSON with `contentType` exactly as given (booking API responses use
 * BOOKING_MEDIA_TYPE). Sent as bytes: given an object or a string, Fastify rewrites the media
 * type's parameters (quotes `version`, adds `charset`), which strict clients compare literally.
 */
export async function sendJson(
  reply: FastifyReply,
  statusCode: number,
  body: unknown,
  contentType: string = BOOKING_MEDIA_TYPE,
): Promise<void> {
  await reply
    .code(statusCode)
    .header('content-type', contentType)
    .send(Buffer.from(JSON.stringify(body)));
}
