/**
 * The test image: a deterministic pseudo-random tree of a given size spread over files of very
 * different sizes, and a copy of it with 1% of its bytes changed. The bytes are incompressible
 * on purpose: no method can beat the link by compressing, so the physical limit stays the
 * image size over the link rate.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';

/** One file of a tree. */
export interface TreeFile {
  /** Relative, with `/`. */
  path: string;
  size: number;
  sha256: string;
}

/** A tree on disk with its digests. */
export interface Tree {
  dir: string;
  files: TreeFile[];
  bytes: number;
  /** `sha256sum -c` input for the tree, kept outside it. */
  sumsFile: string;
}

/** One changed region of the modified copy. */
export interface Change {
  path: string;
  kind: 'insert' | 'overwrite';
  /** Offset in the original file. */
  offset: number;
  length: number;
}

/** The modified copy and what differs. */
export interface Delta {
  tree: Tree;
  changes: Change[];
  /** Bytes a perfect delta would move: the inserted and overwritten bytes. */
  changedBytes: number;
}

/*
 * Share of the image (percent) per big file, shaped like a service image: a few large binaries
 * and data files, several middling ones. Sixteen small config files take ~0.5% besides.
 */
const LARGE: [string, number][] = [
  ['bin/server', 22],
  ['lib/libcore.so', 18],
  ['data/model.bin', 14],
  ['lib/libmarket.so', 12],
  ['lib/libpricing.so', 10],
  ['data/curves.bin', 8],
  ['share/assets.pak', 6],
  ['share/fonts.pak', 3],
  ['data/holidays.bin', 2],
  ['share/locale.pak', 2],
  ['opt/tools/fetcher', 2],
  ['opt/tools/inspect', 1],
];
const SMALL_FILES = 16;

/** The share of bytes the update changes, and how it is spread. */
export const DELTA = {
  fraction: 0.01,
  /** Files that change: the biggest binary, two libraries, the model. */
  files: ['bin/server', 'lib/libcore.so', 'lib/libpricing.so', 'data/model.bin'],
  /** Per changed file, where its regions start (fraction of the file) and what they are. */
  regions: [
    { at: 0.31, kind: 'insert' },
    { at: 0.72, kind: 'overwrite' },
  ] as const,
};

/** Everything has this mtime, so tools that compare times (rsync) see only real changes. */
const ORIGINAL_TIME = new Date('2024-01-01T00:00:00Z');
const UPDATE_TIME = new Date('2024-01-02T00:00:00Z');

/** AES-CTR keystream of a seed: deterministic pseudo-random bytes at memory speed. */
function* keystream(seed: string, length: number): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const block = Buffer.alloc(1024 * 1024);
  for (let left = length; left > 0; left -= block.length) {
    yield cipher.update(left >= block.length ? block : block.subarray(0, left));
  }
}

type Segment = { from: string; start: number; end: number } | { seed: string; length: number };

/** Writes `segments` into `file` and returns its size and SHA-256. */
async function writeSegments(file: string, segments: Segment[]): Promise<TreeFile> {
  await mkdir(dirname(file), { recursive: true });
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  let size = 0;
  const put = async (b: Buffer) => {
    hash.update(b);
    size += b.length;
    if (!out.write(b)) await once(out, 'drain');
  };
  for (const s of segments) {
    if ('seed' in s) {
      for (const b of keystream(s.seed, s.length)) await put(b);
    } else if (s.end > s.start) {
      for await (const b of createReadStream(s.from, { start: s.start, end: s.end - 1 })) {
        await put(b as Buffer);
      }
    }
  }
  out.end();
  await once(out, 'close');
  return { path: file, size, sha256: hash.digest('hex') };
}

async function finish(dir: string, files: TreeFile[], sumsFile: string): Promise<Tree> {
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  await writeFile(sumsFile, files.map((f) => `${f.sha256}  ${f.path}\n`).join(''));
  return { dir, files, bytes: files.reduce((n, f) => n + f.size, 0), sumsFile };
}

/** The file sizes of an image of `size` bytes: deterministic, summing exactly to `size`. */
export function layout(size: number): { path: string; size: number }[] {
  const smallEach = Math.max(1, Math.min(64 * 1024, Math.floor((size * 0.005) / SMALL_FILES)));
  const small = Array.from({ length: SMALL_FILES }, (_, i) => ({
    path: `conf/part-${String(i + 1).padStart(2, '0')}.conf`,
    // Varied sizes, each at least 1 byte.
    size: Math.max(1, Math.round(smallEach * (0.5 + ((i * 37) % 16) / 16))),
  }));
  const rest = size - small.reduce((n, f) => n + f.size, 0);
  if (rest < LARGE.length) throw new Error(`--size ${size}: too small for a test image`);
  const large = LARGE.map(([path, pct]) => ({ path, size: Math.floor((rest * pct) / 100) }));
  // The remainder of the rounding goes to the largest file.
  large[0]!.size += rest - large.reduce((n, f) => n + f.size, 0);
  return [...large, ...small];
}

/** Writes the test image of `size` bytes into `dir`; `sumsFile` gets its digests. */
export async function makeImage(dir: string, size: number, sumsFile: string): Promise<Tree> {
  const files: TreeFile[] = [];
  for (const f of layout(size)) {
    const full = join(dir, f.path);
    const written = await writeSegments(full, [
      { seed: `slipway-bench:${f.path}`, length: f.size },
    ]);
    await utimes(full, ORIGINAL_TIME, ORIGINAL_TIME);
    files.push({ ...written, path: f.path });
  }
  return finish(dir, files, sumsFile);
}

/**
 * Writes into `dir` a copy of `base` with `DELTA.fraction` of its bytes changed: in each of
 * `DELTA.files`, an insertion of new bytes in the middle (everything after it shifts) and an
 * overwrite of the same length further on. Unchanged files are hard links to the originals
 * (nothing writes to either tree).
 */
export async function makeDelta(base: Tree, dir: string, sumsFile: string): Promise<Delta> {
  const perRegion = Math.max(
    1,
    Math.round((base.bytes * DELTA.fraction) / (DELTA.files.length * DELTA.regions.length)),
  );
  const files: TreeFile[] = [];
  const changes: Change[] = [];
  for (const f of base.files) {
    const from = join(base.dir, f.path);
    const to = join(dir, f.path);
    if (!DELTA.files.includes(f.path)) {
      await mkdir(dirname(to), { recursive: true });
      await link(from, to);
      files.push(f);
      continue;
    }
    const segments: Segment[] = [];
    let pos = 0;
    for (const [i, r] of DELTA.regions.entries()) {
      const offset = Math.max(
        pos,
        Math.min(Math.floor(f.size * r.at), Math.max(0, f.size - perRegion)),
      );
      const length = Math.min(perRegion, f.size - offset);
      segments.push({ from, start: pos, end: offset });
      segments.push({ seed: `slipway-bench:update:${f.path}:${i}`, length });
      pos = r.kind === 'insert' ? offset : offset + length;
      changes.push({ path: f.path, kind: r.kind, offset, length });
    }
    segments.push({ from, start: pos, end: f.size });
    const written = await writeSegments(to, segments);
    await utimes(to, UPDATE_TIME, UPDATE_TIME);
    files.push({ ...written, path: f.path });
  }
  const tree = await finish(dir, files, sumsFile);
  return { tree, changes, changedBytes: changes.reduce((n, c) => n + c.length, 0) };
}

/** SHA-256 of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const b of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(b as Buffer);
  }
  return hash.digest('hex');
}

/**
 * Checks that `dir` holds every file of `tree` with the right bytes; returns the problems
 * (empty when all is well). Extra files are not an error: tools keep control files beside.
 */
export async function verifyTree(dir: string, tree: Tree): Promise<string[]> {
  const problems: string[] = [];
  for (const f of tree.files) {
    try {
      const digest = await sha256File(join(dir, f.path));
      if (digest !== f.sha256) problems.push(`${f.path}: wrong bytes`);
    } catch (e) {
      problems.push(`${f.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return problems;
}
