export { createSearchService } from './search.service.js';
export type { SearchService } from './search.service.js';
export { searchRoutes } from './search.routes.js';
export { createProjector, createProjectionScheduler, PROJECT_JOB } from './projector.js';
export type { Projector, ProjectionRun } from './projector.js';
