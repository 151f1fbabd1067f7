import { manifestChunks } from '../image/index.js';
import type { Manifest, ObjectStore } from '../image/index.js';

/**
 * How long a freshly written object is spared. A fetch stores chunks before the release that
 * needs them is staged, so for a while its manifest is not among those the collector keeps.
 */
export const DEFAULT_OBJECT_GRACE_MS = 10 * 60 * 1000;

/** What a collection did. */
export interface ObjectCollection {
  /** Objects deleted. */
  removed: number;
  /** Bytes those objects held. */
  bytesFreed: number;
  /** Objects left in the store: referenced by a kept manifest, or within the grace period. */
  kept: number;
}

/**
 * Deletes every object of the store that no manifest of `keep` references, except those written
 * within `graceMs` of `now`. `keep` must list every image the host still needs (staged releases,
 * the ones kept for rollback, and any being fetched whose manifest is known): an object not named
 * there and older than the grace is gone, and a release that needed it could not be
 * materialized again without fetching it.
 */
export async function collectObjects(
  objects: ObjectStore,
  keep: Manifest[],
  opts: { graceMs?: number; now?: number } = {},
): Promise<ObjectCollection> {
  const graceMs = opts.graceMs ?? DEFAULT_OBJECT_GRACE_MS;
  const now = opts.now ?? Date.now();
  const wanted = new Set<string>();
  for (const manifest of keep) for (const c of manifestChunks(manifest)) wanted.add(c.digest);

  const result: ObjectCollection = { removed: 0, bytesFreed: 0, kept: 0 };
  for await (const o of objects.listStats()) {
    // An mtime in the future (clock stepped back) also counts as recent: better kept than lost.
    if (wanted.has(o.digest) || now - o.mtimeMs < graceMs) {
      result.kept++;
      continue;
    }
    await objects.remove(o.digest);
    result.removed++;
    result.bytesFreed += o.size;
  }
  return result;
}
