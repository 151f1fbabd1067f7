export type * from './repositories.js';
export type * from './rows.js';
export { deploymentDoc } from './rows.js';
export * from './open.js';
export { parseRevoked, type Revoked } from './revoked-tokens.js';
