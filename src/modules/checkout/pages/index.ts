export { checkoutPagesRoutes } from './pages.routes.js';
export type { CheckoutPagesOptions, CheckoutPagesService } from './pages.routes.js';
