/** From a request's bearer token to the identity behind it. */
import { SlipwayError } from '../../core/index.js';
import type { Store, TokenKind } from '../../store/index.js';
import { ADMIN, type Identity } from './identity.js';
import { hashToken } from './tokens.js';

type FoundToken = { kind: TokenKind; hostId: string | null };

/**
 * Tokens found recently: every chunk an agent fetches from the origin is a request, and a
 * database lookup for each costs more than serving the chunk. Only tokens that exist are kept,
 * for a few seconds: a token revoked on any replica stops working within TOKEN_CACHE_MS. A
 * cache, not a source of truth: a miss always asks the database.
 */
const TOKEN_CACHE_MS = 5_000;
const TOKEN_CACHE_MAX = 10_000;

export class Authenticator {
  private readonly cache = new Map<string, { found: FoundToken; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** The identity of an `Authorization` header; throws UNAUTHENTICATED without a valid token. */
  async identify(header: string | undefined): Promise<Identity> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    if (!token) {
      throw new SlipwayError(
        'UNAUTHENTICATED',
        'missing API token: send "Authorization: Bearer <token>"',
      );
    }
    const found = await this.find(hashToken(token));
    if (!found) throw new SlipwayError('UNAUTHENTICATED', 'unknown or revoked API token');
    switch (found.kind) {
      case 'admin':
        return ADMIN;
      case 'join':
        return { kind: 'join' };
      case 'agent':
        if (!found.hostId) throw new SlipwayError('UNAUTHENTICATED', 'agent token without a host');
        return { kind: 'agent', hostId: found.hostId };
    }
  }

  /** Forgets cached tokens at once (after this process revoked some). */
  forget(): void {
    this.cache.clear();
  }

  private async find(hash: string): Promise<FoundToken | undefined> {
    const now = this.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.found;
    const found = await this.store.tokens.find(hash);
    if (found) {
      if (this.cache.size >= TOKEN_CACHE_MAX) this.cache.clear();
      this.cache.set(hash, { found, until: now + TOKEN_CACHE_MS });
    } else this.cache.delete(hash);
    return found;
  }
}
