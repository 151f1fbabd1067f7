export type * from './repositories.js';
export type * from './rows.js';
export { deploymentDoc } from './rows.js';
export * from './open.js';
export { parseRevoked, type Revoked } from './revoked-tokens.js';
export type { AuditEntry, AuditVerdict, NewAuditEntry } from './audit-chain.js';
export { canonicalJson } from './audit-chain.js';
export type * from './job-rows.js';
