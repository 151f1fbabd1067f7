/**
 * Chunks arriving right now, readable before they are whole (cut-through forwarding).
 *
 * A chunk is passed on hop by hop, origin → relay → the host the relay sends it to → its peers.
 * Stored whole before it is sent on, every hop would add a whole chunk's transfer time, and on
 * a link shared by several transfers a multiple of it: bench:fleet measured hosts trailing
 * their relay by 12-15 chunks, 13-25 s behind it at the end. So while a chunk arrives as plain
 * bytes, the bytes so far can be streamed on to a peer that asks for it, and the rest as it
 * comes.
 *
 * Nothing unverified is ever used: every receiver verifies the whole chunk against its digest
 * before it stores or serves it as held. And nothing unverified is passed on whole: the piece
 * that completes a chunk is checked against its digest before any reader sees it, so a chunk
 * that arrives corrupt or cut short reaches the peers reading it as a broken transfer (they try
 * elsewhere), never as bytes that fail their check and make them drop an honest forwarder.
 */
import { createHash, type Hash } from 'node:crypto';
import { SlipwayError } from '../core/index.js';

type State = 'receiving' | 'verified' | 'failed';

/**
 * How long a verified chunk stays readable here if no one says it was stored (see
 * InboundChunks.stored): the fetch that received it stores it within milliseconds.
 */
const STORED_WITHIN_MS = 30_000;

export class InboundChunk {
  private readonly pieces: Buffer[] = [];
  private received = 0;
  private readonly hash: Hash = createHash('sha256');
  private state: State = 'receiving';
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly digest: string,
    readonly size: number,
    private readonly settled: (chunk: InboundChunk) => void,
  ) {}

  /**
   * More bytes arrived. The piece that completes the chunk is checked before any reader can
   * see it: a chunk that grows past its size, or is whole but wrong, fails instead.
   */
  push(piece: Buffer): void {
    if (this.state !== 'receiving') return;
    this.received += piece.length;
    if (this.received > this.size) return this.fail();
    this.pieces.push(piece);
    this.hash.update(piece);
    if (this.received === this.size) {
      if (this.hash.digest('hex') === this.digest) this.settle('verified');
      else this.fail();
    } else this.wake();
  }

  /** The transfer ended: a chunk that is not whole by now never will be. */
  end(): void {
    if (this.state === 'receiving') this.fail();
  }

  private fail(): void {
    if (this.state !== 'receiving') return;
    this.pieces.length = 0;
    this.settle('failed');
  }

  /**
   * The chunk's bytes as they arrive. Throws when the transfer fails (or `signal` aborts)
   * before the chunk is whole.
   */
  async *read(signal: AbortSignal): AsyncGenerator<Buffer> {
    let next = 0;
    for (;;) {
      if (this.state === 'failed') throw this.brokenError();
      while (next < this.pieces.length) yield this.pieces[next++]!;
      if (this.state === 'verified') return;
      signal.throwIfAborted();
      await nextWake(this.waiters, signal);
    }
  }

  private brokenError(): SlipwayError {
    return new SlipwayError(
      'UNAVAILABLE',
      `chunk ${this.digest.slice(0, 12)} broke off on its way here`,
      { digest: this.digest },
    );
  }

  private settle(state: State): void {
    this.state = state;
    this.wake();
    this.settled(this);
  }

  get verified(): boolean {
    return this.state === 'verified';
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** The chunks this agent is receiving as plain bytes, by digest. */
export class InboundChunks {
  private readonly chunks = new Map<string, InboundChunk>();
  /**
   * The pending forget of each verified chunk, cleared once it is stored: a timer left running
   * would hold the chunk's bytes for STORED_WITHIN_MS after they were written, every chunk of
   * the last 30 s (the whole image on a fast link), and V8, seeing that memory grow, collected
   * ten times a second without freeing any of it.
   */
  private readonly forgets = new Map<string, NodeJS.Timeout>();
  private readonly appeared = new Map<string, Set<() => void>>();

  /** `onBegin` hears of each chunk whose bytes begin to arrive (to tell the peers at once). */
  constructor(private readonly onBegin?: (digest: string) => void) {}

  /**
   * Records a chunk whose plain bytes begin to arrive; null when one transfer of it is recorded
   * already (a duplicate request: the first is the one readers follow).
   */
  begin(digest: string, size: number): InboundChunk | null {
    if (this.chunks.has(digest)) return null;
    const chunk = new InboundChunk(digest, size, (c) => this.settled(c));
    this.chunks.set(digest, chunk);
    for (const w of this.appeared.get(digest) ?? []) w();
    this.onBegin?.(digest);
    return chunk;
  }

  /** The chunk's transfer, while it arrives and until it is stored. */
  get(digest: string): InboundChunk | undefined {
    return this.chunks.get(digest);
  }

  /** Resolves when a transfer of `digest` begins (or at once if one is under way). */
  async whenBegun(digest: string, signal: AbortSignal): Promise<void> {
    if (this.get(digest)) return;
    const waiters = this.appeared.get(digest) ?? new Set();
    this.appeared.set(digest, waiters);
    await nextWake(waiters, signal);
    if (waiters.size === 0 && this.appeared.get(digest) === waiters) this.appeared.delete(digest);
  }

  /**
   * The chunk is in the object store now: askers are served from there. Until then a verified
   * chunk is served from here: a peer that told its region it has the chunk must not answer
   * "not held" in between (the askers would not hear of it again).
   */
  stored(digest: string): void {
    if (!this.chunks.get(digest)?.verified) return;
    this.chunks.delete(digest);
    clearTimeout(this.forgets.get(digest));
    this.forgets.delete(digest);
  }

  private settled(chunk: InboundChunk): void {
    const forget = () => {
      this.forgets.delete(chunk.digest);
      if (this.chunks.get(chunk.digest) === chunk) this.chunks.delete(chunk.digest);
    };
    if (!chunk.verified) return forget();
    clearTimeout(this.forgets.get(chunk.digest));
    this.forgets.set(chunk.digest, setTimeout(forget, STORED_WITHIN_MS).unref());
  }
}

/** Resolves at the next call of the waiters in `waiters` (each removes itself), or on abort. */
function nextWake(waiters: Set<() => void>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      waiters.delete(done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    waiters.add(done);
    signal.addEventListener('abort', done, { once: true });
  });
}
