/**
 * Whether the URL an agent says it serves chunks at may be handed to its region's other agents.
 * Every agent of the region will send requests there, with its peer ticket: a URL that pointed
 * elsewhere (another service, another network) would turn the fleet against it. So it must be a
 * plain `http(s)://ADDRESS:PORT` at the address the report came from, or in a network the
 * operator allowed (agents behind NAT advertise an address the server does not see).
 */
import { inCidr, parseIp, sameIp, type Cidr } from './cidr.js';

const URL_MAX = 256;

export type PeerUrlCheck = { ok: true; url: string } | { ok: false; problem: string };

/** Checks `url`, reported from address `from`, against the allowed `networks`. */
export function checkPeerUrl(url: string, from: string, networks: readonly Cidr[]): PeerUrlCheck {
  const refuse = (problem: string): PeerUrlCheck => ({ ok: false, problem });
  if (url.length > URL_MAX) return refuse(`longer than ${URL_MAX} characters`);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return refuse(`${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    return refuse(`${JSON.stringify(url)}: only http:// or https:// URLs are served to peers`);
  }
  if (u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    return refuse(
      `${JSON.stringify(url)}: expected http://ADDRESS:PORT, without user, path or query`,
    );
  }
  const host = parseIp(u.hostname);
  if (!host) {
    return refuse(`${JSON.stringify(url)}: the host must be an IP address, not a name`);
  }
  const source = parseIp(from);
  if (source && sameIp(host, source)) return { ok: true, url: `${u.protocol}//${u.host}` };
  if (networks.some((n) => inCidr(host, n))) return { ok: true, url: `${u.protocol}//${u.host}` };
  return refuse(
    `${JSON.stringify(url)} is not the address the agent reports from (${from}) nor in the server's --peer-networks`,
  );
}
