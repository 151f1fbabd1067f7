/**
 * Tokens found in the database, kept so that an agent's requests (every chunk it fetches is one)
 * do not each cost a lookup. Bounded in entries (the least recently used goes first) and in age
 * (an entry is trusted for `maxAgeMs` after it was read, however often it is used): revocations
 * drop entries through `drop`, and the age limit is the backstop for an announcement missed.
 *
 * A lookup that was under way when entries were dropped may have read the token before it was
 * revoked: `mark` before the lookup, and `set` keeps its answer only if nothing was dropped since.
 */
import type { FoundToken } from '../../store/index.js';

export type { FoundToken };

export interface TokenCacheLimits {
  maxEntries: number;
  maxAgeMs: number;
}

export const DEFAULT_TOKEN_CACHE: TokenCacheLimits = { maxEntries: 100_000, maxAgeMs: 10 * 60_000 };

export class TokenCache {
  /** In order of last use, oldest first (a Map keeps insertion order). */
  private readonly entries = new Map<string, { found: FoundToken; until: number }>();
  /** Counts drops: an answer read before the last drop is not kept. */
  private drops = 0;

  constructor(private readonly limits: TokenCacheLimits = DEFAULT_TOKEN_CACHE) {}

  get size(): number {
    return this.entries.size;
  }

  /** The cached token of `hash`, if any and not too old; it becomes the most recently used. */
  get(hash: string, now: number): FoundToken | undefined {
    const entry = this.entries.get(hash);
    if (!entry) return undefined;
    this.entries.delete(hash);
    if (entry.until <= now) return undefined;
    this.entries.set(hash, entry);
    return entry.found;
  }

  /** Taken before a lookup, handed to `set` with its answer. */
  mark(): number {
    return this.drops;
  }

  /**
   * Keeps a token just found in the database (looked up after `mark` was taken), unless entries
   * were dropped meanwhile. Makes room by forgetting the least recently used.
   */
  set(hash: string, found: FoundToken, now: number, mark: number): void {
    if (mark !== this.drops) return;
    this.entries.delete(hash);
    while (this.entries.size >= this.limits.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(hash, { found, until: now + this.limits.maxAgeMs });
  }

  /** Forgets the tokens of these hashes and every token of these hosts; `all` forgets all. */
  drop(what: 'all' | { hashes: readonly string[]; hostIds: readonly string[] }): void {
    this.drops++;
    if (what === 'all') return this.entries.clear();
    for (const hash of what.hashes) this.entries.delete(hash);
    if (what.hostIds.length === 0) return;
    const hosts = new Set(what.hostIds);
    for (const [hash, e] of this.entries)
      if (e.found.hostId !== null && hosts.has(e.found.hostId)) this.entries.delete(hash);
  }
}
