/**
 * Two server processes on one PostgreSQL: what one commits, the other's event streams and
 * agents' long polls see, because both read events and goal changes back from the database; an
 * agent's peers include the hosts of its region that report to the other server, which each
 * server learns from the store a few seconds behind; a credential revoked through one stops
 * working on the other at once, though the other had it cached.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import type { SlipwayError } from '../src/core/index.js';
import { ObjectStore } from '../src/image/index.js';
import { bootstrapTokens, buildServer, type SlipwayServer } from '../src/server/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { freshPostgresUrl } from './helpers/fresh-postgres.js';
import { TEST_SERVER_KEY } from './helpers/server-key.js';
import { until } from './helpers/until.js';

const MAP = {
  regions: ['r1'],
  services: { api: { run: ['node', 'server.js'], port: 'dynamic', health: { tcp: true } } },
};

/** Reads a server-sent event stream until `until` holds of the events so far. */
async function readEvents(
  url: string,
  token: string,
  until: (types: string[]) => boolean,
  signal: AbortSignal,
): Promise<{ type: string; actor: string | null }[]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
  const events: { type: string; actor: string | null }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(part, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
      buffer = buffer.slice(end + 2);
      if (data) events.push(JSON.parse(data) as { type: string; actor: string | null });
    }
    if (until(events.map((e) => e.type))) break;
  }
  return events;
}

describe('two server replicas on one PostgreSQL', () => {
  let dir: string;
  const stores: Store[] = [];
  const servers: SlipwayServer[] = [];
  const urls: string[] = [];
  let admin: string;
  let joinToken: string;
  let db: string;
  /**
   * Replica 1's clock, which a test may stop: then nothing it cached gets old, and only an
   * announcement (or its loss) can make it forget a token.
   */
  let stoppedAt: number | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-replicas-'));
    db = await freshPostgresUrl();
    for (const i of [0, 1]) {
      const store = await openStore({ engine: 'postgres', url: db });
      if (i === 0) {
        const { written } = await bootstrapTokens(store, dir);
        admin = written.find((w) => w.kind === 'admin')!.token;
        joinToken = written.find((w) => w.kind === 'join')!.token;
      }
      const server = buildServer({
        serverKey: TEST_SERVER_KEY,
        now: i === 1 ? () => stoppedAt ?? Date.now() : Date.now,
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

  it('streams from one replica the events committed on the other, with who caused them', async () => {
    const stop = new AbortController();
    const heard = readEvents(
      `${urls[1]}/v1/events`,
      admin,
      (types) => types.includes('service-map.applied'),
      stop.signal,
    );
    // The stream on replica 1 is open before replica 0 commits.
    await new Promise((r) => setTimeout(r, 300));
    await new SlipwayClient({ server: urls[0]!, token: admin }).applyServiceMap(MAP);
    const events = await heard;
    stop.abort();
    expect(events.find((e) => e.type === 'service-map.applied')?.actor).toBe('user:admin');
  });

  it('answers an agent’s long poll on one replica when the other changes its goal', async () => {
    const enrolled = await new SlipwayClient({ server: urls[0]!, token: joinToken }).enroll({
      name: 'h1',
      region: 'r1',
      labels: {},
    });
    const agent = new SlipwayClient({ server: urls[1]!, token: enrolled.token });
    const first = await agent.agentGoal(-1, 0);
    const started = Date.now();
    const waiting = agent.agentGoal(first.generation, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    await stores[0]!.transaction(async (tx) => {
      await tx.goals.change('api', [{ hostId: enrolled.hostId, stage: null }]);
      await tx.notify('goals', enrolled.hostId);
    });
    const answer = await waiting;
    expect(answer.generation).toBe(first.generation + 1);
    // Answered on the change, not at the end of the poll.
    expect(Date.now() - started).toBeLessThan(15_000);
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

  /** Enrolls a host through replica 0; its agent talks to replica 1, which caches its token. */
  async function agentCachedOnReplicaOne(name: string) {
    const enrolled = await new SlipwayClient({ server: urls[0]!, token: joinToken }).enroll({
      name,
      region: 'r1',
      labels: {},
    });
    const agent = new SlipwayClient({ server: urls[1]!, token: enrolled.token });
    const lookups = vi.spyOn(stores[1]!.tokens, 'find');
    try {
      await agent.agentReport({ services: [] });
      await agent.agentReport({ services: [] });
      expect(lookups).toHaveBeenCalledTimes(1); // the second request was answered from the cache
    } finally {
      lookups.mockRestore();
    }
    const refused = () =>
      agent.agentReport({ services: [] }).then(
        () => false,
        (e: SlipwayError) => e.code === 'UNAUTHENTICATED',
      );
    return { hostId: enrolled.hostId, refused };
  }

  it('refuses on one replica the token of a host removed through the other, at once', async () => {
    stoppedAt = Date.now();
    try {
      const { refused } = await agentCachedOnReplicaOne('removed-elsewhere');
      await new SlipwayClient({ server: urls[0]!, token: admin }).removeHost('removed-elsewhere');
      await until('replica 1 to refuse the removed host’s token', refused);
    } finally {
      stoppedAt = null;
    }
  });

  it('forgets cached tokens when its listening connection was lost: a revocation may be missed', async () => {
    stoppedAt = Date.now();
    const sql = new pg.Client({ connectionString: db });
    await sql.connect();
    try {
      const { hostId, refused } = await agentCachedOnReplicaOne('revoked-unannounced');
      // Revoked with no announcement, as if it had been made while the connection was down.
      await sql.query('delete from tokens where host_id = $1', [hostId]);
      expect(await refused()).toBe(false);
      // Drop both replicas' LISTEN connections; they connect again by themselves.
      const killed = await sql.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and query like 'LISTEN %'`,
      );
      expect(killed.rowCount).toBe(2);
      await until('replica 1 to refuse the revoked token once it listens again', refused);
    } finally {
      stoppedAt = null;
      await sql.end();
    }
  });
});
