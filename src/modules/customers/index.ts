export { createCustomersService, ERASE_JOB } from './customers.service.js';
export type { CustomersService, ErasureHook, ExportSection } from './customers.service.js';
export { customersRoutes } from './customers.routes.js';
