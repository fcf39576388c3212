/**
 * The one error type. Services throw `AppError(code, description)`; the error handler turns it
 * into an OpenActive error object (DECISIONS §3). Codes are a closed set: each maps to exactly one
 * HTTP status, one OpenActive `@type` and a short human title.
 */
export const ERROR_CODES = {
  BAD_REQUEST: { status: 400, type: 'BadRequestError', name: 'The request is invalid' },
  UPDATE_FAILED: { status: 400, type: 'UpdateFailedError', name: 'The update could not be applied' },
  // Checkout: why an opportunity cannot be booked (OpenActive names, DECISIONS §5).
  UNKNOWN_OPPORTUNITY: { status: 400, type: 'UnknownOpportunityError', name: 'Unknown opportunity' },
  UNKNOWN_OFFER: { status: 400, type: 'UnknownOfferError', name: 'Unknown offer' },
  OPPORTUNITY_FULL: { status: 400, type: 'OpportunityIsFullError', name: 'The opportunity is full' },
  OPPORTUNITY_NOT_BOOKABLE: {
    status: 400,
    type: 'OpportunityOfferPairNotBookableError',
    name: 'The opportunity cannot be booked',
  },
  // Orders: customer cancellation (OpenActive names, openactive.md §1.11).
  CANCELLATION_NOT_PERMITTED: {
    status: 400,
    type: 'CancellationNotPermittedError',
    name: 'The item cannot be cancelled',
  },
  UNKNOWN_ORDER_ITEM: { status: 400, type: 'OrderItemNotWithinOrderError', name: 'The item is not in this order' },
  PATCH_EXCESSIVE_PROPERTIES: {
    status: 400,
    type: 'PatchContainsExcessivePropertiesError',
    name: 'The cancellation changes more than the item status',
  },
  PATCH_NOT_ALLOWED_ON_PROPERTY: {
    status: 400,
    type: 'PatchNotAllowedOnPropertyError',
    name: 'The item status can only be changed to CustomerCancelled',
  },
  UNAUTHENTICATED: { status: 401, type: 'UnauthenticatedError', name: 'An API key is required' },
  INVALID_API_TOKEN: { status: 401, type: 'InvalidAPITokenError', name: 'The API key is not valid' },
  FORBIDDEN: { status: 403, type: 'ForbiddenError', name: 'The API key does not grant access to this' },
  NOT_FOUND: { status: 404, type: 'NotFoundError', name: 'Not found' },
  UNKNOWN_ORDER: { status: 404, type: 'UnknownOrderError', name: 'Unknown order' },
  UNKNOWN_ENDPOINT: {
    status: 404,
    type: 'UnknownOrIncorrectEndpointError',
    name: 'There is no endpoint at this path',
  },
  METHOD_NOT_ALLOWED: { status: 405, type: 'MethodNotAllowedError', name: 'Method not allowed' },
  NOT_ACCEPTABLE: { status: 406, type: 'NotAcceptableError', name: 'No acceptable representation' },
  CONFLICT: { status: 409, type: 'ConflictError', name: 'The request conflicts with the current state' },
  // An `@id` more than one publisher publishes, asked for without naming one (docs/search.md).
  AMBIGUOUS_IDENTIFIER: {
    status: 409,
    type: 'AmbiguousIdentifierError',
    name: 'More than one data source publishes this identifier',
  },
  GONE: { status: 410, type: 'GoneError', name: 'No longer available' },
  PAYLOAD_TOO_LARGE: { status: 413, type: 'PayloadTooLargeError', name: 'The request body is too large' },
  URI_TOO_LONG: { status: 414, type: 'URITooLongError', name: 'The request URL is too long' },
  HEADERS_TOO_LARGE: {
    status: 431,
    type: 'RequestHeaderFieldsTooLargeError',
    name: 'The request URL and headers are too large',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    type: 'UnsupportedMediaTypeError',
    name: 'The request body has an unsupported content type',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    type: 'IdempotencyKeyReusedError',
    name: 'The Idempotency-Key was already used for a different request',
  },
  TOO_MANY_REQUESTS: { status: 429, type: 'TooManyRequestsError', name: 'Too many requests' },
  INTERNAL: { status: 500, type: 'InternalApplicationError', name: 'Internal error' },
  SERVICE_UNAVAILABLE: {
    status: 503,
    type: 'ServiceUnavailableError',
    name: 'The service is temporarily unavailable',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  /** JSON pointer into the request part, e.g. `/customer/email`. */
  path: string;
  message: string;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly fieldErrors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    description: string,
    details: { fieldErrors?: FieldError[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(description, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'AppError';
    this.code = code;
    this.fieldErrors = details.fieldErrors;
    this.headers = details.headers;
  }

  get statusCode(): number {
    return ERROR_CODES[this.code].status;
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/**
 * Postgres errors that bad input can cause, translated once here so repositories never catch.
 * Anything else stays an internal error.
 */
export function translateDatabaseError(error: unknown): AppError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return undefined;
  switch (code) {
    case '23505':
      return new AppError('CONFLICT', 'A resource with the same unique value already exists.', { cause: error });
    case '23503':
      return new AppError('CONFLICT', 'The request refers to a resource that does not exist or is still in use.', {
        cause: error,
      });
    case '22001':
      return new AppError('BAD_REQUEST', 'A value is longer than allowed.', { cause: error });
    case '22021':
    case '22P05':
      // NUL characters or unpaired surrogates; request validation normally catches them first.
      return new AppError('BAD_REQUEST', 'A value contains characters that cannot be stored.', { cause: error });
    case '22P02':
    case '22007':
    case '22008':
    case '22003':
    case '22023':
      return new AppError('BAD_REQUEST', 'A value is not in the expected format or range.', { cause: error });
    default:
      return undefined;
  }
}
