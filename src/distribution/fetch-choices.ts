/**
 * The fetch's choices a caller may set (fetch-policy.ts makes them), and what they are when
 * left unset.
 */

/** Requests in flight at once, over all sources: measured against 12 and 24 in bench:fleet. */
export const CONCURRENCY = 16;
/** Failed attempts of one chunk, over all sources, before the fetch gives up. */
export const ATTEMPTS = 20;
/** Peers one fetch watches and takes chunks from. */
export const MAX_PEERS = 8;
/** Waiting this long with nothing in flight and nothing arriving, a fetch turns to the origin. */
export const STALL_MS = 10_000;

/** The fetch's choices a caller may set. */
export interface FetchChoices {
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
  /** Requests in flight at once, over all sources (CONCURRENCY). */
  concurrency?: number;
  /** Failed attempts of one chunk, over all sources, before the fetch gives up (ATTEMPTS). */
  attempts?: number;
  /** STALL_MS. */
  stallMs?: number;
}
