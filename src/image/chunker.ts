import { sha256Hex } from './digest.js';

/** Sizes, in bytes, that drive content-defined chunking. */
export interface ChunkingParams {
  /** No cut before this many bytes (except the last chunk of a file). */
  minSize: number;
  /** The size chunks are normalized towards; rounded to a power of two for the masks. */
  avgSize: number;
  /** A cut is forced at this many bytes. */
  maxSize: number;
}

/**
 * The parameters every image uses. Chunk ids depend on them (and on the gear table), so changing
 * them makes every existing chunk useless for deduplication: treat them as part of the format.
 *
 * 16 KiB–256 KiB around 64 KiB, chosen with bench:fleet (30 hosts, 3 regions, 16 MiB image,
 * cold stage): 67.2-72.1 s with 64 KiB–1 MiB around 256 KiB, 66.8 and 65.9 s around 128 KiB,
 * 63.6-65.3 s around 64 KiB (10 hosts: 56.8 s). A chunk is the unit a host asks a peer for; the
 * smaller it is, the less of the image sits half-received on a host when its relay's last byte
 * arrives, and the sooner the last chunks are spread through the region. It costs CPU per chunk
 * (the same runs: 45-55%, 60-63%, 72-81% of two cores) and manifest bytes (about 100 per
 * chunk, half that gzipped).
 */
export const CHUNKING: Readonly<ChunkingParams> = Object.freeze({
  minSize: 16 * 1024,
  avgSize: 64 * 1024,
  maxSize: 256 * 1024,
});

/** One chunk cut from a stream: its bytes (a copy the caller owns), digest and offset in the stream. */
export interface StreamChunk {
  data: Buffer;
  digest: string;
  offset: number;
}

/**
 * The 256 gear values of the rolling hash, as int32 so the hot loop stays in small-integer
 * arithmetic. Derived from SHA-256 of a fixed label and the index: stable forever, since every
 * chunk boundary (hence every chunk id) depends on it. A test pins its digest.
 */
export const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    table[i] = Buffer.from(sha256Hex(`slipway-fastcdc-gear-${i}`), 'hex').readInt32BE(0);
  }
  return table;
})();

interface ResolvedParams extends ChunkingParams {
  /** Harder mask used before avgSize (normalized chunking pushes sizes towards the average). */
  maskS: number;
  /** Easier mask used after avgSize. */
  maskL: number;
}

/**
 * A mask of the `bits` highest bits. With a left-shifting gear hash, bit k depends only on the
 * last k+1 bytes, so the high bits are the ones that see the whole 32-byte window.
 */
function highBitsMask(bits: number): number {
  return (~0 << (32 - bits)) | 0;
}

function resolve(params: ChunkingParams): ResolvedParams {
  const { minSize, avgSize, maxSize } = params;
  for (const [name, v] of Object.entries(params)) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`chunking ${name} must be a positive integer, got ${String(v)}`);
    }
  }
  if (!(minSize <= avgSize && avgSize <= maxSize)) {
    throw new RangeError(
      `chunking sizes must satisfy min <= avg <= max (${minSize}, ${avgSize}, ${maxSize})`,
    );
  }
  const bits = Math.round(Math.log2(avgSize));
  // Normalization level 2 of the FastCDC paper: two more mask bits before the average, two fewer after.
  if (bits < 3 || bits > 29) throw new RangeError(`chunking avgSize out of range: ${avgSize}`);
  return {
    minSize,
    avgSize,
    maxSize,
    maskS: highBitsMask(bits + 2),
    maskL: highBitsMask(bits - 2),
  };
}

/**
 * Length of the chunk that starts at `start` in `data[start, end)`, as FastCDC decides it.
 * Kept monomorphic and free of allocation: this loop runs over every byte of every image.
 */
function cutLength(data: Uint8Array, start: number, end: number, p: ResolvedParams): number {
  let n = end - start;
  if (n <= p.minSize) return n;
  if (n > p.maxSize) n = p.maxSize;
  const normalEnd = start + (n < p.avgSize ? n : p.avgSize);
  const stop = start + n;
  const gear = GEAR;
  const maskS = p.maskS;
  const maskL = p.maskL;
  let hash = 0;
  let i = start + p.minSize;
  for (; i < normalEnd; i++) {
    hash = ((hash << 1) + gear[data[i]!]!) | 0;
    if ((hash & maskS) === 0) return i + 1 - start;
  }
  for (; i < stop; i++) {
    hash = ((hash << 1) + gear[data[i]!]!) | 0;
    if ((hash & maskL) === 0) return i + 1 - start;
  }
  return n;
}

/**
 * Cut points of `data` (end offsets of each chunk, the last one being `data.length`); an empty
 * input has no chunks, hence no cut points.
 */
export function chunkBoundaries(data: Uint8Array, params: ChunkingParams = CHUNKING): number[] {
  const p = resolve(params);
  const cuts: number[] = [];
  let start = 0;
  while (start < data.length) {
    start += cutLength(data, start, data.length, p);
    cuts.push(start);
  }
  return cuts;
}

/**
 * Chunks a stream without holding more than about two max-size chunks in memory. A cut is only
 * decided once `maxSize` bytes are buffered (or the stream ended), so the chunks are exactly those
 * `chunkBoundaries` finds on the whole content, however the stream is split into pieces.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  params: ChunkingParams = CHUNKING,
): AsyncGenerator<StreamChunk> {
  const p = resolve(params);
  const buf = Buffer.allocUnsafe(2 * p.maxSize);
  let start = 0;
  let end = 0;
  let offset = 0;

  const take = (length: number): StreamChunk => {
    // A copy, because `buf` is reused and the caller may keep the chunk.
    const data = Buffer.from(buf.subarray(start, start + length));
    const chunk = { data, digest: sha256Hex(data), offset };
    start += length;
    offset += length;
    return chunk;
  };

  for await (const piece of source) {
    let pos = 0;
    while (pos < piece.length) {
      if (start > 0 && buf.length - end < p.maxSize) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
      }
      const n = Math.min(piece.length - pos, buf.length - end);
      buf.set(piece.subarray(pos, pos + n), end);
      pos += n;
      end += n;
      while (end - start >= p.maxSize) {
        yield take(cutLength(buf, start, end, p));
      }
    }
  }
  while (end > start) {
    yield take(cutLength(buf, start, end, p));
  }
}
