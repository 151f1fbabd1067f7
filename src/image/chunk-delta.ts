/**
 * Chunk deltas: turn a chunk a host already holds (the base) into a new chunk (the target) with
 * about as many bytes on the wire as changed, instead of the whole target.
 *
 * Why: images are cut into ~64 KiB content-defined chunks, so a 1% change to a file is fetched
 * as whole chunks, several times the changed bytes. A host that holds the old version of a
 * chunk only needs what changed: rsync, but inside one chunk and without a round trip, since the
 * sender holds both versions. Pure, no I/O: the caller picks the base and verifies the result's
 * SHA-256.
 *
 * The codec is split by role: delta-format.ts defines the wire format, delta-encoder.ts (with
 * delta-matching.ts) writes deltas, delta-decoder.ts applies them.
 */
export { DELTA_CHUNKING, encodeChunkDelta } from './delta-encoder.js';
export type { ChunkDeltaOptions } from './delta-encoder.js';
export { ChunkDeltaError, applyChunkDelta } from './delta-decoder.js';
