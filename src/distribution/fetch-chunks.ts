/**
 * The fetch scheduler: brings every chunk of an image into the local object store from several
 * sources at once, never using a byte the store has not verified.
 *
 * - Peers of the region first: each peer streams which chunks it holds (have-stream.ts), and
 *   the rarest chunk some free peer holds is taken (random among equals), so copies spread
 *   through the region instead of everyone pulling the same chunk.
 * - The region's relay for chunks no peer holds yet. Each host has a share of the chunks to
 *   take from it, asked for in manifest order, the order the relay fetches them from the
 *   origin; the relay sends each chunk to one host only (relay-ledger.ts), and the hosts trade.
 * - The origin when there is no relay or the relay keeps failing.
 * - A source that fails is backed off, one that sends bytes that do not verify is dropped for
 *   the rest of the fetch, and the chunk goes back to the pool to be taken from elsewhere.
 * - At the end, a chunk in flight for much longer than usual is also asked of another source
 *   (endgame): the first verified copy wins, so one slow source cannot hold the fetch up.
 * - A fetch that waits with nothing in flight and no chunk arriving for STALL_MS (the peers
 *   hold nothing it lacks, the relay keeps sending it elsewhere) says so and takes the rest
 *   from the origin: the origin holds every chunk, so a fetch always ends.
 */
import { SlipwayError, shuffle, sleep } from '../core/index.js';
import { ChunkCorruptError, type ChunkRef, type ObjectStore } from '../image/index.js';
import { clearBit, hasBit, type ImageAvailability } from './availability.js';
import { heldBase, type ChunkBase } from './chunk-base.js';
import { ChunkNotHeldError, type ChunkSource, type SourceKind } from './chunk-source.js';
import type { InboundChunks } from './inbound.js';
import { ChunkSentElsewhereError } from './relay-ledger.js';

export interface FetchProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface FetchOptions {
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
   * This host's share of the chunks to take from the relay: chunk i is ours when
   * `i % of === index`. Hosts of a region take different chunks from the relay, so the relay
   * sends each chunk about once and the hosts trade the rest; outside our share we take from
   * the relay only what no peer holds once our share is done.
   */
  relayShare?: { index: number; of: number };
  /**
   * Take chunks from the relay or the origin in manifest order, not at random. Set on a relay:
   * its own fetch from the origin then runs just ahead of its peers, who ask it for their
   * shares in manifest order too, so each chunk leaves the relay soon after it arrived
   * instead of waiting for a peer that wants it (the relay's one link is the region's inlet
   * and, once, its outlet: both must stay busy).
   */
  inOrder?: boolean;
  /** How many of `peers` to watch and take chunks from (MAX_PEERS). */
  maxPeers?: number;
  /**
   * For chunks whose earlier version this host holds, that version's digest: sources that hold
   * it too send a delta against it instead of the whole chunk (see image/delta-bases.ts).
   */
  bases?: Map<string, string[]>;
  /** Requests in flight at once, over all sources (16: measured against 12 and 24 in bench:fleet). */
  concurrency?: number;
  /** Failed attempts of one chunk, over all sources, before the fetch gives up. */
  attempts?: number;
  /** How soon a source that does not offer the image yet is asked again (RETRY_MS). */
  retryMs?: number;
  /** STALL_MS. */
  stallMs?: number;
  onProgress?: (p: FetchProgress) => void;
  /** Counts bytes received on the wire for verified chunks, by source kind. */
  onBytes?: (kind: SourceKind, bytes: number) => void;
  /** Sources that misbehave (logged by the caller). */
  onSourceProblem?: (source: string, problem: string) => void;
  signal?: AbortSignal;
}

/**
 * Requests in flight per source of each kind. A peer sends UPLOAD_SLOTS chunks at once, to
 * several askers, and queues the rest: a request waiting there keeps its link busy the moment
 * a send ends. Two per peer spread a host's requests over more peers (bench:fleet, 30 hosts,
 * with UPLOAD_SLOTS 8: 74.5 and 77.1 s against 74.5-77.0 s with 4 and 79.7 s with 8).
 */
const SLOTS: Record<SourceKind, number> = { peer: 2, relay: 2, origin: 8 };
const BACKOFF_MS = { first: 250, max: 8_000 };
/** When a relay counts as down (see relaysUsable). */
const RELAY_DOWN = { failures: 3, ms: 2_000 };
/** A request older than this many times the median chunk time is duplicated in the endgame. */
const STRAGGLER_FACTOR = 4;
const STRAGGLER_MIN_MS = 1_000;
/**
 * A straggler is duplicated at the relay only after this long. The relay's link is the region's
 * one inlet and outlet: every copy it sends twice, or half-sends for a duplicate that loses,
 * delays the whole region (bench:fleet, 30 hosts: relays' links carried 1.17-1.2 images where
 * their hosts counted 1.0 from them; 1.05-1.2 with this).
 */
const RELAY_STRAGGLER_MS = 10_000;
/** How soon a source that does not offer the image yet (or whose have stream ended) is asked again. */
export const RETRY_MS = 500;
/** Peers one fetch watches and takes chunks from. */
export const MAX_PEERS = 8;
/** Waiting this long with nothing in flight and nothing arriving, a fetch turns to the origin. */
export const STALL_MS = 10_000;
/** How long a fetch waits for its sources' first bitmaps before it asks the relay or origin. */
const FIRST_BITMAP_WAIT_MS = 500;

interface SourceState {
  source: ChunkSource;
  active: number;
  failures: number;
  /** performance.now() of the first of `failures` failures in a row. */
  failingSince: number;
  /** performance.now() before which the source is not used (backoff). */
  until: number;
  dropped: boolean;
  bits: Uint8Array | null;
}

interface Request {
  index: number;
  source: SourceState;
  started: number;
  abort: AbortController;
}

/** Ensures every chunk is in the store; returns the bytes actually fetched. */
export async function fetchChunks(chunks: ChunkRef[], opts: FetchOptions): Promise<number> {
  const fetch = new Fetch(dedupe(chunks), opts);
  return fetch.run();
}

function dedupe(chunks: ChunkRef[]): ChunkRef[] {
  return [...new Map(chunks.map((c) => [c.digest, c])).values()];
}

class Fetch {
  private readonly missing = new Set<number>();
  private readonly inflight = new Map<number, Request[]>();
  private readonly failures = new Map<number, number>();
  /** Chunks the relay refused, having just sent them to another host: not asked of it until then. */
  private readonly sentElsewhere = new Map<number, number>();
  private readonly peers: SourceState[];
  private readonly relays: SourceState[];
  private readonly origin: SourceState | null;
  private readonly durations: number[] = [];
  /**
   * The order chunks are taken from the relay or the origin: manifest order when this host
   * shares the relay's chunks with its peers or is the relay (see `inOrder`), else random,
   * so hosts that each go to the origin ask for different chunks.
   */
  private readonly order: number[];
  private readonly bytesTotal: number;
  private bytesDone = 0;
  private fetched = 0;
  private rarest: number[] = [];
  /** When the last chunk arrived (or the fetch began). */
  private lastArrival = performance.now();
  /** Set once the fetch stalled: the origin is asked for what the relay does not send. */
  private stalled = false;
  private rarestStale = true;
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly stop = new AbortController();

  constructor(
    private readonly chunks: ChunkRef[],
    private readonly opts: FetchOptions,
  ) {
    const state = (source: ChunkSource): SourceState => ({
      source,
      active: 0,
      failures: 0,
      failingSince: 0,
      until: 0,
      dropped: false,
      bits: null,
    });
    // A random few of the region's peers, as in a BitTorrent swarm: watching every peer costs
    // each agent a connection and a message per chunk per peer, in proportion to the region's
    // size; chunks still spread through the region hop by hop.
    this.peers = shuffle([...(opts.peers ?? [])])
      .slice(0, opts.maxPeers ?? MAX_PEERS)
      .map(state);
    this.relays = (opts.relays ?? []).map(state);
    this.origin = opts.origin ? state(opts.origin) : null;
    const indices = chunks.map((_, i) => i);
    this.order = opts.inOrder || opts.relayShare ? indices : shuffle(indices);
    this.bytesTotal = chunks.reduce((n, c) => n + c.size, 0);
  }

  async run(): Promise<number> {
    const { store, availability, imageId } = this.opts;
    const held: boolean[] = [];
    for (const [i, c] of this.chunks.entries()) {
      held[i] = await store.has(c.digest);
      if (held[i]) this.bytesDone += c.size;
      else this.missing.add(i);
    }
    availability?.track(
      imageId,
      this.chunks.map((c) => c.digest),
      (i) => held[i] === true,
    );
    this.progress();
    if (this.missing.size === 0) return 0;
    if (this.peers.length + this.relays.length === 0 && !this.origin) {
      throw new SlipwayError('UNAVAILABLE', 'no chunk source configured');
    }
    const signal = AbortSignal.any([
      this.stop.signal,
      ...(this.opts.signal ? [this.opts.signal] : []),
    ]);
    const firstAnswers: Promise<void>[] = [];
    const watches = [...this.peers, ...this.relays]
      .filter((p) => p.source.watch !== undefined)
      .map((p) => {
        let answered!: () => void;
        firstAnswers.push(new Promise<void>((r) => (answered = r)));
        return this.watchSource(p, signal, answered);
      });
    // Hear from the peers (briefly) before asking the relay or the origin for anything.
    await Promise.race([Promise.all(firstAnswers), sleep(FIRST_BITMAP_WAIT_MS, signal)]);
    try {
      while (this.missing.size > 0 || this.inflight.size > 0) {
        this.opts.signal?.throwIfAborted();
        if (this.failure) throw this.failure;
        this.fill();
        this.checkStall();
        await this.sleep(this.nextTimerMs());
      }
      if (this.failure) throw this.failure;
    } finally {
      this.stop.abort();
      for (const reqs of this.inflight.values()) for (const r of reqs) r.abort.abort();
      await Promise.allSettled(watches);
    }
    return this.fetched;
  }

  /** Starts requests until every slot is busy or nothing is left to ask for. */
  private fill(): void {
    let total = [...this.inflight.values()].reduce((n, r) => n + r.length, 0);
    const limit = this.opts.concurrency ?? 16;
    while (total < limit) {
      const next = this.pick();
      if (!next) break;
      this.start(next.index, next.source);
      total++;
    }
  }

  private pick(): { index: number; source: SourceState } | null {
    const now = performance.now();
    const free = (s: SourceState) =>
      !s.dropped && s.until <= now && s.active < SLOTS[s.source.kind];
    // 1. The rarest chunk a free peer holds.
    const freePeers = this.peers.filter(free);
    if (freePeers.length > 0) {
      for (const index of this.rarestOrder()) {
        if (!this.missing.has(index) || this.arriving(index)) continue;
        const holders = freePeers.filter((p) => hasBit(p.bits, index));
        if (holders.length === 0) continue;
        return { index, source: leastBusy(holders) };
      }
    }
    // 2. The relay, else the origin, for the next chunk no peer holds (see nextMissing).
    const relay = this.relays.find(free);
    const origin = this.stalled || !this.relaysUsable() ? this.origin : null;
    for (const from of [relay, origin]) {
      if (!from || !free(from)) continue;
      const index = this.nextMissing(from, now);
      if (index !== null) return { index, source: from };
    }
    // 3. Endgame: nothing left to start; duplicate a straggler at another free source.
    if (this.missing.size === 0) return this.straggler(now, free);
    return null;
  }

  /** The chunk arrives here through another way (see `inbound`). */
  private arriving(index: number): boolean {
    return this.opts.inbound?.get(this.chunks[index]!.digest) !== undefined;
  }

  /**
   * Nothing in flight and nothing arrived for STALL_MS though chunks are missing: say what the
   * fetch waits for, and let the origin send what the relay does not.
   */
  private checkStall(): void {
    const now = performance.now();
    if (this.stalled || !this.origin || this.missing.size === 0 || this.inflight.size > 0) return;
    const stallMs = this.opts.stallMs ?? STALL_MS;
    if (now - this.lastArrival < stallMs) return;
    this.stalled = true;
    const state = (s: SourceState) =>
      `${s.source.name}${s.dropped ? ' (dropped)' : s.until > now ? ' (backed off)' : ''}`;
    const waiting = [...this.peers, ...this.relays].map(state).join(', ') || 'none';
    this.opts.onSourceProblem?.(
      'fetch',
      `${this.missing.size} chunk(s) missing, none asked for and none arriving for ` +
        `${Math.round(stallMs / 1000)} s (sources: ${waiting}); taking them from the origin`,
    );
    this.notify();
  }

  /**
   * A relay is given up on (its chunks taken from the origin) once it failed RELAY_DOWN.failures
   * times in a row over at least RELAY_DOWN.ms: a relay still starting, or a burst of failures
   * under load, must not send a whole region to the origin.
   */
  private relaysUsable(): boolean {
    const now = performance.now();
    return this.relays.some(
      (r) =>
        !r.dropped && (r.failures < RELAY_DOWN.failures || now - r.failingSince < RELAY_DOWN.ms),
    );
  }

  /** Missing chunks held by at least one peer, rarest first, ties in random order. */
  private rarestOrder(): number[] {
    if (!this.rarestStale) return this.rarest;
    const counts = new Map<number, number>();
    for (const i of this.missing) {
      let n = 0;
      for (const p of this.peers) if (!p.dropped && hasBit(p.bits, i)) n++;
      if (n > 0) counts.set(i, n);
    }
    const keyed = [...counts].map(([i, n]) => ({ i, n, r: Math.random() }));
    keyed.sort((a, b) => a.n - b.n || a.r - b.r);
    this.rarest = keyed.map((k) => k.i);
    this.rarestStale = false;
    return this.rarest;
  }

  /**
   * The next missing chunk in `order` to take from the relay or the origin, among those no peer
   * holds. From the relay: one of our share (see `relayShare`), one it holds first, else one it
   * does not hold yet, which it then fetches from the origin; once our share is asked for,
   * anyone's, one it holds first (its owner may be gone; if not, the relay sends it to one of us
   * only and refuses the rest, see relay-ledger.ts), skipping those it just sent elsewhere. From
   * the origin: one of our share, else any.
   *
   * Our share before others' chunks the relay holds: those are on their way to their owner, who
   * tells the region a moment later, so asking for them mostly earns a refusal. bench:fleet
   * (30 hosts) counted 797 refusals against 245 chunks sent on one relay's link with others'
   * held chunks first, 86 with this order.
   */
  private nextMissing(from: SourceState, now: number): number | null {
    const share = this.opts.relayShare;
    const ours = (i: number) => !share || i % share.of === share.index;
    const relay = from.source.kind === 'relay';
    let heldOther: number | null = null;
    let oursUnheld: number | null = null;
    let other: number | null = null;
    let any: number | null = null;
    for (const i of this.order) {
      if (!this.missing.has(i)) continue;
      if (relay && (this.sentElsewhere.get(i) ?? 0) > now) continue;
      if (!relay) any ??= i;
      if (this.peers.some((p) => !p.dropped && hasBit(p.bits, i))) continue;
      if (!relay) {
        if (ours(i)) return i;
        other ??= i;
      } else if (hasBit(from.bits, i)) {
        if (ours(i)) return i;
        heldOther ??= i;
      } else if (ours(i)) {
        oursUnheld ??= i;
      } else {
        other ??= i;
      }
    }
    return relay ? (oursUnheld ?? heldOther ?? other) : (other ?? any);
  }

  private straggler(
    now: number,
    free: (s: SourceState) => boolean,
  ): { index: number; source: SourceState } | null {
    const median = this.durations.length
      ? [...this.durations].sort((a, b) => a - b)[Math.floor(this.durations.length / 2)]!
      : STRAGGLER_MIN_MS;
    const slow = Math.max(STRAGGLER_MIN_MS, median * STRAGGLER_FACTOR);
    for (const [index, reqs] of this.inflight) {
      const waited = now - reqs[0]!.started;
      if (reqs.length > 1 || waited < slow) continue;
      const busy = reqs[0]!.source;
      const other =
        this.peers.find((p) => p !== busy && free(p) && hasBit(p.bits, index)) ??
        (waited >= RELAY_STRAGGLER_MS
          ? this.relays.find((r) => r !== busy && free(r))
          : undefined) ??
        (this.origin && this.origin !== busy && free(this.origin) && !this.relaysUsable()
          ? this.origin
          : undefined);
      if (other) return { index, source: other };
    }
    return null;
  }

  private start(index: number, source: SourceState): void {
    const chunk = this.chunks[index]!;
    this.missing.delete(index);
    const req: Request = {
      index,
      source,
      started: performance.now(),
      abort: new AbortController(),
    };
    const reqs = this.inflight.get(index) ?? [];
    reqs.push(req);
    this.inflight.set(index, reqs);
    source.active++;
    // The run's end aborts every request still in flight (see run()).
    const signal = req.abort.signal;
    const { store } = this.opts;
    void (async () => {
      // Something else on this host (a relay serving its peers) may have stored it meanwhile.
      if (await store.has(chunk.digest)) return 0;
      const received = await source.source.get(
        chunk.digest,
        chunk.size,
        signal,
        await this.baseFor(chunk.digest),
      );
      if (!this.inflight.get(index)?.includes(req)) return; // another copy won
      // Verifies the digest first, unless the bytes were hashed as they arrived; a source that
      // stored the chunk itself has verified it.
      if (!received.stored) {
        await store.put(chunk.digest, received.data, { verified: received.verified });
      }
      return received.wireBytes;
    })()
      .then(
        (received) => {
          source.active--;
          if (received === undefined) return;
          source.failures = 0;
          this.durations.push(performance.now() - req.started);
          if (this.durations.length > 64) this.durations.shift();
          for (const other of this.inflight.get(index) ?? [])
            if (other !== req) other.abort.abort();
          this.finishChunk(index, chunk, source.source.kind, received);
        },
        (e: unknown) => {
          source.active--;
          this.failed(req, e);
        },
      )
      .finally(() => this.notify());
  }

  private finishChunk(index: number, chunk: ChunkRef, kind: SourceKind, received: number): void {
    this.lastArrival = performance.now();
    this.inflight.delete(index);
    this.missing.delete(index);
    this.bytesDone += chunk.size;
    this.fetched += received;
    this.opts.availability?.add(chunk.digest);
    this.opts.inbound?.stored(chunk.digest);
    if (received > 0) this.opts.onBytes?.(kind, received);
    this.progress();
  }

  private failed(req: Request, e: unknown): void {
    const { index, source } = req;
    const others = (this.inflight.get(index) ?? []).filter((r) => r !== req);
    if (others.length > 0) this.inflight.set(index, others);
    else this.inflight.delete(index);
    // Aborted because another copy won, or because the fetch is over: nothing went wrong.
    if (this.stop.signal.aborted || req.abort.signal.aborted) return;
    const name = source.source.name;
    if (e instanceof ChunkSentElsewhereError) {
      // Not a failure: a peer will have it shortly.
      this.sentElsewhere.set(index, performance.now() + e.retryAfterMs);
      if (!this.inflight.has(index)) this.missing.add(index);
      return;
    }
    if (e instanceof ChunkNotHeldError) {
      // The peer's bitmap was stale (or the relay could not get it): ask elsewhere.
      if (source.bits) clearBit(source.bits, index);
      this.rarestStale = true;
      if (source.source.kind !== 'peer') this.backoff(source);
    } else if (e instanceof ChunkCorruptError) {
      source.dropped = true;
      this.rarestStale = true;
      this.opts.onSourceProblem?.(
        name,
        `sent bytes that do not match chunk ${this.chunks[index]!.digest.slice(0, 12)}; not used again for this image`,
      );
    } else {
      this.backoff(source);
      this.opts.onSourceProblem?.(name, (e as Error).message);
    }
    const n = (this.failures.get(index) ?? 0) + 1;
    this.failures.set(index, n);
    if (n >= (this.opts.attempts ?? 20) && !this.inflight.has(index)) {
      this.failure = new SlipwayError(
        'UNAVAILABLE',
        `could not fetch chunk ${this.chunks[index]!.digest.slice(0, 12)} after ${n} attempts; last from ${name}: ${(e as Error).message}`,
        { digest: this.chunks[index]!.digest },
      );
    }
    if (!this.inflight.has(index)) this.missing.add(index);
  }

  /** The chunk this host holds that `digest` may come as a delta against, if any. */
  private async baseFor(digest: string): Promise<ChunkBase | undefined> {
    return heldBase(this.opts.store, this.opts.bases?.get(digest));
  }

  private backoff(s: SourceState): void {
    if (s.failures++ === 0) s.failingSince = performance.now();
    s.until =
      performance.now() + Math.min(BACKOFF_MS.max, BACKOFF_MS.first * 2 ** (s.failures - 1));
  }

  /**
   * Follows a source's have stream for the whole fetch: its bitmap is kept current as chunks
   * arrive there. A source that does not offer the image yet is asked again after `retryMs`;
   * one that fails is backed off.
   */
  private async watchSource(
    p: SourceState,
    signal: AbortSignal,
    answered: () => void,
  ): Promise<void> {
    const onChange = (bits: Uint8Array) => {
      p.bits = bits;
      answered();
      this.rarestStale = true;
      this.notify();
    };
    try {
      while (!signal.aborted && !p.dropped) {
        const backedOff = p.until - performance.now();
        if (backedOff > 0) {
          await sleep(backedOff, signal);
          continue;
        }
        try {
          const offered = await p.source.watch!(this.opts.imageId, signal, onChange);
          if (!offered) p.bits = null;
          answered();
          // Not offered yet, or the stream ended (the source restarted): ask again shortly.
          await sleep(this.opts.retryMs ?? RETRY_MS, signal);
        } catch (e) {
          if (signal.aborted) return;
          p.bits = null;
          answered();
          this.backoff(p);
          this.opts.onSourceProblem?.(p.source.name, (e as Error).message);
        }
      }
    } finally {
      answered();
    }
  }

  /** When a backoff expires or a straggler becomes worth duplicating, look again. */
  private nextTimerMs(): number {
    const now = performance.now();
    const waits = [...this.peers, ...this.relays, ...(this.origin ? [this.origin] : [])]
      .filter((s) => !s.dropped && s.until > now)
      .map((s) => s.until - now);
    return Math.max(20, Math.min(500, ...waits));
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

function leastBusy(sources: SourceState[]): SourceState {
  let best = sources[0]!;
  for (const s of sources)
    if (s.active < best.active || (s.active === best.active && Math.random() < 0.5)) best = s;
  return best;
}
