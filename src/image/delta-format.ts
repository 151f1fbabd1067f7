/**
 * The chunk delta wire format, which the encoder writes and the decoder reads (see
 * chunk-delta.ts for why deltas exist).
 *
 * Format (every integer an unsigned LEB128 varint, at most 8 bytes):
 *
 *     "SWD1"                        magic; its last byte is the version
 *     targetLength                  size of the result, checked against the caller's limit first
 *     op*                           to the end of the delta; they write exactly targetLength bytes
 *       length × 2 + 1, baseOffset  COPY base[baseOffset, baseOffset + length)
 *       length × 2, byte*length     LITERAL: the bytes themselves
 *
 * Every op length is at least 1. Decoding does not depend on DELTA_CHUNKING, so the sub-chunk
 * sizes can change without making old deltas unreadable.
 */

/** The magic that starts every delta; its last byte is the format version. */
export const MAGIC = Buffer.from('SWD1', 'latin1');
/** Eight 7-bit groups hold any safe integer. */
export const MAX_VARINT_BYTES = 8;

/** Op kind of a LITERAL: the low bit of an op header. */
export const LITERAL = 0;
/** Op kind of a COPY: the low bit of an op header. */
export const COPY = 1;
/** The kind of an op, as the low bit of its header. */
export type OpKind = typeof LITERAL | typeof COPY;

/** One op; `offset` is in the base for a COPY, in the target for a LITERAL. */
export interface Op {
  kind: OpKind;
  offset: number;
  length: number;
}

/** Bytes `value` takes as a varint. */
export function varintSize(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    n++;
  }
  return n;
}

/** Writes `value` as a varint at `at`; returns where it ends. */
function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value % 0x80) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[at++] = value;
  return at;
}

/** Bytes `op` takes in the delta. */
export function opSize(op: Op): number {
  const header = varintSize(op.length * 2 + op.kind);
  return header + (op.kind === COPY ? varintSize(op.offset) : op.length);
}

/** The delta of `ops` over `target`: exactly `size` bytes, as opSize adds them up. */
export function serialize(ops: readonly Op[], target: Buffer, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  MAGIC.copy(out, 0);
  let at = writeVarint(out, MAGIC.length, target.length);
  for (const op of ops) {
    at = writeVarint(out, at, op.length * 2 + op.kind);
    if (op.kind === COPY) {
      at = writeVarint(out, at, op.offset);
    } else {
      at += target.copy(out, at, op.offset, op.offset + op.length);
    }
  }
  return out;
}
