import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../core/index.js';
import { sha256Hex } from './digest.js';
import { imageIdOf, manifestChunks } from './manifest.js';
import type { Manifest } from './manifest.js';
import { materialize, verifyTree } from './materialize.js';
import { ObjectStore } from './object-store.js';
import { readChunkAt, scanTree } from './scan.js';

let work: string;
let store: ObjectStore;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'slipway-image-'));
  store = new ObjectStore(join(work, 'objects'));
});

afterEach(async () => {
  // Read-only directories would stop a non-root rm.
  await makeWritable(work);
  await rm(work, { recursive: true, force: true });
});

async function makeWritable(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const d of await readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory()) await makeWritable(join(dir, d.name));
  }
}

/** A source tree with the cases an image must carry. */
async function buildSource(): Promise<{ src: string; big: Buffer }> {
  const src = join(work, 'src');
  const big = randomBytes(3 * 1024 * 1024);
  await mkdir(join(src, 'bin'), { recursive: true });
  await mkdir(join(src, 'data/nested/deep'), { recursive: true });
  await mkdir(join(src, 'readonly'));
  await writeFile(join(src, 'bin/run.sh'), '#!/bin/sh\necho hello\n');
  await chmod(join(src, 'bin/run.sh'), 0o755);
  await writeFile(join(src, 'data/empty'), '');
  await writeFile(join(src, 'data/big.bin'), big);
  await writeFile(join(src, 'data/big-copy.bin'), big);
  await writeFile(join(src, 'data/nested/deep/x.txt'), 'deep\n');
  await chmod(join(src, 'data/nested/deep/x.txt'), 0o640);
  await symlink('nested/deep/x.txt', join(src, 'data/current'));
  await symlink('data/nested', join(src, 'lib'));
  await writeFile(join(src, 'readonly/file'), 'ro');
  await chmod(join(src, 'readonly'), 0o555);
  return { src, big };
}

/** What a client does after scanning: upload the chunks (here, into a local store). */
async function upload(src: string): Promise<Manifest> {
  const { manifest, chunks } = await scanTree(src);
  for (const [digest, loc] of chunks) await store.put(digest, await readChunkAt(loc));
  return manifest;
}

describe('scanTree and materialize', () => {
  it('round-trips a tree through the object store, byte for byte', async () => {
    const { src, big } = await buildSource();
    const scanned = await scanTree(src);
    const { manifest } = scanned;
    expect(manifest.entries.map((e) => e.path)).toEqual([
      'bin',
      'bin/run.sh',
      'data',
      'data/big-copy.bin',
      'data/big.bin',
      'data/current',
      'data/empty',
      'data/nested',
      'data/nested/deep',
      'data/nested/deep/x.txt',
      'lib',
      'readonly',
      'readonly/file',
    ]);
    const byPath = new Map(manifest.entries.map((e) => [e.path, e]));
    expect(byPath.get('bin/run.sh')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(byPath.get('data/empty')).toEqual({
      path: 'data/empty',
      type: 'file',
      mode: 0o644 & ~process.umask(),
      size: 0,
      chunks: [],
    });
    expect(byPath.get('data/current')).toEqual({
      path: 'data/current',
      type: 'symlink',
      target: 'nested/deep/x.txt',
    });
    expect(byPath.get('readonly')).toMatchObject({ type: 'dir', mode: 0o555 });
    const bigEntry = byPath.get('data/big.bin');
    expect(bigEntry?.type === 'file' && bigEntry.chunks.length).toBeGreaterThan(3);
    // The copy deduplicates: chunks are listed once, each readable again from its source.
    expect(scanned.chunks.size).toBe(manifestChunks(manifest).length);
    for (const [digest, loc] of scanned.chunks) {
      expect(sha256Hex(await readChunkAt(loc))).toBe(digest);
    }

    await upload(src);
    const dest = join(work, 'releases/v1');
    await materialize(manifest, dest, store);

    expect((await readFile(join(dest, 'data/big.bin'))).equals(big)).toBe(true);
    expect(await readFile(join(dest, 'bin/run.sh'), 'utf8')).toBe('#!/bin/sh\necho hello\n');
    expect((await lstat(join(dest, 'bin/run.sh'))).mode & 0o7777).toBe(0o755);
    expect((await lstat(join(dest, 'readonly'))).mode & 0o7777).toBe(0o555);
    expect(await readlink(join(dest, 'data/current'))).toBe('nested/deep/x.txt');
    expect(await readFile(join(dest, 'data/current'), 'utf8')).toBe('deep\n');
    expect(await readdir(join(work, 'releases'))).toEqual(['v1']); // no temp dir left

    const again = await scanTree(dest);
    expect(again.manifest).toEqual(manifest);
    expect(imageIdOf(again.manifest)).toBe(imageIdOf(manifest));
    expect(await verifyTree(manifest, dest)).toEqual([]);
  });

  it('leaves an existing destination alone', async () => {
    const { src } = await buildSource();
    const manifest = await upload(src);
    const dest = join(work, 'v1');
    await materialize(manifest, dest, store);
    await writeFile(join(dest, 'marker'), 'kept');
    await materialize(manifest, dest, store);
    expect(await readFile(join(dest, 'marker'), 'utf8')).toBe('kept');
  });

  it('verifyTree reports changed content, modes, links and extra files', async () => {
    const { src } = await buildSource();
    const manifest = await upload(src);
    const dest = join(work, 'v1');
    await materialize(manifest, dest, store);

    const big = await readFile(join(dest, 'data/big.bin'));
    big[big.length - 10] = (big[big.length - 10]! + 1) % 256;
    await writeFile(join(dest, 'data/big.bin'), big);
    await chmod(join(dest, 'bin/run.sh'), 0o777);
    await rm(join(dest, 'data/current'));
    await symlink('elsewhere', join(dest, 'data/current'));
    await rm(join(dest, 'data/empty'));
    await writeFile(join(dest, 'data/intruder'), 'x');

    const problems = await verifyTree(manifest, dest);
    expect(problems.map((p) => p.path).sort()).toEqual([
      'bin/run.sh',
      'data/big.bin',
      'data/current',
      'data/empty',
      'data/intruder',
    ]);
    expect(problems.find((p) => p.path === 'data/big.bin')?.message).toMatch(/content differs/);
  });

  it('names the missing chunk and its file, and leaves nothing behind', async () => {
    const { src } = await buildSource();
    const manifest = await upload(src);
    const x = manifest.entries.find((e) => e.path === 'data/nested/deep/x.txt');
    const digest = x?.type === 'file' ? x.chunks[0]!.digest : '';
    await store.remove(digest);

    const dest = join(work, 'releases/v1');
    await expect(materialize(manifest, dest, store)).rejects.toMatchObject({
      code: 'NOT_FOUND',
      details: { digest, path: 'data/nested/deep/x.txt' },
    });
    expect(await readdir(join(work, 'releases'))).toEqual([]);
  });

  it('refuses a chunk whose stored bytes were corrupted', async () => {
    const { src } = await buildSource();
    const manifest = await upload(src);
    const x = manifest.entries.find((e) => e.path === 'bin/run.sh');
    const path = store.pathOf(x?.type === 'file' ? x.chunks[0]!.digest : '');
    await chmod(path, 0o644);
    await writeFile(path, '#!/bin/sh\nrm -rf /\n');
    await expect(materialize(manifest, join(work, 'v1'), store)).rejects.toMatchObject({
      name: 'ChunkCorruptError',
    });
  });

  it('refuses a manifest reaching outside the destination, before writing anything', async () => {
    const evil = Buffer.from('root::0:0::/root:/bin/sh\n');
    await store.put(sha256Hex(evil), evil);
    const manifest: Manifest = {
      format: 1,
      entries: [
        {
          path: '../etc/passwd',
          type: 'file',
          mode: 0o644,
          size: evil.length,
          chunks: [{ digest: sha256Hex(evil), size: evil.length }],
        },
        { path: 'escape', type: 'symlink', target: '../../..' },
      ],
    };
    const releases = join(work, 'releases');
    await mkdir(releases);
    const err = await materialize(manifest, join(releases, 'v1'), store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems.map((p) => p.path)).toEqual([
      'entries[0].path',
      'entries[1].target',
    ]);
    expect(await readdir(releases)).toEqual([]);
    expect(await readdir(work)).toEqual(['objects', 'releases']);
  });

  it('refuses a source whose symlinks leave the tree', async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'a'), { recursive: true });
    await symlink('../../outside', join(src, 'a/up'));
    await symlink('/etc/passwd', join(src, 'abs'));
    const err = await scanTree(src).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    const problems = (err as ValidationError).problems;
    expect(problems.map((p) => p.message)).toEqual([
      'symlink "a/up" -> "../../outside": target escapes the image root',
      'symlink "abs" -> "/etc/passwd": absolute target',
    ]);
    expect(problems[0]?.file).toBe(src);
  });

  it('refuses special files, naming them', async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'run'), { recursive: true });
    execFileSync('mkfifo', [join(src, 'run/pipe')]);
    await expect(scanTree(src)).rejects.toMatchObject({
      code: 'INVALID',
      details: { path: join(src, 'run/pipe') },
      message: expect.stringContaining('named pipe') as unknown,
    });
  });

  it('leaves setuid, setgid, sticky and world-writable bits out of what it scans, and says which', async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'tmp'), { recursive: true });
    await writeFile(join(src, 'su'), '#!/bin/sh\n');
    await chmod(join(src, 'su'), 0o4755);
    await writeFile(join(src, 'open'), 'x');
    await chmod(join(src, 'open'), 0o666);
    await writeFile(join(src, 'plain'), 'x');
    await chmod(join(src, 'plain'), 0o644);
    await chmod(join(src, 'tmp'), 0o1777);
    const { manifest, narrowed } = await scanTree(src);
    const modes = Object.fromEntries(
      manifest.entries.map((e) => [e.path, e.type === 'symlink' ? null : e.mode]),
    );
    expect(modes).toEqual({ open: 0o664, plain: 0o644, su: 0o755, tmp: 0o775 });
    expect(narrowed).toEqual([
      { path: 'open', from: 0o666, to: 0o664 },
      { path: 'su', from: 0o4755, to: 0o755 },
      { path: 'tmp', from: 0o1777, to: 0o775 },
    ]);
  });

  it('never makes a setuid, setgid, sticky or world-writable path', async () => {
    const data = Buffer.from('#!/bin/sh\n');
    const digest = sha256Hex(data);
    await store.put(digest, data);
    const m: Manifest = {
      format: 1,
      entries: [
        { path: 'bin', type: 'dir', mode: 0o1777 },
        {
          path: 'bin/su',
          type: 'file',
          mode: 0o4755,
          size: data.length,
          chunks: [{ digest, size: data.length }],
        },
      ],
    };
    const dest = join(work, 'releases', 'v1');
    await expect(materialize(m, dest, store)).rejects.toThrow(/setuid/);
    expect(await readdir(join(work, 'releases')).catch(() => [])).toEqual([]);
  });

  it('makes an empty image of an empty directory', async () => {
    const src = join(work, 'empty');
    await mkdir(src);
    const { manifest, chunks } = await scanTree(src);
    expect(manifest).toEqual({ format: 1, entries: [] });
    expect(chunks.size).toBe(0);
    await materialize(manifest, join(work, 'out'), store);
    expect(await readdir(join(work, 'out'))).toEqual([]);
    await expect(scanTree(join(work, 'nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('materialize reusing earlier releases', () => {
  /** v1 is the source tree; v2 changes one file, adds one and keeps the rest. */
  async function twoReleases(): Promise<{ v1: Manifest; v2: Manifest }> {
    const { src } = await buildSource();
    const v1 = await upload(src);
    await chmod(join(src, 'readonly'), 0o755);
    await writeFile(join(src, 'bin/run.sh'), '#!/bin/sh\necho hello again\n');
    await writeFile(join(src, 'data/new.txt'), 'new\n');
    await chmod(join(src, 'readonly'), 0o555);
    const v2 = await upload(src);
    return { v1, v2 };
  }

  it('links files identical to an earlier release and writes the others', async () => {
    const { v1, v2 } = await twoReleases();
    const d1 = join(work, 'releases/v1');
    const d2 = join(work, 'releases/v2');
    expect(await materialize(v1, d1, store)).toEqual({
      filesWritten: 6,
      filesLinked: 0,
      bytesWritten: 2 * 3 * 1024 * 1024 + 21 + 5 + 2,
    });

    const result = await materialize(v2, d2, store, { reuseFrom: [{ manifest: v1, dir: d1 }] });
    expect(result).toEqual({ filesWritten: 2, filesLinked: 5, bytesWritten: 27 + 4 });
    // The two big files have the same content and mode, so either may have been the one linked.
    const inodesOf = async (dir: string, paths: string[]): Promise<number[]> =>
      Promise.all(paths.map(async (p) => (await stat(join(dir, p))).ino));
    const bigs = ['data/big.bin', 'data/big-copy.bin'];
    const earlierBigs = await inodesOf(d1, bigs);
    for (const ino of await inodesOf(d2, bigs)) expect(earlierBigs).toContain(ino);
    const small = ['data/empty', 'data/nested/deep/x.txt', 'readonly/file'];
    expect(await inodesOf(d2, small)).toEqual(await inodesOf(d1, small));
    for (const changed of ['bin/run.sh', 'data/new.txt']) {
      expect((await stat(join(d2, changed))).nlink, changed).toBe(1);
    }
    expect(await readFile(join(d2, 'bin/run.sh'), 'utf8')).toBe('#!/bin/sh\necho hello again\n');
    expect(await verifyTree(v2, d2)).toEqual([]);
    expect(await verifyTree(v1, d1)).toEqual([]);
  });

  it('writes a file whose earlier copy is missing or not the size the manifest says', async () => {
    const { v1, v2 } = await twoReleases();
    const d1 = join(work, 'releases/v1');
    await materialize(v1, d1, store);
    await chmod(join(d1, 'data'), 0o755);
    await rm(join(d1, 'data/big.bin'));
    await rm(join(d1, 'data/big-copy.bin'));
    await chmod(join(d1, 'data/nested/deep/x.txt'), 0o644);
    await writeFile(join(d1, 'data/nested/deep/x.txt'), 'longer than before\n');
    await chmod(join(d1, 'data/nested/deep/x.txt'), 0o640);

    const d2 = join(work, 'releases/v2');
    const result = await materialize(v2, d2, store, { reuseFrom: [{ manifest: v1, dir: d1 }] });
    expect(result).toMatchObject({ filesWritten: 5, filesLinked: 2 });
    for (const written of ['data/big.bin', 'data/big-copy.bin', 'data/nested/deep/x.txt']) {
      expect((await stat(join(d2, written))).nlink, written).toBe(1);
    }
    expect((await stat(join(d2, 'readonly/file'))).ino).toBe(
      (await stat(join(d1, 'readonly/file'))).ino,
    );
    expect(await verifyTree(v2, d2)).toEqual([]);
  });

  it('does not link a file whose mode differs, and ignores an invalid earlier manifest', async () => {
    const { v1 } = await twoReleases();
    const d1 = join(work, 'releases/v1');
    await materialize(v1, d1, store);
    const chmodded: Manifest = {
      format: 1,
      entries: v1.entries.map((e) => (e.path === 'readonly/file' ? { ...e, mode: 0o600 } : e)),
    };
    const r = await materialize(chmodded, join(work, 'releases/v2'), store, {
      reuseFrom: [{ manifest: v1, dir: d1 }],
    });
    expect(r).toEqual({ filesWritten: 1, filesLinked: 5, bytesWritten: 2 });
    expect(await verifyTree(chmodded, join(work, 'releases/v2'))).toEqual([]);
    expect(await verifyTree(v1, d1)).toEqual([]);

    // Out of order, so invalid: not trusted as a source of files, even with the right paths.
    const invalid: Manifest = { format: 1, entries: [...v1.entries].reverse() };
    const again = await materialize(v1, join(work, 'releases/v3'), store, {
      reuseFrom: [{ manifest: invalid, dir: d1 }],
    });
    expect(again).toMatchObject({ filesWritten: 6, filesLinked: 0 });
  });
});
