/**
 * The chunk delta encoder: the ops that turn a base chunk into a target chunk in as few bytes as
 * it can, or null when the delta would not be much smaller than the target (see chunk-delta.ts
 * for why deltas exist).
 *
 * How the encoder finds what is shared:
 * - the common prefix and suffix, with native compares (a single edit needs nothing more);
 * - in between, both sides are cut again into small content-defined sub-chunks (DELTA_CHUNKING).
 *   After an insertion or deletion, content-defined cuts fall back in step with the base's within
 *   a sub-chunk or two, where fixed-size blocks would all shift. The base's sub-chunks are indexed
 *   by a cheap key (length and 16 words spread over the bytes); a key only proposes candidates,
 *   and a match is used only once a byte comparison confirmed it;
 * - each match is extended over the bytes around it as far as they still agree with the base, so
 *   an edit costs about its own size, not the sub-chunks it touches, and the walk jumps over
 *   shared bytes at memcmp speed: the target is only cut near its edits.
 *
 * The wire format is in delta-format.ts.
 */
import type { ChunkingParams } from './chunker.js';
import { COPY, LITERAL, MAGIC, opSize, serialize, varintSize } from './delta-format.js';
import type { Op } from './delta-format.js';
import { BaseIndex, CutCursor, matchBackward, matchForward } from './delta-matching.js';

/**
 * Sub-chunk sizes the delta encoder cuts with (only the encoder: deltas stay readable if they
 * change). Chosen with `npm run bench:delta`: 16 pseudo-random 256 KiB chunks per edit pattern,
 * candidates of avg 256 B to 4 KiB with min = avg / 4 and max = 8 × avg, MB/s of target per core
 * on a 2-core VM where the image chunker itself ran at ~300 MB/s.
 * - With byte-level extension, every candidate sends at most 1.02× the changed bytes for 1 KiB to
 *   82 KiB overwrites and insertions, alone or four at once (avg 4 KiB: up to 1.22× for mixes).
 *   Sub-chunk matching alone (avg 512 B) sends 1.12–1.14× for 10 KiB edits, 2.4–2.7× for 1 KiB.
 * - Scattered tiny edits (a rebuilt binary) decide: 32 × 16 B cost 1.5× / 2.9× / 7.7× / 27× /
 *   141× the changed bytes at avg 256 B / 512 B / 1 KiB / 2 KiB / 4 KiB; 128 × 8 B cost 6.3× /
 *   18× / 82× / the whole chunk / the whole chunk.
 * - Encoding at avg 512 B runs at 170–490 MB/s with several edits (the 170, with 128 edits, is
 *   what 256 B and 1 KiB do too), 340 MB/s to 11 GB/s with one; applying at 4–9 GB/s. Avg 256 B
 *   only pays for very dense edits, and is slower with a few of them (190–280 MB/s).
 */
export const DELTA_CHUNKING: Readonly<ChunkingParams> = Object.freeze({
  minSize: 128,
  avgSize: 512,
  maxSize: 4096,
});

/** Options of `encodeChunkDelta`, for benchmarks and tests: agents use the defaults. */
export interface ChunkDeltaOptions {
  /** Sub-chunk sizes (default DELTA_CHUNKING). */
  params?: ChunkingParams;
  /**
   * Byte-level matching: common prefix and suffix, and extending sub-chunk matches into their
   * neighbours (default true). Without it, matches have sub-chunk granularity.
   */
  extend?: boolean;
}

/** A delta must be smaller than this fraction of the target, else the chunk goes whole. */
const MAX_DELTA_RATIO = 0.75;

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The ops of a delta, merged as they come: contiguous copies and adjacent literals become one. */
class OpList {
  readonly ops: Op[] = [];
  literalBytes = 0;

  copy(offset: number, length: number): void {
    if (length === 0) return;
    const last = this.ops.at(-1);
    if (last?.kind === COPY && last.offset + last.length === offset) last.length += length;
    else this.ops.push({ kind: COPY, offset, length });
  }

  literal(offset: number, length: number): void {
    if (length === 0) return;
    this.literalBytes += length;
    const last = this.ops.at(-1);
    if (last?.kind === LITERAL && last.offset + last.length === offset) last.length += length;
    else this.ops.push({ kind: LITERAL, offset, length });
  }

  /** Where the last op ends in the base, or -1 when it is not a copy. */
  copyEnd(): number {
    const last = this.ops.at(-1);
    return last?.kind === COPY ? last.offset + last.length : -1;
  }
}

/** What one encoding works on: the target range `[start, end)` to cover, the base range to index. */
interface Job {
  base: Buffer;
  target: Buffer;
  params: ChunkingParams;
  extend: boolean;
  baseStart: number;
  baseEnd: number;
  start: number;
  end: number;
}

/**
 * One encoding. The target bytes before `pos` are accounted for: those before `litStart` by
 * `ops`, those from `litStart` to `pos` as a literal not added yet.
 */
class Encoder {
  readonly ops = new OpList();
  private baseIndex: BaseIndex | undefined;
  private readonly cuts: CutCursor;
  private litStart: number;
  private pos: number;

  constructor(private readonly job: Job) {
    this.cuts = new CutCursor(job.target, job.end, job.params);
    this.litStart = this.pos = job.start;
  }

  /** Built on first use: a target whose middle is empty (a deletion) never needs it. */
  private get index(): BaseIndex {
    const { base, baseStart, baseEnd, params } = this.job;
    return (this.baseIndex ??= new BaseIndex(base, baseStart, baseEnd, params));
  }

  /** Covers the target up to `end`; false as soon as literals alone exceed `budget`. */
  run(budget: number): boolean {
    while (this.pos < this.job.end) {
      const s = this.pos;
      const e = this.cuts.cutAfter(s, this.alignedStart());
      if (!this.continueCopy(s, e)) {
        const b = this.index.find(this.job.target, s, e);
        if (b >= 0) this.match(s, e, b);
        else this.pos = e;
      }
      if (this.ops.literalBytes + this.pos - this.litStart >= budget) return false;
    }
    this.ops.literal(this.litStart, this.pos - this.litStart);
    this.litStart = this.pos;
    return true;
  }

  /**
   * Where the target's cuts should run from when the last copy ends at `pos`: the target position
   * of the last base sub-chunk start inside that copy, or `pos` itself.
   */
  private alignedStart(): number {
    const copy = this.ops.ops.at(-1);
    if (this.litStart !== this.pos || copy?.kind !== COPY) return this.pos;
    const end = copy.offset + copy.length;
    const start = this.index.startAtOrBefore(end);
    return start >= copy.offset ? this.pos - (end - start) : this.pos;
  }

  /**
   * Whether the sub-chunk follows the last copy in the base too. Only without byte-level
   * extension: with it, the copy already runs up to the first byte that differs.
   */
  private continueCopy(s: number, e: number): boolean {
    const { base, target, extend } = this.job;
    const b = this.ops.copyEnd();
    if (extend || this.litStart !== s || b < 0 || b + e - s > base.length) return false;
    if (base.compare(target, s, e, b, b + e - s) !== 0) return false;
    this.ops.copy(b, e - s);
    this.litStart = this.pos = e;
    return true;
  }

  /** Takes `target[s, e)` = `base[b, ...)`, grown backwards over the pending literal, then forwards. */
  private match(s: number, e: number, b: number): void {
    const { base, target, extend } = this.job;
    const back = extend ? matchBackward(base, b, target, s, Math.min(b, s - this.litStart)) : 0;
    this.ops.literal(this.litStart, s - back - this.litStart);
    this.ops.copy(b - back, e - s + back);
    this.litStart = this.pos = e;
    if (extend) this.extendForward();
  }

  /** Grows the last copy over the following target bytes while they still match the base. */
  private extendForward(): void {
    const { base, target, end } = this.job;
    const b = this.ops.copyEnd();
    const n = matchForward(base, b, target, this.pos, Math.min(base.length - b, end - this.pos));
    this.ops.copy(b, n);
    this.litStart = this.pos += n;
  }
}

/**
 * A delta that turns `base` into `target`, or null when it would not be smaller than 75% of
 * `target` (then send the chunk whole): always so when either is empty. Deterministic.
 */
export function encodeChunkDelta(
  base: Uint8Array,
  target: Uint8Array,
  options: ChunkDeltaOptions = {},
): Buffer | null {
  const { params = DELTA_CHUNKING, extend = true } = options;
  const b = asBuffer(base);
  const t = asBuffer(target);
  const budget = t.length * MAX_DELTA_RATIO;
  if (b.length === 0 || t.length === 0) return null;

  const limit = Math.min(b.length, t.length);
  const suffix = extend ? matchBackward(b, b.length, t, t.length, limit) : 0;
  const prefix = extend ? matchForward(b, 0, t, 0, limit - suffix) : 0;
  const encoder = new Encoder({
    base: b,
    target: t,
    params,
    extend,
    baseStart: prefix,
    baseEnd: b.length - suffix,
    start: prefix,
    end: t.length - suffix,
  });
  encoder.ops.copy(0, prefix);
  if (!encoder.run(budget)) return null;
  encoder.ops.copy(b.length - suffix, suffix);

  const ops = encoder.ops.ops;
  let size = MAGIC.length + varintSize(t.length);
  for (const op of ops) size += opSize(op);
  return size < budget ? serialize(ops, t, size) : null;
}
