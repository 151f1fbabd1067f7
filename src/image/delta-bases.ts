/**
 * Which chunk a host already holds is the best base for each chunk of a new image it lacks (see
 * chunk-delta.ts). Content-defined chunking keeps the chunks around an edit unchanged, so a
 * file's new chunk list is its old one with some runs replaced: between two chunks both lists
 * share (anchors), each new chunk of the run pairs with the old chunks of the run that cover
 * the same share of it, one more on each side (an edit moves bytes across chunk boundaries),
 * at most MAX_BASE_CHUNKS. Files are matched by path; a file that is new has no bases.
 */
import type { ChunkRef, Manifest } from './manifest.js';

/** Chunks, at most, whose concatenation is one base (as the serving side accepts). */
export const MAX_BASE_CHUNKS = 4;

/**
 * For each chunk of `next` that its file did not have in `earlier` (newest first), the digests
 * of the earlier chunks of that file covering the same place, in file order. Whether the host
 * still holds them is for the fetch to check when it asks.
 */
export function deltaBases(next: Manifest, earlier: Manifest[]): Map<string, string[]> {
  const bases = new Map<string, string[]>();
  const oldFiles = new Map<string, ChunkRef[]>();
  for (const m of [...earlier].reverse()) {
    for (const e of m.entries) if (e.type === 'file') oldFiles.set(e.path, e.chunks);
  }
  for (const e of next.entries) {
    if (e.type !== 'file') continue;
    const old = oldFiles.get(e.path);
    if (!old || old.length === 0) continue;
    for (const [target, base] of pairRuns(e.chunks, old)) {
      if (!bases.has(target)) bases.set(target, base);
    }
  }
  return bases;
}

/** Pairs each chunk of `next` missing from `old` with the old chunk at the same place in its run. */
function pairRuns(next: ChunkRef[], old: ChunkRef[]): [string, string[]][] {
  const oldIndex = new Map<string, number>();
  old.forEach((c, i) => {
    if (!oldIndex.has(c.digest)) oldIndex.set(c.digest, i);
  });
  const pairs: [string, string[]][] = [];
  let i = 0;
  let oldFrom = 0; // the old run starts after the last anchor
  while (i < next.length) {
    const at = oldIndex.get(next[i]!.digest);
    if (at !== undefined) {
      oldFrom = at + 1;
      i++;
      continue;
    }
    // A run of new chunks up to the next anchor (or the end).
    let j = i;
    while (j < next.length && !oldIndex.has(next[j]!.digest)) j++;
    const oldTo = j < next.length ? oldIndex.get(next[j]!.digest)! : old.length;
    const newRun = next.slice(i, j);
    const oldRun = old.slice(oldFrom, Math.max(oldFrom, oldTo));
    // With no old chunks between the anchors (a pure insertion), the neighbour before it serves.
    const candidates = oldRun.length > 0 ? oldRun : old.slice(Math.max(0, oldFrom - 1), oldFrom);
    if (candidates.length > 0) {
      const newLength = newRun.reduce((n, c) => n + c.size, 0);
      const oldLength = candidates.reduce((n, c) => n + c.size, 0);
      const scale = oldLength / newLength;
      let offset = 0;
      for (const c of newRun) {
        const first = Math.max(0, indexAt(candidates, offset * scale) - 1);
        const last = Math.min(
          candidates.length - 1,
          indexAt(candidates, (offset + c.size) * scale - 1) + 1,
          first + MAX_BASE_CHUNKS - 1,
        );
        pairs.push([c.digest, candidates.slice(first, last + 1).map((b) => b.digest)]);
        offset += c.size;
      }
    }
    i = j;
  }
  return pairs;
}

/** The index of the chunk of `run` covering byte `offset` of the run (the last one past its end). */
function indexAt(run: ChunkRef[], offset: number): number {
  let end = 0;
  for (const [i, c] of run.entries()) {
    end += c.size;
    if (offset < end) return i;
  }
  return run.length - 1;
}
