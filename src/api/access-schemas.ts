/**
 * The wire contract of access and audit: users, their tokens and grants, who a token is, and
 * the audit trail's entries. Part of schemas.ts, which re-exports it.
 */
import { z } from 'zod';
import { ROLES } from '../core/index.js';
import { serviceName } from './names.js';

/** People and machine accounts: a name as it appears in the audit trail. */
export const userName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._@-]{0,63}$/,
    'must be 1-64 lowercase letters, digits and . _ @ -, starting with a letter or digit',
  );
export const userKind = z.enum(['person', 'machine']);
export const user = z.object({ name: z.string(), kind: userKind, createdAt: z.string() });
export type User = z.infer<typeof user>;
export const createUserRequest = z.object({ name: userName, kind: userKind.default('person') });

export const role = z.enum(ROLES);
export const grant = z.object({
  role,
  environment: z.string().nullable(),
  service: z.string().nullable(),
});
/** A token as listed: its id and grant, never its secret. */
export const apiToken = z.object({
  id: z.string(),
  user: z.string(),
  grant,
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
});
export type ApiToken = z.infer<typeof apiToken>;
/** The longest a token may be made to last (ten years); without `expiresInMs` it never expires. */
export const TOKEN_LIFETIME_MAX_MS = 10 * 365 * 24 * 3600_000;
export const createTokenRequest = z.object({
  user: userName,
  role,
  environment: z.string().min(1).max(64).optional(),
  service: serviceName.optional(),
  expiresInMs: z.number().int().positive().max(TOKEN_LIFETIME_MAX_MS).optional(),
});
/** A token just made: the secret is in it this once, and never again. */
export const createdToken = apiToken.extend({ token: z.string() });
export type CreatedToken = z.infer<typeof createdToken>;
/** Who the calling token belongs to and what it may do. */
export const whoami = z.object({
  user: z.string(),
  tokenId: z.string(),
  grant,
  permissions: z.array(z.string()),
});
export type Whoami = z.infer<typeof whoami>;

/** One entry of the audit trail, with its place in the hash chain. */
export const auditEntry = z.object({
  seq: z.number().int(),
  at: z.string(),
  actor: z.string(),
  tokenId: z.string().nullable(),
  source: z.string().nullable(),
  operation: z.string(),
  args: z.unknown(),
  target: z.record(z.string(), z.union([z.string(), z.number()])),
  result: z.string(),
  prevHash: z.string(),
  hash: z.string(),
});
export type AuditEntryView = z.infer<typeof auditEntry>;
export const auditVerdict = z.object({
  ok: z.boolean(),
  entries: z.number().int(),
  head: z.object({ seq: z.number().int(), hash: z.string() }),
  problem: z.object({ seq: z.number().int(), message: z.string() }).nullable(),
});
export type AuditVerdictView = z.infer<typeof auditVerdict>;
