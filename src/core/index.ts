export * from './errors.js';
export type * from './types.js';
export * from './deployment.js';
export * from './planner.js';
export * from './duration.js';
export * from './amount.js';
export * from './topology.js';
export * from './service-map.js';
