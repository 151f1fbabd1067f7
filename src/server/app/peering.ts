/**
 * What an agent needs to trade chunks with its region: a short-lived ticket signed by the
 * control plane, the key that checks other agents' tickets, and who its peers are.
 */
import type { Peering } from '../../api/index.js';
import { signTicket } from '../../distribution/index.js';
import type { HostRow } from '../../store/index.js';
import type { AppContext } from './context.js';

/**
 * How long a ticket is good. Peers check tickets without asking the control plane, so this is
 * how long a removed host can still take chunks from its region. Agents renew theirs with every
 * goal answer, at least every 25 s (the long poll's wait; the server caps it at 60 s), so a
 * ticket outlives a few missed answers.
 */
export const TICKET_TTL_MS = 2 * 60_000;

/**
 * Peers named in one goal answer besides the relays: a fetch watches eight of them, and the
 * answer, sent to every host of a region, stays small however large the region.
 */
export const PEERS_SENT = 32;

export async function peeringOf(ctx: AppContext, host: HostRow): Promise<Peering> {
  const now = ctx.now();
  const key = await ctx.ticketKey.get();
  const ticket = signTicket(key.privatePem, {
    hostId: host.id,
    region: host.region,
    exp: now + TICKET_TTL_MS,
  });
  // The region's peers as kept by the live host state: the answer costs what it names.
  const { relays, others, share } = await ctx.hosts.regionPeers(host, now, PEERS_SENT);
  return {
    ticket,
    serverKey: key.publicPem,
    peers: [...relays, ...others],
    share,
  };
}
