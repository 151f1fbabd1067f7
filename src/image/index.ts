/** Image format: digests, chunking, manifests, scanning a tree, the object store, materializing. */
export { sha256Hex, isDigest } from './digest.js';
export { canonicalJson } from './canonical-json.js';
export { CHUNKING, GEAR, chunkBoundaries, chunkStream } from './chunker.js';
export type { ChunkingParams, StreamChunk } from './chunker.js';
export {
  DELTA_CHUNKING,
  encodeChunkDelta,
  applyChunkDelta,
  ChunkDeltaError,
} from './chunk-delta.js';
export type { ChunkDeltaOptions } from './chunk-delta.js';
export {
  manifestSchema,
  checkEntryCount,
  DEFAULT_MAX_MANIFEST_ENTRIES,
  parseManifest,
  checkManifest,
  ManifestChecker,
  comparePaths,
  imageIdOf,
  manifestChunks,
  manifestSize,
} from './manifest.js';
export type { ChunkRef, ManifestEntry, Manifest } from './manifest.js';
export { scanTree, readChunkAt } from './scan.js';
export type { ChunkLocation, ScannedTree } from './scan.js';
export { ObjectStore, ChunkCorruptError, verifyChunk } from './object-store.js';
export { materialize, verifyTree } from './materialize.js';
export { deltaBases, MAX_BASE_CHUNKS } from './delta-bases.js';
