/** When a host counts as online: the one rule behind host views, peers and deployments. */

/**
 * The longest the server holds a goal long poll (agents ask for 25 s). An agent asks again as soon
 * as it is answered, so a running agent is heard from at least this often without reporting:
 * liveness costs no request beyond the long poll it keeps open anyway.
 */
export const LONG_POLL_MAX_MS = 25_000;

/**
 * A host counts as online when it was heard from this recently (by any server: the stored
 * last-seen time): each goal long poll counts, and each report. Room beyond the longest long
 * poll for a slow answer, the next poll's arrival and another server's write-behind (1 s).
 */
export const ONLINE_WINDOW_MS = LONG_POLL_MAX_MS + 5_000;

/**
 * How long after its goal long poll dropped, with nothing heard since, a host counts as
 * offline. A running agent polls again within about a second (on this server or another, whose
 * touch reaches the stored last-seen time within its next write, a second later).
 */
export const DROPPED_POLL_GRACE_MS = 5_000;

/** What {@link isOnline} looks at: when the host was last heard from, and any dropped poll. */
export interface Sighting {
  lastSeenAt: Date | null;
  /** When this server saw the host's goal long poll drop, with nothing heard from it since. */
  pollDroppedAt?: Date;
}

/**
 * Online: heard from within {@link ONLINE_WINDOW_MS}, unless this server saw its long poll drop
 * at least {@link DROPPED_POLL_GRACE_MS} ago and no server has heard from it since.
 */
export function isOnline(host: Sighting, now: number): boolean {
  const seen = host.lastSeenAt?.getTime();
  if (seen === undefined || now - seen >= ONLINE_WINDOW_MS) return false;
  const dropped = host.pollDroppedAt?.getTime();
  return dropped === undefined || seen > dropped || now - dropped < DROPPED_POLL_GRACE_MS;
}
