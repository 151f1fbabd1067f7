export * from './schemas.js';
export * from './routes.js';
export * from './openapi.js';
export * from './client.js';
export * from './service-map-schema.js';
export { zodIssuesToProblems } from './service-map-problems.js';
