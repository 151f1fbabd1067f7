import { randomBytes, createHash } from 'node:crypto';
import {
  chmod,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SlipwayError, ValidationError, isSlipwayError } from '../core/index.js';
import type { Problem } from '../core/index.js';
import { checkManifest, safeMode } from './manifest.js';
import type { Manifest, ManifestEntry } from './manifest.js';
import type { ObjectStore } from './object-store.js';
import { verifyChunk } from './object-store.js';

type FileEntry = Extract<ManifestEntry, { type: 'file' }>;
type DirEntry = Extract<ManifestEntry, { type: 'dir' }>;

/** Files written at once: enough to overlap disk waits, few enough to bound memory (1 chunk each). */
const FILE_CONCURRENCY = 8;

function isErrno(e: unknown, ...codes: string[]): boolean {
  return e instanceof Error && codes.includes((e as NodeJS.ErrnoException).code ?? '');
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

/** Earlier releases already on disk, whose files identical to the new image's may be shared. */
export interface MaterializeOptions {
  /** Each one's manifest and the directory its tree was materialized at. */
  reuseFrom?: { manifest: Manifest; dir: string }[];
}

/** What materializing put in place (all zero when the destination already existed). */
export interface MaterializeResult {
  /** Regular files assembled from chunks of the object store. */
  filesWritten: number;
  /** Regular files hard-linked from an earlier release. */
  filesLinked: number;
  /** Bytes of file content written (linked files cost none). */
  bytesWritten: number;
}

/**
 * Writes the image's tree at `dest`, atomically: it is built beside `dest` and renamed into place,
 * so `dest` either does not exist or is complete. If `dest` already exists it is left alone (an
 * image is immutable, so a finished tree is the same tree). Every chunk is verified on the way.
 * The manifest is checked first: one that could write outside `dest` is refused before anything
 * is written.
 *
 * With `opts.reuseFrom`, a regular file whose chunks, size and mode equal those of a regular file
 * of an earlier release is hard-linked from it instead of written; when the link cannot be made
 * (another filesystem, the earlier file gone or not the expected size and mode) it is written.
 */
export async function materialize(
  manifest: Manifest,
  dest: string,
  store: ObjectStore,
  opts: MaterializeOptions = {},
): Promise<MaterializeResult> {
  const result: MaterializeResult = { filesWritten: 0, filesLinked: 0, bytesWritten: 0 };
  const problems = checkManifest(manifest);
  if (problems.length > 0) {
    throw new ValidationError('refusing to materialize an invalid image manifest', problems);
  }
  if (await exists(dest)) return result;

  const reusable = indexReusable(opts.reuseFrom ?? []);
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
  await mkdir(tmp, { mode: 0o700 });
  try {
    const dirs = manifest.entries.filter((e): e is DirEntry => e.type === 'dir');
    // Owner-writable while filling; the real (maybe read-only) modes are applied at the end.
    for (const d of dirs) await mkdir(join(tmp, d.path), { mode: 0o700 });

    const others = manifest.entries.filter((e) => e.type !== 'dir');
    await forEachLimited(others, FILE_CONCURRENCY, async (entry) => {
      const at = join(tmp, entry.path);
      if (entry.type === 'symlink') {
        await symlink(entry.target, at);
      } else if (entry.type === 'file') {
        if (await linkFromEarlier(entry, at, reusable.get(reuseKey(entry)))) {
          result.filesLinked++;
        } else {
          await writeFileFromChunks(entry, at, store);
          result.filesWritten++;
          result.bytesWritten += entry.size;
        }
      }
    });

    // Deepest first, so a read-only directory does not block chmod of what is inside it.
    for (const d of [...dirs].reverse()) await chmod(join(tmp, d.path), safeMode(d.mode));
    await chmod(tmp, 0o755);

    try {
      await rename(tmp, dest);
    } catch (e) {
      // Someone else materialized the same image meanwhile: theirs is as good as ours.
      if (isErrno(e, 'ENOTEMPTY', 'EEXIST') && (await exists(dest))) {
        await removeTree(tmp);
        return { filesWritten: 0, filesLinked: 0, bytesWritten: 0 };
      }
      throw e;
    }
  } catch (e) {
    await removeTree(tmp).catch(() => undefined);
    throw e;
  }
  return result;
}

/** Same key, same bytes and mode: the chunk digests pin the content, size and mode the rest. */
function reuseKey(entry: FileEntry): string {
  return `${entry.mode}:${entry.size}:${entry.chunks.map((c) => c.digest).join(',')}`;
}

/** Paths of the earlier releases' regular files, by reuse key, earliest-listed release first. */
function indexReusable(
  earlier: readonly { manifest: Manifest; dir: string }[],
): Map<string, string[]> {
  const byKey = new Map<string, string[]>();
  for (const { manifest, dir } of earlier) {
    // A manifest that could point outside its tree is no source of files to link.
    if (checkManifest(manifest).length > 0) continue;
    for (const entry of manifest.entries) {
      if (entry.type !== 'file') continue;
      const key = reuseKey(entry);
      const paths = byKey.get(key);
      const path = join(dir, entry.path);
      if (paths) paths.push(path);
      else byKey.set(key, [path]);
    }
  }
  return byKey;
}

/**
 * Hard-links the first usable candidate to `at`; false when none could be linked. Sharing the
 * inode is safe because releases are immutable trees: nothing writes into a materialized release
 * or changes its modes, so a file of one release stays what the other release's manifest says.
 * The earlier file is trusted as verified when it was materialized; its type, size and mode are
 * checked so a damaged or replaced one is written afresh rather than shared.
 */
async function linkFromEarlier(
  entry: FileEntry,
  at: string,
  candidates: readonly string[] | undefined,
): Promise<boolean> {
  for (const from of candidates ?? []) {
    try {
      const st = await lstat(from);
      // An earlier file with unsafe bits (made before they were refused) is not shared.
      if (!st.isFile() || st.size !== entry.size || (st.mode & 0o7777) !== safeMode(entry.mode))
        continue;
      await link(from, at);
      return true;
    } catch {
      // Gone since listed, another filesystem (EXDEV), too many links (EMLINK): try the next one,
      // then write the file.
    }
  }
  return false;
}

async function writeFileFromChunks(
  entry: FileEntry,
  at: string,
  store: ObjectStore,
): Promise<void> {
  const handle = await open(at, 'wx', 0o600);
  try {
    for (const ref of entry.chunks) {
      let data: Buffer;
      try {
        data = await store.get(ref.digest);
      } catch (e) {
        if (!isSlipwayError(e, 'NOT_FOUND')) throw e;
        throw new SlipwayError(
          'NOT_FOUND',
          `chunk ${ref.digest} of file ${JSON.stringify(entry.path)} is not in the object store`,
          { digest: ref.digest, path: entry.path },
          { cause: e },
        );
      }
      verifyChunk(ref.digest, data);
      if (data.length !== ref.size) {
        throw new SlipwayError(
          'INVALID',
          `chunk ${ref.digest} of file ${JSON.stringify(entry.path)} has ${data.length} bytes, the manifest says ${ref.size}`,
          { digest: ref.digest, path: entry.path, size: data.length, expected: ref.size },
        );
      }
      let written = 0;
      while (written < data.length) {
        written += (await handle.write(data, written, data.length - written)).bytesWritten;
      }
    }
  } finally {
    await handle.close();
  }
  // Never setuid, setgid, sticky or world-writable, even if a manifest with them got this far.
  await chmod(at, safeMode(entry.mode));
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Removes a tree even when it holds read-only directories (which block unlinking inside them). */
async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (e) {
    if (!isErrno(e, 'EACCES', 'EPERM')) throw e;
    await makeWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory()) await makeWritable(join(dir, d.name));
  }
}

/**
 * Compares a materialized tree with its manifest: every entry present with its type, mode, symlink
 * target, size and chunk digests (files are re-hashed), and nothing more. Returns the problems,
 * each at the relative path concerned; empty when the tree is intact.
 */
export async function verifyTree(manifest: Manifest, dir: string): Promise<Problem[]> {
  const invalid = checkManifest(manifest);
  // Do not touch the disk along paths that could lead outside `dir`.
  if (invalid.length > 0) return invalid;

  const problems: Problem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };
  for (const entry of manifest.entries) {
    const at = join(dir, entry.path);
    let st;
    try {
      st = await lstat(at);
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'ENOTDIR')) throw e;
      add(entry.path, `missing ${entry.type}`);
      continue;
    }
    const actualType = st.isDirectory()
      ? 'dir'
      : st.isFile()
        ? 'file'
        : st.isSymbolicLink()
          ? 'symlink'
          : 'other';
    if (actualType !== entry.type) {
      add(entry.path, `is a ${actualType}, the manifest says ${entry.type}`);
      continue;
    }
    if (entry.type === 'symlink') {
      const target = await readlink(at);
      if (target !== entry.target) {
        add(
          entry.path,
          `symlink points to ${JSON.stringify(target)}, the manifest says ${JSON.stringify(entry.target)}`,
        );
      }
      continue;
    }
    const mode = st.mode & 0o7777;
    if (mode !== safeMode(entry.mode)) {
      add(
        entry.path,
        `mode is 0o${mode.toString(8)}, the manifest says 0o${entry.mode.toString(8)}`,
      );
    }
    if (entry.type === 'file') {
      if (st.size !== entry.size) {
        add(entry.path, `size is ${st.size}, the manifest says ${entry.size}`);
        continue;
      }
      const bad = await firstBadChunk(entry, at);
      if (bad !== undefined) add(entry.path, `content differs from the manifest in chunk ${bad}`);
    }
  }

  const listed = new Set(manifest.entries.map((e) => e.path));
  for (const extra of await listTree(dir)) {
    if (!listed.has(extra)) add(extra, 'not in the manifest');
  }
  return problems;
}

/** Index of the first chunk of the file whose bytes do not hash to the manifest's digest. */
async function firstBadChunk(entry: FileEntry, at: string): Promise<number | undefined> {
  const handle = await open(at, 'r');
  try {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    let position = 0;
    for (let i = 0; i < entry.chunks.length; i++) {
      const ref = entry.chunks[i]!;
      const hash = createHash('sha256');
      let left = ref.size;
      while (left > 0) {
        const { bytesRead } = await handle.read(buf, 0, Math.min(left, buf.length), position);
        if (bytesRead === 0) return i;
        hash.update(buf.subarray(0, bytesRead));
        left -= bytesRead;
        position += bytesRead;
      }
      if (hash.digest('hex') !== ref.digest) return i;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** Relative paths of everything below `dir`, not following symlinks. */
async function listTree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    out.push(rel);
    if (d.isDirectory()) out.push(...(await listTree(join(dir, d.name), rel)));
  }
  return out;
}
