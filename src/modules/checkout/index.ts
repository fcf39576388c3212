export { createCheckoutService, problemOf } from './checkout.service.js';
export type {
  CheckoutService,
  CheckoutDeps,
  CheckoutView,
  CheckoutStep,
  CheckoutChoice,
  CheckoutBranding,
} from './checkout.service.js';
export { checkoutRoutes } from './checkout.routes.js';
export { checkoutBaseUrl, createCheckoutHosts, hostName, rewriteForHost } from './hosts.js';
export type { CheckoutHosts } from './hosts.js';
export { eraseCheckoutCustomer, exportCheckoutCustomer } from './erasure.js';
export { createRecoveryScheduler, RECOVER_ORDER_JOB, RECOVER_ORDERS_JOB } from './recovery.js';
export type { OrderRecovery, RecoveryOutcome } from './recovery.js';
export type { CardDetails, PaymentForm } from './ports.js';
