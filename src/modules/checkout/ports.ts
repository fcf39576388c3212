import type { BookingService } from '../booking/index.js';
import type { CatalogService } from '../catalog/index.js';
import type { Mailer } from '../notifications/index.js';
import type { PaymentsService } from '../payments/index.js';

/*
 * The parts of payments, booking, notifications and catalog that checkout uses: narrow views of
 * those modules' own types (through their index.ts), so tests and the composition root can pass
 * the real services and the compiler keeps the two sides in step.
 */

export type PaymentsPort = Pick<PaymentsService, 'prepare' | 'authorize' | 'capture' | 'void'>;
export type BookingPort = Pick<BookingService, 'targetFor' | 'c1' | 'c2' | 'book' | 'getOrder'>;
export type MailerPort = Pick<Mailer, 'enqueue'>;
export type CatalogPort = Pick<CatalogService, 'lookupOpportunity'>;

export { isBookingError } from '../booking/index.js';
export type {
  BookedOrder,
  BookInput,
  BookingProblem,
  BookingTarget,
  Quote,
  QuoteInput,
  QuoteItem,
} from '../booking/index.js';
export type { Opportunity } from '../catalog/index.js';
export type { ConfirmationEmailInput, OutgoingEmail } from '../notifications/index.js';
export type { AuthorizeResult, CardDetails, PaymentForm } from '../payments/index.js';
