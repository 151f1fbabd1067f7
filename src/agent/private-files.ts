/**
 * Files only this host's agent may read: its credential, the last goal (every service's
 * environment and the peer ticket), and the data dir that holds them. A file is written whole
 * under a temporary name with mode 0600 and renamed into place, so it is never readable by
 * others, not even for a moment, and never half written; a file of an earlier version left
 * readable is replaced, not rewritten in place with its old mode.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Owner read and write only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Owner only. */
export const PRIVATE_DIR_MODE = 0o700;

/** Writes `data` to `path` atomically, readable and writable by this user only. */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const f = await open(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      // The mode given to open is narrowed by the umask, never widened: this only makes sure.
      await f.chmod(PRIVATE_FILE_MODE);
      await f.writeFile(data);
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Makes `dir` (and its parents) exist, with `dir` itself open to this user only. A dir that
 * exists with wider permissions (made by an earlier version) is narrowed, and `warn` says so.
 */
export async function ensurePrivateDir(dir: string, warn: (msg: string) => void): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const mode = (await stat(dir)).mode & 0o777;
  if (mode !== PRIVATE_DIR_MODE) {
    await chmod(dir, PRIVATE_DIR_MODE);
    warn(
      `the data dir ${dir} was open to others (mode ${mode.toString(8).padStart(4, '0')}); made it 0700: it holds this host's credential and its services' environment`,
    );
  }
}
