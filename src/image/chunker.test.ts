import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNKING, GEAR, chunkBoundaries, chunkStream } from './chunker.js';
import type { ChunkingParams } from './chunker.js';
import { sha256Hex } from './digest.js';

const MiB = 1024 * 1024;

/** Reproducible pseudo-random bytes (AES-CTR keystream of a seed). */
function pseudoRandom(size: number, seed: string): Buffer {
  const key = Buffer.from(sha256Hex(seed), 'hex');
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

function digestsOf(data: Buffer, cuts: number[]): string[] {
  let start = 0;
  return cuts.map((end) => {
    const d = sha256Hex(data.subarray(start, end));
    start = end;
    return d;
  });
}

async function* inPieces(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let pos = 0;
  for (let i = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    await Promise.resolve(); // as a real source would, between pieces
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

async function collect(source: AsyncIterable<Uint8Array>, params?: ChunkingParams) {
  const out = [];
  for await (const c of chunkStream(source, params)) out.push(c);
  return out;
}

describe('chunker', () => {
  it('keeps the gear table and the cut points of a fixed input stable forever', () => {
    // Chunk ids depend on these: if this test fails, the image format changed.
    expect(Array.from(GEAR.subarray(0, 3))).toEqual([523169445, 1965649027, -2094095058]);
    expect(sha256Hex(GEAR.join(','))).toBe(PINNED_GEAR_DIGEST);
    expect(chunkBoundaries(pseudoRandom(4 * MiB, 'pinned'))).toEqual(PINNED_CUTS);
  });

  it('cuts nothing from empty input', async () => {
    expect(chunkBoundaries(new Uint8Array(0))).toEqual([]);
    expect(await collect(inPieces(new Uint8Array(0), [1]))).toEqual([]);
    expect(await collect(inPieces(new Uint8Array(0), [0]))).toEqual([]);
  });

  it('respects the minimum and maximum sizes', () => {
    for (const data of [pseudoRandom(8 * MiB + 12345, 'sizes'), Buffer.alloc(5 * MiB)]) {
      const cuts = chunkBoundaries(data);
      expect(cuts.at(-1)).toBe(data.length);
      let start = 0;
      cuts.forEach((end, i) => {
        const size = end - start;
        expect(size).toBeLessThanOrEqual(CHUNKING.maxSize);
        if (i < cuts.length - 1) expect(size).toBeGreaterThan(CHUNKING.minSize);
        else expect(size).toBeGreaterThan(0);
        start = end;
      });
    }
    // Shorter than the minimum: one chunk.
    expect(chunkBoundaries(pseudoRandom(1000, 'tiny'))).toEqual([1000]);
  });

  it('finds chunks near the average size on random data', () => {
    const data = pseudoRandom(32 * MiB, 'average');
    const mean = data.length / chunkBoundaries(data).length;
    expect(mean).toBeGreaterThan(CHUNKING.avgSize * 0.8);
    expect(mean).toBeLessThan(CHUNKING.avgSize * 1.5);
  });

  it('keeps the chunks away from an insertion in the middle', () => {
    const data = pseudoRandom(8 * MiB, 'insert');
    const mid = 4 * MiB + 777;
    const edited = Buffer.concat([
      data.subarray(0, mid),
      pseudoRandom(100, 'inserted'),
      data.subarray(mid),
    ]);
    const before = digestsOf(data, chunkBoundaries(data));
    const after = digestsOf(edited, chunkBoundaries(edited));
    const known = new Set(before);
    const changed = after.filter((d) => !known.has(d));
    expect(before.length).toBeGreaterThan(15);
    expect(changed.length).toBeGreaterThanOrEqual(1);
    expect(changed.length).toBeLessThanOrEqual(3);
  });

  it('streams in odd-sized pieces to exactly the chunks of the whole buffer', async () => {
    const data = pseudoRandom(6 * MiB + 3, 'stream');
    const cuts = chunkBoundaries(data);
    const expected = digestsOf(data, cuts);
    for (const sizes of [[1, 7, 4093, 65537, 1_000_003], [3 * MiB], [CHUNKING.maxSize]]) {
      const chunks = await collect(inPieces(data, sizes));
      expect(chunks.map((c) => c.digest)).toEqual(expected);
      expect(chunks.map((c) => c.offset + c.data.length)).toEqual(cuts);
      expect(Buffer.concat(chunks.map((c) => c.data)).equals(data)).toBe(true);
    }
  });

  it('takes smaller parameters for tests, with the same guarantees', async () => {
    const params = { minSize: 256, avgSize: 1024, maxSize: 4096 };
    const data = pseudoRandom(300_000, 'small');
    const cuts = chunkBoundaries(data, params);
    expect(cuts.length).toBeGreaterThan(150);
    const chunks = await collect(inPieces(data, [1, 2, 3, 5000, 17]), params);
    expect(chunks.map((c) => c.offset + c.data.length)).toEqual(cuts);
    for (const c of chunks.slice(0, -1)) {
      expect(c.data.length).toBeGreaterThan(256);
      expect(c.data.length).toBeLessThanOrEqual(4096);
    }
    expect(() => chunkBoundaries(data, { minSize: 10, avgSize: 5, maxSize: 20 })).toThrow(
      RangeError,
    );
  });
});

const PINNED_GEAR_DIGEST = 'c81fc64c05aff0f19f1d047efbac455560d8310dbfbcf7d83cbbc291fa89985c';
const PINNED_CUTS = [
  72509, 134005, 203263, 275742, 348181, 399915, 449355, 515401, 605833, 677715, 755766, 822038,
  889837, 977706, 1048458, 1125374, 1190779, 1259004, 1354212, 1423036, 1493840, 1601671, 1677876,
  1748583, 1856181, 1967036, 2034956, 2069977, 2162910, 2239161, 2313076, 2358947, 2433759, 2462784,
  2535685, 2637288, 2718975, 2792864, 2958471, 3014078, 3102143, 3181356, 3209269, 3237472, 3305027,
  3381687, 3474616, 3558797, 3627324, 3656208, 3745891, 3843794, 3911816, 4034968, 4122036, 4194304,
];
