/** Options every client verb shares: which server, which token. */
import { SlipwayError } from '../core/index.js';
import { SlipwayClient } from '../api/index.js';

export interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:7400';

/** A client from --server/SLIPWAY_SERVER and --token/SLIPWAY_TOKEN. */
export function clientFrom(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
): SlipwayClient {
  const server = opts.server ?? env.SLIPWAY_SERVER ?? DEFAULT_SERVER;
  const token = opts.token ?? env.SLIPWAY_TOKEN;
  if (!token) {
    throw new SlipwayError(
      'UNAUTHENTICATED',
      'no API token: pass --token or set SLIPWAY_TOKEN (the server wrote the admin token to <data-dir>/admin.token on its first start)',
    );
  }
  return new SlipwayClient({ server, token });
}
