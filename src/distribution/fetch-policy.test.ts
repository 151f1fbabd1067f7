// The fetch's choices with a fake clock and a seeded random source: no sockets, no waiting.
import { describe, expect, it } from 'vitest';
import { setBit } from './availability.js';
import { RELAY_STRAGGLER_MS } from './endgame.js';
import { STALL_MS } from './fetch-choices.js';
import { FetchPolicy, type InFlight, type PolicyOptions } from './fetch-policy.js';
import {
  BACKOFF_MS,
  NOT_YET_WAIT_MS,
  RELAY_DOWN,
  RELAY_WAIT_MS,
  SLOTS,
  type SourceKind,
} from './source-state.js';

interface Src {
  name: string;
  kind: SourceKind;
}
type Req = InFlight<Src>;

const peer = (name: string): Src => ({ name, kind: 'peer' });
const relay: Src = { name: 'relay', kind: 'relay' };
const origin: Src = { name: 'origin', kind: 'origin' };

/** mulberry32: the same numbers in [0, 1) for the same seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A policy over `chunks` chunks, all missing, on a clock that moves only when told. */
function fetchOf(opts: Partial<PolicyOptions<Src>> & { chunks: number }, seed = 1) {
  let t = 0;
  const clock = {
    now: () => t,
    /** Moves the clock to `ms` after the start. */
    at: (ms: number) => void (t = ms),
  };
  const p = new FetchPolicy<Src>({
    peers: [],
    relays: [],
    origin: null,
    now: clock.now,
    random: seeded(seed),
    ...opts,
  });
  for (let i = 0; i < opts.chunks; i++) p.need(i);
  return { p, clock };
}

/** The policy's state of the source named `name`. */
function stateOf(p: FetchPolicy<Src>, name: string) {
  const all = [...p.peers, ...p.relays, ...(p.origin ? [p.origin] : [])];
  return all.find((s) => s.source.name === name)!;
}

/** Tells the policy that `name` holds the chunks `held` of `n`. */
function holding(p: FetchPolicy<Src>, name: string, n: number, held: number[]): void {
  const bits = new Uint8Array(Math.ceil(n / 8));
  for (const i of held) setBit(bits, i);
  p.bitsChanged(stateOf(p, name), bits);
}

/** Every request the policy would start now. */
function startAll(p: FetchPolicy<Src>): Req[] {
  const started: Req[] = [];
  for (let req = p.next(); req; req = p.next()) started.push(req);
  return started;
}

const named = (reqs: Req[]) => reqs.map((r) => `${r.source.source.name}:${r.index}`);

/** Starts one request at a time and lets it succeed at once: the order chunks are taken in. */
function takeInTurn(p: FetchPolicy<Src>): string[] {
  const order: string[] = [];
  for (let req = p.next(); req; req = p.next()) {
    order.push(named([req])[0]!);
    p.succeeded(req);
  }
  return order;
}

describe('the fetch policy', () => {
  it('takes the rarest chunk first', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const peers = [peer('a'), peer('b'), peer('c')];
      const { p } = fetchOf({ chunks: 3, peers }, seed);
      // Chunk 0 is held by three peers, chunk 1 by two, chunk 2 by one.
      holding(p, 'a', 3, [0, 1, 2]);
      holding(p, 'b', 3, [0, 1]);
      holding(p, 'c', 3, [0]);
      expect(takeInTurn(p).map((s) => Number(s.split(':')[1]))).toEqual([2, 1, 0]);
    }
  });

  it('takes equally rare chunks in random order, from the least busy holder', () => {
    const firsts = new Set<number>();
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { p } = fetchOf({ chunks: 8, peers: [peer('a'), peer('b')] }, seed);
      holding(p, 'a', 8, [0, 1, 2, 3, 4, 5, 6, 7]);
      holding(p, 'b', 8, [0, 1, 2, 3, 4, 5, 6, 7]);
      const [first, second] = startAll(p);
      firsts.add(first!.index);
      // The second request goes to the peer that has none yet.
      expect(second!.source).not.toBe(first!.source);
    }
    expect(firsts.size).toBeGreaterThan(1);
  });

  it('asks the relay for its own share first, held chunks first, then the others', () => {
    const { p } = fetchOf({ chunks: 6, relays: [relay], relayShare: { index: 1, of: 3 } });
    // Our share is chunks 1 and 4; the relay holds 0, 4 and 5.
    holding(p, 'relay', 6, [0, 4, 5]);
    expect(takeInTurn(p)).toEqual([
      'relay:4', // ours, held
      'relay:1', // ours, fetched by the relay from the origin for us
      'relay:0', // others', held (their owner may be gone)
      'relay:5',
      'relay:2', // others', not held
      'relay:3',
    ]);
  });

  it('asks the relay for no chunk a peer holds', () => {
    const { p } = fetchOf({ chunks: 4, peers: [peer('a')], relays: [relay], inOrder: true });
    holding(p, 'a', 4, [0, 1, 2]);
    const started = startAll(p);
    // The peer's two slots take two of its chunks; the relay only what no peer holds.
    expect(named(started.filter((r) => r.source.source.kind === 'relay'))).toEqual(['relay:3']);
  });

  it("takes a relay's own chunks from the origin in manifest order", () => {
    const { p } = fetchOf({ chunks: 12, origin, inOrder: true }, 7);
    expect(named(startAll(p))).toEqual(
      Array.from({ length: SLOTS.origin }, (_, i) => `origin:${i}`),
    );
  });

  it('takes chunks from the origin in random order otherwise, so hosts ask for different ones', () => {
    const orders = [1, 2].map((seed) => named(startAll(fetchOf({ chunks: 12, origin }, seed).p)));
    expect(orders[0]).not.toEqual(orders[1]);
  });

  it('backs a failing source off, twice as long after each failure, up to a cap', () => {
    const { p, clock } = fetchOf({ chunks: 1, relays: [relay], attempts: 100 });
    const r = stateOf(p, 'relay');
    const waits: number[] = [];
    let now = 0;
    for (let failures = 0; failures < 8; failures++) {
      const req = p.next()!;
      expect(req.source).toBe(r);
      p.failed(req, { kind: 'error' });
      const wait = p.backedOffFor(r);
      waits.push(wait);
      // Not asked again before the wait is over, and the loop is told when to look again.
      clock.at(now + wait - 1);
      expect(p.next()).toBeNull();
      expect(p.nextTimerMs()).toBe(20);
      now += wait;
      clock.at(now);
    }
    expect(waits).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    expect(BACKOFF_MS).toEqual({ firstMs: 250, maxMs: 8_000, jitter: 0 });
  });

  it('tells the loop to look again when the first backoff ends', () => {
    const { p, clock } = fetchOf({ chunks: 2, relays: [relay] });
    const [a, b] = startAll(p);
    p.failed(a!, { kind: 'error' });
    p.failed(b!, { kind: 'error' });
    // Two failures in a row: backed off for 500 ms; the loop looks at most every 500 ms.
    expect(p.nextTimerMs()).toBe(500);
    clock.at(400);
    expect(p.nextTimerMs()).toBe(100);
    clock.at(490);
    expect(p.nextTimerMs()).toBe(20);
  });

  it('gives up on a chunk after its attempts, over all sources', () => {
    const { p, clock } = fetchOf({ chunks: 1, origin, attempts: 3 });
    const verdicts = [];
    for (let i = 0; i < 3; i++) {
      clock.at(i * 10_000);
      verdicts.push(p.failed(p.next()!, { kind: 'error' }));
    }
    expect(verdicts).toEqual([
      { attempts: 1, giveUp: false },
      { attempts: 2, giveUp: false },
      { attempts: 3, giveUp: true },
    ]);
  });

  it('drops a source that sent bad bytes and takes its chunks elsewhere', () => {
    const all = Array.from({ length: 16 }, (_, i) => i);
    const { p } = fetchOf({ chunks: 16, peers: [peer('bad'), peer('good')] });
    holding(p, 'bad', 16, all);
    holding(p, 'good', 16, all);
    const started = startAll(p);
    const fromBad = started.find((r) => r.source.source.name === 'bad')!;
    p.failed(fromBad, { kind: 'corrupt' });
    expect(stateOf(p, 'bad').dropped).toBe(true);
    for (const req of started) if (req !== fromBad) p.succeeded(req);
    const rest = takeInTurn(p);
    expect(rest).toContain(`good:${fromBad.index}`);
    expect(rest.filter((s) => s.startsWith('bad:'))).toEqual([]);
    expect(p.done).toBe(true);
  });

  it('forgets a chunk a peer turned out not to hold, without backing the peer off', () => {
    const { p } = fetchOf({ chunks: 2, peers: [peer('a')], relays: [relay] });
    holding(p, 'a', 2, [0, 1]);
    const [first] = startAll(p);
    p.failed(first!, { kind: 'not-held' });
    expect(p.backedOffFor(stateOf(p, 'a'))).toBe(0);
    // No peer holds it now: the relay is asked, and backed off in turn when it cannot get it.
    const again = p.next()!;
    expect(named([again])).toEqual([`relay:${first!.index}`]);
    p.failed(again, { kind: 'not-held' });
    expect(p.backedOffFor(stateOf(p, 'relay'))).toBe(BACKOFF_MS.firstMs);
  });

  it('backs off a source whose have stream fails, and forgets what it held', () => {
    const { p } = fetchOf({ chunks: 1, peers: [peer('a')] });
    holding(p, 'a', 1, [0]);
    p.watchFailed(stateOf(p, 'a'));
    expect(p.backedOffFor(stateOf(p, 'a'))).toBe(BACKOFF_MS.firstMs);
    expect(p.next()).toBeNull();
  });

  it('does not take a relay for down after a quick burst of failures', () => {
    const { p, clock } = fetchOf({ chunks: 4, relays: [relay], origin });
    // Both slots fail at once, then the next try: three failures within 750 ms.
    const [a, b] = startAll(p);
    expect(named([a!, b!]).every((s) => s.startsWith('relay:'))).toBe(true);
    p.failed(a!, { kind: 'error' });
    p.failed(b!, { kind: 'error' });
    clock.at(750);
    p.failed(p.next()!, { kind: 'error' });
    expect(stateOf(p, 'relay').failures).toBe(RELAY_DOWN.failures);
    // Backed off until 1 750 ms: nothing is asked meanwhile, of the origin neither.
    for (const t of [750, 1_000, 1_749]) {
      clock.at(t);
      expect(p.next()).toBeNull();
    }
    clock.at(1_750);
    const next = named(startAll(p));
    expect(next).toHaveLength(SLOTS.relay);
    expect(next.every((s) => s.startsWith('relay:'))).toBe(true);
  });

  it('takes a relay for down after failures in a row over two seconds, and goes to the origin', () => {
    const { p, clock } = fetchOf({ chunks: 1, relays: [relay], origin });
    for (const t of [0, 1_000, RELAY_DOWN.ms]) {
      clock.at(t);
      const req = p.next()!;
      expect(req.source.source.kind).toBe('relay');
      p.failed(req, { kind: 'error' });
    }
    expect(named(startAll(p))).toEqual(['origin:0']);
  });

  /**
   * The relay's origin is away from `from` to `to` (ms): every request made meanwhile is
   * answered "not yet" (ask again in `retryAfterMs`); requests to the origin stay in flight.
   * Looks every 100 ms, as the transfer loop would; returns every request made, by name, those
   * to the origin, and what the stall and wait checks said.
   */
  function originAway(
    p: FetchPolicy<Src>,
    clock: { at: (ms: number) => void },
    from: number,
    to: number,
    retryAfterMs = 1_000,
  ) {
    const asked: string[] = [];
    const toOrigin: Req[] = [];
    const said: string[] = [];
    for (let t = from; t < to; t += 100) {
      clock.at(t);
      for (const req of startAll(p)) {
        asked.push(`${t}:${named([req])[0]}`);
        if (req.source.source.kind === 'relay') {
          p.failed(req, { kind: 'not-yet', retryAfterMs });
        } else toOrigin.push(req);
      }
      for (const s of [p.checkStall(), p.checkWaits()]) if (s) said.push(`${t}:${s}`);
    }
    return { asked, toOrigin, said };
  }

  it('waits on a relay that says "not yet", asking it again when it says, and not the origin', () => {
    const { p, clock } = fetchOf({ chunks: 8, relays: [relay], origin, attempts: 1 });
    // Far longer than the stall timer and the relay-down rule, shorter than RELAY_WAIT_MS.
    const { asked, said } = originAway(p, clock, 0, 3 * STALL_MS);
    expect(said).toEqual([]);
    expect(asked.filter((a) => a.includes('origin:'))).toEqual([]);
    // Asked again each time its wait is over, never before: two slots, once a second.
    const times = [...new Set(asked.map((a) => Number(a.split(':')[0])))];
    expect(times).toEqual(Array.from({ length: (3 * STALL_MS) / 1_000 }, (_, i) => i * 1_000));
    expect(asked).toHaveLength(2 * times.length);
    // Not a failure of the relay, nor of any chunk (one attempt each would give up).
    const r = stateOf(p, 'relay');
    expect(r.failures).toBe(0);
    expect(r.waitingSince).toBe(0);
    // The origin is back: the relay sends, and the fetch goes on from it alone.
    clock.at(3 * STALL_MS);
    const next = startAll(p);
    expect(named(next).every((n) => n.startsWith('relay:'))).toBe(true);
    expect(next).toHaveLength(SLOTS.relay);
    for (const req of next) p.succeeded(req);
    expect(r.waitingSince).toBeNull();
    expect(takeInTurn(p).every((n) => n.startsWith('relay:'))).toBe(true);
    expect(p.done).toBe(true);
  });

  it('takes a relay\'s chunks from the origin once it said "not yet" for RELAY_WAIT_MS', () => {
    const { p, clock } = fetchOf({ chunks: 40, relays: [relay], origin });
    const before = originAway(p, clock, 0, RELAY_WAIT_MS);
    expect(before.asked.filter((a) => a.includes('origin:'))).toEqual([]);
    expect(before.said).toEqual([]);
    const after = originAway(p, clock, RELAY_WAIT_MS, RELAY_WAIT_MS + 1_000);
    expect(after.said).toEqual([
      `${RELAY_WAIT_MS}:relay said "not yet" (its origin is away) for ${RELAY_WAIT_MS / 1000} s; taking its chunks from the origin`,
    ]);
    expect(after.toOrigin).toHaveLength(SLOTS.origin);
    expect(after.toOrigin.every((r) => r.started === RELAY_WAIT_MS)).toBe(true);
    // A chunk from the relay ends its wait: the origin is left alone again.
    clock.at(RELAY_WAIT_MS + 1_000);
    const again = startAll(p);
    expect(named(again).every((n) => n.startsWith('relay:'))).toBe(true);
    expect(again).toHaveLength(SLOTS.relay);
    for (const req of [...again, ...after.toOrigin]) p.succeeded(req);
    expect(stateOf(p, 'relay').waitingSince).toBeNull();
    expect(named(startAll(p)).every((n) => n.startsWith('relay:'))).toBe(true);
  });

  it('bounds the wait a "not yet" asks for', () => {
    for (const [retryAfterMs, wait] of [
      [3_600_000, NOT_YET_WAIT_MS.max],
      [0, NOT_YET_WAIT_MS.min],
      [Number.NaN, NOT_YET_WAIT_MS.min],
    ] as const) {
      const { p } = fetchOf({ chunks: 2, relays: [relay], origin });
      for (const req of startAll(p)) p.failed(req, { kind: 'not-yet', retryAfterMs });
      expect(p.backedOffFor(stateOf(p, 'relay'))).toBe(wait);
    }
  });

  it('keeps counting a relay\'s "not yet" wait through errors in between', () => {
    const { p, clock } = fetchOf({ chunks: 4, relays: [relay], origin, attempts: 100 });
    originAway(p, clock, 0, RELAY_WAIT_MS / 2);
    // A broken connection now and then does not start the wait over.
    clock.at(RELAY_WAIT_MS / 2);
    for (const req of startAll(p)) p.failed(req, { kind: 'error' });
    const { said } = originAway(p, clock, RELAY_WAIT_MS / 2 + 1_000, RELAY_WAIT_MS + 100);
    expect(said).toEqual([expect.stringMatching(/^60000:relay said "not yet"/)]);
  });

  it('takes a peer that says "not yet" for failing: only a relay fetches for others', () => {
    const { p, clock } = fetchOf({ chunks: 2, peers: [peer('a')], relays: [relay], origin });
    // The peer claims every chunk (so the relay is not asked for them) and never sends one.
    holding(p, 'a', 2, [0, 1]);
    for (let t = 0; t < STALL_MS; t += 100) {
      clock.at(t);
      for (const req of startAll(p)) p.failed(req, { kind: 'not-yet', retryAfterMs: 100 });
    }
    expect(stateOf(p, 'a').failures).toBeGreaterThan(1);
    expect(stateOf(p, 'a').waitingSince).toBeNull();
    clock.at(STALL_MS);
    expect(p.checkStall()).toMatch(/from the origin$/);
  });

  it('turns to the origin when nothing was asked for or arrived for STALL_MS', () => {
    const { p, clock } = fetchOf({ chunks: 2, relays: [relay], origin });
    // The relay sends everything elsewhere, and no peer passes it on.
    for (const req of startAll(p)) p.failed(req, { kind: 'sent-elsewhere', retryAfterMs: 60_000 });
    clock.at(STALL_MS - 1);
    expect(p.checkStall()).toBeNull();
    expect(p.next()).toBeNull();
    clock.at(STALL_MS);
    expect(p.checkStall()).toMatch(/^2 chunk\(s\) missing.*sources: relay\).*from the origin$/);
    expect(p.checkStall()).toBeNull(); // said once
    expect(named(startAll(p)).sort()).toEqual(['origin:0', 'origin:1']);
  });

  it('does not stall while a request is in flight, and counts from the last arrival', () => {
    const { p, clock } = fetchOf({ chunks: 3, relays: [relay], origin });
    // Both relay slots busy, one chunk waiting for them.
    const [a, b] = startAll(p);
    clock.at(STALL_MS + 5_000);
    expect(p.checkStall()).toBeNull(); // slow, not stalled
    p.succeeded(a!);
    p.failed(b!, { kind: 'sent-elsewhere', retryAfterMs: 60_000 });
    clock.at(2 * STALL_MS + 4_999);
    expect(p.checkStall()).toBeNull();
    clock.at(2 * STALL_MS + 5_000);
    expect(p.checkStall()).not.toBeNull();
  });

  it('asks another peer for a chunk in flight far longer than the median', () => {
    const { p, clock } = fetchOf({ chunks: 2, peers: [peer('a'), peer('b')] });
    holding(p, 'a', 2, [0, 1]);
    holding(p, 'b', 2, [0, 1]);
    const [quick, slow] = startAll(p);
    clock.at(100);
    p.succeeded(quick!); // the median: 100 ms, so a straggler takes 1 s at least
    clock.at(999);
    expect(p.next()).toBeNull();
    clock.at(1_000);
    const copy = p.next()!;
    expect(copy.index).toBe(slow!.index);
    expect(copy.source).not.toBe(slow!.source);
    expect(p.next()).toBeNull(); // one copy only
    // The first to arrive wins; the other is called off, and counts for nothing if it lands too.
    expect(p.succeeded(copy)).toEqual([slow]);
    expect(p.done).toBe(true);
    expect(p.wanted(slow!)).toBe(false);
    expect(p.succeeded(slow!)).toBeNull();
    expect(slow!.source.active).toBe(0);
  });

  it('asks the relay for a straggler only after RELAY_STRAGGLER_MS', () => {
    const { p, clock } = fetchOf({ chunks: 2, peers: [peer('slow')], relays: [relay] });
    holding(p, 'slow', 2, [0, 1]);
    holding(p, 'relay', 2, [0, 1]);
    const [quick, slow] = startAll(p);
    expect(named([quick!, slow!]).every((s) => s.startsWith('slow:'))).toBe(true);
    clock.at(10);
    p.succeeded(quick!);
    for (const t of [1_000, 5_000, RELAY_STRAGGLER_MS - 1]) {
      clock.at(t);
      expect(p.next()).toBeNull(); // the peer keeps its chunk: no second copy over the relay link
    }
    clock.at(RELAY_STRAGGLER_MS);
    expect(named([p.next()!])).toEqual([`relay:${slow!.index}`]);
  });

  it('takes a chunk the relay sent elsewhere from a peer, and asks the relay again only later', () => {
    const { p, clock } = fetchOf({
      chunks: 2,
      peers: [peer('a')],
      relays: [relay],
      relayShare: { index: 0, of: 1 },
      attempts: 1,
    });
    const [r0, r1] = startAll(p);
    expect(named([r0!, r1!])).toEqual(['relay:0', 'relay:1']);
    // Not a failure: it does not count as an attempt.
    expect(p.failed(r0!, { kind: 'sent-elsewhere', retryAfterMs: 5_000 })).toEqual({
      attempts: 0,
      giveUp: false,
    });
    clock.at(4_999);
    expect(p.next()).toBeNull();
    // The host it went to passes it on.
    holding(p, 'a', 2, [0]);
    expect(named([p.next()!])).toEqual(['a:0']);
  });

  it('asks the relay again for a chunk it sent elsewhere once its wait is over', () => {
    const { p, clock } = fetchOf({ chunks: 1, relays: [relay] });
    p.failed(p.next()!, { kind: 'sent-elsewhere', retryAfterMs: 5_000 });
    clock.at(4_999);
    expect(p.next()).toBeNull();
    clock.at(5_000);
    expect(named([p.next()!])).toEqual(['relay:0']);
  });

  it('watches and takes chunks from no more than maxPeers of the peers, a random few', () => {
    const peers = Array.from({ length: 12 }, (_, i) => peer(`p${i}`));
    const chosen = [1, 2, 3].map((seed) =>
      fetchOf({ chunks: 1, peers, maxPeers: 3 }, seed).p.peers.map((s) => s.source.name),
    );
    for (const names of chosen) expect(names).toHaveLength(3);
    expect(new Set(chosen.map((names) => [...names].sort().join())).size).toBeGreaterThan(1);
    expect(fetchOf({ chunks: 1, peers }).p.peers).toHaveLength(8); // MAX_PEERS
  });

  it('does not take from a peer a chunk arriving here another way', () => {
    const { p } = fetchOf({ chunks: 2, peers: [peer('a')], arriving: (i) => i === 0 });
    holding(p, 'a', 2, [0, 1]);
    expect(named(startAll(p))).toEqual(['a:1']);
  });

  it('keeps at most `concurrency` requests in flight over all sources', () => {
    const { p, clock } = fetchOf({ chunks: 20, origin, relays: [], concurrency: 5 });
    const started = startAll(p);
    expect(started).toHaveLength(5); // of the origin's 8 slots
    const [a, b, c] = started;
    // Each request's end frees its place, whichever way it ended.
    p.succeeded(a!);
    p.failed(b!, { kind: 'error' });
    p.cancelled(c!);
    clock.at(BACKOFF_MS.firstMs);
    expect(startAll(p)).toHaveLength(3);
  });
});
