/**
 * What a chunk request is answered with, the same at the origin and at every peer: the chunk, or
 * a delta against a chunk the asker holds (`?base=<digest>`) when the server holds that one too
 * and the delta is smaller; brotli on top when the asker accepts it and it pays.
 */
import { encodeChunkDelta, type ObjectStore } from '../image/index.js';
import { encodeChunk } from './wire-codec.js';

/** The response header naming the base a delta body applies to. */
export const DELTA_BASE_HEADER = 'x-slipway-delta-base';

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
  if (opts.base && opts.base !== digest && (await objects.has(opts.base))) {
    const delta = encodeChunkDelta(await objects.get(opts.base), raw);
    if (delta) {
      body = delta;
      headers[DELTA_BASE_HEADER] = opts.base;
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
