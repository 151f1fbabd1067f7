/** First start: create the admin and join tokens, keep only their hashes, hand them to the operator. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '../store/index.js';
import { hashToken, newToken } from './authz/tokens.js';

export interface BootstrapResult {
  /** Files written on this start (empty when the tokens already existed). */
  written: { kind: 'admin' | 'join'; path: string; token: string }[];
}

/**
 * Creates the admin and join tokens when the store has none, writing each into the data dir
 * (mode 0600). Tokens that already exist are never re-issued or read back: only hashes are kept.
 */
export async function bootstrapTokens(store: Store, dataDir: string): Promise<BootstrapResult> {
  const written: BootstrapResult['written'] = [];
  for (const kind of ['admin', 'join'] as const) {
    if (await store.tokens.exists(kind)) continue;
    const token = newToken(kind);
    const path = join(dataDir, `${kind}.token`);
    await writeFile(path, token + '\n', { mode: 0o600 });
    await store.tokens.add(hashToken(token), kind);
    written.push({ kind, path, token });
  }
  return { written };
}
