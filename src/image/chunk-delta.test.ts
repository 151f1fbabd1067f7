import { createCipheriv } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlipwayError } from '../core/index.js';
import {
  ChunkDeltaError,
  DELTA_CHUNKING,
  applyChunkDelta,
  encodeChunkDelta,
} from './chunk-delta.js';
import type { ChunkDeltaOptions } from './chunk-delta.js';
import { sha256Hex } from './digest.js';

const KiB = 1024;
const CHUNK = 256 * KiB;
const LIMIT = 4 * CHUNK;

/** Reproducible pseudo-random bytes (AES-CTR keystream of a seed). */
function pseudoRandom(size: number, seed: string): Buffer {
  const key = Buffer.from(sha256Hex(seed), 'hex');
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

/** A deterministic stream of numbers in [0, 1) for positions and sizes. */
function numbers(seed: string): () => number {
  const bytes = pseudoRandom(64 * KiB, `numbers-${seed}`);
  let i = 0;
  return () => {
    const n = bytes.readUInt32LE(i) / 2 ** 32;
    i = (i + 4) % bytes.length;
    return n;
  };
}

function overwrite(data: Buffer, at: number, size: number, seed: string): Buffer {
  const out = Buffer.from(data);
  pseudoRandom(size, seed).copy(out, at);
  return out;
}

function insert(data: Buffer, at: number, size: number, seed: string): Buffer {
  return Buffer.concat([data.subarray(0, at), pseudoRandom(size, seed), data.subarray(at)]);
}

function remove(data: Buffer, at: number, size: number): Buffer {
  return Buffer.concat([data.subarray(0, at), data.subarray(at + size)]);
}

/** Encodes, checks the round trip, and returns the delta (which must exist). */
function roundTrip(base: Buffer, target: Buffer, options?: ChunkDeltaOptions): Buffer {
  const delta = encodeChunkDelta(base, target, options);
  expect(delta).not.toBeNull();
  expect(applyChunkDelta(base, delta!, LIMIT).equals(target)).toBe(true);
  return delta!;
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

/** A delta written by hand: "SWD1", the target length, then ops. */
function rawDelta(targetLength: number, ...ops: (number | Buffer)[]): Buffer {
  const parts = ops.map((op) => (typeof op === 'number' ? Buffer.from(varint(op)) : op));
  return Buffer.concat([Buffer.from('SWD1'), Buffer.from(varint(targetLength)), ...parts]);
}

const copyOp = (offset: number, length: number): Buffer =>
  Buffer.from([...varint(length * 2 + 1), ...varint(offset)]);
const literalOp = (bytes: Buffer): Buffer =>
  Buffer.concat([Buffer.from(varint(bytes.length * 2)), bytes]);

function expectInvalid(base: Uint8Array, delta: Uint8Array, message: RegExp, maxSize = LIMIT) {
  let thrown: unknown;
  try {
    applyChunkDelta(base, delta, maxSize);
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ChunkDeltaError);
  expect(thrown).toBeInstanceOf(SlipwayError);
  expect((thrown as SlipwayError).code).toBe('INVALID');
  expect((thrown as Error).message).toMatch(message);
}

describe('encodeChunkDelta and applyChunkDelta', () => {
  const base = pseudoRandom(CHUNK, 'base');

  it('sends a few bytes for an identical chunk', () => {
    const delta = roundTrip(base, Buffer.from(base));
    expect(delta.length).toBeLessThan(16);
  });

  it.each([1 * KiB, 20 * KiB])('sends about the bytes of a %i-byte overwrite', (size) => {
    const target = overwrite(base, 100 * KiB, size, `ow-${size}`);
    const delta = roundTrip(base, target);
    expect(delta.length).toBeGreaterThanOrEqual(size);
    expect(delta.length).toBeLessThan(size * 1.02 + 64);
  });

  it.each([5 * KiB, 80 * KiB])('sends about the bytes of a %i-byte insertion', (size) => {
    const target = insert(base, 123_457, size, `ins-${size}`);
    const delta = roundTrip(base, target);
    expect(delta.length).toBeLessThan(size * 1.02 + 64);
  });

  it('sends a few bytes for a deletion', () => {
    const delta = roundTrip(base, remove(base, 77_777, 10 * KiB));
    expect(delta.length).toBeLessThan(32);
  });

  it('finds what is shared between several edits (sub-chunk matching)', () => {
    // The common prefix and suffix alone would leave ~190 KiB between the first and last edit.
    let target = overwrite(base, 30 * KiB, 20 * KiB, 'several-1');
    target = insert(target, 120 * KiB, 5 * KiB, 'several-2');
    target = remove(target, 180 * KiB, 3 * KiB);
    target = overwrite(target, 220 * KiB, 1 * KiB, 'several-3');
    const delta = roundTrip(base, target);
    expect(delta.length).toBeLessThan(26 * KiB * 1.3 + 64);
    expect(delta.length).toBeLessThan(26 * KiB * 1.02 + 128);
  });

  it('keeps sub-chunk granularity within bounds without byte-level extension', () => {
    const target = overwrite(base, 100 * KiB, 20 * KiB, 'granular');
    const delta = roundTrip(base, target, { extend: false });
    expect(delta.length).toBeLessThan(20 * KiB * 1.3 + 64);
  });

  it('confirms every match byte for byte (the index key reads only some of the bytes)', () => {
    // Without the common prefix and suffix, a one-byte change leaves a target sub-chunk with the
    // same length and, most of the time, the same key as the base's: only comparing tells them apart.
    const next = numbers('confirm');
    for (let round = 0; round < 20; round++) {
      const target = Buffer.from(base);
      const at = Math.floor(next() * target.length);
      target[at] = target[at]! ^ 0x5a;
      roundTrip(base, target, { extend: false });
    }
  });

  it('finds blocks that moved', () => {
    const target = Buffer.concat([base.subarray(128 * KiB), base.subarray(0, 128 * KiB)]);
    const delta = roundTrip(base, target);
    expect(delta.length).toBeLessThan(4 * KiB);
  });

  it('returns null for a completely different target', () => {
    expect(encodeChunkDelta(base, pseudoRandom(CHUNK, 'other'))).toBeNull();
  });

  it('returns null when the delta would not save a quarter of the target', () => {
    const target = overwrite(base, 10 * KiB, 200 * KiB, 'mostly-new');
    expect(encodeChunkDelta(base, target)).toBeNull();
    const smaller = overwrite(base, 10 * KiB, 180 * KiB, 'mostly-new');
    expect(roundTrip(base, smaller).length).toBeLessThan(0.75 * CHUNK);
  });

  it('returns null for an empty base or target; such deltas still apply', () => {
    const empty = Buffer.alloc(0);
    expect(encodeChunkDelta(empty, base)).toBeNull();
    expect(encodeChunkDelta(base, empty)).toBeNull();
    expect(encodeChunkDelta(empty, empty)).toBeNull();
    expect(applyChunkDelta(base, rawDelta(0), 0)).toEqual(empty);
    expect(applyChunkDelta(empty, rawDelta(0), 0)).toEqual(empty);
    const bytes = pseudoRandom(100, 'literal');
    expect(applyChunkDelta(empty, rawDelta(100, literalOp(bytes)), 100)).toEqual(bytes);
  });

  it('takes plain Uint8Arrays that are views into larger buffers', () => {
    const backing = new Uint8Array(3 * CHUNK);
    backing.set(base, 7);
    const target = overwrite(base, 50 * KiB, 3 * KiB, 'views');
    backing.set(target, CHUNK + 13);
    const baseView = backing.subarray(7, 7 + CHUNK);
    const targetView = backing.subarray(CHUNK + 13, 2 * CHUNK + 13);
    const delta = encodeChunkDelta(baseView, targetView);
    expect(delta).not.toBeNull();
    expect(applyChunkDelta(baseView, new Uint8Array(delta!), LIMIT).equals(target)).toBe(true);
  });

  it('is deterministic', () => {
    const target = insert(base, 1000, 3000, 'det');
    expect(encodeChunkDelta(base, target)).toEqual(encodeChunkDelta(base, target));
  });

  it('round-trips regular, low-entropy data', () => {
    const lines = Array.from({ length: 12_000 }, (_, i) => `row ${i % 500} value=${i % 7}\n`);
    const text = Buffer.from(lines.join(''));
    let target: Buffer = Buffer.from(text);
    target = insert(target, 40_000, 300, 'text-1');
    target = overwrite(target, 150_000, 64, 'text-2');
    const delta = roundTrip(text, target);
    expect(delta.length).toBeLessThan(2 * KiB);

    const zeros = Buffer.alloc(CHUNK);
    const patched = overwrite(insert(zeros, 1000, 10, 'z-1'), 200_000, 10, 'z-2');
    expect(roundTrip(zeros, patched).length).toBeLessThan(128);
    const shifted = Buffer.concat([Buffer.alloc(5000, 7), text]);
    roundTrip(text, shifted);
  });

  it('round-trips random edit mixes with several sub-chunk sizes', () => {
    const next = numbers('fuzz');
    const paramSets = [
      DELTA_CHUNKING,
      { minSize: 64, avgSize: 256, maxSize: 1024 },
      { minSize: 1024, avgSize: 4096, maxSize: 32 * KiB },
    ];
    for (let round = 0; round < 30; round++) {
      const size = 1 + Math.floor(next() * CHUNK);
      const seedBase =
        round % 3 === 0 ? Buffer.alloc(size, round) : pseudoRandom(size, `f${round}`);
      let target = seedBase;
      const edits = 1 + Math.floor(next() * 6);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * target.length);
        const len = 1 + Math.floor(next() * next() * 16 * KiB);
        const kind = Math.floor(next() * 3);
        if (kind === 0) target = insert(target, at, len, `f${round}-${e}`);
        else if (kind === 1) target = remove(target, at, Math.min(len, target.length - at));
        else target = overwrite(target, at, Math.min(len, target.length - at), `f${round}-${e}`);
      }
      for (const params of paramSets) {
        for (const extend of [true, false]) {
          const delta = encodeChunkDelta(seedBase, target, { params, extend });
          if (delta === null) continue;
          expect(delta.length).toBeLessThan(0.75 * target.length);
          expect(applyChunkDelta(seedBase, delta, LIMIT).equals(target)).toBe(true);
        }
      }
    }
  });
});

describe('applyChunkDelta on malformed deltas', () => {
  const base = pseudoRandom(64 * KiB, 'malformed-base');
  const target = overwrite(insert(base, 30_000, 2000, 'm-1'), 50_000, 500, 'm-2');
  const good = encodeChunkDelta(base, target)!;

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('starts from a valid delta', () => {
    expect(applyChunkDelta(base, good, LIMIT).equals(target)).toBe(true);
  });

  it('rejects a bad magic or an unknown version', () => {
    expectInvalid(base, Buffer.from('XWD1\x00'), /bad magic/);
    expectInvalid(base, Buffer.alloc(0), /bad magic/);
    expectInvalid(base, Buffer.from('SW'), /bad magic/);
    expectInvalid(base, Buffer.from('SWD2\x00'), /unsupported version "2"/);
  });

  it('rejects every truncation of a valid delta', () => {
    const small = pseudoRandom(4 * KiB, 'small');
    const changed = overwrite(insert(small, 1000, 100, 't-1'), 3000, 20, 't-2');
    const delta = encodeChunkDelta(small, changed, {
      params: { minSize: 64, avgSize: 256, maxSize: 1024 },
    })!;
    expect(applyChunkDelta(small, delta, LIMIT).equals(changed)).toBe(true);
    for (let n = 0; n < delta.length; n++) {
      expectInvalid(small, delta.subarray(0, n), /magic|truncated/);
    }
  });

  it('rejects a copy outside the base', () => {
    expectInvalid(base, rawDelta(100, copyOp(base.length - 50, 100)), /outside the base/);
    expectInvalid(base, rawDelta(100, copyOp(2 ** 52, 100)), /outside the base/);
    expectInvalid(Buffer.alloc(0), rawDelta(1, copyOp(0, 1)), /outside the base/);
  });

  it('rejects a target larger than maxSize without allocating it', () => {
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    expectInvalid(base, rawDelta(2 ** 50, copyOp(0, 10)), /larger than the limit/);
    expectInvalid(
      base,
      rawDelta(1001, literalOp(Buffer.alloc(1001))),
      /larger than the limit/,
      1000,
    );
    expectInvalid(base, good, /larger than the limit/, target.length - 1);
    for (const [size] of allocUnsafe.mock.calls) expect(size).toBeLessThanOrEqual(LIMIT);
  });

  it('rejects ops that write past the announced length, or fall short of it', () => {
    expectInvalid(base, rawDelta(10, copyOp(0, 11)), /writes past the target length 10/);
    expectInvalid(base, rawDelta(10, copyOp(0, 5), copyOp(0, 6)), /writes past/);
    expectInvalid(base, rawDelta(10, copyOp(0, 5)), /ops write 5 of 10 bytes/);
    expectInvalid(base, Buffer.concat([good, copyOp(0, 1)]), /writes past/);
  });

  it('rejects empty ops, overlong varints and truncated literals', () => {
    expectInvalid(base, rawDelta(1, 0), /empty op at byte 5/);
    expect(() => applyChunkDelta(base, rawDelta(1, 0), LIMIT)).toThrow(
      expect.objectContaining({ offset: 5, details: { offset: 5 } }),
    );
    expectInvalid(base, rawDelta(1, 1, 0), /empty op/);
    const overlong = Buffer.concat([Buffer.from('SWD1'), Buffer.alloc(9, 0xff)]);
    expectInvalid(base, overlong, /target length at byte 4 is too large/);
    expectInvalid(base, rawDelta(10, 20, Buffer.alloc(3)), /truncated literal at byte 6/);
  });

  it('throws only ChunkDeltaError on random garbage and on corrupted deltas', () => {
    const next = numbers('garbage');
    for (let round = 0; round < 1000; round++) {
      const delta = Buffer.from(good);
      const flips = 1 + Math.floor(next() * 4);
      for (let f = 0; f < flips; f++) {
        delta[Math.floor(next() * delta.length)] = Math.floor(next() * 256);
      }
      const input = round % 4 === 0 ? pseudoRandom(Math.floor(next() * 64), `g${round}`) : delta;
      try {
        const out = applyChunkDelta(base, input, target.length);
        expect(out.length).toBeLessThanOrEqual(target.length);
      } catch (e) {
        expect(e).toBeInstanceOf(ChunkDeltaError);
      }
    }
  });

  it('refuses a nonsensical maxSize', () => {
    expect(() => applyChunkDelta(base, good, -1)).toThrow(RangeError);
    expect(() => applyChunkDelta(base, good, Number.NaN)).toThrow(RangeError);
  });
});
