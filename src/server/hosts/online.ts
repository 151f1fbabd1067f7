/** When a host counts as online: the one rule behind host views, peers and deployments. */

/**
 * A host counts as online when it was heard from this recently (by any server: the stored
 * last-seen time). Agents report every 5 s, and each of their goal long polls counts too.
 */
export const ONLINE_WINDOW_MS = 15_000;

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
