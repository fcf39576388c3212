export { createOrdersService, ORDER_ITEM_CONFIRMED, ORDER_ITEM_PENDING, ORDER_ITEM_FAILED } from './orders.service.js';
export type { OrdersService, PendingOrderInput, ConfirmInput } from './orders.service.js';
export type { CustomerSnapshot, OrderStatus, OrderStage } from './orders.tables.js';
// Orders API (issue 7): history, order by id, upcoming items, cancellation, receipts, Orders feeds.
export { createOrdersApi, REFUND_JOB } from './orders-api.service.js';
export type { OrdersApi, OrdersApiDeps, SellerOrderUpdate } from './orders-api.service.js';
export { createOrdersFeedReader, createOrdersFeedScheduler, ORDERS_FEED_JOB } from './orders-feed.js';
export type { OrdersFeedReader, FeedRun } from './orders-feed.js';
export { orderFeedsAdminRoutes, ordersRoutes } from './orders.routes.js';
export { isPresentlyCancellable, cancellationDeadline } from './cancellation.js';
