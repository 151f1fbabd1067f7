/**
 * The fetch's choices: which chunk to ask of which source next, and what a request's end means
 * for the rest of the fetch. Pure: no I/O, no timers; the clock and the random source are
 * given, so every rule can be replayed with a fake clock and a seeded random source. The
 * transfer loop (fetch-chunks.ts) makes the requests, follows the have streams and sleeps until
 * `nextTimerMs`, and tells this what happened.
 *
 * - Peers of the region first: the rarest chunk some free peer holds is taken (random among
 *   equals), so copies spread through the region instead of everyone pulling the same chunk.
 * - The region's relay for chunks no peer holds yet: this host's share first (see `relayShare`),
 *   in manifest order; the relay sends each chunk to one host only (relay-ledger.ts), and the
 *   hosts trade.
 * - The origin when there is no relay, the relay is down (see relayDown) or the fetch stalled.
 * - A relay that says "not yet" (it is alive, but its own source, the origin, is away: the
 *   control plane restarting) is asked again shortly and waited on, for RELAY_WAIT_MS at most:
 *   neither a failure nor a stall, so a restart does not send the whole region to the origin.
 * - A source that fails is backed off, one that sends bytes that do not verify is dropped for
 *   the rest of the fetch, and the chunk goes back to the pool to be taken from elsewhere.
 * - At the end, a chunk in flight for much longer than usual is also asked of another source
 *   (endgame.ts).
 * - A fetch that waits with nothing in flight and no chunk arriving for STALL_MS (the peers
 *   hold nothing it lacks, the relay keeps sending it elsewhere) says so and takes the rest
 *   from the origin: the origin holds every chunk, so a fetch always ends. Waiting on a relay
 *   that says "not yet" is not a stall.
 */
import { shuffle } from '../core/index.js';
import { clearBit, hasBit } from './availability.js';
import { ChunkTimes, stragglerSource } from './endgame.js';
import { ATTEMPTS, CONCURRENCY, MAX_PEERS, STALL_MS, type FetchChoices } from './fetch-choices.js';
import {
  answered,
  backOff,
  describeSource,
  holds,
  isFree,
  leastBusy,
  notYet,
  relayDown,
  sourceState,
  waitedOut,
  RELAY_WAIT_MS,
  type NamedSource,
  type SourceState,
} from './source-state.js';

/**
 * The shortest and longest sleep of the transfer loop between looks: the longest is also how
 * late a straggler, a stall or the end of a sent-elsewhere wait is noticed.
 */
const LOOK_MS = { min: 20, max: 500 } as const;

/** What the policy is given: the image's chunks by index, the sources, the clock and dice. */
export interface PolicyOptions<S extends NamedSource> extends FetchChoices {
  /** How many distinct chunks the image has (none missing until `need` says so). */
  chunks: number;
  peers: readonly S[];
  relays: readonly S[];
  origin: S | null;
  /** The chunk is arriving here some other way (see FetchOptions' `inbound`): not from a peer. */
  arriving?: (index: number) => boolean;
  /** Milliseconds, from any fixed point (performance.now in the transfer loop). */
  now: () => number;
  /** Numbers in [0, 1), as Math.random. */
  random: () => number;
}

/** A request the policy chose: the transfer loop makes it and reports how it ended. */
export interface InFlight<S extends NamedSource> {
  readonly index: number;
  readonly source: SourceState<S>;
  readonly started: number;
}

/** How a request failed, as far as the choices care. */
export type RequestFailure =
  /** The source does not hold the chunk after all (stale bitmap, or the relay could not get it). */
  | { kind: 'not-held' }
  /** The bytes do not verify. */
  | { kind: 'corrupt' }
  /** The relay just sent it to another host: take it from a peer. */
  | { kind: 'sent-elsewhere'; retryAfterMs: number }
  /** The relay cannot get it now (its origin is away): ask again after `retryAfterMs`. */
  | { kind: 'not-yet'; retryAfterMs: number }
  /** Anything else (unreachable, HTTP error, cut off). */
  | { kind: 'error' };

/**
 * The state of one fetch's choices: the chunks missing and in flight, and each source's state.
 * Ask `next` for requests to make until it says null, report how each ended, and look again
 * after any of them, after a bitmap changes or after `nextTimerMs`.
 */
export class FetchPolicy<S extends NamedSource> {
  /** The peers used: a random MAX_PEERS of those given. */
  readonly peers: SourceState<S>[];
  readonly relays: SourceState<S>[];
  readonly origin: SourceState<S> | null;
  private readonly missing = new Set<number>();
  private readonly inflight = new Map<number, InFlight<S>[]>();
  /** Requests in flight over all chunks: what `concurrency` limits. */
  private requests = 0;
  private readonly failures = new Map<number, number>();
  /** Chunks the relay refused, having just sent them to another host: not asked of it until then. */
  private readonly sentElsewhere = new Map<number, number>();
  private readonly times = new ChunkTimes();
  /**
   * The order chunks are taken from the relay or the origin: manifest order when this host
   * shares the relay's chunks with its peers or is the relay (see `inOrder`), else random,
   * so hosts that each go to the origin ask for different chunks.
   */
  private readonly order: number[];
  /** Each chunk's place in `order`. */
  private readonly placeOf: Int32Array;
  /**
   * Every chunk before this place in `order` is held or in flight: `nextMissing` looks from
   * here. Looking from the start each time made a fetch cost the square of its chunks (a
   * 14,000-chunk GiB: 100 million looks) and a third of what an agent allocated while staging.
   */
  private lookFrom = 0;
  private rarest: number[] = [];
  private rarestStale = true;
  /** When the last chunk arrived or a relay last said "not yet" (or the fetch began). */
  private lastHeard: number;
  /** Set once the fetch stalled: the origin is asked for what the relay does not send. */
  private stalled = false;
  /** Relays whose "not yet" lasted RELAY_WAIT_MS, already reported (see checkWaits). */
  private readonly reportedWaits = new Set<SourceState<S>>();

  constructor(private readonly opts: PolicyOptions<S>) {
    const { random } = opts;
    // A random few of the region's peers, as in a BitTorrent swarm: watching every peer costs
    // each agent a connection and a message per chunk per peer, in proportion to the region's
    // size; chunks still spread through the region hop by hop.
    this.peers = shuffle([...opts.peers], random)
      .slice(0, opts.maxPeers ?? MAX_PEERS)
      .map(sourceState);
    this.relays = opts.relays.map(sourceState);
    this.origin = opts.origin ? sourceState(opts.origin) : null;
    const indices = Array.from({ length: opts.chunks }, (_, i) => i);
    this.order = opts.inOrder || opts.relayShare ? indices : shuffle(indices, random);
    this.placeOf = new Int32Array(opts.chunks);
    this.order.forEach((index, place) => (this.placeOf[index] = place));
    this.lastHeard = opts.now();
  }

  /** Chunk `index` is not held here: the fetch must get it. */
  need(index: number): void {
    this.missing.add(index);
    // `nextMissing` must look at it, also when it is missing again.
    this.lookFrom = Math.min(this.lookFrom, this.placeOf[index]!);
  }

  /** Every chunk is here and no request is left. */
  get done(): boolean {
    return this.missing.size === 0 && this.inflight.size === 0;
  }

  /**
   * The next request to make, now counted in flight; null when every slot is busy or nothing
   * is worth asking for now (ask again after a request ends, a bitmap changes or `nextTimerMs`).
   */
  next(): InFlight<S> | null {
    if (this.requests >= (this.opts.concurrency ?? CONCURRENCY)) return null;
    const now = this.opts.now();
    const picked = this.pick(now);
    if (!picked) return null;
    const req: InFlight<S> = { ...picked, started: now };
    this.missing.delete(req.index);
    const reqs = this.inflight.get(req.index) ?? [];
    reqs.push(req);
    this.inflight.set(req.index, reqs);
    this.requests++;
    req.source.active++;
    return req;
  }

  /** No other copy of the request's chunk came first: its bytes are still wanted. */
  wanted(req: InFlight<S>): boolean {
    return this.inflight.get(req.index)?.includes(req) ?? false;
  }

  /**
   * The request's chunk is here, verified and stored. Returns the other requests for it, to
   * cancel; null when another copy came first (this one counts for nothing).
   */
  succeeded(req: InFlight<S>): InFlight<S>[] | null {
    const reqs = this.end(req);
    if (!reqs) return null;
    req.source.failures = 0;
    answered(req.source);
    this.reportedWaits.delete(req.source);
    const now = this.opts.now();
    this.times.add(now - req.started);
    this.lastHeard = now;
    this.inflight.delete(req.index);
    this.requests -= reqs.length;
    this.missing.delete(req.index);
    return reqs;
  }

  /** The request was called off (another copy won, or the fetch is over): nothing went wrong. */
  cancelled(req: InFlight<S>): void {
    this.end(req);
  }

  /**
   * The request failed: the source is backed off, dropped or told to be asked later, and the
   * chunk goes back to the pool. Returns how many attempts of the chunk failed so far and
   * whether the fetch should give up on it.
   */
  failed(req: InFlight<S>, answer: RequestFailure): { attempts: number; giveUp: boolean } {
    const { index, source } = req;
    const now = this.opts.now();
    // Only a relay fetches for others: a peer saying "not yet" would hold the fetch off the
    // stall rule for ever, so it is taken for what it is, a peer that does not send.
    const failure: RequestFailure =
      answer.kind === 'not-yet' && source.source.kind !== 'relay' ? { kind: 'error' } : answer;
    if (failure.kind === 'not-yet') {
      // Alive, and telling us when to ask again: however the chunk fares meanwhile. Hearing
      // this is not a stall (see checkStall); only a chunk from the relay ends its wait.
      notYet(source, now, failure.retryAfterMs);
      this.lastHeard = now;
    }
    // Out of flight already: another copy came first, and the chunk is not missing again.
    if (!this.end(req)) return { attempts: this.failures.get(index) ?? 0, giveUp: false };
    if (failure.kind === 'not-yet') {
      // Not a failure of the chunk either: it goes back to the pool (a peer may have it).
      if (!this.inflight.has(index)) this.need(index);
      return { attempts: this.failures.get(index) ?? 0, giveUp: false };
    }
    if (failure.kind === 'sent-elsewhere') {
      // Not a failure: a peer will have it shortly.
      this.sentElsewhere.set(index, now + failure.retryAfterMs);
      if (!this.inflight.has(index)) this.need(index);
      return { attempts: this.failures.get(index) ?? 0, giveUp: false };
    }
    if (failure.kind === 'not-held') {
      if (source.bits) clearBit(source.bits, index);
      this.rarestStale = true;
      if (source.source.kind !== 'peer') backOff(source, now);
    } else if (failure.kind === 'corrupt') {
      source.dropped = true;
      this.rarestStale = true;
    } else {
      backOff(source, now);
    }
    const attempts = (this.failures.get(index) ?? 0) + 1;
    this.failures.set(index, attempts);
    const giveUp = attempts >= (this.opts.attempts ?? ATTEMPTS) && !this.inflight.has(index);
    if (!this.inflight.has(index)) this.need(index);
    return { attempts, giveUp };
  }

  /** The source's have stream told which chunks it holds (null: it does not offer the image). */
  bitsChanged(s: SourceState<S>, bits: Uint8Array | null): void {
    s.bits = bits;
    this.rarestStale = true;
  }

  /** The source's have stream failed: nothing is known of its chunks, and it is backed off. */
  watchFailed(s: SourceState<S>): void {
    s.bits = null;
    backOff(s, this.opts.now());
  }

  /** How long the source is still backed off (0: usable now). */
  backedOffFor(s: SourceState<S>): number {
    return Math.max(0, s.until - this.opts.now());
  }

  /**
   * Nothing in flight, and neither a chunk nor a relay's "not yet" for STALL_MS, though chunks
   * are missing: from now on the origin sends what the relay does not. Returns what the fetch
   * was waiting for, to report, the one time it stalls; null otherwise. (A relay that keeps
   * saying "not yet" is waited on until relayDown says otherwise.)
   */
  checkStall(): string | null {
    const now = this.opts.now();
    if (this.stalled || !this.origin || this.missing.size === 0 || this.inflight.size > 0) {
      return null;
    }
    const stallMs = this.opts.stallMs ?? STALL_MS;
    if (now - this.lastHeard < stallMs) return null;
    this.stalled = true;
    const waiting =
      [...this.peers, ...this.relays].map((s) => describeSource(s, now)).join(', ') || 'none';
    return (
      `${this.missing.size} chunk(s) missing, none asked for and none arriving for ` +
      `${Math.round(stallMs / 1000)} s (sources: ${waiting}); taking them from the origin`
    );
  }

  /**
   * A relay said "not yet" for RELAY_WAIT_MS: its chunks are taken from the origin from now on,
   * until it sends one again. Returns what to report, once per such wait; null otherwise.
   */
  checkWaits(): string | null {
    const now = this.opts.now();
    for (const r of this.relays) {
      if (!waitedOut(r, now) || this.reportedWaits.has(r)) continue;
      this.reportedWaits.add(r);
      return (
        `${r.source.name} said "not yet" (its origin is away) for ` +
        `${Math.round(RELAY_WAIT_MS / 1000)} s; taking its chunks from the origin`
      );
    }
    return null;
  }

  /** When to look again at the latest: a backoff expires, or a straggler may be worth a copy. */
  nextTimerMs(): number {
    const now = this.opts.now();
    const waits = [...this.peers, ...this.relays, ...(this.origin ? [this.origin] : [])]
      .filter((s) => !s.dropped && s.until > now)
      .map((s) => s.until - now);
    return Math.max(LOOK_MS.min, Math.min(LOOK_MS.max, ...waits));
  }

  /** Takes the request out of flight; returns the chunk's requests before, null if not there. */
  private end(req: InFlight<S>): InFlight<S>[] | null {
    req.source.active--;
    const reqs = this.inflight.get(req.index);
    if (!reqs?.includes(req)) return null;
    const others = reqs.filter((r) => r !== req);
    if (others.length > 0) this.inflight.set(req.index, others);
    else this.inflight.delete(req.index);
    this.requests--;
    return others;
  }

  private pick(now: number): { index: number; source: SourceState<S> } | null {
    const free = (s: SourceState<S>) => isFree(s, now);
    // 1. The rarest chunk a free peer holds.
    const freePeers = this.peers.filter(free);
    if (freePeers.length > 0) {
      for (const index of this.rarestOrder()) {
        if (!this.missing.has(index) || this.opts.arriving?.(index)) continue;
        // No array (nor closure) for the many chunks no free peer holds.
        let holders: SourceState<S>[] | null = null;
        for (const p of freePeers) if (hasBit(p.bits, index)) (holders ??= []).push(p);
        if (holders) return { index, source: leastBusy(holders, this.opts.random) };
      }
    }
    // 2. The relay, else the origin, for the next chunk no peer holds (see nextMissing).
    const relay = this.relays.find(free);
    const origin = this.stalled || !this.relaysUsable(now) ? this.origin : null;
    for (const from of [relay, origin]) {
      if (!from || !free(from)) continue;
      const index = this.nextMissing(from, now);
      if (index !== null) return { index, source: from };
    }
    // 3. Endgame: nothing left to start; duplicate a straggler at another free source.
    if (this.missing.size === 0) return this.straggler(now, free);
    return null;
  }

  /** Some relay is not down (see relayDown); with no relay, none is. */
  private relaysUsable(now: number): boolean {
    return this.relays.some((r) => !relayDown(r, now));
  }

  /** Missing chunks held by at least one peer, rarest first, ties in random order. */
  private rarestOrder(): number[] {
    if (!this.rarestStale) return this.rarest;
    const counts = new Map<number, number>();
    for (const i of this.missing) {
      let n = 0;
      for (const p of this.peers) if (holds(p, i)) n++;
      if (n > 0) counts.set(i, n);
    }
    const keyed = [...counts].map(([i, n]) => ({ i, n, r: this.opts.random() }));
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
  private nextMissing(from: SourceState<S>, now: number): number | null {
    const share = this.opts.relayShare;
    const ours = (i: number) => !share || i % share.of === share.index;
    const relay = from.source.kind === 'relay';
    let heldOther: number | null = null;
    let oursUnheld: number | null = null;
    let other: number | null = null;
    let any: number | null = null;
    const { order, missing } = this;
    while (this.lookFrom < order.length && !missing.has(order[this.lookFrom]!)) this.lookFrom++;
    for (let place = this.lookFrom; place < order.length; place++) {
      const i = order[place]!;
      if (!missing.has(i)) continue;
      if (relay && (this.sentElsewhere.get(i) ?? 0) > now) continue;
      if (!relay) any ??= i;
      if (this.heldByPeer(i)) continue;
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

  /** Some peer holds chunk `index` (a loop: this runs for every chunk a look passes). */
  private heldByPeer(index: number): boolean {
    for (const p of this.peers) if (holds(p, index)) return true;
    return false;
  }

  /** A request in flight much longer than usual, and another free source to ask for its chunk. */
  private straggler(
    now: number,
    free: (s: SourceState<S>) => boolean,
  ): { index: number; source: SourceState<S> } | null {
    const slow = this.times.slowAfter();
    for (const [index, reqs] of this.inflight) {
      const waited = now - reqs[0]!.started;
      if (reqs.length > 1 || waited < slow) continue;
      const { peers, relays, origin } = this;
      const sources = { peers, relays, origin, relaysUsable: this.relaysUsable(now) };
      const other = stragglerSource(index, waited, reqs[0]!.source, sources, free);
      if (other) return { index, source: other };
    }
    return null;
  }
}
