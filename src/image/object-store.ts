import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../core/index.js';
import { isDigest, sha256Hex } from './digest.js';

/** Bytes whose SHA-256 is not the digest they were given under. */
export class ChunkCorruptError extends SlipwayError {
  readonly digest: string;
  readonly actual: string;

  constructor(digest: string, actual: string) {
    super('INVALID', `chunk ${digest} is corrupt: its bytes hash to ${actual}`, { digest, actual });
    this.name = 'ChunkCorruptError';
    this.digest = digest;
    this.actual = actual;
  }
}

/** Throws ChunkCorruptError unless `data` hashes to `digest`. */
export function verifyChunk(digest: string, data: Uint8Array): void {
  const actual = sha256Hex(data);
  if (actual !== digest) throw new ChunkCorruptError(digest, actual);
}

function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === code;
}

/**
 * Chunks by digest in a directory, as `<dir>/<first 2 hex>/<digest>`. Only verified bytes are
 * ever written, and each write is a rename of a complete temp file, so a reader never sees a
 * partial object even after a crash.
 */
export class ObjectStore {
  /** The directory the objects live in (the `objects/` of a data dir). */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Where the object lives; refuses anything but a digest, so no caller can escape `dir`. */
  pathOf(digest: string): string {
    if (!isDigest(digest)) {
      throw new SlipwayError('INVALID', `not a SHA-256 digest: ${JSON.stringify(digest)}`, {
        digest,
      });
    }
    return join(this.dir, digest.slice(0, 2), digest);
  }

  /** True when the object is present. */
  async has(digest: string): Promise<boolean> {
    try {
      await stat(this.pathOf(digest));
      return true;
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /**
   * The object's bytes, not re-verified (they were verified when written); callers that cannot
   * trust the disk use `verifyChunk`.
   */
  async get(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(digest));
    } catch (e) {
      throw this.notFoundOr(e, digest);
    }
  }

  /** Size in bytes of the object. */
  async size(digest: string): Promise<number> {
    try {
      return (await stat(this.pathOf(digest))).size;
    } catch (e) {
      throw this.notFoundOr(e, digest);
    }
  }

  /**
   * Stores `data` under `digest` after checking it hashes to it (unless the caller has just
   * hashed these very bytes: `verified`); storing twice is harmless.
   */
  async put(digest: string, data: Uint8Array, opts: { verified?: boolean } = {}): Promise<void> {
    const path = this.pathOf(digest);
    if (!opts.verified) verifyChunk(digest, data);
    if (await this.has(digest)) return;
    const shard = join(this.dir, digest.slice(0, 2));
    const tmp = join(shard, `.tmp-${digest}-${randomBytes(6).toString('hex')}`);
    try {
      // The shard directory is there but for the first objects of a store: make it only then
      // (a mkdir per object was a failed system call per chunk fetched).
      await writeFile(tmp, data, { mode: 0o444 }).catch(async (e: unknown) => {
        if (!isErrno(e, 'ENOENT')) throw e;
        await mkdir(shard, { recursive: true });
        await writeFile(tmp, data, { mode: 0o444 });
      });
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** Deletes the object; deleting a missing object is not an error. */
  async remove(digest: string): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }

  /** Every digest in the store, in no particular order; temp files are skipped. */
  async *list(): AsyncGenerator<string> {
    let shards: string[];
    try {
      shards = await readdir(this.dir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      let names: string[];
      try {
        names = await readdir(join(this.dir, shard));
      } catch (e) {
        // A shard may vanish while listing (collection), or be a stray file.
        if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) continue;
        throw e;
      }
      for (const name of names) {
        if (isDigest(name) && name.startsWith(shard)) yield name;
      }
    }
  }

  /**
   * Every object with its size and when it was written, in no particular order. Objects removed
   * while listing are skipped. The write time lets a collector spare objects a fetch in progress
   * has just stored, before the manifest that needs them is known to it.
   */
  async *listStats(): AsyncGenerator<{ digest: string; size: number; mtimeMs: number }> {
    for await (const digest of this.list()) {
      let st;
      try {
        st = await lstat(this.pathOf(digest));
      } catch (e) {
        if (isErrno(e, 'ENOENT')) continue;
        throw e;
      }
      if (st.isFile()) yield { digest, size: st.size, mtimeMs: st.mtimeMs };
    }
  }

  private notFoundOr(e: unknown, digest: string): unknown {
    if (!isErrno(e, 'ENOENT')) return e;
    return new SlipwayError(
      'NOT_FOUND',
      `chunk ${digest} not found in ${this.dir}`,
      { digest },
      { cause: e },
    );
  }
}
