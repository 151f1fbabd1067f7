/**
 * What a chunk request is answered with, the same at the origin and at every peer: the chunk, or
 * a delta against chunks the asker holds (`?base=`, see chunk-base.ts) when the server holds them too
 * and the delta is smaller; brotli on top when the asker accepts it and it pays.
 */
import { encodeChunkDelta, type ObjectStore } from '../image/index.js';
import { DELTA_BASE_HEADER, heldBase } from './chunk-base.js';
import { encodeChunk } from './wire-codec.js';

export interface ChunkReply {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** Reads `digest` (which the caller knows is held) and encodes it for the asker. */
export async function chunkReply(
  objects: ObjectStore,
  digest: string,
  opts: { base?: string[] | null; acceptEncoding?: string },
): Promise<ChunkReply> {
  const raw = await objects.get(digest);
  const headers: Record<string, string> = {};
  let body: Uint8Array = raw;
  let cacheKey: string | undefined = digest;
  const base = await heldBase(objects, opts.base);
  if (base) {
    const delta = encodeChunkDelta(await base.read(), raw);
    if (delta) {
      body = delta;
      headers[DELTA_BASE_HEADER] = base.digests.join(',');
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
