/**
 * What a fetch knows of each source it takes chunks from: its requests in flight, its failures
 * in a row and the backoff they earned, whether it was dropped, and which chunks it holds. Pure:
 * every rule here is told the time, so a test can replay it with a fake clock.
 */
import { backoffDelay } from '../core/index.js';
import { hasBit } from './availability.js';

/** Where a chunk comes from: the control plane's origin store, the region's relay, or a peer. */
export type SourceKind = 'origin' | 'relay' | 'peer';

/** What the fetch's choices need to know of a source: the rest is the transfer's business. */
export interface NamedSource {
  /** Short name for logs and errors (`origin`, `relay ldn-1`, `peer ldn-2`). */
  readonly name: string;
  readonly kind: SourceKind;
}

/** One source as a fetch sees it (times are those of the fetch's clock). */
export interface SourceState<S extends NamedSource = NamedSource> {
  readonly source: S;
  /** Requests in flight there. */
  active: number;
  /** Failures in a row (a chunk received resets them). */
  failures: number;
  /** When the first of `failures` failures in a row happened. */
  failingSince: number;
  /** The source is not used before this time (backoff). */
  until: number;
  /** Sent bytes that do not verify: not used again for this fetch. */
  dropped: boolean;
  /** The chunks it holds, from its have stream; null when unknown or not offered. */
  bits: Uint8Array | null;
  /**
   * Since when the source (a relay) answers "not yet" (its own source, the origin, is away)
   * without sending a chunk in between; null when it does not.
   */
  waitingSince: number | null;
}

/**
 * Requests in flight per source of each kind. A peer sends UPLOAD_SLOTS chunks at once, to
 * several askers, and queues the rest: a request waiting there keeps its link busy the moment
 * a send ends. Two per peer spread a host's requests over more peers (bench:fleet, 30 hosts,
 * with UPLOAD_SLOTS 8: 74.5 and 77.1 s against 74.5-77.0 s with 4 and 79.7 s with 8).
 */
export const SLOTS: Readonly<Record<SourceKind, number>> = { peer: 2, relay: 2, origin: 8 };
/**
 * A failing source waits `firstMs`, then twice as long after each failure in a row, up to
 * `maxMs`. No jitter: the fetch already spreads its requests (random order of chunks, random
 * peers), and its choices stay replayable with a fake clock.
 */
export const BACKOFF_MS = { firstMs: 250, maxMs: 8_000, jitter: 0 } as const;
/** When a relay counts as down (see relayDown). */
export const RELAY_DOWN = { failures: 3, ms: 2_000 } as const;
/**
 * How long a fetch waits on a relay that says "not yet" (it is alive, its origin is away: the
 * control plane restarting) before it takes the relay's chunks from the origin itself. A
 * restart takes seconds; a whole region at the origin costs it one image per host.
 */
export const RELAY_WAIT_MS = 60_000;
/** The shortest and longest wait a "not yet" may ask for: a source does not set the pace alone. */
export const NOT_YET_WAIT_MS = { min: 100, max: 5_000 } as const;

/** A fresh source: nothing in flight, no failures, holdings unknown. */
export function sourceState<S extends NamedSource>(source: S): SourceState<S> {
  return {
    source,
    active: 0,
    failures: 0,
    failingSince: 0,
    until: 0,
    dropped: false,
    bits: null,
    waitingSince: null,
  };
}

/** The source may take one more request now. */
export function isFree(s: SourceState, now: number): boolean {
  return !s.dropped && s.until <= now && s.active < SLOTS[s.source.kind];
}

/** Counts a failure of the source and keeps it unused for a while, longer after each in a row. */
export function backOff(s: SourceState, now: number): void {
  if (s.failures++ === 0) s.failingSince = now;
  s.until = now + backoffDelay(s.failures, BACKOFF_MS);
}

/**
 * The source answered "not yet": it works, but cannot get the chunk before `retryAfterMs` (a
 * relay whose origin is away). Not a failure: it is asked again after that wait (bounded by
 * NOT_YET_WAIT_MS), and its failures in a row end.
 */
export function notYet(s: SourceState, now: number, retryAfterMs: number): void {
  s.failures = 0;
  s.waitingSince ??= now;
  const wait = Math.min(NOT_YET_WAIT_MS.max, Math.max(NOT_YET_WAIT_MS.min, retryAfterMs || 0));
  s.until = Math.max(s.until, now + wait);
}

/** The source sent a chunk: whatever it waited for is over. */
export function answered(s: SourceState): void {
  s.waitingSince = null;
}

/**
 * A relay is given up on (its chunks taken from the origin) once it failed RELAY_DOWN.failures
 * times in a row over at least RELAY_DOWN.ms: a relay still starting, or a burst of failures
 * under load, must not send a whole region to the origin. A relay that says "not yet" is
 * waited on, but only for RELAY_WAIT_MS.
 */
export function relayDown(r: SourceState, now: number): boolean {
  return (
    r.dropped ||
    (r.failures >= RELAY_DOWN.failures && now - r.failingSince >= RELAY_DOWN.ms) ||
    waitedOut(r, now)
  );
}

/** The relay has said "not yet" for RELAY_WAIT_MS without sending a chunk. */
export function waitedOut(r: SourceState, now: number): boolean {
  return r.waitingSince !== null && now - r.waitingSince >= RELAY_WAIT_MS;
}

/** The source holds chunk `index` and is still used. */
export function holds(s: SourceState, index: number): boolean {
  return !s.dropped && hasBit(s.bits, index);
}

/** The source with the fewest requests in flight, random among equals. */
export function leastBusy<S extends NamedSource>(
  sources: SourceState<S>[],
  random: () => number,
): SourceState<S> {
  let best = sources[0]!;
  for (const s of sources)
    if (s.active < best.active || (s.active === best.active && random() < 0.5)) best = s;
  return best;
}

/** The source's name and, when it is not used now, why (for a stalled fetch's report). */
export function describeSource(s: SourceState, now: number): string {
  const state = s.dropped
    ? ' (dropped)'
    : s.waitingSince !== null
      ? ` (not yet, for ${Math.round((now - s.waitingSince) / 1000)} s)`
      : s.until > now
        ? ' (backed off)'
        : '';
  return `${s.source.name}${state}`;
}
