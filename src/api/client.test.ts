import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SlipwayClient } from './client.js';

/** A server that drops the connection of its first `drops` requests without answering. */
async function droppingServer(drops: number) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (seen.length <= drops) {
      req.socket.destroy();
      return;
    }
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(req.url?.startsWith('/v1/hosts') ? '{"hosts":[],"next":null}' : '{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, seen };
}

const REPORT = { services: [], bytesReceived: {}, bytesServed: 0, peerUrl: null, relay: false };

describe('the client, when the server closes the connection under a request', () => {
  let close: (() => void) | null = null;
  afterEach(() => close?.());

  it('sends a GET and a report again, once', async () => {
    const s = await droppingServer(1);
    close = () => s.server.close();
    const client = new SlipwayClient({ server: s.url, token: 't' });
    expect(await client.listHosts()).toEqual([]);
    expect(s.seen).toEqual(['GET /v1/hosts?limit=2000', 'GET /v1/hosts?limit=2000']);
    s.seen.length = 0;
    const again = await droppingServer(1);
    const c2 = new SlipwayClient({ server: again.url, token: 't' });
    await c2.agentReport(REPORT);
    expect(again.seen).toEqual(['POST /v1/agent/report', 'POST /v1/agent/report']);
    again.server.close();
  });

  it('does not send again what must not be done twice, nor more than once', async () => {
    const s = await droppingServer(2);
    close = () => s.server.close();
    const client = new SlipwayClient({ server: s.url, token: 't' });
    await expect(client.listHosts()).rejects.toThrow(/cannot reach the Slipway server/);
    expect(s.seen).toHaveLength(2);
    s.seen.length = 0;
    await expect(client.createDeployment({ service: 'web', image: 'abc' })).rejects.toThrow(
      /cannot reach the Slipway server/,
    );
    expect(s.seen).toEqual(['POST /v1/deployments']);
  });
});

describe('the client, bounding a call', () => {
  let close: (() => void) | null = null;
  afterEach(() => close?.());

  /** A server that sends the headers of its answer and then nothing more. */
  async function stallingServer() {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"hosts":');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    close = () => server.closeAllConnections();
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('gives up on an answer whose body stalls, after its time', async () => {
    const client = new SlipwayClient({
      server: await stallingServer(),
      token: 't',
      timeoutMs: 300,
    });
    const started = performance.now();
    await expect(client.listHosts()).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("stops when the caller's signal aborts, well before the call's own time", async () => {
    const stalled = new SlipwayClient({ server: await stallingServer(), token: 't' });
    const caller = new AbortController();
    const started = performance.now();
    // A long poll of 1 s may take 16 s in all before the client gives up on its own.
    const call = stalled.agentGoal(0, 1_000, caller.signal);
    setTimeout(() => caller.abort(new Error('the agent stops')), 100);
    await expect(call).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
