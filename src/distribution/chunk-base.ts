/**
 * Delta bases on the wire: the chunks an asker holds that a new chunk may be sent as a delta
 * against (see image/chunk-delta.ts). One to MAX_BASE_CHUNKS digests, sent comma-separated as
 * `?base=`, whose chunks concatenated are the bytes the delta applies to: an edit that merged
 * old chunks needs them all. The answer names the base it used in DELTA_BASE_HEADER.
 */
import { MAX_BASE_CHUNKS, isDigest, type ObjectStore } from '../image/index.js';

/** The response header naming the base a delta body applies to. */
export const DELTA_BASE_HEADER = 'x-slipway-delta-base';

/** A base the asker holds: its digests, and its bytes read only when a delta comes back. */
export interface ChunkBase {
  digests: string[];
  read(): Promise<Uint8Array>;
}

/** The digests of a `?base=` value, or null when it is not one. */
export function parseBase(text: string | null | undefined): string[] | null {
  if (!text) return null;
  const digests = text.split(',');
  return digests.length <= MAX_BASE_CHUNKS && digests.every(isDigest) ? digests : null;
}

/** The base made of `digests` when `objects` holds every one of them. */
export async function heldBase(
  objects: ObjectStore,
  digests: string[] | null | undefined,
): Promise<ChunkBase | undefined> {
  if (!digests || digests.length === 0) return undefined;
  for (const d of digests) if (!(await objects.has(d))) return undefined;
  return {
    digests,
    read: async () => Buffer.concat(await Promise.all(digests.map((d) => objects.get(d)))),
  };
}
