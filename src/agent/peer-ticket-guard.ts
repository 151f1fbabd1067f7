/**
 * Who this agent shows its peer ticket to. The ticket lets its holder take chunks from the
 * whole region until it expires, so it goes only to peers the control plane named in a goal
 * answer, at a plain `http://host:port` (see core/peer-url.ts), and never to a URL the
 * latest answer contradicts.
 */
import { peerUrlProblem, SlipwayError } from '../core/index.js';
import type { Peer, Peering } from '../api/index.js';

/**
 * The ticket to show `peer` (a peer of the answer a fetch started with), given the latest goal
 * answer; throws when it must not be shown. The latest answer names a random few of the
 * region's peers, so a peer it leaves out keeps getting the ticket for the fetch that uses it;
 * one whose host the answer now places at another URL, or whose URL it gives to another host,
 * does not (the host moved or was replaced), and none does once the answer has no peering.
 */
export function ticketFor(peer: Peer, latest: Peering | null): string {
  const refuse = (why: string) =>
    new SlipwayError(
      'FORBIDDEN',
      `not showing the peer ticket to ${peer.name} at ${peer.url}: ${why}`,
    );
  if (!latest) throw refuse('the last goal answer has no peering');
  const problem = peerUrlProblem(peer.url);
  if (problem) throw refuse(problem);
  for (const p of latest.peers) {
    if (p.hostId === peer.hostId && p.url !== peer.url) {
      throw refuse(`the last goal answer places ${p.name} at ${p.url}`);
    }
    if (p.url === peer.url && p.hostId !== peer.hostId) {
      throw refuse(`the last goal answer gives that URL to ${p.name}`);
    }
  }
  return latest.ticket;
}
