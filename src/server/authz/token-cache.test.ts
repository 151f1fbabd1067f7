import { describe, expect, it } from 'vitest';
import { TokenCache, type FoundToken } from './token-cache.js';

const none = { id: null, user: null, grant: null, expiresAt: null };
const agent = (hostId: string): FoundToken => ({ kind: 'agent', hostId, ...none });
const ADMIN: FoundToken = { kind: 'admin', hostId: null, ...none };

describe('the token cache', () => {
  it('forgets the least recently used token when full, not everything', () => {
    const cache = new TokenCache({ maxEntries: 3, maxAgeMs: 60_000 });
    for (const h of ['a', 'b', 'c']) cache.set(h, agent(`h-${h}`), 0, cache.mark());
    expect(cache.get('a', 1)).toEqual(agent('h-a')); // a is now the most recently used
    cache.set('d', agent('h-d'), 2, cache.mark());
    expect(cache.size).toBe(3);
    expect(cache.get('b', 3)).toBeUndefined();
    expect(cache.get('a', 3)).toEqual(agent('h-a'));
    expect(cache.get('c', 3)).toEqual(agent('h-c'));
    expect(cache.get('d', 3)).toEqual(agent('h-d'));
  });

  it('trusts an entry for its maximum age after it was read, however often it is used', () => {
    const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 1_000 });
    cache.set('a', ADMIN, 0, cache.mark());
    for (let t = 0; t < 1_000; t += 100) expect(cache.get('a', t)).toEqual(ADMIN);
    expect(cache.get('a', 1_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops revoked tokens by hash, and every token of a revoked host', () => {
    const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
    cache.set('a1', agent('h1'), 0, cache.mark());
    cache.set('a2', agent('h1'), 0, cache.mark());
    cache.set('b', agent('h2'), 0, cache.mark());
    cache.set('c', agent('h3'), 0, cache.mark());
    cache.set('admin', ADMIN, 0, cache.mark());

    cache.drop({ hashes: ['b'], hostIds: [] });
    expect(cache.get('b', 1)).toBeUndefined();
    cache.drop({ hashes: [], hostIds: ['h1'] });
    expect(cache.get('a1', 1)).toBeUndefined();
    expect(cache.get('a2', 1)).toBeUndefined();
    expect(cache.get('c', 1)).toEqual(agent('h3'));
    expect(cache.get('admin', 1)).toEqual(ADMIN);

    cache.drop('all');
    expect(cache.size).toBe(0);
  });

  it('does not keep the answer of a lookup begun before a revocation', () => {
    const cache = new TokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
    const mark = cache.mark();
    // The lookup read the token; its host is removed before the answer comes back.
    cache.drop({ hashes: [], hostIds: ['h1'] });
    cache.set('a', agent('h1'), 0, mark);
    expect(cache.get('a', 1)).toBeUndefined();
    // A lookup begun after it is kept.
    cache.set('a', agent('h1'), 0, cache.mark());
    expect(cache.get('a', 1)).toEqual(agent('h1'));
  });
});
