/**
 * Two server processes on one PostgreSQL: an agent's peers include the hosts of its region that
 * report to the other server, which each server learns from the store a few seconds behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { ObjectStore } from '../src/image/index.js';
import { bootstrapTokens, buildServer, type SlipwayServer } from '../src/server/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { TEST_SERVER_KEY } from './helpers/server-key.js';
import { until } from './helpers/until.js';

describe('peers across two server replicas on one PostgreSQL', () => {
  let dir: string;
  const stores: Store[] = [];
  const servers: SlipwayServer[] = [];
  const urls: string[] = [];
  let joinToken: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-replica-peers-'));
    const db = await freshPostgresUrl();
    for (const i of [0, 1]) {
      const store = await openStore({ engine: 'postgres', url: db });
      if (i === 0)
        joinToken = (await bootstrapTokens(store, dir)).written.find(
          (w) => w.kind === 'join',
        )!.token;
      const server = buildServer({
        serverKey: TEST_SERVER_KEY,
        store,
        objects: new ObjectStore(join(dir, `origin-${i}`)),
      });
      stores.push(store);
      servers.push(server);
      urls.push(await server.listen('127.0.0.1', 0));
    }
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const s of stores) await s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('names as a peer a host that reports to the other replica, within seconds', async () => {
    const enroll = (name: string, relay: boolean) =>
      new SlipwayClient({ server: urls[0]!, token: joinToken }).enroll({
        name,
        region: 'r1',
        labels: {},
        relay,
      });
    // The asker's replica has answered a goal (and read the hosts) before the others enroll.
    const asker = await enroll('near', false);
    const agent = new SlipwayClient({ server: urls[1]!, token: asker.token });
    expect((await agent.agentGoal(-1, 0)).peering!.peers).toEqual([]);
    // Enrolled on replica 0 and reporting there, each with a peer URL at its own address.
    const reporters = [await enroll('far-relay', true), await enroll('far-peer', false)];
    for (const r of reporters) {
      await new SlipwayClient({ server: urls[0]!, token: r.token }).agentReport({
        services: [],
        peerUrl: 'http://127.0.0.1:7401',
      });
    }
    const peering = await until('replica 1 names both hosts of replica 0 as peers', async () => {
      const { peering } = await agent.agentGoal(-1, 0);
      return peering?.peers.length === 2 ? peering : undefined;
    });
    expect(peering.peers.map((p) => [p.name, p.relay]).sort()).toEqual([
      ['far-peer', false],
      ['far-relay', true],
    ]);
    expect(peering.share).toEqual({ index: expect.any(Number) as number, of: 2 });
  });
});
