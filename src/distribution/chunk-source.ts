/** Where chunks come from. The origin today; peers and relays implement the same interface. */

export interface ChunkSource {
  /** Short name for reports (`origin`, `peer:host-3`, `relay:eu-1`). */
  readonly name: string;
  /** What kind of source it is, for the bytes-received-by-source counters. */
  readonly kind: 'origin' | 'relay' | 'peer';
  get(digest: string, signal?: AbortSignal): Promise<Uint8Array>;
}

/** Fetches chunks from the control plane's origin store over the REST API. */
export class OriginSource implements ChunkSource {
  readonly name = 'origin';
  readonly kind = 'origin' as const;

  constructor(
    private readonly fetchChunk: (digest: string, signal?: AbortSignal) => Promise<Uint8Array>,
  ) {}

  get(digest: string, signal?: AbortSignal): Promise<Uint8Array> {
    return this.fetchChunk(digest, signal);
  }
}
