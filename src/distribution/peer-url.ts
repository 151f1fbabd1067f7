/**
 * The URLs this agent sends its peer ticket to. A ticket lets its holder take chunks from the
 * whole region until it expires, so it goes only to a peer the control plane named in its last
 * goal answer, and only to a plain `http://host:port`: no user info, path, query or fragment
 * that could carry it, or a request, somewhere else. (Redirects are never followed: node:http
 * does not.)
 */
import { SlipwayError } from '../core/index.js';

/** Why `url` is not a plain peer URL, or null when it is one. */
export function peerUrlProblem(url: string): string | null {
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
