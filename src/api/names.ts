/** Names the wire schemas share (schemas.ts, access-schemas.ts). */
import { z } from 'zod';

export const serviceName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{0,62}$/,
    'must be lowercase letters, digits and dashes, starting with a letter',
  );
