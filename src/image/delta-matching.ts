/**
 * How the chunk delta encoder finds bytes the target shares with the base (see delta-encoder.ts
 * for how it uses them): native compares that measure how far a match runs, the index of the
 * base's sub-chunks, and the cursor that cuts the target into sub-chunks only where the walk
 * needs them.
 */
import { chunkBoundaries } from './chunker.js';
import type { ChunkingParams } from './chunker.js';

/** Native compares measure a match in blocks of this size first. */
const COMPARE_BLOCK = 4096;
/**
 * The target is cut a window of about this many average sub-chunks at a time (measured: 2 often
 * finds no final cut and falls back to a maxSize window; doubling windows gained nothing).
 */
const CUT_WINDOW_AVGS = 4;
/** Words of a sub-chunk its index key mixes. */
const KEY_SAMPLES = 16;
/**
 * Base sub-chunks with the same key that are compared before giving up: bounds the work on very
 * regular data, where different sub-chunks may share a key.
 */
const MAX_CANDIDATES = 8;

/**
 * Length of the run of equal bytes at the start of two ranges, at most `limit`, given
 * `equal(n, length)`: whether the `length` bytes after the first `n` are equal. Native compares
 * of big blocks, then a binary search inside the block that differs.
 */
function matchLength(limit: number, equal: (n: number, length: number) => boolean): number {
  let n = 0;
  while (n + COMPARE_BLOCK <= limit && equal(n, COMPARE_BLOCK)) n += COMPARE_BLOCK;
  let span = Math.min(COMPARE_BLOCK, limit - n);
  while (span > 0) {
    const half = Math.ceil(span / 2);
    if (equal(n, half)) {
      n += half;
      span -= half;
    } else if (half === 1) {
      break;
    } else {
      span = half;
    }
  }
  return n;
}

/** How many bytes `a` from `ai` and `b` from `bi` have in common, at most `limit`. */
export function matchForward(a: Buffer, ai: number, b: Buffer, bi: number, limit: number): number {
  return matchLength(
    limit,
    (n, length) => a.compare(b, bi + n, bi + n + length, ai + n, ai + n + length) === 0,
  );
}

/** How many bytes `a` before `aEnd` and `b` before `bEnd` have in common, at most `limit`. */
export function matchBackward(
  a: Buffer,
  aEnd: number,
  b: Buffer,
  bEnd: number,
  limit: number,
): number {
  return matchLength(
    limit,
    (n, length) => a.compare(b, bEnd - n - length, bEnd - n, aEnd - n - length, aEnd - n) === 0,
  );
}

/** Index key of `data[start, end)`: its length and 16 words spread over it, mixed. */
function keyOf(data: Buffer, start: number, end: number): number {
  const len = end - start;
  let h = Math.imul(len, 0x9e3779b1);
  if (len < KEY_SAMPLES * 4) {
    for (let i = start; i < end; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
    return h;
  }
  const step = Math.floor((len - 4) / (KEY_SAMPLES - 1));
  for (let i = start, k = 0; k < KEY_SAMPLES; k++, i += step) {
    h = Math.imul(h ^ data.readInt32LE(i), 0x85ebca6b);
    h ^= h >>> 15;
  }
  return h;
}

/** The base's sub-chunks in `[start, end)`: where each starts, and which have a given key. */
export class BaseIndex {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  /** Per key, the last sub-chunk with it; per sub-chunk, the one before with the same key. */
  private readonly last = new Map<number, number>();
  private readonly previous: number[] = [];

  constructor(
    private readonly base: Buffer,
    start: number,
    end: number,
    params: ChunkingParams,
  ) {
    let s = start;
    for (const cut of chunkBoundaries(base.subarray(start, end), params)) {
      const key = keyOf(base, s, start + cut);
      this.previous.push(this.last.get(key) ?? -1);
      this.last.set(key, this.starts.length);
      this.starts.push(s);
      this.ends.push(start + cut);
      s = start + cut;
    }
  }

  /** Offset of a base sub-chunk equal to `target[s, e)`, or -1. */
  find(target: Buffer, s: number, e: number): number {
    let i = this.last.get(keyOf(target, s, e)) ?? -1;
    for (let tries = 0; i >= 0 && tries < MAX_CANDIDATES; tries++) {
      const b = this.starts[i]!;
      if (this.ends[i]! - b === e - s && this.base.compare(target, s, e, b, b + e - s) === 0) {
        return b;
      }
      i = this.previous[i]!;
    }
    return -1;
  }

  /** The last sub-chunk start at or before `b`, or -1. */
  startAtOrBefore(b: number): number {
    const { starts } = this;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= b) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? starts[lo - 1]! : -1;
  }
}

/**
 * The target's sub-chunk cuts, computed a small window at a time from wherever the walk resumes:
 * after a match the walk jumps over the bytes the target shares with the base, never cut.
 */
export class CutCursor {
  private cuts: number[] = [];
  private next = 0;
  /** Where the sub-chunk after the last cut returned starts. */
  private at = -1;

  constructor(
    private readonly data: Buffer,
    private readonly end: number,
    private readonly params: ChunkingParams,
  ) {}

  /**
   * End of the sub-chunk holding `pos` when the cuts run from `from` (at most `pos`). The walk
   * passes the target position that matches a base sub-chunk start, so that an edit shifts the
   * cuts no more than cutting both sides whole would.
   */
  cutAfter(pos: number, from: number): number {
    if (pos !== this.at) {
      this.at = from;
      this.cuts = [];
      this.next = 0;
    }
    for (;;) {
      if (this.next >= this.cuts.length) this.refill();
      const cut = this.cuts[this.next++]!;
      this.at = cut;
      if (cut > pos) return cut;
    }
  }

  /**
   * Cuts from `at`. One before the window's end is final (the chunker decides it from the bytes
   * before it); one at the end may only mark where the window stopped. A window of maxSize + 1
   * bytes always holds a final cut.
   */
  private refill(): void {
    const { minSize, avgSize, maxSize } = this.params;
    for (const size of [minSize + CUT_WINDOW_AVGS * avgSize, maxSize + 1]) {
      const windowEnd = Math.min(this.end, this.at + size);
      const cuts = chunkBoundaries(this.data.subarray(this.at, windowEnd), this.params);
      if (windowEnd < this.end) cuts.pop();
      if (cuts.length > 0) {
        this.cuts = cuts.map((cut) => this.at + cut);
        this.next = 0;
        return;
      }
    }
    throw new Error('unreachable: a window of maxSize + 1 bytes holds a final cut');
  }
}
