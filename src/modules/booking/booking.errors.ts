/*
 * What a seller's Open Booking API errors mean for the customer (openactive.md §1.7). Every
 * OpenActive error `@type` maps to one of a few problem codes the checkout can act on, each with
 * a message safe to show to a customer: the seller's own `description` is written for
 * developers and is shown only where the spec says it is customer-facing
 * (`CancellationNotPermittedError`).
 */

export type BookingProblemCode =
  | 'full'
  | 'unknown_opportunity'
  | 'unknown_offer'
  | 'not_bookable'
  | 'not_within_window'
  | 'seller_unavailable'
  | 'seller_rejected'
  | 'incomplete_customer'
  | 'order_exists'
  | 'invalid_credentials';

export interface BookingProblem {
  code: BookingProblemCode;
  /** The OpenActive error `@type` the seller answered with, when there was one. */
  openActiveType?: string;
  /** Safe to show to the customer. */
  message: string;
}

/** A whole-request failure of an Open Booking API call: an error response, a timeout, a network failure. */
export class BookingError extends Error {
  readonly problem: BookingProblem;
  readonly status?: number;
  /** True when the same request (same UUID) may succeed later: timeouts, network, 429/5xx. */
  readonly retryable: boolean;
  /** B with item-level errors: the problem of each item, in request order. */
  readonly itemProblems?: BookingProblem[][];

  constructor(
    problem: BookingProblem,
    options: { status?: number; retryable: boolean; detail?: string; itemProblems?: BookingProblem[][] },
  ) {
    super(options.detail ? `${problem.message} (${options.detail})` : problem.message);
    this.name = 'BookingError';
    this.problem = problem;
    if (options.status !== undefined) this.status = options.status;
    this.retryable = options.retryable;
    if (options.itemProblems) this.itemProblems = options.itemProblems;
  }
}

export const isBookingError = (err: unknown): err is BookingError => err instanceof BookingError;

export const MESSAGES: Record<BookingProblemCode, string> = {
  full: 'Sorry, this activity is now full.',
  unknown_opportunity: 'Sorry, this activity is no longer available.',
  unknown_offer: 'Sorry, this ticket type is no longer available for this activity.',
  not_bookable: 'Sorry, this activity cannot be booked online at the moment.',
  not_within_window: 'Sorry, bookings for this activity are not open at the moment.',
  seller_unavailable:
    "The organiser's booking system is not responding at the moment. Nothing has been booked; please try again in a few minutes.",
  seller_rejected: 'Sorry, the organiser could not accept this booking. Nothing has been booked.',
  incomplete_customer: 'Please check your details: the organiser needs a name and email address for each booking.',
  order_exists: 'This booking has already been made with different details. Please start again.',
  invalid_credentials: 'Sorry, this activity cannot be booked online at the moment.',
};

/** OpenActive error `@type` → problem code. Anything not listed is `seller_rejected` (4xx) or `seller_unavailable` (5xx). */
const CODES: Record<string, BookingProblemCode> = {
  OpportunityIsFullError: 'full',
  OpportunityHasInsufficientCapacityError: 'full',
  OpportunityCapacityIsReservedByLeaseError: 'full',
  UnknownOpportunityError: 'unknown_opportunity',
  InvalidOpportunityOrOfferIdError: 'unknown_opportunity',
  UnknownOfferError: 'unknown_offer',
  UnacceptableOfferError: 'unknown_offer',
  OpportunityOfferPairNotBookableError: 'not_bookable',
  SellerNotFoundError: 'not_bookable',
  SellerMismatchError: 'not_bookable',
  UnknownOrIncorrectEndpointError: 'not_bookable',
  IncompleteCustomerDetailsError: 'incomplete_customer',
  IncompleteAttendeeDetailsError: 'incomplete_customer',
  OrderAlreadyExistsError: 'order_exists',
  // 500s that describe the request itself: repeating it cannot succeed.
  OrderItemIdInvalidError: 'seller_rejected',
  OrderItemNotWithinOrderError: 'seller_rejected',
  UnexpectedOrderTypeError: 'seller_rejected',
  OrderCreationFailedError: 'seller_rejected',
  OrderProposalVersionOutdatedError: 'seller_rejected',
  InvalidAPITokenError: 'invalid_credentials',
  InvalidAuthorizationDetailsError: 'invalid_credentials',
  UnauthenticatedError: 'invalid_credentials',
  NoAPITokenError: 'invalid_credentials',
  TemporarilyUnableToProduceOrderQuoteError: 'seller_unavailable',
  TemporarilyUnableToCreateOrderError: 'seller_unavailable',
  TemporarilyUnableToUpdateOrderError: 'seller_unavailable',
  TemporarilyUnableToDeleteOrderError: 'seller_unavailable',
  TooManyRequestsError: 'seller_unavailable',
  InternalOpenBookingError: 'seller_unavailable',
  InternalApplicationError: 'seller_unavailable',
  InternalLibraryError: 'seller_unavailable',
  InternalLibraryConfigurationError: 'seller_unavailable',
};

/** Errors whose `description` the spec makes customer-facing. */
const CUSTOMER_FACING = new Set(['CancellationNotPermittedError']);

/** Booking windows: the one kind of "not bookable" a customer can do something about (come back later). */
const WINDOW =
  /\b(booked from|bookings? (?:for this offer )?(?:has |have )?(?:closed|opens?)|booking window|not yet open)\b/i;

/** The problem an OpenActive error object (order-level or item-level) stands for. */
export function problemOf(type: string | undefined, description?: string, status?: number): BookingProblem {
  let code: BookingProblemCode =
    (type ? CODES[type] : undefined) ??
    (status !== undefined && status >= 500 ? 'seller_unavailable' : 'seller_rejected');
  if (
    code === 'not_bookable' &&
    type === 'OpportunityOfferPairNotBookableError' &&
    description &&
    WINDOW.test(description)
  ) {
    code = 'not_within_window';
  }
  const message =
    type && CUSTOMER_FACING.has(type) && description && description.trim() ? description.trim() : MESSAGES[code];
  return { code, ...(type ? { openActiveType: type } : {}), message };
}

/**
 * Whether the same request may succeed if repeated: 429 and 5xx, except the 500s that say
 * the request itself is wrong (an order already exists, an unknown seller, a wrong type).
 */
export function isRetryable(problem: BookingProblem, status: number | undefined): boolean {
  if (status === undefined) return true;
  if (status === 429) return true;
  if (status < 500) return false;
  return problem.code === 'seller_unavailable';
}

export function problemFor(code: BookingProblemCode, openActiveType?: string): BookingProblem {
  return { code, ...(openActiveType ? { openActiveType } : {}), message: MESSAGES[code] };
}
