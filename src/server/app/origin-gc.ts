/**
 * Garbage collection on the origin: chunks that no registered image references are deleted
 * once they are older than a grace time. The grace time protects a build in progress, whose
 * chunks are uploaded (or found present, which refreshes them) before its manifest arrives.
 */
import { parseManifest, manifestChunks, type ObjectStore } from '../../image/index.js';
import type { Store } from '../../store/index.js';

export interface OriginGcResult {
  removed: number;
  bytesFreed: number;
  /** Chunks kept because an image references them. */
  referenced: number;
}

export async function collectOriginChunks(
  store: Store,
  objects: ObjectStore,
  opts: { graceMs: number; now: number },
): Promise<OriginGcResult> {
  const referenced = new Set<string>();
  for (const text of await store.images.manifests()) {
    for (const c of manifestChunks(parseManifest(JSON.parse(text)))) referenced.add(c.digest);
  }
  const candidates = await store.chunks.olderThan(new Date(opts.now - opts.graceMs));
  const garbage = candidates.filter((c) => !referenced.has(c.digest));
  // Rows first: once a row is gone no new image can count on the chunk, then the bytes.
  await store.chunks.remove(garbage.map((c) => c.digest));
  for (const c of garbage) await objects.remove(c.digest);
  return {
    removed: garbage.length,
    bytesFreed: garbage.reduce((n, c) => n + c.size, 0),
    referenced: referenced.size,
  };
}
