import { describe, expect, it } from 'vitest';
import type { Channel, Store, TokenKind } from '../../store/index.js';
import { Authenticator } from './authenticate.js';
import { FAILED_LOGIN_BURST } from './failed-logins.js';
import { hashToken } from './tokens.js';

/** A store with tokens in memory, counting lookups, whose announcements the test makes. */
function fakeStore(tokens: Record<string, { kind: TokenKind; hostId: string | null }>) {
  const none = { id: null, user: null, grant: null, expiresAt: null };
  const byHash = new Map(Object.entries(tokens).map(([t, v]) => [hashToken(t), { ...none, ...v }]));
  const listeners = new Map<Channel, (payload: string) => void>();
  const missed: (() => void)[] = [];
  const lookups: string[] = [];
  let hold: Promise<void> = Promise.resolve();
  const store = {
    tokens: {
      async find(hash: string) {
        lookups.push(hash);
        const found = byHash.get(hash);
        await hold;
        return found;
      },
    },
    listen(channel: Channel, fn: (payload: string) => void) {
      listeners.set(channel, fn);
      return () => listeners.delete(channel);
    },
    onMissed(fn: () => void) {
      missed.push(fn);
      return () => {};
    },
  } as unknown as Store;
  return {
    store,
    lookups,
    announce: (channel: Channel, payload: string) => listeners.get(channel)?.(payload),
    missNotifications: () => missed.forEach((fn) => fn()),
    revoke: (token: string) => byHash.delete(hashToken(token)),
    /** Lookups wait until `release` is called. */
    holdLookups() {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      return () => {
        hold = Promise.resolve();
        release();
      };
    },
  };
}

const bearer = (t: string) => `Bearer ${t}`;

describe('Authenticator', () => {
  it('looks a token up once for an agent that calls every second for minutes', async () => {
    let now = 0;
    const s = fakeStore({ tok: { kind: 'agent', hostId: 'h1' } });
    const auth = new Authenticator(s.store, () => now);
    for (; now < 200_000; now += 1_000)
      expect(await auth.identify(bearer('tok'))).toEqual({ kind: 'agent', hostId: 'h1' });
    expect(s.lookups).toHaveLength(1);
  });

  it('shares one lookup among concurrent requests with one token', async () => {
    const s = fakeStore({ tok: { kind: 'admin', hostId: null } });
    const auth = new Authenticator(s.store, () => 0);
    const release = s.holdLookups();
    const all = Promise.all(Array.from({ length: 50 }, () => auth.identify(bearer('tok'))));
    release();
    await all;
    expect(s.lookups).toHaveLength(1);
  });

  it('refuses a token at once when its host or its hash is announced revoked', async () => {
    const s = fakeStore({
      a: { kind: 'agent', hostId: 'h1' },
      b: { kind: 'agent', hostId: 'h2' },
    });
    const auth = new Authenticator(s.store, () => 0);
    await auth.identify(bearer('a'));
    await auth.identify(bearer('b'));
    s.revoke('a');
    s.revoke('b');
    s.announce('tokens', JSON.stringify({ hashes: [], hostIds: ['h1'] }));
    await expect(auth.identify(bearer('a'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    s.announce('tokens', JSON.stringify({ hashes: [hashToken('b')], hostIds: [] }));
    await expect(auth.identify(bearer('b'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('forgets every token when announcements may have been missed', async () => {
    const s = fakeStore({ a: { kind: 'agent', hostId: 'h1' } });
    const auth = new Authenticator(s.store, () => 0);
    await auth.identify(bearer('a'));
    s.revoke('a');
    s.missNotifications();
    await expect(auth.identify(bearer('a'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('does not keep, nor share, a lookup that was under way when the token was revoked', async () => {
    const s = fakeStore({ a: { kind: 'agent', hostId: 'h1' } });
    const auth = new Authenticator(s.store, () => 0);
    const release = s.holdLookups();
    const before = auth.identify(bearer('a')); // read the token before it went
    s.revoke('a');
    s.announce('tokens', JSON.stringify({ hashes: [hashToken('a')], hostIds: ['h1'] }));
    const after = auth.identify(bearer('a'));
    release();
    await expect(before).resolves.toEqual({ kind: 'agent', hostId: 'h1' });
    await expect(after).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    await expect(auth.identify(bearer('a'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });

  it('never caches unknown tokens, so a flood of them pushes no good token out', async () => {
    const s = fakeStore({ good: { kind: 'agent', hostId: 'h1' } });
    const auth = new Authenticator(s.store, () => 0, { maxEntries: 10, maxAgeMs: 60_000 });
    await auth.identify(bearer('good'));
    // From 100 addresses: none of them sends enough wrong tokens to be slowed down.
    for (let i = 0; i < 100; i++)
      await expect(auth.identify(bearer(`guess-${i}`), `10.0.0.${i}`)).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      });
    await expect(auth.identify(bearer('guess-0'), '10.0.0.0')).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    await auth.identify(bearer('good'));
    // Every guess cost a lookup (twice for guess-0); the good token, one in all.
    expect(s.lookups.filter((h) => h === hashToken('good'))).toHaveLength(1);
    expect(s.lookups).toHaveLength(102);
  });

  it('refuses wrong tokens from an address that sent too many, without a lookup, but not good ones', async () => {
    const s = fakeStore({
      good: { kind: 'agent', hostId: 'h1' },
      fresh: { kind: 'join', hostId: null },
    });
    let now = 0;
    const auth = new Authenticator(s.store, () => now);
    await auth.identify(bearer('good'), '10.0.0.1');
    for (let i = 0; i < FAILED_LOGIN_BURST; i++)
      await expect(auth.identify(bearer(`guess-${i}`), '10.0.0.1')).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      });
    const lookups = s.lookups.length;
    await expect(auth.identify(bearer('guess-x'), '10.0.0.1')).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      message: 'too many wrong API tokens from 10.0.0.1: try again in 1 s',
    });
    // A token not seen yet waits too; one already accepted does not; other addresses do not.
    await expect(auth.identify(bearer('fresh'), '10.0.0.1')).rejects.toMatchObject({
      code: 'RATE_LIMITED',
    });
    expect(await auth.identify(bearer('good'), '10.0.0.1')).toEqual({
      kind: 'agent',
      hostId: 'h1',
    });
    expect(await auth.identify(bearer('fresh'), '10.0.0.2')).toEqual({ kind: 'join' });
    expect(s.lookups.length).toBe(lookups + 1);
    // A second later, one more try.
    now += 1_000;
    await expect(auth.identify(bearer('guess-y'), '10.0.0.1')).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
    });
    await expect(auth.identify(bearer('guess-z'), '10.0.0.1')).rejects.toMatchObject({
      code: 'RATE_LIMITED',
    });
  });

  it('reads a token again once its entry is older than the maximum age', async () => {
    let now = 0;
    const s = fakeStore({ a: { kind: 'agent', hostId: 'h1' } });
    const auth = new Authenticator(s.store, () => now, { maxEntries: 10, maxAgeMs: 1_000 });
    await auth.identify(bearer('a'));
    now = 999;
    await auth.identify(bearer('a'));
    expect(s.lookups).toHaveLength(1);
    now = 1_000;
    s.revoke('a');
    await expect(auth.identify(bearer('a'))).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
  });
});
