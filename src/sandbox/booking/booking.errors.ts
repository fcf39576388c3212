import { OpenActiveError } from '../errors.js';

/**
 * HTTP status of each Open Booking API error the sandbox returns, as @openactive/data-models
 * fixes it (`statusCode.requiredContent` of each *Error model; openactive.md §1.7).
 */
const STATUS = {
  CancellationNotPermittedError: 400,
  IncompleteAttendeeDetailsError: 409,
  IncompleteBrokerDetailsError: 400,
  IncompleteCustomerDetailsError: 400,
  IncompleteOrderItemError: 409,
  IncompletePaymentDetailsError: 400,
  InvalidAPITokenError: 401,
  InvalidAuthorizationDetailsError: 401,
  InvalidOpportunityOrOfferIdError: 409,
  MissingPaymentDetailsError: 400,
  OpportunityCapacityIsReservedByLeaseError: 409,
  OpportunityHasInsufficientCapacityError: 409,
  OpportunityIsFullError: 409,
  OpportunityOfferPairNotBookableError: 409,
  OrderAlreadyExistsError: 500,
  OrderItemIdInvalidError: 500,
  OrderItemNotWithinOrderError: 500,
  PatchContainsExcessivePropertiesError: 400,
  PatchNotAllowedOnPropertyError: 400,
  SellerMismatchError: 500,
  SellerNotFoundError: 500,
  TotalPaymentDueMismatchError: 400,
  UnexpectedOrderTypeError: 500,
  UnknownOfferError: 409,
  UnknownOpportunityError: 409,
  UnknownOrderError: 404,
  UnnecessaryPaymentDetailsError: 400,
  BadRequestError: 400,
  NotFoundError: 404,
} as const;

export type BookingErrorType = keyof typeof STATUS;

/** An order-level error: the whole response is this error object with its status code. */
export function bookingError(type: BookingErrorType, description: string): OpenActiveError {
  const statusCode = STATUS[type];
  return new OpenActiveError(type, statusCode, description, { statusCode });
}

/** An OrderItem-level error, carried in `orderedItem[].error` of a 409 response (§1.7). */
export interface ItemError {
  '@type': BookingErrorType;
  description: string;
}

export const itemError = (type: BookingErrorType, description: string): ItemError => ({ '@type': type, description });
