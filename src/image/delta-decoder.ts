/**
 * The chunk delta decoder. A delta comes from another host, so every length and offset in it is
 * checked before use: a malformed delta ends in a ChunkDeltaError, never in a read outside the
 * inputs or an allocation beyond the caller's limit.
 */
import { SlipwayError } from '../core/index.js';
import { COPY, MAGIC, MAX_VARINT_BYTES } from './delta-format.js';

/** A delta that cannot be applied: bad magic, truncated, out of range, or too large. */
export class ChunkDeltaError extends SlipwayError {
  /** Where in the delta the problem is, when it is at one place. */
  readonly offset: number | undefined;

  constructor(message: string, offset?: number, details: Record<string, unknown> = {}) {
    super('INVALID', `invalid chunk delta: ${message}`, { ...details, offset });
    this.name = 'ChunkDeltaError';
    this.offset = offset;
  }
}

/** Reads a delta front to back, never past its end. */
class DeltaReader {
  at = 0;

  constructor(private readonly delta: Uint8Array) {}

  get done(): boolean {
    return this.at >= this.delta.length;
  }

  magic(): void {
    const head = this.delta.subarray(0, MAGIC.length);
    if (head.length < MAGIC.length || !MAGIC.subarray(0, 3).equals(head.subarray(0, 3))) {
      throw new ChunkDeltaError('bad magic: expected "SWD1"', 0);
    }
    const version = head[3]!;
    if (version !== MAGIC[3]) {
      const shown = JSON.stringify(String.fromCharCode(version));
      throw new ChunkDeltaError(`unsupported version ${shown}`, 3, { version });
    }
    this.at = MAGIC.length;
  }

  varint(what: string): number {
    const start = this.at;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const byte = this.delta[this.at];
      if (byte === undefined) {
        throw new ChunkDeltaError(`truncated ${what} at byte ${start}`, start);
      }
      this.at++;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) break;
        return value;
      }
      scale *= 0x80;
    }
    throw new ChunkDeltaError(`${what} at byte ${start} is too large`, start);
  }

  bytes(length: number, what: string): Uint8Array {
    if (length > this.delta.length - this.at) {
      throw new ChunkDeltaError(
        `truncated ${what} at byte ${this.at}: ${length} bytes announced, ${this.delta.length - this.at} left`,
        this.at,
      );
    }
    const bytes = this.delta.subarray(this.at, this.at + length);
    this.at += length;
    return bytes;
  }
}

/**
 * Rebuilds a target from `base` and a delta from `encodeChunkDelta`. Throws ChunkDeltaError on
 * any malformed delta, and when the result would be larger than `maxSize` bytes: it never reads
 * outside its inputs and never allocates more than `maxSize` bytes. It does not check the
 * result's digest: the caller does.
 */
export function applyChunkDelta(base: Uint8Array, delta: Uint8Array, maxSize: number): Buffer {
  if (!Number.isSafeInteger(maxSize) || maxSize < 0) {
    throw new RangeError(`maxSize must be a non-negative integer, got ${String(maxSize)}`);
  }
  const reader = new DeltaReader(delta);
  reader.magic();
  const size = reader.varint('target length');
  if (size > maxSize) {
    const message = `target length ${size} is larger than the limit ${maxSize}`;
    throw new ChunkDeltaError(message, MAGIC.length, { size, maxSize });
  }
  const out = Buffer.allocUnsafe(size);
  let written = 0;
  while (!reader.done) {
    const at = reader.at;
    const header = reader.varint('op');
    const kind = header % 2;
    const length = (header - kind) / 2;
    if (length === 0) throw new ChunkDeltaError(`empty op at byte ${at}`, at);
    if (length > size - written) {
      throw new ChunkDeltaError(`op at byte ${at} writes past the target length ${size}`, at);
    }
    if (kind === COPY) {
      const from = reader.varint('copy offset');
      if (from > base.length - length) {
        throw new ChunkDeltaError(
          `copy at byte ${at} of [${from}, ${from + length}) is outside the base (${base.length} bytes)`,
          at,
        );
      }
      out.set(base.subarray(from, from + length), written);
    } else {
      out.set(reader.bytes(length, 'literal'), written);
    }
    written += length;
  }
  if (written !== size) {
    const message = `truncated: ops write ${written} of ${size} bytes`;
    throw new ChunkDeltaError(message, delta.length, { written, size });
  }
  return out;
}
