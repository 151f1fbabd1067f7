/**
 * Fetches the chunks a host lacks, several at a time, verifying every chunk before it is
 * stored (the object store refuses bytes that do not hash to their name). A source that fails
 * or sends bad bytes is tried again later, and other sources are tried first.
 */
import { SlipwayError } from '../core/index.js';
import type { ChunkRef, ObjectStore } from '../image/index.js';
import type { ChunkSource } from './chunk-source.js';

export interface FetchProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface FetchOptions {
  sources: ChunkSource[];
  store: ObjectStore;
  concurrency?: number;
  /** Attempts per chunk across all sources before giving up. */
  attempts?: number;
  onProgress?: (p: FetchProgress) => void;
  /** Counts received bytes by source kind. */
  onBytes?: (kind: ChunkSource['kind'], bytes: number) => void;
  signal?: AbortSignal;
}

/** Ensures every chunk in `chunks` is in the store; returns the bytes actually fetched. */
export async function fetchChunks(chunks: ChunkRef[], opts: FetchOptions): Promise<number> {
  const unique = [...new Map(chunks.map((c) => [c.digest, c])).values()];
  const bytesTotal = unique.reduce((n, c) => n + c.size, 0);
  let bytesDone = 0;
  let fetched = 0;
  const todo: ChunkRef[] = [];
  for (const c of unique) {
    if (await opts.store.has(c.digest)) bytesDone += c.size;
    else todo.push(c);
  }
  opts.onProgress?.({ bytesDone, bytesTotal });
  const attempts = opts.attempts ?? 4;
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const chunk = todo[next++]!;
      await fetchOne(chunk, opts, attempts);
      bytesDone += chunk.size;
      fetched += chunk.size;
      opts.onProgress?.({ bytesDone, bytesTotal });
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 8, todo.length));
  await Promise.all(Array.from({ length: n }, worker));
  return fetched;
}

async function fetchOne(chunk: ChunkRef, opts: FetchOptions, attempts: number): Promise<void> {
  const errors: string[] = [];
  for (let i = 0; i < attempts; i++) {
    opts.signal?.throwIfAborted();
    const source = opts.sources[i % opts.sources.length];
    if (!source) throw new SlipwayError('UNAVAILABLE', 'no chunk source configured');
    try {
      const data = await source.get(chunk.digest, opts.signal);
      await opts.store.put(chunk.digest, data); // verifies the digest first
      opts.onBytes?.(source.kind, data.length);
      return;
    } catch (e) {
      errors.push(`${source.name}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 200 * 2 ** i));
    }
  }
  throw new SlipwayError(
    'UNAVAILABLE',
    `could not fetch chunk ${chunk.digest.slice(0, 12)}: ${errors.join('; ')}`,
    {
      digest: chunk.digest,
    },
  );
}
