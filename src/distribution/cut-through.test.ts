// Cut-through forwarding: a chunk still arriving is passed on as it comes, never whole unverified.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../test/helpers/until.js';
import { ChunkCorruptError, ObjectStore, sha256Hex } from '../image/index.js';
import { ImageAvailability } from './availability.js';
import { HttpChunkSource } from './chunk-source.js';
import { httpGet } from './http-get.js';
import { InboundChunks } from './inbound.js';
import { startPeerServer, type PeerServer } from './peer-server.js';
import { generateSigningKey, signTicket } from './peer-ticket.js';

const key = generateSigningKey();
const ticket = (hostId: string) =>
  signTicket(key.privatePem, { hostId, region: 'r1', exp: Date.now() + 60_000 });
const SIZE = 256 * 1024;

let dir: string;
const closers: (() => Promise<void>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-cut-through-'));
});
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  await rm(dir, { recursive: true, force: true });
});

/** Reads everything a reader of `chunk` gets; `seen` holds the bytes so far at any moment. */
async function drain(read: AsyncIterable<Buffer>, seen: Buffer[]): Promise<Buffer> {
  for await (const piece of read) seen.push(piece);
  return Buffer.concat(seen);
}

describe('a chunk arriving here', () => {
  it('can be read as it arrives, and whole once it is verified', async () => {
    const data = randomBytes(SIZE);
    const inbound = new InboundChunks();
    const chunk = inbound.begin(sha256Hex(data), SIZE)!;
    expect(inbound.begin(sha256Hex(data), SIZE)).toBeNull(); // one transfer per chunk
    const seen: Buffer[] = [];
    const reading = drain(chunk.read(new AbortController().signal), seen);

    for (let off = 0; off < SIZE - 1000; off += 50_000) {
      chunk.push(data.subarray(off, Math.min(off + 50_000, SIZE - 1000)));
    }
    // Passed on before the chunk is whole.
    await until('the bytes so far', () => Buffer.concat(seen).length === SIZE - 1000);

    chunk.push(data.subarray(SIZE - 1000));
    expect((await reading).equals(data)).toBe(true);
    // Readable here until it is stored, then served from the store.
    expect(inbound.get(sha256Hex(data))).toBe(chunk);
    inbound.stored(sha256Hex(data));
    expect(inbound.get(sha256Hex(data))).toBeUndefined();
  });

  it('holds nothing of a chunk once it is stored', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const inbound = new InboundChunks();
    // In a scope of its own, so that only the WeakRef is left here.
    const arrive = () => {
      const data = randomBytes(SIZE);
      const chunk = inbound.begin(sha256Hex(data), SIZE)!;
      chunk.push(data);
      expect(chunk.verified).toBe(true);
      return { digest: sha256Hex(data), held: new WeakRef(chunk) };
    };
    const { digest, held } = arrive();
    inbound.stored(digest);
    await new Promise((r) => setImmediate(r));
    gc();
    // Nothing (no pending timer) keeps its bytes once it is in the store.
    expect(held.deref()).toBeUndefined();
  });

  it('that turns out corrupt, or breaks off, never reaches a reader whole', async () => {
    const data = randomBytes(SIZE);
    for (const finish of ['corrupt', 'broken'] as const) {
      const inbound = new InboundChunks();
      const chunk = inbound.begin(sha256Hex(data), SIZE)!;
      const seen: Buffer[] = [];
      const reading = drain(chunk.read(new AbortController().signal), seen);
      chunk.push(data.subarray(0, SIZE / 2));
      await until('the first half', () => Buffer.concat(seen).length === SIZE / 2);
      if (finish === 'corrupt') chunk.push(Buffer.alloc(SIZE / 2));
      else chunk.end();

      await expect(reading).rejects.toThrow(/broke off on its way here/);
      expect(Buffer.concat(seen).length).toBeLessThan(SIZE);
      expect(inbound.get(sha256Hex(data))).toBeUndefined();
      // A new transfer of the same chunk may begin (from another source).
      expect(inbound.begin(sha256Hex(data), SIZE)).not.toBeNull();
    }
  });
});

/**
 * An upstream that sends the first half of `data` at once and the rest when `release` is called
 * (`corrupt`: zeros instead of the rest).
 */
async function pausedUpstream(data: Buffer, corrupt = false) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-length': data.length });
    res.write(data.subarray(0, data.length / 2));
    void released.then(() =>
      res.end(corrupt ? Buffer.alloc(data.length / 2) : data.subarray(data.length / 2)),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, release };
}

/** An agent's peer server with its inbound chunks, and a source to `upstream` recording there. */
async function forwarder(upstreamUrl: string, relay = false) {
  const objects = new ObjectStore(join(dir, 'forwarder'));
  const availability = new ImageAvailability();
  const inbound = new InboundChunks((d) => availability.add(d));
  const upstream = new HttpChunkSource({
    name: 'upstream',
    kind: 'origin',
    baseUrl: upstreamUrl,
    credential: () => 'token',
    inbound,
  });
  const server: PeerServer = await startPeerServer({
    host: '127.0.0.1',
    port: 0,
    objects,
    availability,
    inbound,
    region: 'r1',
    serverKey: () => key.publicPem,
    relayFetch: relay
      ? async (digest, size) => {
          const got = await upstream.get(digest, size);
          await objects.put(digest, got.data);
        }
      : null,
  });
  closers.push(() => server.close());
  return { server, inbound, upstream, objects };
}

/** Asks `url` for the chunk, as host `asker`; `seen` counts the bytes received so far. */
function ask(url: string, digest: string, seen: { bytes: number }) {
  return httpGet(`${url}/chunks/${digest}?size=${SIZE}`, {
    headers: { authorization: `Bearer ${ticket('asker')}` },
    maxBytes: SIZE + 1024,
    tee: () => (piece) => (seen.bytes += piece.length),
  });
}

describe('a peer passing on a chunk it is still receiving', () => {
  it('streams the bytes it has to an asker before the chunk is whole', async () => {
    const data = randomBytes(SIZE);
    const digest = sha256Hex(data);
    const up = await pausedUpstream(data);
    const f = await forwarder(up.url);
    const receiving = f.upstream.get(digest, SIZE);
    await until('the chunk arriving', () => f.inbound.get(digest) !== undefined);

    const seen = { bytes: 0 };
    const asked = ask(f.server.url, digest, seen);
    await until('the first bytes', () => seen.bytes > 0); // while the rest is still to come
    up.release();
    const got = await asked;
    expect(got.status).toBe(200);
    expect(sha256Hex(got.body)).toBe(digest);
    expect(Buffer.from((await receiving).data).equals(data)).toBe(true);
    // Hashed as it arrived: storing it need not hash it again.
    expect((await receiving).verified).toBe(true);
  });

  it('breaks the transfer off when the chunk arrives corrupt: the asker does not blame it', async () => {
    const data = randomBytes(SIZE);
    const digest = sha256Hex(data);
    const up = await pausedUpstream(data, true);
    const f = await forwarder(up.url);
    const receiving = f.upstream.get(digest, SIZE);
    await until('the chunk arriving', () => f.inbound.get(digest) !== undefined);

    const seen = { bytes: 0 };
    const asked = ask(f.server.url, digest, seen);
    asked.catch(() => undefined);
    await until('the first bytes', () => seen.bytes > 0);
    up.release();
    // A broken transfer, not bytes to check: the asker has nothing to find corrupt, so it does
    // not drop the forwarder as a source of bad bytes.
    await expect(asked).rejects.toThrow();
    expect(seen.bytes).toBeLessThan(SIZE);
    expect((await receiving).verified).toBeFalsy();
    // The forwarder's own copy fails its check when it is stored, as any corrupt chunk does.
    await expect(f.objects.put(digest, (await receiving).data)).rejects.toThrow(ChunkCorruptError);
  });

  it('as a relay, answers as soon as the origin’s bytes begin to arrive', async () => {
    const data = randomBytes(SIZE);
    const digest = sha256Hex(data);
    const origin = await pausedUpstream(data);
    const relay = await forwarder(origin.url, true);

    const seen = { bytes: 0 };
    const asked = ask(relay.server.url, digest, seen);
    await until('the first bytes', () => seen.bytes > 0); // while the rest is still to come
    expect(await relay.objects.has(digest)).toBe(false);
    origin.release();
    expect(sha256Hex((await asked).body)).toBe(digest);
    // The relay stores the chunk too; let it finish before the directory is removed.
    await until('the relay to store it', () => relay.objects.has(digest));
  });
});
