/**
 * What a caller may hold of the server, authenticated or not: requests that never finish
 * arriving are closed, one address cannot hold every socket, bodies are bounded per route, and
 * an unauthenticated body is refused without being read. And what may be stored: no NUL in
 * strings, chunk sizes as uploaded, a bounded count of image entries processed while others
 * are answered.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { CHUNKING } from '../src/image/index.js';
import type { ServerDeps, SlipwayServer } from '../src/server/index.js';
import { startInProcessServer } from './helpers/in-process-server.js';
import { until } from './helpers/until.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A raw connection: what the server sent, and whether it closed the connection. */
interface Raw {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
}

function raw(url: string, opts: { localAddress?: string } = {}): Promise<Raw> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let data = '';
    let closed = false;
    const socket = connect({ host: hostname, port: Number(port), ...opts }, () =>
      resolve({ socket, received: () => data, closed: () => closed }),
    );
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    socket.once('error', reject);
  });
}

/** GET from a given source address (fetch cannot choose one). */
function getFrom(url: string, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/healthz`, { localAddress, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A server with these connection limits (and a 25,000-entry image cap). */
async function started(
  connections: ServerDeps['connections'] = {},
  beforeListen: (server: SlipwayServer) => void = () => {},
) {
  return startInProcessServer({ connections, maxImageEntries: 25_000 }, beforeListen);
}

/** A manifest of one directory holding `files` files, each the same 5-byte chunk. */
function manifestOf(files: number, chunk: { digest: string; size: number }, fileSize = 5) {
  const entries: unknown[] = [{ path: 'd', type: 'dir', mode: 0o755 }];
  for (let i = 0; i < files; i++) {
    entries.push({
      path: `d/f${String(i).padStart(6, '0')}`,
      type: 'file',
      mode: 0o644,
      size: fileSize,
      chunks: [chunk],
    });
  }
  return { format: 1, entries };
}

describe('connections and timeouts', () => {
  let s: Awaited<ReturnType<typeof started>>;
  beforeAll(async () => {
    s = await started({
      headersTimeoutMs: 500,
      requestTimeoutMs: 1000,
      keepAliveTimeoutMs: 500,
      checkIntervalMs: 100,
    });
  });
  afterAll(() => s.stop());

  it('closes a connection whose body never finishes arriving', async () => {
    const c = await raw(s.url);
    c.socket.write(
      `POST /v1/images HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${s.adminToken}\r\n` +
        'content-type: application/json\r\ncontent-length: 100\r\n\r\n{',
    );
    await until('the slow body is cut off', () => c.closed());
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes a connection whose headers never end', async () => {
    const c = await raw(s.url);
    c.socket.write('GET /v1/hosts HTTP/1.1\r\nhost: x\r\n');
    await until('the endless headers are cut off', () => c.closed());
    const silent = await raw(s.url);
    await until('a connection that sends nothing is closed', () => silent.closed());
  });

  it('answers an unauthenticated large body with 401 without reading it, and closes', async () => {
    const c = await raw(s.url);
    c.socket.write(
      'POST /v1/images HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
        `content-length: ${60 * 1024 * 1024}\r\n\r\n`,
    );
    c.socket.write(Buffer.alloc(64 * 1024, 0x20));
    // Only 64 KiB of the 60 MiB were sent: the answer cannot have waited for the rest.
    await until('the 401', () => /^HTTP\/1\.1 401/.test(c.received()));
    expect(c.received()).toMatch(/connection: close/i);
    await until('the server closes the connection', () => c.closed());
  });

  it('keeps an event stream open past every request timeout', async () => {
    const client = new SlipwayClient({ server: s.url, token: s.adminToken });
    const controller = new AbortController();
    const res = await fetch(`${s.url}/v1/events`, {
      headers: { authorization: `Bearer ${s.adminToken}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    // Opened after the stream: once it is cut off, the stream is older than every timeout.
    const slow = await raw(s.url);
    slow.socket.write(
      `POST /v1/images HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${s.adminToken}\r\n` +
        'content-type: application/json\r\ncontent-length: 100\r\n\r\n{',
    );
    await until('the slow request is cut off', () => slow.closed());
    const headersOnly = await raw(s.url);
    headersOnly.socket.write('GET /v1/hosts HTTP/1.1\r\n');
    await until('the endless headers are cut off', () => headersOnly.closed());

    const chunk = Buffer.from('event');
    await client.putChunk(sha(chunk), chunk);
    const image = await client.createImage({
      service: 'web',
      manifest: manifestOf(1, { digest: sha(chunk), size: chunk.length }),
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes(image.id)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value as Uint8Array, { stream: true });
    }
    expect(text).toContain('event: image.registered');
    controller.abort();
  });

  it('refuses a body larger than its route allows with 413, saying the limit', async () => {
    const big = JSON.stringify({ service: 'web', image: 'x'.repeat(100 * 1024) });
    const res = await fetch(`${s.url}/v1/deployments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'application/json' },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(JSON.stringify(await res.json())).toContain('accepts at most 65536 bytes');

    const chunk = Buffer.alloc(CHUNKING.maxSize + 64 * 1024, 1);
    const put = await fetch(`${s.url}/v1/chunks/${sha(chunk)}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${s.adminToken}`,
        'content-type': 'application/octet-stream',
      },
      body: chunk,
    });
    expect(put.status).toBe(413);
  });
});

describe('connections per address', () => {
  let s: Awaited<ReturnType<typeof started>>;
  beforeAll(async () => {
    // Timeouts long enough that the held connections outlast the test on a loaded machine.
    s = await started({ maxConnectionsPerAddress: 5, headersTimeoutMs: 120_000 });
  });
  afterAll(() => s.stop());

  it('closes connections over the cap at once while other callers are answered', async () => {
    const held = await Promise.all([1, 2, 3, 4, 5].map(() => raw(s.url)));
    const extra = await raw(s.url);
    await until('the sixth connection is closed', () => extra.closed());
    expect(held.some((c) => c.closed())).toBe(false);
    expect(await getFrom(s.url, '127.0.0.2')).toBe(200);
    held[0]!.socket.destroy();
    await until('a place is free again for that address', async () => {
      const again = await raw(s.url);
      again.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
      await until('an answer or a close', () => again.received() !== '' || again.closed());
      again.socket.destroy();
      return /^HTTP\/1\.1 200/.test(again.received());
    });
    for (const c of held) c.socket.destroy();
  });
});

describe('what may be stored', () => {
  let s: Awaited<ReturnType<typeof started>>;
  let client: SlipwayClient;
  const chunk = Buffer.from('hello');
  const ref = { digest: sha(chunk), size: chunk.length };
  /** Called once a manifest's body has arrived, just before it is processed. */
  let onManifest: (() => void) | undefined;
  beforeAll(async () => {
    s = await started({}, (server) =>
      server.app.addHook('preHandler', (request, _reply, done) => {
        if (request.method === 'POST' && request.url === '/v1/images') onManifest?.();
        done();
      }),
    );
    client = new SlipwayClient({ server: s.url, token: s.adminToken });
    await client.putChunk(ref.digest, chunk);
  });
  afterAll(() => s.stop());

  it('refuses a NUL in an environment value or a label with 400, storing nothing', async () => {
    const doc = {
      regions: ['r1'],
      services: { web: { run: 'serve', env: { GREETING: 'hi\u0000there' } } },
    };
    await expect(client.applyServiceMap(doc)).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringContaining('NUL'),
    });
    await expect(client.getServiceMap()).rejects.toMatchObject({ code: 'NOT_FOUND' });

    const joinClient = new SlipwayClient({ server: s.url, token: s.joinToken });
    await expect(
      joinClient.enroll({ name: 'h1', region: 'r1', labels: { rack: 'a\u0000b' } }),
    ).rejects.toMatchObject({ code: 'INVALID', message: expect.stringContaining('labels.rack') });
    expect(await client.listHosts()).toEqual([]);
    const res = await fetch(`${s.url}/v1/images/${encodeURIComponent('ab\u0000')}`, {
      headers: { authorization: `Bearer ${s.adminToken}` },
    });
    expect(res.status).toBe(400);
  });

  it('refuses a chunk larger than a chunk can be, at upload', async () => {
    const big = Buffer.alloc(CHUNKING.maxSize + 1, 7);
    await expect(client.putChunk(sha(big), big)).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringContaining(`at most ${CHUNKING.maxSize} bytes`),
    });
  });

  it('refuses a manifest whose chunk sizes differ from what was uploaded', async () => {
    const terabyte = 1024 ** 4;
    await expect(
      client.createImage({
        service: 'web',
        manifest: manifestOf(1, { ...ref, size: terabyte }, terabyte),
      }),
    ).rejects.toMatchObject({ code: 'INVALID', message: expect.stringContaining('at most') });
    await expect(
      client.createImage({ service: 'web', manifest: manifestOf(1, { ...ref, size: 6 }, 6) }),
    ).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringContaining('declared 6 bytes, uploaded 5'),
    });
    expect(await client.listImages()).toEqual([]);
  });

  it('refuses more image entries than the limit, naming both', async () => {
    await expect(
      client.createImage({ service: 'web', manifest: manifestOf(25_000, ref) }),
    ).rejects.toMatchObject({
      code: 'INVALID',
      message: expect.stringMatching(/25001 entries, more than the 25000/),
    });
  });

  it('answers other requests while a large manifest is processed', async () => {
    const order: string[] = [];
    let health: Promise<void> | undefined;
    onManifest = () => {
      health = fetch(`${s.url}/healthz`).then(async (r) => {
        await r.text();
        order.push('healthz');
      });
    };
    const image = await client.createImage({ service: 'web', manifest: manifestOf(20_000, ref) });
    order.push('createImage');
    onManifest = undefined;
    await health;
    expect(image.files).toBe(20_000);
    expect(order).toEqual(['healthz', 'createImage']);
  });
});
