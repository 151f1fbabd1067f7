/**
 * Peer URLs: where an agent serves chunks to its region. Every agent of the region sends
 * requests there, with its peer ticket, so a URL that pointed elsewhere (another service,
 * another network, a path that relays the request on) would turn the fleet against its target
 * and hand it the tickets. One shape for both ends: plain `http://HOST:PORT` (peers speak http),
 * no user info, path, query or fragment.
 *
 * The server hands a reported URL on only when its host is the address the report came from,
 * or in a network the operator allowed (agents behind NAT advertise an address the server does
 * not see); the agent sends its ticket only to URLs of that shape (and never follows a
 * redirect: node:http does not).
 */
import { inCidr, parseIp, sameIp, type Cidr } from './cidr.js';
import { SlipwayError } from './errors.js';

const URL_MAX = 256;

/** Why `url` is not a plain peer URL, or null when it is one. */
export function peerUrlProblem(url: string): string | null {
  if (url.length > URL_MAX) return `longer than ${URL_MAX} characters`;
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'http:') return `scheme ${u.protocol.replace(/:$/, '')} (peers speak http)`;
  if (u.username !== '' || u.password !== '') return 'it carries user info';
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '') {
    return 'it has a path, query or fragment (a peer URL is http://host:port)';
  }
  return null;
}

/** `url` as `http://host:port` (no trailing slash), or an error saying why it is refused. */
export function plainPeerUrl(url: string): string {
  const problem = peerUrlProblem(url);
  if (problem !== null) {
    throw new SlipwayError('INVALID', `refusing peer URL ${JSON.stringify(url)}: ${problem}`, {
      url,
    });
  }
  return new URL(url).origin;
}

export type PeerUrlCheck = { ok: true; url: string } | { ok: false; problem: string };

/** Checks `url`, reported from address `from`, against the allowed `networks`. */
export function checkPeerUrl(url: string, from: string, networks: readonly Cidr[]): PeerUrlCheck {
  const refuse = (problem: string): PeerUrlCheck => ({ ok: false, problem });
  const problem = peerUrlProblem(url);
  if (problem !== null) return refuse(`${JSON.stringify(url)}: ${problem}`);
  const u = new URL(url);
  const host = parseIp(u.hostname);
  if (!host) {
    return refuse(`${JSON.stringify(url)}: the host must be an IP address, not a name`);
  }
  const source = parseIp(from);
  if ((source && sameIp(host, source)) || networks.some((n) => inCidr(host, n))) {
    return { ok: true, url: u.origin };
  }
  return refuse(
    `${JSON.stringify(url)} is not the address the agent reports from (${from}) nor in the server's --peer-networks`,
  );
}
