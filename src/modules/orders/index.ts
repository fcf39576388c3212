export { createOrdersService, ORDER_ITEM_CONFIRMED, ORDER_ITEM_PENDING, ORDER_ITEM_FAILED } from './orders.service.js';
export type { OrdersService, PendingOrderInput, ConfirmInput } from './orders.service.js';
export type { CustomerSnapshot, OrderStatus, OrderStage } from './orders.tables.js';
