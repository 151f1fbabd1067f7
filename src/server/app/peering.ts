/**
 * What an agent needs to trade chunks with its region: a short-lived ticket signed by the
 * control plane, the key that checks other agents' tickets, and who its peers are.
 */
import type { Peering } from '../../api/index.js';
import { signTicket } from '../../distribution/index.js';
import type { HostRow } from '../../store/index.js';
import type { AppContext } from './context.js';

/**
 * Peers named in one goal answer besides the relays: a fetch watches eight of them, and the
 * answer, sent to every host of a region, stays small however large the region.
 */
export const PEERS_SENT = 32;

/**
 * A ticket handed out again while it has at least this much of its life left: a fleet-wide goal
 * change answers every host at once, and a signature each would cost a second of the server's
 * time at 10,000 hosts.
 */
const TICKET_REUSE_MS = 30_000;

export async function peeringOf(ctx: AppContext, host: HostRow): Promise<Peering> {
  const now = ctx.now();
  const key = await ctx.ticketKey.get();
  const ticket = ctx.tickets.get(host.id, host.region, now, TICKET_REUSE_MS, (exp) =>
    signTicket(key.privatePem, { hostId: host.id, region: host.region, exp }),
  );
  // The region's peers as kept by the live host state: the answer costs what it names.
  const { relays, others, share } = await ctx.hosts.regionPeers(host, now, PEERS_SENT);
  return {
    ticket,
    serverKey: key.publicPem,
    peers: [...relays, ...others],
    share,
  };
}
