/** From a request's bearer token to the identity behind it. */
import { SlipwayError } from '../../core/index.js';
import { parseRevoked, type Store } from '../../store/index.js';
import { ADMIN, type Identity } from './identity.js';
import {
  DEFAULT_TOKEN_CACHE,
  TokenCache,
  type FoundToken,
  type TokenCacheLimits,
} from './token-cache.js';
import { FailedLogins } from './failed-logins.js';
import { hashToken } from './tokens.js';

/**
 * Tokens are looked up in the database once and then served from a cache (`token-cache.ts`):
 * every chunk an agent fetches is a request, and thousands of agents call every few seconds.
 * A revocation reaches every server process as a `tokens` announcement, which drops the revoked
 * tokens at once; when announcements may have been missed (the listening connection was lost)
 * the whole cache goes. Unknown tokens are never cached, so guessing cannot push good ones out.
 */
export class Authenticator {
  private readonly cache: TokenCache;
  /** Lookups under way, shared by the requests that carry the same token meanwhile. */
  private readonly pending = new Map<
    string,
    { mark: number; found: Promise<FoundToken | undefined> }
  >();
  private readonly unlisten: (() => void)[];
  private readonly failedLogins: FailedLogins;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    limits: TokenCacheLimits = DEFAULT_TOKEN_CACHE,
    failedLogins?: { burst: number; perSecond: number },
  ) {
    this.cache = new TokenCache(limits);
    this.failedLogins = new FailedLogins(now, failedLogins?.burst, failedLogins?.perSecond);
    this.unlisten = [
      store.listen('tokens', (payload) => this.cache.drop(parseRevoked(payload))),
      store.onMissed(() => this.cache.drop('all')),
    ];
  }

  /**
   * The identity of an `Authorization` header sent from `source` (an address); throws
   * UNAUTHENTICATED without a valid token, RATE_LIMITED when `source` sent too many wrong ones
   * lately and this token is not one already accepted.
   */
  async identify(header: string | undefined, source = ''): Promise<Identity> {
    const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
    if (!token) {
      throw new SlipwayError(
        'UNAUTHENTICATED',
        'missing API token: send "Authorization: Bearer <token>"',
      );
    }
    const hash = hashToken(token);
    const wait = this.failedLogins.waitMs(source);
    if (wait > 0 && !this.cache.get(hash, this.now())) {
      throw new SlipwayError(
        'RATE_LIMITED',
        `too many wrong API tokens from ${source || 'this address'}: try again in ${Math.ceil(wait / 1000)} s`,
        { retryAfterMs: wait },
      );
    }
    const found = await this.find(hash);
    if (!found) {
      this.failedLogins.failed(source);
      throw new SlipwayError('UNAUTHENTICATED', 'unknown or revoked API token');
    }
    if (found.expiresAt !== null && found.expiresAt.getTime() <= this.now()) {
      this.failedLogins.failed(source);
      throw new SlipwayError(
        'UNAUTHENTICATED',
        `API token ${found.id ?? ''} expired at ${found.expiresAt.toISOString()}: ask an admin for a new one`,
      );
    }
    switch (found.kind) {
      case 'admin':
        return ADMIN;
      case 'join':
        return { kind: 'join' };
      case 'agent':
        if (!found.hostId) throw new SlipwayError('UNAUTHENTICATED', 'agent token without a host');
        return { kind: 'agent', hostId: found.hostId };
      case 'user':
        if (!found.id || !found.user || !found.grant)
          throw new SlipwayError('UNAUTHENTICATED', 'user token without a user or grant');
        return { kind: 'user', name: found.user, tokenId: found.id, grant: found.grant };
    }
  }

  /** Stops listening for revocations. */
  stop(): void {
    for (const unlisten of this.unlisten) unlisten();
  }

  private find(hash: string): Promise<FoundToken | undefined> {
    const now = this.now();
    const hit = this.cache.get(hash, now);
    if (hit) return Promise.resolve(hit);
    const mark = this.cache.mark();
    // A lookup begun before a revocation may have read the token before it went: not shared.
    const pending = this.pending.get(hash);
    if (pending?.mark === mark) return pending.found;
    const found = this.store.tokens
      .find(hash)
      .then((f) => {
        if (f) this.cache.set(hash, f, now, mark);
        return f;
      })
      .finally(() => {
        if (this.pending.get(hash)?.found === found) this.pending.delete(hash);
      });
    this.pending.set(hash, { mark, found });
    return found;
  }
}
