export { createBrokersService, hashApiKey, PRODUCTS, DEMO_BROKER } from './brokers.service.js';
export type { AuthContext, BrokersService, BrokerInput, KeyMode, Product } from './brokers.service.js';
