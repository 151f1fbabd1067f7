/**
 * What a chunk request is answered with, the same at the origin and at every peer: the chunk, or
 * a delta against a chunk the asker holds (`?base=<digest>`) when the server holds that one too
 * and the delta is smaller; brotli on top when the asker accepts it and it pays.
 */
import { MAX_BASE_CHUNKS, encodeChunkDelta, isDigest, type ObjectStore } from '../image/index.js';
import { encodeChunk } from './wire-codec.js';

/** The response header naming the base a delta body applies to. */
export const DELTA_BASE_HEADER = 'x-slipway-delta-base';

/**
 * A base as the asker names it: one to MAX_BASE_CHUNKS digests joined by commas, whose chunks
 * concatenated are the bytes the delta applies to (an edit that merged chunks needs them all).
 * Null when `text` is not one.
 */
export function parseBase(text: string | null | undefined): string[] | null {
  if (!text) return null;
  const digests = text.split(',');
  return digests.length <= MAX_BASE_CHUNKS && digests.every(isDigest) ? digests : null;
}

/** The bytes of a base: its chunks, concatenated. */
export async function readBase(objects: ObjectStore, digests: string[]): Promise<Buffer> {
  return Buffer.concat(await Promise.all(digests.map((d) => objects.get(d))));
}

export interface ChunkReply {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** Reads `digest` (which the caller knows is held) and encodes it for the asker. */
export async function chunkReply(
  objects: ObjectStore,
  digest: string,
  opts: { base?: string | null; acceptEncoding?: string },
): Promise<ChunkReply> {
  const raw = await objects.get(digest);
  const headers: Record<string, string> = {};
  let body: Uint8Array = raw;
  let cacheKey: string | undefined = digest;
  const base = parseBase(opts.base);
  if (base && (await holdsAll(objects, base))) {
    const delta = encodeChunkDelta(await readBase(objects, base), raw);
    if (delta) {
      body = delta;
      headers[DELTA_BASE_HEADER] = base.join(',');
      cacheKey = undefined; // the incompressible verdict is about the chunk, not this delta
    }
  }
  if (/\bbr\b/.test(opts.acceptEncoding ?? '')) {
    const encoded = await encodeChunk(body, cacheKey);
    body = encoded.body;
    if (encoded.encoding !== 'identity') headers['content-encoding'] = encoded.encoding;
  }
  return { body, headers };
}

/** Whether every one of `digests` is in the store. */
export async function holdsAll(objects: ObjectStore, digests: string[]): Promise<boolean> {
  for (const d of digests) if (!(await objects.has(d))) return false;
  return true;
}
