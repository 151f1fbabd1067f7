/**
 * The peer-ticket signing key is kept sealed under the server key, not in the clear in the
 * database; a clear one (stored by an older server) is sealed on first read; and a server whose
 * key file does not open the stored key refuses to start, saying what to do.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { generateSigningKey, verifyTicket } from '../src/distribution/index.js';
import { ObjectStore } from '../src/image/index.js';
import { bootstrapTokens, buildServer } from '../src/server/index.js';
import { openStore, type Store } from '../src/store/index.js';

describe('the control plane’s secrets', () => {
  let dir: string;
  let store: Store;
  let joinToken: string;
  const key = randomBytes(32);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-secrets-'));
    store = await openStore({ engine: 'pglite', dataDir: null });
    joinToken = (await bootstrapTokens(store, dir)).written.find((w) => w.kind === 'join')!.token;
  });
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (serverKey: Buffer) => {
    const server = buildServer({ store, objects: new ObjectStore(join(dir, 'origin')), serverKey });
    try {
      return { server, url: await server.listen('127.0.0.1', 0) };
    } catch (e) {
      await server.close();
      throw e;
    }
  };
  const storedPrivate = async () =>
    (await store.keys.get('peer-tickets', () => ({ privatePem: 'none', publicPem: 'none' })))
      .privatePem;

  it('seals a clear signing key on first read, and signs with the same key as before', async () => {
    // As an older server left it: the private key in the clear.
    const old = generateSigningKey();
    await store.keys.get('peer-tickets', () => old);
    expect(await storedPrivate()).toContain('PRIVATE KEY');

    const { server, url } = await start(key);
    try {
      expect(await storedPrivate()).not.toContain('PRIVATE KEY');
      expect(await storedPrivate()).toMatch(/^slw-sealed-v1:/);
      const joiner = new SlipwayClient({ server: url, token: joinToken });
      const { token } = await joiner.enroll({ name: 'h1', region: 'r1', labels: {} });
      const { peering } = await new SlipwayClient({ server: url, token }).agentGoal(-1, 0);
      expect(peering!.serverKey).toBe(old.publicPem);
      expect(verifyTicket(old.publicPem, peering!.ticket).region).toBe('r1');
    } finally {
      await server.close();
    }
  });

  it('refuses to start with another server key, saying every server needs the same file', async () => {
    await expect(start(randomBytes(32))).rejects.toThrow(/same server\.key/);
    // With the right key it starts again.
    const { server } = await start(key);
    await server.close();
  });
});
