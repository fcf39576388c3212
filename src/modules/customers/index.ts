export { createCustomersService, ERASE_JOB } from './customers.service.js';
export type { CustomersService, ErasureHook } from './customers.service.js';
export { customersRoutes } from './customers.routes.js';
