import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  ERROR_CODES,
  isAppError,
  translateDatabaseError,
  type ErrorCode,
  type FieldError,
} from './errors.js';
import { toFieldErrors } from './validation.js';

import { OPENACTIVE_CONTEXT } from './jsonld.js';

export interface ErrorBody {
  '@context': string;
  '@type': string;
  name: string;
  description: string;
  statusCode: number;
  instance: string;
  'activehub:fieldErrors'?: FieldError[];
}

export function errorBody(error: AppError, requestId: string): ErrorBody {
  const def = ERROR_CODES[error.code];
  const body: ErrorBody = {
    '@context': OPENACTIVE_CONTEXT,
    '@type': def.type,
    name: def.name,
    description: error.message,
    statusCode: def.status,
    instance: requestId,
  };
  if (error.fieldErrors?.length) body['activehub:fieldErrors'] = error.fieldErrors;
  return body;
}

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_REQUEST',
  FST_ERR_CTP_INVALID_TYPE: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_ASYNC_CONSTRAINT: 'BAD_REQUEST',
};

const partNames: Record<string, string> = {
  body: 'request body',
  querystring: 'query string',
  params: 'path',
  headers: 'headers',
};

/** Maps anything thrown while handling a request to an AppError. */
export function normaliseError(error: unknown): AppError {
  if (isAppError(error)) return error;
  const fe = error as FastifyError & { validationContext?: string };
  if (fe?.validation) {
    const context = fe.validationContext ?? 'body';
    const fieldErrors = toFieldErrors(fe.validation as never);
    const summary = fieldErrors
      .slice(0, 3)
      .map((f) => `${f.path} ${f.message}`)
      .join('; ');
    return new AppError(
      'BAD_REQUEST',
      `The ${partNames[context] ?? context} is invalid: ${summary}${fieldErrors.length > 3 ? ` (and ${fieldErrors.length - 3} more)` : ''}.`,
      {
        fieldErrors: fieldErrors.map((f) =>
          context === 'querystring' ? { ...f, path: f.path.replace(/^\//, '') } : f,
        ),
      },
    );
  }
  if (fe?.code && fastifyCodes[fe.code]) {
    const code = fastifyCodes[fe.code]!;
    const description =
      fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
        ? 'The request body is not valid JSON.'
        : fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? 'The request body is larger than the 1 MB limit.'
          : fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
            ? 'Send the request body as application/json.'
            : fe.message;
    return new AppError(code, description, { cause: error });
  }
  if (error instanceof SyntaxError && (error as FastifyError).statusCode === 400) {
    return new AppError('BAD_REQUEST', 'The request body is not valid JSON.', { cause: error });
  }
  const translated = translateDatabaseError(error);
  if (translated) return translated;
  const status = fe?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const match = (Object.keys(ERROR_CODES) as ErrorCode[]).find((c) => ERROR_CODES[c].status === status);
    if (match) return new AppError(match, fe.message, { cause: error });
    return new AppError('BAD_REQUEST', fe.message, { cause: error });
  }
  return new AppError(
    'INTERNAL',
    'Something went wrong on our side. Try again later; if it persists, quote the instance id.',
    {
      cause: error,
    },
  );
}

export async function sendError(request: FastifyRequest, reply: FastifyReply, error: AppError): Promise<void> {
  // Set here as well as in the onRequest hook: framework errors are answered before hooks run.
  void reply.header('x-request-id', request.id);
  if (error.headers) void reply.headers(error.headers);
  await reply.code(error.statusCode).type('application/json; charset=utf-8').send(errorBody(error, request.id));
}

/**
 * Fastify's `frameworkErrors` option: errors raised while routing, before any hook runs (a URL
 * with broken percent-encoding, an over-long path parameter). Without it Fastify answers these
 * with its own body shape and no request id.
 */
export function handleFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const appError = normaliseError(error);
  request.log.info({ code: appError.code, description: appError.message }, 'request rejected');
  void sendError(request, reply, appError);
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused before Fastify saw it —
 * above all a request line and headers over Node's 16 KB limit (a URL far over the 2,048
 * characters the router answers 414 for), or a malformed request. Without it Fastify answers with
 * its own body shape and no request id. The connection is closed after the answer.
 */
export function handleClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const appError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError(
          'HEADERS_TOO_LARGE',
          'The request URL and headers together are over 16 KB. URLs are limited to 2,048 characters.',
        )
      : new AppError('BAD_REQUEST', 'The request is not valid HTTP.');
  const id = randomUUID();
  const body = JSON.stringify(errorBody(appError, id));
  socket.end(
    `HTTP/1.1 ${appError.statusCode} ${STATUS_CODES[appError.statusCode] ?? ''}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export function registerErrorHandling(app: FastifyInstance, findAllowedMethods: (url: string) => string[]): void {
  app.setErrorHandler(async (error, request, reply) => {
    const appError = normaliseError(error);
    if (appError.statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
    } else {
      request.log.info({ code: appError.code, description: appError.message }, 'request rejected');
    }
    await sendError(request, reply, appError);
  });

  app.setNotFoundHandler(async (request, reply) => {
    const allowed = findAllowedMethods(request.url);
    if (allowed.length > 0) {
      const error = new AppError(
        'METHOD_NOT_ALLOWED',
        `${request.method} is not supported at this path. Allowed: ${allowed.join(', ')}.`,
        { headers: { allow: allowed.join(', ') } },
      );
      await sendError(request, reply, error);
      return;
    }
    await sendError(request, reply, unknownEndpoint(request));
  });
}

/** The answer for a path with no route; also given by routes that must not reveal themselves. */
export function unknownEndpoint(request: FastifyRequest): AppError {
  return new AppError(
    'UNKNOWN_ENDPOINT',
    `There is no ${request.method} endpoint at ${request.url.split('?')[0]}. See /docs.`,
  );
}
