export { createPaymentsService } from './payments.service.js';
export type { AuthorizeResult, PaymentRecord, PaymentsService } from './payments.service.js';
export type { CardDetails, DeclineCode, PaymentForm } from './provider.js';
export type { PaymentsConfig } from '../../config.js';
