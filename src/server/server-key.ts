/**
 * The server key: 32 random bytes in `<data-dir>/server.key` (mode 0600), made on first start.
 * It seals the secrets the database keeps. Every server on one database needs the same file.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../core/index.js';
import { SERVER_KEY_BYTES } from './sealing.js';

export const SERVER_KEY_FILE = 'server.key';

/** Reads the data dir's server key, creating it when there is none. */
export async function loadServerKey(
  dataDir: string,
): Promise<{ key: Buffer; path: string; created: boolean }> {
  const path = join(dataDir, SERVER_KEY_FILE);
  try {
    // `wx`: two servers starting on one data dir never make two keys.
    await writeFile(path, randomBytes(SERVER_KEY_BYTES), { mode: 0o600, flag: 'wx' });
    return { key: await readFile(path), path, created: true };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SlipwayError(
      'INVALID',
      `${path} may be read by others (mode ${mode.toString(8)}): it protects the server's secrets; run chmod 600 ${path}`,
    );
  }
  const key = await readFile(path);
  if (key.length !== SERVER_KEY_BYTES) {
    throw new SlipwayError(
      'INVALID',
      `${path} holds ${key.length} bytes, not ${SERVER_KEY_BYTES}: restore it from a copy (another server on this database has the same file)`,
    );
  }
  return { key, path, created: false };
}
