export { createCatalogService } from './catalog.service.js';
export type { CatalogService, Opportunity, PublisherInput } from './catalog.service.js';
export { createHarvester, applyPage } from './harvester.js';
export type { Harvester, PageProgress, WalkResult } from './harvester.js';
export { createHarvestScheduler, HARVEST_JOB } from './harvest-scheduler.js';
export { catalogRoutes } from './catalog.routes.js';
export { FEED_KINDS } from './dataset-site.js';
export { extractEntities } from './normalise.js';
