/**
 * The endgame of a fetch: once nothing is left to start, a chunk in flight for much longer than
 * usual is also asked of another source, and the first verified copy wins, so one slow source
 * cannot hold the fetch up. Pure: times are passed in.
 */
import { hasBit } from './availability.js';
import type { NamedSource, SourceState } from './source-state.js';

/** A request older than this many times the median chunk time is duplicated in the endgame. */
export const STRAGGLER_FACTOR = 4;
export const STRAGGLER_MIN_MS = 1_000;
/**
 * A straggler is duplicated at the relay only after this long. The relay's link is the region's
 * one inlet and outlet: every copy it sends twice, or half-sends for a duplicate that loses,
 * delays the whole region (bench:fleet, 30 hosts: relays' links carried 1.17-1.2 images where
 * their hosts counted 1.0 from them; 1.05-1.2 with this).
 */
export const RELAY_STRAGGLER_MS = 10_000;
/** Chunk times kept for the median. */
const TIMES_KEPT = 64;

/** How long the last chunks took to arrive, and so when a request counts as a straggler. */
export class ChunkTimes {
  private readonly recent: number[] = [];

  /** A chunk arrived `ms` after it was asked for. */
  add(ms: number): void {
    this.recent.push(ms);
    if (this.recent.length > TIMES_KEPT) this.recent.shift();
  }

  /** A request in flight this long is a straggler. */
  slowAfter(): number {
    const median = this.recent.length
      ? [...this.recent].sort((a, b) => a - b)[Math.floor(this.recent.length / 2)]!
      : STRAGGLER_MIN_MS;
    return Math.max(STRAGGLER_MIN_MS, median * STRAGGLER_FACTOR);
  }
}

/**
 * Another free source to ask for straggler `index`, in flight at `busy` for `waited`: a peer
 * that holds it, the relay once it waited RELAY_STRAGGLER_MS, or the origin when no relay is
 * usable.
 */
export function stragglerSource<S extends NamedSource>(
  index: number,
  waited: number,
  busy: SourceState<S>,
  sources: {
    peers: readonly SourceState<S>[];
    relays: readonly SourceState<S>[];
    origin: SourceState<S> | null;
    relaysUsable: boolean;
  },
  free: (s: SourceState<S>) => boolean,
): SourceState<S> | undefined {
  const { peers, relays, origin } = sources;
  return (
    peers.find((p) => p !== busy && free(p) && hasBit(p.bits, index)) ??
    (waited >= RELAY_STRAGGLER_MS ? relays.find((r) => r !== busy && free(r)) : undefined) ??
    (origin && origin !== busy && free(origin) && !sources.relaysUsable ? origin : undefined)
  );
}
