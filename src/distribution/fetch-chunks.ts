/**
 * The fetch: brings every chunk of an image into the local object store from several sources
 * at once, never using a byte the store has not verified. Which chunk to ask of which source is
 * fetch-policy.ts's choice; this is the transfer around it: the requests, the have streams of
 * the peers and the relay, storing and counting what arrives, and sleeping until something
 * ends or the policy's next timer is due.
 */
import { SlipwayError, sleep } from '../core/index.js';
import { ChunkCorruptError, type ChunkRef, type ObjectStore } from '../image/index.js';
import type { ImageAvailability } from './availability.js';
import { heldBase, type ChunkBase } from './chunk-base.js';
import { ChunkNotHeldError, type ChunkSource } from './chunk-source.js';
import { FetchPolicy, type InFlight, type RequestFailure } from './fetch-policy.js';
import type { FetchChoices } from './fetch-choices.js';
import type { InboundChunks } from './inbound.js';
import { ChunkSentElsewhereError } from './relay-ledger.js';
import { ChunkNotYetError } from './not-yet.js';
import { RELAY_WAIT_MS, type SourceKind, type SourceState } from './source-state.js';

/** How far a fetch is, in bytes of the image's distinct chunks (those already held count). */
export interface FetchProgress {
  bytesDone: number;
  bytesTotal: number;
}

/** What to fetch, from where, into which store; the choices are fetch-policy.ts's. */
export interface FetchOptions extends FetchChoices {
  /** The image the chunks belong to: peers are asked which of its chunks they hold. */
  imageId: string;
  peers?: ChunkSource[];
  relays?: ChunkSource[];
  origin?: ChunkSource | null;
  store: ObjectStore;
  /** Our own availability, updated as chunks arrive so peers can take them from us at once. */
  availability?: ImageAvailability;
  /**
   * Chunks arriving here now. On a relay, peers' requests bring chunks in from the origin
   * besides this fetch: one arriving that way is not taken from a peer too (a second copy
   * through the region's inlet); asked of the origin, it joins the transfer under way.
   */
  inbound?: InboundChunks;
  /**
   * For chunks whose earlier version this host holds, that version's digest: sources that hold
   * it too send a delta against it instead of the whole chunk (see image/delta-bases.ts).
   */
  bases?: Map<string, string[]>;
  /** How soon a source that does not offer the image yet is asked again (RETRY_MS). */
  retryMs?: number;
  onProgress?: (p: FetchProgress) => void;
  /** Counts bytes received on the wire for verified chunks, by source kind. */
  onBytes?: (kind: SourceKind, bytes: number) => void;
  /** Sources that misbehave (logged by the caller). */
  onSourceProblem?: (source: string, problem: string) => void;
  signal?: AbortSignal;
}

/** How soon a source that does not offer the image yet (or whose have stream ended) is asked again. */
export const RETRY_MS = 500;
/** How long a fetch waits for its sources' first bitmaps before it asks the relay or origin. */
const FIRST_BITMAP_WAIT_MS = 500;

type Request = InFlight<ChunkSource>;
type Source = SourceState<ChunkSource>;

/** Ensures every chunk is in the store; returns the bytes actually fetched. */
export async function fetchChunks(chunks: ChunkRef[], opts: FetchOptions): Promise<number> {
  const fetch = new Fetch(dedupe(chunks), opts);
  return fetch.run();
}

function dedupe(chunks: ChunkRef[]): ChunkRef[] {
  return [...new Map(chunks.map((c) => [c.digest, c])).values()];
}

class Fetch {
  private readonly policy: FetchPolicy<ChunkSource>;
  /** Each request in flight, to call off when another copy wins or the fetch ends. */
  private readonly aborts = new Map<Request, AbortController>();
  private readonly bytesTotal: number;
  private bytesDone = 0;
  private fetched = 0;
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly stop = new AbortController();

  constructor(
    private readonly chunks: ChunkRef[],
    private readonly opts: FetchOptions,
  ) {
    const { inbound } = opts;
    this.policy = new FetchPolicy({
      chunks: chunks.length,
      peers: opts.peers ?? [],
      relays: opts.relays ?? [],
      origin: opts.origin ?? null,
      relayShare: opts.relayShare,
      inOrder: opts.inOrder,
      maxPeers: opts.maxPeers,
      concurrency: opts.concurrency,
      attempts: opts.attempts,
      stallMs: opts.stallMs,
      arriving: inbound ? (i) => inbound.get(chunks[i]!.digest) !== undefined : undefined,
      now: () => performance.now(),
      random: Math.random,
    });
    this.bytesTotal = chunks.reduce((n, c) => n + c.size, 0);
  }

  async run(): Promise<number> {
    const { store, availability, imageId } = this.opts;
    const { policy } = this;
    const held: boolean[] = [];
    for (const [i, c] of this.chunks.entries()) {
      held[i] = await store.has(c.digest);
      if (held[i]) this.bytesDone += c.size;
      else policy.need(i);
    }
    availability?.track(
      imageId,
      this.chunks.map((c) => c.digest),
      (i) => held[i] === true,
    );
    this.progress();
    if (policy.done) return 0;
    if (policy.peers.length + policy.relays.length === 0 && !policy.origin) {
      throw new SlipwayError('UNAVAILABLE', 'no chunk source configured');
    }
    const signal = AbortSignal.any([
      this.stop.signal,
      ...(this.opts.signal ? [this.opts.signal] : []),
    ]);
    const firstAnswers: Promise<void>[] = [];
    const watches = [...policy.peers, ...policy.relays]
      .filter((p) => p.source.watch !== undefined)
      .map((p) => {
        let answered!: () => void;
        firstAnswers.push(new Promise<void>((r) => (answered = r)));
        return this.watchSource(p, signal, answered);
      });
    // Hear from the peers (briefly) before asking the relay or the origin for anything.
    await Promise.race([Promise.all(firstAnswers), sleep(FIRST_BITMAP_WAIT_MS, signal)]);
    try {
      while (!policy.done) {
        this.opts.signal?.throwIfAborted();
        if (this.failure) throw this.failure;
        for (let req = policy.next(); req; req = policy.next()) this.start(req);
        const waitedOut = policy.checkWaits();
        if (waitedOut) this.opts.onSourceProblem?.('fetch', waitedOut);
        const stalled = policy.checkStall();
        if (stalled) {
          this.opts.onSourceProblem?.('fetch', stalled);
          continue; // the origin is free to ask now: no need to wait for a timer
        }
        await this.sleep(policy.nextTimerMs());
      }
      if (this.failure) throw this.failure;
    } finally {
      this.stop.abort();
      for (const abort of this.aborts.values()) abort.abort();
      await Promise.allSettled(watches);
    }
    return this.fetched;
  }

  private start(req: Request): void {
    const chunk = this.chunks[req.index]!;
    const source = req.source.source;
    // The run's end aborts every request still in flight (see run()).
    const abort = new AbortController();
    this.aborts.set(req, abort);
    const { store } = this.opts;
    void (async () => {
      // Something else on this host (a relay serving its peers) may have stored it meanwhile.
      if (await store.has(chunk.digest)) return 0;
      const received = await source.get(
        chunk.digest,
        chunk.size,
        abort.signal,
        await this.baseFor(chunk.digest),
      );
      if (!this.policy.wanted(req)) return; // another copy won
      // Verifies the digest first, unless the bytes were hashed as they arrived; a source that
      // stored the chunk itself has verified it.
      if (!received.stored) {
        await store.put(chunk.digest, received.data, { verified: received.verified });
      }
      return received.wireBytes;
    })()
      .then(
        (received) => {
          if (received === undefined) return this.policy.cancelled(req);
          const losers = this.policy.succeeded(req);
          if (!losers) return; // another copy was stored first and counted
          for (const other of losers) this.aborts.get(other)?.abort();
          this.finishChunk(chunk, source.kind, received);
        },
        (e: unknown) => this.failed(req, abort.signal, e),
      )
      .finally(() => {
        this.aborts.delete(req);
        this.notify();
      });
  }

  private finishChunk(chunk: ChunkRef, kind: SourceKind, received: number): void {
    this.bytesDone += chunk.size;
    this.fetched += received;
    this.opts.availability?.add(chunk.digest);
    this.opts.inbound?.stored(chunk.digest);
    if (received > 0) this.opts.onBytes?.(kind, received);
    this.progress();
  }

  private failed(req: Request, signal: AbortSignal, e: unknown): void {
    // Aborted because another copy won, or because the fetch is over: nothing went wrong.
    if (this.stop.signal.aborted || signal.aborted) return this.policy.cancelled(req);
    const failure = classify(e);
    const relay = req.source.source.kind === 'relay';
    const waiting = req.source.waitingSince !== null;
    const { attempts, giveUp } = this.policy.failed(req, failure);
    const name = req.source.source.name;
    const digest = this.chunks[req.index]!.digest;
    if (failure.kind === 'not-yet' && relay) {
      if (!waiting) {
        this.opts.onSourceProblem?.(
          name,
          `${(e as Error).message}; waiting for it (up to ${RELAY_WAIT_MS / 1000} s) before going to the origin`,
        );
      }
    } else if (failure.kind === 'corrupt') {
      this.opts.onSourceProblem?.(
        name,
        `sent bytes that do not match chunk ${digest.slice(0, 12)}; not used again for this image`,
      );
    } else if (failure.kind === 'error' || failure.kind === 'not-yet') {
      // A peer's "not yet" counts as a failure (see FetchPolicy.failed).
      this.opts.onSourceProblem?.(name, (e as Error).message);
    }
    if (giveUp) {
      this.failure = new SlipwayError(
        'UNAVAILABLE',
        `could not fetch chunk ${digest.slice(0, 12)} after ${attempts} attempts; last from ${name}: ${(e as Error).message}`,
        { digest },
      );
    }
  }

  /** The chunk this host holds that `digest` may come as a delta against, if any. */
  private async baseFor(digest: string): Promise<ChunkBase | undefined> {
    return heldBase(this.opts.store, this.opts.bases?.get(digest));
  }

  /**
   * Follows a source's have stream for the whole fetch: its bitmap is kept current as chunks
   * arrive there. A source that does not offer the image yet is asked again after `retryMs`;
   * one that fails is backed off.
   */
  private async watchSource(p: Source, signal: AbortSignal, answered: () => void): Promise<void> {
    const onChange = (bits: Uint8Array) => {
      this.policy.bitsChanged(p, bits);
      answered();
      this.notify();
    };
    try {
      while (!signal.aborted && !p.dropped) {
        const backedOff = this.policy.backedOffFor(p);
        if (backedOff > 0) {
          await sleep(backedOff, signal);
          continue;
        }
        try {
          const offered = await p.source.watch!(this.opts.imageId, signal, onChange);
          if (!offered) this.policy.bitsChanged(p, null);
          answered();
          // Not offered yet, or the stream ended (the source restarted): ask again shortly.
          await sleep(this.opts.retryMs ?? RETRY_MS, signal);
        } catch (e) {
          if (signal.aborted) return;
          this.policy.watchFailed(p);
          answered();
          this.opts.onSourceProblem?.(p.source.name, (e as Error).message);
        }
      }
    } finally {
      answered();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private progress(): void {
    this.opts.onProgress?.({ bytesDone: this.bytesDone, bytesTotal: this.bytesTotal });
  }
}

/** What a request's error means for the choices (see RequestFailure). */
function classify(e: unknown): RequestFailure {
  if (e instanceof ChunkSentElsewhereError) {
    return { kind: 'sent-elsewhere', retryAfterMs: e.retryAfterMs };
  }
  if (e instanceof ChunkNotYetError) return { kind: 'not-yet', retryAfterMs: e.retryAfterMs };
  if (e instanceof ChunkNotHeldError) return { kind: 'not-held' };
  if (e instanceof ChunkCorruptError) return { kind: 'corrupt' };
  return { kind: 'error' };
}
