import { createReadStream } from 'node:fs';
import type { Dirent, Stats } from 'node:fs';
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SlipwayError, ValidationError } from '../core/index.js';
import { chunkStream } from './chunker.js';
import type { ChunkingParams } from './chunker.js';
import { CHUNKING } from './chunker.js';
import { checkManifest, comparePaths, safeMode } from './manifest.js';
import type { ChunkRef, Manifest, ManifestEntry } from './manifest.js';

/** Where the bytes of a chunk can be read again: a range of a source file. */
export interface ChunkLocation {
  /** Absolute path of the file. */
  file: string;
  offset: number;
  size: number;
}

/** A path whose mode the image holds without its setuid, setgid, sticky or o+w bits. */
export interface NarrowedMode {
  path: string;
  /** The mode on disk. */
  from: number;
  /** The mode in the image. */
  to: number;
}

/** A scanned directory: its manifest, and where to find each distinct chunk for upload. */
export interface ScannedTree {
  manifest: Manifest;
  chunks: Map<string, ChunkLocation>;
  /** Paths whose modes were narrowed (an image holds no setuid, setgid, sticky or o+w bits). */
  narrowed: NarrowedMode[];
}

/**
 * Walks `root` and builds the manifest of the tree below it: directories, regular files (chunked
 * and hashed) and symlinks (their target text, not followed). Refuses other file types, names that
 * are not UTF-8, and symlinks leading out of the tree (ValidationError listing each one).
 * Setuid, setgid, sticky and world-writable bits are left out of the modes (and listed in
 * `narrowed`): a manifest with them is refused. `root` itself may be a symlink to a directory.
 */
export async function scanTree(
  root: string,
  params: ChunkingParams = CHUNKING,
): Promise<ScannedTree> {
  const absRoot = resolve(root);
  const rootStat = await stat(absRoot).catch((e: unknown) => {
    throw new SlipwayError('NOT_FOUND', `cannot read ${absRoot}`, { path: absRoot }, { cause: e });
  });
  if (!rootStat.isDirectory()) {
    throw new SlipwayError('INVALID', `${absRoot} is not a directory`, { path: absRoot });
  }

  const entries: ManifestEntry[] = [];
  const chunks = new Map<string, ChunkLocation>();
  const narrowed: NarrowedMode[] = [];

  const walk = async (relDir: string): Promise<void> => {
    const absDir = relDir ? join(absRoot, relDir) : absRoot;
    const dirents = await readdir(absDir, { withFileTypes: true, encoding: 'buffer' });
    for (const dirent of dirents) {
      const name = utf8Name(dirent, absDir);
      const rel = relDir ? `${relDir}/${name}` : name;
      const abs = join(absRoot, rel);
      const st = await lstat(abs);
      const onDisk = st.mode & 0o7777;
      const mode = safeMode(onDisk);
      if (mode !== onDisk && !st.isSymbolicLink())
        narrowed.push({ path: rel, from: onDisk, to: mode });
      if (st.isDirectory()) {
        entries.push({ path: rel, type: 'dir', mode });
        await walk(rel);
      } else if (st.isFile()) {
        const refs: ChunkRef[] = [];
        let size = 0;
        for await (const chunk of chunkStream(createReadStream(abs), params)) {
          refs.push({ digest: chunk.digest, size: chunk.data.length });
          size += chunk.data.length;
          if (!chunks.has(chunk.digest)) {
            chunks.set(chunk.digest, { file: abs, offset: chunk.offset, size: chunk.data.length });
          }
        }
        entries.push({ path: rel, type: 'file', mode, size, chunks: refs });
      } else if (st.isSymbolicLink()) {
        entries.push({ path: rel, type: 'symlink', target: await readlink(abs) });
      } else {
        throw new SlipwayError(
          'INVALID',
          `${abs} is a ${fileTypeName(st)}: an image holds only files, directories and symlinks`,
          { path: abs },
        );
      }
    }
  };
  await walk('');

  entries.sort((a, b) => comparePaths(a.path, b.path));
  const manifest: Manifest = { format: 1, entries };
  const problems = checkManifest(manifest);
  if (problems.length > 0) {
    throw new ValidationError(
      `cannot make an image of ${absRoot}`,
      problems.map((p) => ({ ...p, file: absRoot })),
    );
  }
  narrowed.sort((a, b) => comparePaths(a.path, b.path));
  return { manifest, chunks, narrowed };
}

/** Names travel as UTF-8 in manifests; anything else would be silently mangled, so refuse it. */
function utf8Name(dirent: Dirent<Buffer>, absDir: string): string {
  const name = dirent.name.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(dirent.name)) {
    throw new SlipwayError(
      'INVALID',
      `a file name in ${absDir} is not valid UTF-8: ${JSON.stringify(name)}`,
      { path: absDir },
    );
  }
  return name;
}

function fileTypeName(d: Stats): string {
  if (d.isFIFO()) return 'named pipe';
  if (d.isSocket()) return 'socket';
  if (d.isCharacterDevice()) return 'character device';
  if (d.isBlockDevice()) return 'block device';
  return 'special file';
}

/**
 * Reads a chunk back from its source file (to upload it). The caller verifies the digest: the
 * file may have changed since the scan.
 */
export async function readChunkAt(loc: ChunkLocation): Promise<Buffer> {
  const handle = await open(loc.file, 'r');
  try {
    const buf = Buffer.allocUnsafe(loc.size);
    let filled = 0;
    while (filled < loc.size) {
      const { bytesRead } = await handle.read(buf, filled, loc.size - filled, loc.offset + filled);
      if (bytesRead === 0) {
        throw new SlipwayError(
          'CONFLICT',
          `${loc.file} is shorter than when it was scanned (wanted ${loc.size} bytes at ${loc.offset})`,
          { ...loc },
        );
      }
      filled += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}
