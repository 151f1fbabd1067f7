/**
 * A whole control plane in this process, over an in-memory PGlite: what most integration tests
 * start (agents as real processes use `test/harness/local-fleet.ts` instead).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlipwayClient } from '../../src/api/index.js';
import { ObjectStore } from '../../src/image/index.js';
import {
  bootstrapTokens,
  buildServer,
  type ServerDeps,
  type SlipwayServer,
} from '../../src/server/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { TEST_SERVER_KEY } from './server-key.js';

export interface InProcessServer {
  /** Its data dir (the tokens, and the origin's chunks under `origin/`). */
  dir: string;
  store: Store;
  server: SlipwayServer;
  url: string;
  adminToken: string;
  joinToken: string;
  /** Clients carrying the admin and the join token. */
  admin: SlipwayClient;
  joiner: SlipwayClient;
  /** Closes the server and the store and removes the data dir. */
  stop(): Promise<void>;
}

/**
 * Starts a server listening on a free loopback port. `deps` overrides any of the server's
 * dependencies but the store and the origin; `beforeListen` sees the server before it listens.
 */
export async function startInProcessServer(
  deps: Partial<Omit<ServerDeps, 'store' | 'objects'>> = {},
  beforeListen: (server: SlipwayServer) => void = () => {},
): Promise<InProcessServer> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-server-'));
  const store = await openStore({ engine: 'pglite', dataDir: null });
  const { written } = await bootstrapTokens(store, dir);
  const tokenOf = (kind: 'admin' | 'join') => written.find((w) => w.kind === kind)!.token;
  const server = buildServer({
    serverKey: TEST_SERVER_KEY,
    ...deps,
    store,
    objects: new ObjectStore(join(dir, 'origin')),
  });
  beforeListen(server);
  const url = await server.listen('127.0.0.1', 0);
  const adminToken = tokenOf('admin');
  const joinToken = tokenOf('join');
  return {
    dir,
    store,
    server,
    url,
    adminToken,
    joinToken,
    admin: new SlipwayClient({ server: url, token: adminToken }),
    joiner: new SlipwayClient({ server: url, token: joinToken }),
    async stop() {
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
