import { z } from 'zod';
import { SlipwayError, ValidationError } from '../core/index.js';
import type { Problem } from '../core/index.js';
import { canonicalJson } from './canonical-json.js';
import { isDigest, sha256Hex } from './digest.js';

/** A chunk of a file: its SHA-256 and length in bytes. */
export interface ChunkRef {
  digest: string;
  size: number;
}

/** One path of an image. `mode` holds only the permission bits (mask 0o7777). */
export type ManifestEntry =
  | { path: string; type: 'dir'; mode: number }
  | { path: string; type: 'file'; mode: number; size: number; chunks: ChunkRef[] }
  | { path: string; type: 'symlink'; target: string };

/**
 * An image's content: every path below the root (the root itself is not listed), sorted by the
 * UTF-8 bytes of `path`, each path once. The image id is the hash of its canonical JSON.
 */
export interface Manifest {
  format: 1;
  entries: ManifestEntry[];
}

const modeSchema = z.number().int().min(0).max(0o7777);

/**
 * Mode bits an image may not carry: setuid, setgid, sticky, and write for others. A release is
 * a world-traversable tree run by the agent's user: a setuid file there runs as that user for
 * anyone, a world-writable one lets anyone change what runs.
 */
export const UNSAFE_MODE_BITS = 0o7002;

/** `mode` without the bits an image may not carry (see UNSAFE_MODE_BITS). */
export function safeMode(mode: number): number {
  return mode & 0o7777 & ~UNSAFE_MODE_BITS;
}

/** The unsafe bits of `mode`, in words ('setuid, world-writable'); '' when there are none. */
export function unsafeModeBits(mode: number): string {
  const names: [number, string][] = [
    [0o4000, 'setuid'],
    [0o2000, 'setgid'],
    [0o1000, 'sticky'],
    [0o0002, 'world-writable'],
  ];
  return names
    .filter(([bit]) => (mode & bit) !== 0)
    .map(([, name]) => name)
    .join(', ');
}
const sizeSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const chunkRefSchema = z.strictObject({
  digest: z.string(),
  size: sizeSchema.min(1),
});

/**
 * The shape of a manifest. Strict objects: an unknown key would silently change nothing but the
 * image id, so it is refused rather than dropped. Semantic rules live in `checkManifest`.
 */
export const manifestSchema = z.strictObject({
  format: z.literal(1),
  entries: z.array(
    z.discriminatedUnion('type', [
      z.strictObject({ path: z.string(), type: z.literal('dir'), mode: modeSchema }),
      z.strictObject({
        path: z.string(),
        type: z.literal('file'),
        mode: modeSchema,
        size: sizeSchema,
        chunks: z.array(chunkRefSchema),
      }),
      z.strictObject({ path: z.string(), type: z.literal('symlink'), target: z.string() }),
    ]),
  ),
});

/**
 * Validates untrusted JSON as a manifest: shape first, then every rule of `checkManifest`.
 * Throws a ValidationError listing every problem found.
 */
export function parseManifest(json: unknown): Manifest {
  const shaped = manifestSchema.safeParse(json);
  if (!shaped.success) {
    throw new ValidationError(
      'invalid image manifest',
      shaped.error.issues.map((issue) => ({
        path: formatIssuePath(issue.path),
        message: issue.message,
      })),
    );
  }
  const manifest: Manifest = shaped.data;
  const problems = checkManifest(manifest);
  if (problems.length > 0) throw new ValidationError('invalid image manifest', problems);
  return manifest;
}

function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : `${out ? '.' : ''}${String(key)}`;
  }
  return out;
}

/** Compares strings by their UTF-8 bytes, the order manifests are sorted in. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Every rule a manifest must follow, so that materializing it can only write inside its
 * destination: well-formed relative paths, sorted and unique, each one's parent a directory of the
 * manifest (so nothing is written through a symlink), consistent file sizes, well-formed digests,
 * no setuid, setgid, sticky or world-writable modes, and symlinks whose targets stay inside the
 * image. Returns all problems, empty when valid.
 */
export function checkManifest(m: Manifest): Problem[] {
  const checker = new ManifestChecker(m.entries);
  m.entries.forEach((entry, i) => checker.check(entry, i));
  return checker.problems;
}

/**
 * `checkManifest` one entry at a time, in order, so that a caller holding a very large manifest
 * can check it in slices between turns of the event loop.
 */
export class ManifestChecker {
  readonly problems: Problem[] = [];
  private readonly byPath = new Map<string, ManifestEntry>();
  private readonly seen = new Set<string>();
  private previous: string | undefined;

  constructor(entries: readonly ManifestEntry[]) {
    for (const e of entries) if (!this.byPath.has(e.path)) this.byPath.set(e.path, e);
  }

  /** Checks `entry`, the `i`th of the manifest (every entry before it checked already). */
  check(entry: ManifestEntry, i: number): void {
    const at = `entries[${i}]`;
    const add = (field: string, message: string): void => {
      this.problems.push({ path: `${at}${field}`, message });
    };

    const pathProblem = checkPathSyntax(entry.path);
    if (pathProblem) add('.path', `${JSON.stringify(entry.path)}: ${pathProblem}`);

    if (this.seen.has(entry.path)) {
      add('.path', `duplicate path ${JSON.stringify(entry.path)}`);
    } else if (this.previous !== undefined && comparePaths(this.previous, entry.path) > 0) {
      add(
        '.path',
        `${JSON.stringify(entry.path)} is out of order (must sort after ${JSON.stringify(this.previous)})`,
      );
    }
    this.seen.add(entry.path);
    this.previous = entry.path;

    if (!pathProblem) {
      const slash = entry.path.lastIndexOf('/');
      if (slash >= 0) {
        const parentPath = entry.path.slice(0, slash);
        const parent = this.byPath.get(parentPath);
        if (!parent) {
          add(
            '.path',
            `parent directory ${JSON.stringify(parentPath)} of ${JSON.stringify(entry.path)} is not in the manifest`,
          );
        } else if (parent.type !== 'dir') {
          add(
            '.path',
            `parent ${JSON.stringify(parentPath)} of ${JSON.stringify(entry.path)} is a ${parent.type}, not a directory`,
          );
        }
      }
    }

    if (entry.type !== 'symlink' && (entry.mode & UNSAFE_MODE_BITS) !== 0) {
      add(
        '.mode',
        `${entry.type} ${JSON.stringify(entry.path)} has mode 0o${entry.mode.toString(8)} (${unsafeModeBits(entry.mode)}): an image may not hold setuid, setgid, sticky or world-writable paths (slipway build strips those bits)`,
      );
    }

    if (entry.type === 'file') {
      let total = 0;
      entry.chunks.forEach((chunk, j) => {
        total += chunk.size;
        if (!isDigest(chunk.digest)) {
          add(
            `.chunks[${j}].digest`,
            `${JSON.stringify(chunk.digest)} is not a SHA-256 digest (64 lowercase hex characters)`,
          );
        }
      });
      if (total !== entry.size) {
        add(
          '.size',
          `file ${JSON.stringify(entry.path)} has size ${entry.size} but its chunks add up to ${total}`,
        );
      }
    } else if (entry.type === 'symlink') {
      const targetProblem = checkSymlinkTarget(entry, this.byPath);
      if (targetProblem) add('.target', targetProblem);
    }
  }
}

function checkPathSyntax(path: string): string | undefined {
  if (path === '') return 'empty path';
  if (path.includes('\0')) return 'path contains a NUL byte';
  if (path.startsWith('/')) return 'absolute path (paths are relative to the image root)';
  const segments = path.split('/');
  if (segments.includes('..')) return "'..' segment";
  if (segments.includes('.')) return "'.' segment";
  if (segments.includes('')) return 'empty segment';
  return undefined;
}

/** Symlinks the kernel follows before giving up (Linux MAXSYMLINKS). */
const MAX_SYMLINK_HOPS = 40;

function checkSymlinkTarget(
  link: Extract<ManifestEntry, { type: 'symlink' }>,
  byPath: Map<string, ManifestEntry>,
): string | undefined {
  const show = `symlink ${JSON.stringify(link.path)} -> ${JSON.stringify(link.target)}`;
  if (link.target === '') return `${show}: empty target`;
  if (link.target.includes('\0')) return `${show}: target contains a NUL byte`;
  if (link.target.startsWith('/')) return `${show}: absolute target`;
  const dir = link.path.split('/').slice(0, -1);
  const hops = { left: MAX_SYMLINK_HOPS };
  if (resolveInside(dir, link.target, byPath, hops) === ESCAPES) {
    return `${show}: target escapes the image root`;
  }
  return undefined;
}

const ESCAPES = Symbol('escapes');
const UNRESOLVABLE = Symbol('unresolvable');

/**
 * Resolves `target` from directory `dir` the way the kernel would inside a materialized image,
 * following the manifest's own symlinks: a lexical check alone misses `a/l -> ../r/..` when
 * `r -> .`, since `..` after a symlink goes to the parent of the link's target. A loop is not an
 * escape (the kernel refuses it with ELOOP), so it resolves to UNRESOLVABLE.
 */
function resolveInside(
  dir: readonly string[],
  target: string,
  byPath: Map<string, ManifestEntry>,
  hops: { left: number },
): string[] | typeof ESCAPES | typeof UNRESOLVABLE {
  let stack = [...dir];
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (stack.length === 0) return ESCAPES;
      stack.pop();
      continue;
    }
    stack.push(segment);
    const entry = byPath.get(stack.join('/'));
    if (entry?.type !== 'symlink') continue;
    if (--hops.left < 0) return UNRESOLVABLE;
    if (entry.target.startsWith('/')) return ESCAPES;
    stack.pop();
    const resolved = resolveInside(stack, entry.target, byPath, hops);
    if (!Array.isArray(resolved)) return resolved;
    stack = resolved;
  }
  return stack;
}

/** The image id: SHA-256 of the manifest's canonical JSON. */
export function imageIdOf(m: Manifest): string {
  return sha256Hex(canonicalJson(m));
}

/** Every distinct chunk the manifest refers to, in first-use order. */
export function manifestChunks(m: Manifest): ChunkRef[] {
  const unique = new Map<string, ChunkRef>();
  for (const entry of m.entries) {
    if (entry.type !== 'file') continue;
    for (const chunk of entry.chunks) {
      if (!unique.has(chunk.digest))
        unique.set(chunk.digest, { digest: chunk.digest, size: chunk.size });
    }
  }
  return [...unique.values()];
}

/** Total bytes of the image's files (before deduplication). */
export function manifestSize(m: Manifest): number {
  let total = 0;
  for (const entry of m.entries) if (entry.type === 'file') total += entry.size;
  return total;
}

/** Most entries an image may have unless the server says otherwise (`--max-image-entries`). */
export const DEFAULT_MAX_MANIFEST_ENTRIES = 100_000;

/**
 * Refuses a manifest with more than `max` entries, before anything else looks at it: every
 * entry costs validation time and memory on the server and on every host.
 */
export function checkEntryCount(json: unknown, max: number): void {
  const entries = (json as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries) || entries.length <= max) return;
  throw new SlipwayError(
    'INVALID',
    `invalid image manifest: it has ${entries.length} entries, more than the ${max} this server accepts per image; split the image, or raise the limit with slipway server --max-image-entries`,
    { entries: entries.length, limit: max },
  );
}
