/**
 * The `tokens` announcement: which credentials were just revoked, so that every server process
 * drops them from its token cache at once. A payload is JSON, `{"hashes":[…],"hostIds":[…]}`
 * (token hashes, which are not secret, and hosts all of whose tokens went), or `*` (drop every
 * cached token) when naming them would pass PostgreSQL's 8000-byte payload limit.
 */

export type Revoked = 'all' | { hashes: string[]; hostIds: string[] };

const PAYLOAD_MAX_BYTES = 7_000;
const ALL = '*';

export function revokedPayload(r: {
  hashes: readonly string[];
  hostIds: readonly string[];
}): string {
  const payload = JSON.stringify({ hashes: r.hashes, hostIds: r.hostIds });
  return Buffer.byteLength(payload) <= PAYLOAD_MAX_BYTES ? payload : ALL;
}

/** What a payload revokes; one that cannot be read revokes everything (the safe reading). */
export function parseRevoked(payload: string): Revoked {
  if (payload === ALL) return 'all';
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return 'all';
  }
  const { hashes, hostIds } = (parsed ?? {}) as { hashes?: unknown; hostIds?: unknown };
  return strings(hashes) && strings(hostIds) ? { hashes, hostIds } : 'all';
}

function strings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
