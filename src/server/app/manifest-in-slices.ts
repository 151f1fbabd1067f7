/**
 * An uploaded manifest checked and serialized a slice of entries at a time, yielding to the
 * event loop between slices: a manifest of 100,000 entries takes about a second of work, and
 * other callers (agents' reports, long polls, health checks) must be answered meanwhile.
 */
import { createHash } from 'node:crypto';
import { ValidationError, type Problem } from '../../core/index.js';
import {
  canonicalJson,
  checkEntryCount,
  ManifestChecker,
  manifestSchema,
  parseManifest,
  type Manifest,
  type ManifestEntry,
} from '../../image/index.js';

/** Entries handled between two turns of the event loop. */
const SLICE = 2_000;
/** Problems listed in one answer: enough to fix, not a megabyte of error. */
const PROBLEMS_SHOWN = 100;

export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * `parseManifest`, refusing more than `maxEntries` entries first, and checking the shape of the
 * entries slice by slice.
 */
export async function parseManifestInSlices(json: unknown, maxEntries: number): Promise<Manifest> {
  checkEntryCount(json, maxEntries);
  const entries = (json as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries) || entries.length <= SLICE) return parseManifest(json);
  // Everything but the entries (format, unknown keys) once.
  parseManifest({ ...(json as object), entries: [] });
  const shaped: ManifestEntry[] = [];
  const problems: Problem[] = [];
  for (let from = 0; from < entries.length; from += SLICE) {
    const part = manifestSchema.safeParse({
      format: 1,
      entries: entries.slice(from, from + SLICE),
    });
    if (part.success) shaped.push(...part.data.entries);
    else problems.push(...part.error.issues.map((i) => shiftedProblem(i, from)));
    if (problems.length >= PROBLEMS_SHOWN) break;
    await yieldToLoop();
  }
  if (problems.length > 0) {
    throw new ValidationError('invalid image manifest', problems.slice(0, PROBLEMS_SHOWN));
  }
  const manifest: Manifest = { format: 1, entries: shaped };
  const checker = new ManifestChecker(shaped);
  for (let from = 0; from < shaped.length; from += SLICE) {
    const to = Math.min(from + SLICE, shaped.length);
    for (let i = from; i < to; i++) checker.check(shaped[i]!, i);
    if (checker.problems.length >= PROBLEMS_SHOWN) break;
    await yieldToLoop();
  }
  if (checker.problems.length > 0) {
    throw new ValidationError('invalid image manifest', checker.problems.slice(0, PROBLEMS_SHOWN));
  }
  return manifest;
}

/** A zod issue of a slice starting at `from`, with its path in the whole manifest. */
function shiftedProblem(
  issue: { path: readonly PropertyKey[]; message: string },
  from: number,
): Problem {
  const [, index, ...rest] = issue.path;
  let path = `entries[${from + Number(index)}]`;
  for (const key of rest) path += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return { path, message: issue.message };
}

/**
 * The manifest's canonical JSON (exactly `canonicalJson(manifest)`, whose keys sort as `entries`,
 * `format`) and its SHA-256, the image id, built a slice of entries at a time.
 */
export async function canonicalManifestInSlices(
  m: Manifest,
): Promise<{ text: string; id: string }> {
  const hash = createHash('sha256');
  const parts: string[] = [];
  const add = (s: string) => {
    parts.push(s);
    hash.update(s);
  };
  add('{"entries":[');
  for (let from = 0; from < m.entries.length; from += SLICE) {
    const slice = m.entries.slice(from, from + SLICE).map((e) => canonicalJson(e));
    add((from > 0 ? ',' : '') + slice.join(','));
    await yieldToLoop();
  }
  add(`],"format":${m.format}}`);
  return { text: parts.join(''), id: hash.digest('hex') };
}
