/**
 * Compression of chunks on the wire: brotli at quality 1, sized by a hint, or nothing.
 *
 * Chosen by measurement: `npm run bench:codec` (Node 20, a shared 2-core machine, each codec on
 * one core; ratio = raw / compressed, comp and decomp in MB/s of raw bytes):
 *
 *                node_modules JS        node executable        random bytes
 *                avg chunk 13 KiB       avg chunk 306 KiB      avg chunk 293 KiB
 *   codec        ratio  comp  decomp    ratio  comp  decomp    ratio  comp  decomp
 *   gzip-1       3.54     87     211    2.47     87     315    1.00     47    1050
 *   gzip-6       4.12     44     293    2.69     38     358    1.00     45    1349
 *   brotli-1     3.57    158     257    2.51    204     231    1.00    902    1560
 *   brotli-4     4.07     53     277    2.87     54     274    1.00    420    1371
 *   brotli-6     4.44     35     277    3.14     30     279    1.00    256    1301
 *
 * brotli-1 compresses as well as gzip-1 at about twice the speed, and gives up on incompressible
 * bytes twenty times faster. Higher levels gain 10-25% of ratio for 2-6 times the CPU, which beats
 * brotli-1 only on links below about 20-30 Mbit/s. Per chunk (compress + transfer + decompress), brotli-1 is
 * 1.9-2.5 times faster than raw bytes at 100 Mbit/s, but 0.64 times as fast at 1 Gbit/s and 0.08
 * times at 10 Gbit/s; with many chunks in flight it pays up to about 2.5-3.3 Gbit/s. So compress
 * on slow links (between regions), and send identity between peers on a fast local network.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants } from 'node:zlib';
import { SlipwayError } from '../core/index.js';

/** The compressed encoding, named as HTTP names it (`Content-Encoding: br`). */
export type ChunkEncoding = 'identity' | 'br';

/** A chunk ready to send: the body and how it is encoded. */
export interface EncodedChunk {
  encoding: ChunkEncoding;
  body: Uint8Array;
}

const compress = promisify(brotliCompress);
const decompress = promisify(brotliDecompress);

/** Sent compressed only when that saves at least this fraction: less is not worth a decompress. */
const MIN_SAVING = 0.1;

/** Incompressible digests remembered; a chunk is immutable, so one verdict holds forever. */
const INCOMPRESSIBLE_MAX = 4096;

/** Least recently seen first (a Map iterates in insertion order; a hit re-inserts). */
const incompressible = new Map<string, true>();

function rememberIncompressible(digest: string): void {
  incompressible.delete(digest);
  incompressible.set(digest, true);
  if (incompressible.size > INCOMPRESSIBLE_MAX) {
    const oldest = incompressible.keys().next();
    if (!oldest.done) incompressible.delete(oldest.value);
  }
}

/**
 * Encodes a chunk for the wire: brotli when that saves at least a tenth of its bytes, else the
 * bytes themselves. With the chunk's `digest`, a chunk found incompressible is remembered and not
 * compressed again the next time it is sent.
 */
export async function encodeChunk(data: Uint8Array, digest?: string): Promise<EncodedChunk> {
  if (data.length === 0) return { encoding: 'identity', body: data };
  if (digest !== undefined && incompressible.has(digest)) {
    rememberIncompressible(digest);
    return { encoding: 'identity', body: data };
  }
  const body = await compress(data, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 1,
      [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
  if (body.length > data.length * (1 - MIN_SAVING)) {
    if (digest !== undefined) rememberIncompressible(digest);
    return { encoding: 'identity', body: data };
  }
  return { encoding: 'br', body };
}

/**
 * Decodes a body received with `encoding`. Refuses, as INVALID, an encoding other than those
 * `encodeChunk` produces, a corrupt body, and output above `maxSize` bytes: decompression stops
 * there, so a small body cannot make the receiver allocate gigabytes.
 */
export async function decodeChunk(
  encoding: string,
  body: Uint8Array,
  maxSize: number,
): Promise<Uint8Array> {
  const tooLarge = (): SlipwayError =>
    new SlipwayError('INVALID', `decoded chunk exceeds ${maxSize} bytes`, { encoding, maxSize });

  if (encoding === 'identity') {
    if (body.length > maxSize) throw tooLarge();
    return body;
  }
  if (encoding !== 'br') {
    throw new SlipwayError('INVALID', `unknown chunk encoding ${JSON.stringify(encoding)}`, {
      encoding,
    });
  }
  let out: Uint8Array;
  try {
    // Node refuses 0 here; a zero limit is enforced by the length check below.
    out = await decompress(body, { maxOutputLength: Math.max(1, maxSize) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new SlipwayError(
      'INVALID',
      `corrupt ${encoding} chunk body: ${(e as Error).message}`,
      { encoding },
      { cause: e },
    );
  }
  if (out.length > maxSize) throw tooLarge();
  return out;
}
