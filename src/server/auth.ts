/** API tokens: how they look, how they are stored (hashes only) and who a request is. */
import { createHash, randomBytes } from 'node:crypto';
import { SlipwayError } from '../core/index.js';
import type { Auth } from '../api/index.js';
import type { Store } from '../store/index.js';

export type TokenKind = 'admin' | 'join' | 'agent';

/** Who is calling. */
export type Caller =
  { kind: 'admin' } | { kind: 'agent'; hostId: string } | { kind: 'join' } | { kind: 'anonymous' };

/** A new random token, prefixed with its kind so a leaked one is recognisable. */
export function newToken(kind: TokenKind): string {
  return `slw_${kind}_${randomBytes(24).toString('base64url')}`;
}

/** Tokens are 192-bit random strings, so a plain SHA-256 is a sufficient one-way hash. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The one place where a request's token is checked against what the route needs. */
export async function authenticate(
  store: Store,
  header: string | undefined,
  need: Auth,
): Promise<Caller> {
  if (need === 'none') return { kind: 'anonymous' };
  const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!token) {
    throw new SlipwayError(
      'UNAUTHENTICATED',
      'missing API token: send "Authorization: Bearer <token>"',
    );
  }
  const found = await findToken(store, hashToken(token));
  if (!found) throw new SlipwayError('UNAUTHENTICATED', 'unknown or revoked API token');
  const caller = callerOf(found);
  const allowed =
    (need === 'admin' && caller.kind === 'admin') ||
    (need === 'agent' && caller.kind === 'agent') ||
    (need === 'join' && caller.kind === 'join') ||
    (need === 'reader' && (caller.kind === 'admin' || caller.kind === 'agent'));
  if (!allowed) {
    throw new SlipwayError(
      'FORBIDDEN',
      `a ${caller.kind} token may not call this endpoint (needs ${need})`,
    );
  }
  return caller;
}

function callerOf(found: { kind: TokenKind; hostId: string | null }): Caller {
  if (found.kind === 'agent') {
    if (!found.hostId) throw new SlipwayError('UNAUTHENTICATED', 'agent token without a host');
    return { kind: 'agent', hostId: found.hostId };
  }
  return { kind: found.kind };
}

type FoundToken = { kind: TokenKind; hostId: string | null };

/**
 * Tokens found recently, per store: every chunk an agent fetches from the origin is a request,
 * and a database lookup for each costs more than serving the chunk. Only tokens that exist are
 * kept, for a few seconds: a revoked token stops working within TOKEN_CACHE_MS.
 */
const TOKEN_CACHE_MS = 5_000;
const TOKEN_CACHE_MAX = 10_000;
const tokenCaches = new WeakMap<Store, Map<string, { found: FoundToken; until: number }>>();

async function findToken(store: Store, hash: string): Promise<FoundToken | undefined> {
  let cache = tokenCaches.get(store);
  if (!cache)
    tokenCaches.set(store, (cache = new Map<string, { found: FoundToken; until: number }>()));
  const now = Date.now();
  const hit = cache.get(hash);
  if (hit && hit.until > now) return hit.found;
  const found = await store.findToken(hash);
  if (found) {
    if (cache.size >= TOKEN_CACHE_MAX) cache.clear();
    cache.set(hash, {
      found: { kind: found.kind, hostId: found.hostId },
      until: now + TOKEN_CACHE_MS,
    });
  } else cache.delete(hash);
  return found;
}
