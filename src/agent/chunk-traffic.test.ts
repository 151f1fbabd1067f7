/** Where the peer ticket goes: only to peers the goal answer names, never on a redirect. */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Peer, Peering } from '../api/index.js';
import { ObjectStore } from '../image/index.js';
import { ChunkTraffic } from './chunk-traffic.js';

const DIGEST = 'b'.repeat(64);
const IMAGE = 'a'.repeat(64);

/** An HTTP server that records the requests it gets and answers with `answer`. */
async function recording(
  answer: (path: string) => { status: number; headers?: Record<string, string> },
): Promise<{
  url: string;
  seen: { path: string; headers: IncomingHttpHeaders }[];
  server: Server;
}> {
  const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    const a = answer(req.url ?? '');
    res.writeHead(a.status, a.headers).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, server };
}

let dir: string;
const servers: Server[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-traffic-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await rm(dir, { recursive: true, force: true });
});

function traffic(lines: string[]): ChunkTraffic {
  return new ChunkTraffic(
    { server: 'http://127.0.0.1:9', maxBandwidth: null, relay: false },
    new ObjectStore(join(dir, 'objects')),
    () => 'agent-token',
    (m) => lines.push(m),
  );
}

const answer = (...peers: Peer[]): Peering => ({
  ticket: 'TICKET',
  serverKey: 'K',
  peers,
  share: null,
});

describe('the peer ticket', () => {
  it('never follows a redirect: a peer answering 302 or 307 does not pass the ticket on', async () => {
    const thief = await recording(() => ({ status: 200 }));
    const redirecting = await recording((path) => ({
      status: path.includes('/haves') ? 302 : 307,
      headers: { location: `${thief.url}${path}` },
    }));
    servers.push(thief.server, redirecting.server);
    const t = traffic([]);
    t.peering = answer({ hostId: 'h1', name: 'p1', url: redirecting.url, relay: false });
    const [peer] = t.fetchSources().peers ?? [];
    await expect(peer!.get(DIGEST, 10)).rejects.toThrow(/answered HTTP 307/);
    await expect(peer!.watch!(IMAGE, new AbortController().signal, () => {})).rejects.toThrow(
      /answered HTTP 302/,
    );
    expect(redirecting.seen.map((r) => r.headers.authorization)).toEqual([
      'Bearer TICKET',
      'Bearer TICKET',
    ]);
    expect(thief.seen).toEqual([]);
  });

  it('goes only to plain http://host:port URLs, and the refusal is logged once', async () => {
    const thief = await recording(() => ({ status: 200 }));
    servers.push(thief.server);
    const port = new URL(thief.url).port;
    const lines: string[] = [];
    const t = traffic(lines);
    t.peering = answer(
      { hostId: 'h1', name: 'p1', url: `http://user:pw@127.0.0.1:${port}`, relay: false },
      { hostId: 'h2', name: 'p2', url: `${thief.url}/steal?x=`, relay: false },
      { hostId: 'h3', name: 'r1', url: `https://127.0.0.1:${port}`, relay: true },
    );
    for (let i = 0; i < 3; i++) {
      const s = t.fetchSources();
      expect([...(s.peers ?? []), ...(s.relays ?? [])]).toEqual([]);
    }
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('not using peer p1');
    expect(thief.seen).toEqual([]);
  });

  it('stops going to a peer once the last goal answer places its host elsewhere', async () => {
    const old = await recording(() => ({ status: 404 }));
    servers.push(old.server);
    const t = traffic([]);
    const p1: Peer = { hostId: 'h1', name: 'p1', url: old.url, relay: false };
    t.peering = answer(p1);
    const [peer] = t.fetchSources().peers ?? [];
    await expect(peer!.get(DIGEST, 10)).rejects.toThrow(/does not hold/);
    expect(old.seen).toHaveLength(1);
    // The host was replaced: another machine enrolled under its name, at another address.
    t.peering = answer({ ...p1, url: 'http://127.0.0.1:9' });
    await expect(peer!.get(DIGEST, 10)).rejects.toThrow(/not showing the peer ticket to p1/);
    await expect(peer!.watch!(IMAGE, new AbortController().signal, () => {})).rejects.toThrow(
      /not showing the peer ticket/,
    );
    t.peering = null;
    await expect(peer!.get(DIGEST, 10)).rejects.toThrow(/no peering/);
    expect(old.seen).toHaveLength(1);
  });
});
