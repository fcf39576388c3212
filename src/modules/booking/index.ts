export { createBookingService } from './booking.service.js';
export type { BookingService, CredentialsInput } from './booking.service.js';
export type { BookingClient } from './booking.client.js';
export { BookingError, isBookingError } from './booking.errors.js';
export type { BookingProblem, BookingProblemCode } from './booking.errors.js';
export type {
  BookedOrder,
  BookedOrderItem,
  BookInput,
  BookingTarget,
  Quote,
  QuotedItem,
  QuoteInput,
  QuoteItem,
} from './order-requests.js';
export { bookingRoutes } from './booking.routes.js';
