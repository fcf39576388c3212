export { createBrokersService, hashApiKey, modeOfGivenKey, PRODUCTS, DEMO_BROKER } from './brokers.service.js';
export type { AuthContext, BrokersService, BrokerInput, KeyMode, Product, Tenant } from './brokers.service.js';
