/** Names the wire schemas share (schemas.ts, access-schemas.ts, deployment-schemas.ts). */
import { z } from 'zod';

export const serviceName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'must be lowercase letters, digits and dashes, starting with a letter',
  );

export const digest = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest (64 hex digits)');
