// Peers, relays and the fetch scheduler over real HTTP servers on loopback.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../test/helpers/until.js';
import { ObjectStore, sha256Hex, type ChunkRef } from '../image/index.js';
import { ImageAvailability } from './availability.js';
import {
  HttpChunkSource,
  SingleFlightSource,
  type ChunkSource,
  type SourceKind,
} from './chunk-source.js';
import { fetchChunks } from './fetch-chunks.js';
import { startPeerServer, type PeerServer } from './peer-server.js';
import { generateSigningKey, signTicket } from './peer-ticket.js';
import { RateLimiter } from './rate-limiter.js';
import { ChunkSentElsewhereError, RESEND_AFTER_MS, RETRY_AFTER_MS_HEADER } from './relay-ledger.js';
import { ChunkNotYetError, NOT_YET_RETRY_MS } from './not-yet.js';

const key = generateSigningKey();
const IMAGE = 'a'.repeat(64);
const ticket = (region: string, signingKey = key.privatePem, hostId = 'h') =>
  signTicket(signingKey, { hostId, region, exp: Date.now() + 60_000 });

let dir: string;
const servers: PeerServer[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-peers-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

/** Random chunks of `size` bytes, stored in `store`. */
async function makeChunks(store: ObjectStore, n: number, size: number): Promise<ChunkRef[]> {
  const refs: ChunkRef[] = [];
  for (let i = 0; i < n; i++) {
    const data = randomBytes(size);
    const digest = sha256Hex(data);
    await store.put(digest, data);
    refs.push({ digest, size });
  }
  return refs;
}

/** Copies `chunks` from `from` into `to`, as a host that already fetched them. */
async function stock(to: ObjectStore, from: ObjectStore, chunks: ChunkRef[]): Promise<void> {
  for (const c of chunks) await to.put(c.digest, await from.get(c.digest));
}

/**
 * A limiter that holds the second piece sent until `open`: the first send stops after its first
 * slice, and any other send could go ahead.
 */
class Gate extends RateLimiter {
  private pieces = 0;
  private readonly opened: Promise<void>;
  open!: () => void;

  constructor() {
    super(Number.MAX_SAFE_INTEGER);
    this.opened = new Promise((r) => (this.open = r));
  }

  override async take(): Promise<void> {
    if (++this.pieces === 2) await this.opened;
  }
}

/** A rate limiter that tells how long it was in use, from the first take to the last. */
class TimedLimiter extends RateLimiter {
  private firstTake: number | null = null;
  private lastPassed: number | null = null;

  override async take(n: number, signal?: AbortSignal): Promise<void> {
    this.firstTake ??= performance.now();
    await super.take(n, signal);
    this.lastPassed = performance.now();
  }

  seconds(): number | null {
    if (this.firstTake === null || this.lastPassed === null) return null;
    return (this.lastPassed - this.firstTake) / 1000;
  }
}

/** An object store that counts the reads it finished. */
class ReadCountingStore extends ObjectStore {
  reads = 0;

  override async get(digest: string): Promise<Buffer> {
    const data = await super.get(digest);
    this.reads++;
    return data;
  }
}

/** A peer holding `chunks` (tracked as image IMAGE), serving region r1. */
async function peer(
  name: string,
  chunks: ChunkRef[],
  extra: Partial<Parameters<typeof startPeerServer>[0]> = {},
) {
  const objects = new ObjectStore(join(dir, name));
  const availability = new ImageAvailability();
  availability.track(
    IMAGE,
    chunks.map((c) => c.digest),
    () => true,
  );
  const server = await startPeerServer({
    host: '127.0.0.1',
    port: 0,
    objects,
    availability,
    region: 'r1',
    serverKey: () => key.publicPem,
    ...extra,
  });
  servers.push(server);
  return { objects, server, availability };
}

function source(
  url: string,
  kind: SourceKind = 'peer',
  opts: { region?: string; limiter?: RateLimiter; host?: string } = {},
): ChunkSource {
  return new HttpChunkSource({
    name: `${kind} ${url}`,
    kind,
    baseUrl: url,
    credential: () => ticket(opts.region ?? 'r1', key.privatePem, opts.host),
    limiter: opts.limiter,
  });
}

describe('the peer server', () => {
  it('serves its region only, and only to tickets the control plane signed', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const [chunk] = await makeChunks(origin, 1, 1000);
    const p = await peer('p1', []);
    await p.objects.put(chunk!.digest, await origin.get(chunk!.digest));
    const get = (auth?: string) =>
      fetch(`${p.server.url}/chunks/${chunk!.digest}`, {
        headers: auth ? { authorization: `Bearer ${auth}` } : {},
      });

    expect((await get()).status).toBe(401);
    const forged = ticket('r1', generateSigningKey().privatePem);
    expect((await get(forged)).status).toBe(401);
    const expired = signTicket(key.privatePem, { hostId: 'h', region: 'r1', exp: Date.now() - 1 });
    expect((await get(expired)).status).toBe(401);
    const other = await get(ticket('r2'));
    expect(other.status).toBe(403);
    expect(await other.text()).toMatch(/only to region r1, not r2/);

    const ok = await get(ticket('r1'));
    expect(ok.status).toBe(200);
    expect(sha256Hex(new Uint8Array(await ok.arrayBuffer()))).toBe(chunk!.digest);
    const missing = await fetch(`${p.server.url}/chunks/${'b'.repeat(64)}`, {
      headers: { authorization: `Bearer ${ticket('r1')}` },
    });
    expect(missing.status).toBe(404);
  });

  it('streams which chunks of an image it holds, and each new one', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 10, 100);
    const p = await peer('p1', []);
    const availability = new ImageAvailability();
    availability.track(
      IMAGE,
      chunks.map((c) => c.digest),
      (i) => i === 0 || i === 9,
    );
    const s = await startPeerServer({
      host: '127.0.0.1',
      port: 0,
      objects: p.objects,
      availability,
      region: 'r1',
      serverKey: () => key.publicPem,
    });
    servers.push(s);
    const seen: number[][] = [];
    const stop = new AbortController();
    const watching = source(s.url).watch!(IMAGE, stop.signal, (bits) => {
      seen.push([...bits]);
      // The chunks it gets while we watch are told to us as they arrive.
      if (seen.length === 1) availability.add(chunks[3]!.digest);
      if (seen.length === 2) stop.abort();
    });
    expect(await watching).toBe(true);
    expect(seen).toEqual([
      [0b00000001, 0b00000010],
      [0b00001001, 0b00000010],
    ]);
    const never = new AbortController();
    expect(await source(s.url).watch!('c'.repeat(64), never.signal, () => {})).toBe(false);
  });

  it('ends its have streams when it stops offering the image', async () => {
    const p = await peer('p1', []);
    const stop = new AbortController();
    let changes = 0;
    const watching = source(p.server.url).watch!(IMAGE, stop.signal, () => changes++);
    await until('the bitmap', () => changes === 1);
    p.availability.forget(IMAGE);
    // Nothing aborts the watch: it resolves only because the peer ended the stream.
    expect(await watching).toBe(true);
    expect(changes).toBe(1);
  });

  it('sends compressible chunks compressed to a peer that asks, and they arrive intact', async () => {
    const data = Buffer.from('price,qty,side\n'.repeat(20_000));
    const digest = sha256Hex(data);
    const p = await peer('p1', []);
    await p.objects.put(digest, data);
    const raw = await fetch(`${p.server.url}/chunks/${digest}`, {
      headers: { authorization: `Bearer ${ticket('r1')}`, 'accept-encoding': 'br' },
    });
    expect(raw.headers.get('content-encoding')).toBe('br');
    expect(Number(raw.headers.get('content-length'))).toBeLessThan(data.length / 10);
    const compressed = new HttpChunkSource({
      name: 'p1',
      kind: 'peer',
      baseUrl: p.server.url,
      credential: () => ticket('r1'),
      compress: true,
    });
    expect(sha256Hex((await compressed.get(digest, data.length)).data)).toBe(digest);
  });

  it('as a relay, fetches a chunk it lacks from the origin once, however many ask', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const [chunk] = await makeChunks(origin, 1, 50_000);
    let originFetches = 0;
    const slowOrigin: ChunkSource = {
      name: 'origin',
      kind: 'origin',
      get: async (digest) => {
        originFetches++;
        await new Promise((r) => setTimeout(r, 100));
        const data = await origin.get(digest);
        return { data, wireBytes: data.length };
      },
    };
    // As the agent builds it: one flight per chunk, stored before it ends.
    const flights = new SingleFlightSource(slowOrigin, undefined, (d, data) =>
      relay.objects.put(d, data),
    );
    const relay = await peer('relay', [], {
      relayFetch: async (digest, size) => {
        await flights.get(digest, size);
      },
    });
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        source(relay.server.url, 'relay').get(chunk!.digest, chunk!.size),
      ),
    );
    expect(results.every((r) => sha256Hex(r.data) === chunk!.digest)).toBe(true);
    expect(originFetches).toBe(1);
  });

  it('as a relay, sends a chunk to one host and tells the others to take it from a peer', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const [chunk] = await makeChunks(origin, 1, 10_000);
    const relay = await peer('relay', [chunk!], { relayFetch: async () => {} });
    await stock(relay.objects, origin, [chunk!]);
    const a = source(relay.server.url, 'relay', { host: 'a' });
    const b = source(relay.server.url, 'relay', { host: 'b' });
    expect(sha256Hex((await a.get(chunk!.digest, chunk!.size)).data)).toBe(chunk!.digest);
    // The same host may ask again (its copy went missing); another is sent to a peer.
    await a.get(chunk!.digest, chunk!.size);
    const refused = await b.get(chunk!.digest, chunk!.size).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ChunkSentElsewhereError);
    // What is left of the window since the send to a (relay-ledger.test.ts has the arithmetic;
    // a loaded machine may take a while between the two requests).
    expect((refused as ChunkSentElsewhereError).retryAfterMs).toBeGreaterThan(RESEND_AFTER_MS / 2);
    expect((refused as ChunkSentElsewhereError).retryAfterMs).toBeLessThanOrEqual(RESEND_AFTER_MS);
    // A plain peer sends to anyone who asks.
    const plain = await peer('plain', [chunk!]);
    await plain.objects.put(chunk!.digest, await relay.objects.get(chunk!.digest));
    for (const host of ['a', 'b']) {
      const got = await source(plain.server.url, 'peer', { host }).get(chunk!.digest, chunk!.size);
      expect(sha256Hex(got.data)).toBe(chunk!.digest);
    }
  });

  it('sends one chunk at a time per upload slot; an asker that leaves frees its turn', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 3, 512 * 1024);
    // The first send is held after its first slice until the others wait their turn.
    const gate = new Gate();
    const objects = new ReadCountingStore(join(dir, 'p1'));
    const p = await peer('p1', chunks, { objects, uploadSlots: 1, limiter: gate });
    await stock(objects, origin, chunks);
    const events: string[] = [];
    const get = async (i: number, signal?: AbortSignal) => {
      const res = await fetch(`${p.server.url}/chunks/${chunks[i]!.digest}`, {
        headers: { authorization: `Bearer ${ticket('r1')}` },
        signal,
      });
      events.push(`headers ${i}`);
      const body = new Uint8Array(await res.arrayBuffer());
      events.push(`body ${i}`);
      return sha256Hex(body);
    };
    // Read from the store is the last step before an asker queues for the slot.
    const queued = (n: number) => until(`${n} askers at the slot`, () => objects.reads === n);

    const first = get(0);
    await until('the first send under way', () => events.includes('headers 0'));
    const leaver = new AbortController();
    const left = get(1, leaver.signal).catch((e: unknown) => (e as Error).name);
    await queued(2);
    const third = get(2);
    await queued(3);
    leaver.abort();
    expect(await left).toBe('AbortError');
    gate.open();

    expect(await first).toBe(chunks[0]!.digest);
    expect(await third).toBe(chunks[2]!.digest);
    // The third waited for the first to be sent whole, and not for the asker that left.
    expect(events).toEqual(['headers 0', 'body 0', 'headers 2', 'body 2']);
  });

  it('drops an asker that stops reading, so its upload slot goes to the next', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    // Far more than the kernel's socket buffers hold: the send must wait for the asker.
    const [big, small] = [
      ...(await makeChunks(origin, 1, 16 << 20)),
      ...(await makeChunks(origin, 1, 1_000)),
    ];
    const p = await peer('p1', [big!, small!], { uploadSlots: 1, sendStallMs: 300 });
    await stock(p.objects, origin, [big!, small!]);
    // A host that asks and then never reads again (as one that vanished without closing).
    const { port } = new URL(p.server.url);
    const silent = connect(Number(port), '127.0.0.1');
    silent.write(
      `GET /chunks/${big!.digest} HTTP/1.1\r\nhost: x\r\n` +
        `authorization: Bearer ${ticket('r1')}\r\n\r\n`,
    );
    // Its first bytes mean it holds the one upload slot; then it stops reading.
    const sending = new Promise<void>((r) =>
      silent.once('data', () => {
        silent.pause();
        r();
      }),
    );
    const closed = new Promise<void>((r) => silent.once('close', () => r()));
    silent.on('error', () => {});
    await sending;
    // The next asker waits for the one slot, then is served once the silent one is dropped.
    const got = await source(p.server.url).get(small!.digest, small!.size);
    expect(sha256Hex(got.data)).toBe(small!.digest);
    // It was cut off: reading again, it finds its connection closed before the whole chunk.
    let received = 0;
    silent.on('data', (d: Buffer) => (received += d.length));
    silent.resume();
    await closed;
    expect(received).toBeLessThan(big!.size);
  });
});

describe('fetchChunks', () => {
  it('takes chunks from peers that hold them and what no peer holds from the relay', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 24, 4096);
    const half = chunks.slice(0, 12);
    const p1 = await peer('p1', half);
    await stock(p1.objects, origin, half);
    const relay = await peer('relay', [], {
      relayFetch: async (d) => relay.objects.put(d, await origin.get(d)),
    });
    const store = new ObjectStore(join(dir, 'me'));
    const bytes: Record<string, number> = {};
    await fetchChunks(chunks, {
      imageId: IMAGE,
      peers: [source(p1.server.url)],
      relays: [source(relay.server.url, 'relay')],
      origin: null,
      store,
      retryMs: 20,
      onBytes: (k, n) => (bytes[k] = (bytes[k] ?? 0) + n),
    });
    for (const c of chunks) expect(await store.has(c.digest)).toBe(true);
    expect((bytes.peer ?? 0) + (bytes.relay ?? 0)).toBe(24 * 4096);
    expect(bytes.relay ?? 0).toBeGreaterThanOrEqual(12 * 4096);
    expect(bytes.origin).toBeUndefined();
  });

  it('brings chunks into a region through the relay once; the hosts trade the rest', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 40, 16 * 1024);
    let relaySent = 0;
    const relay = await peer('relay', [], {
      relayFetch: async (d) => relay.objects.put(d, await origin.get(d)),
      onSent: (n) => (relaySent += n),
    });
    const hosts = await Promise.all(['a', 'b', 'c'].map((name) => peer(name, [])));
    for (const h of hosts) h.availability.forget(IMAGE);
    const names = ['a', 'b', 'c'];
    await Promise.all(
      hosts.map((h, index) =>
        fetchChunks(chunks, {
          imageId: IMAGE,
          peers: hosts
            .filter((other) => other !== h)
            .map((other) => source(other.server.url, 'peer', { host: names[index] })),
          relays: [source(relay.server.url, 'relay', { host: names[index] })],
          relayShare: { index, of: 3 },
          store: h.objects,
          availability: h.availability,
          retryMs: 20,
        }),
      ),
    );
    for (const h of hosts) for (const c of chunks) expect(await h.objects.has(c.digest)).toBe(true);
    // Every chunk left the relay exactly once: the hosts took the rest from each other.
    expect(relaySent).toBe(40 * 16 * 1024);
  });

  it('detects a peer serving corrupt bytes, stops using it and gets the chunks elsewhere', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 8, 4096);
    const bad = await peer('bad', chunks);
    for (const c of chunks) {
      // Same names, other bytes: what a peer with a rotten disk (or a malicious one) serves.
      const path = bad.objects.pathOf(c.digest);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, randomBytes(c.size));
      await chmod(path, 0o444);
    }
    const originServer = await peer('origin', chunks, { region: 'r1' });
    await stock(originServer.objects, origin, chunks);
    const problems: string[] = [];
    const store = new ObjectStore(join(dir, 'me'));
    const bytes: Record<string, number> = {};
    await fetchChunks(chunks, {
      imageId: IMAGE,
      peers: [source(bad.server.url)],
      origin: source(originServer.server.url, 'origin'),
      store,
      retryMs: 20,
      onBytes: (k, n) => (bytes[k] = (bytes[k] ?? 0) + n),
      onSourceProblem: (name, p) => problems.push(`${name}: ${p}`),
    });
    for (const c of chunks) {
      expect(sha256Hex(await store.get(c.digest))).toBe(c.digest);
    }
    expect(problems.some((p) => /do not match/.test(p))).toBe(true);
    expect(bytes.peer).toBeUndefined();
    expect(bytes.origin).toBe(8 * 4096);
  });

  it('does not stall when a peer dies mid-transfer', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 16, 64 * 1024);
    // A slow peer (1 MB/s out) that is killed while it is sending.
    const slow = await peer('slow', chunks, { limiter: new RateLimiter(1_000_000) });
    await stock(slow.objects, origin, chunks);
    const relay = await peer('relay', [], {
      relayFetch: async (d) => relay.objects.put(d, await origin.get(d)),
    });
    const store = new ObjectStore(join(dir, 'me'));
    let received = 0;
    const done = fetchChunks(chunks, {
      imageId: IMAGE,
      peers: [source(slow.server.url)],
      relays: [source(relay.server.url, 'relay')],
      store,
      retryMs: 20,
      onBytes: (_, n) => (received += n),
    });
    await until('a first chunk from the slow peer', () => received > 0);
    await slow.server.close();
    await done;
    for (const c of chunks) expect(await store.has(c.digest)).toBe(true);
  });

  it('takes from the origin what the relay keeps sending to a host that never passes it on', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 4, 4096);
    const originServer = await peer('origin', chunks);
    await stock(originServer.objects, origin, chunks);
    // A relay whose ledger says every chunk just went to another host, which never shares it.
    const relay = createServer((req, res) => {
      if (req.url?.includes('/haves')) res.writeHead(404).end();
      else res.writeHead(409, { [RETRY_AFTER_MS_HEADER]: '60000' }).end('sent elsewhere');
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
    const problems: string[] = [];
    const store = new ObjectStore(join(dir, 'me'));
    const bytes: Record<string, number> = {};
    try {
      await fetchChunks(chunks, {
        imageId: IMAGE,
        relays: [source(relayUrl, 'relay')],
        origin: source(originServer.server.url, 'origin'),
        store,
        retryMs: 20,
        stallMs: 300,
        onBytes: (k, n) => (bytes[k] = (bytes[k] ?? 0) + n),
        onSourceProblem: (name, p) => problems.push(`${name}: ${p}`),
      });
    } finally {
      relay.closeAllConnections();
      relay.close();
    }
    for (const c of chunks) expect(sha256Hex(await store.get(c.digest))).toBe(c.digest);
    expect(bytes.origin).toBe(4 * 4096);
    expect(problems).toEqual([expect.stringMatching(/4 chunk\(s\) missing.*from the origin/)]);
  });

  it('watches and takes chunks from no more peers than asked', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 16, 4096);
    const served: number[] = [0, 0, 0, 0, 0];
    const peers = [];
    for (const i of served.keys()) {
      const p = await peer(`p${i}`, chunks, { onSent: () => served[i]!++ });
      await stock(p.objects, origin, chunks);
      peers.push(source(p.server.url));
    }
    await fetchChunks(chunks, {
      imageId: IMAGE,
      peers,
      maxPeers: 2,
      store: new ObjectStore(join(dir, 'me')),
      retryMs: 20,
    });
    expect(served.reduce((a, b) => a + b, 0)).toBe(16);
    expect(served.filter((n) => n > 0).length).toBeLessThanOrEqual(2);
  });

  it('waits for a relay through a few failures, and goes to the origin once it keeps failing', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 4, 4096);
    const originServer = await peer('origin', chunks);
    await stock(originServer.objects, origin, chunks);
    // A relay that answers its first two chunk requests (one per slot) with an error, then serves.
    let errors = 2;
    const flaky = createServer((req, res) => {
      const digest = /\/chunks\/([0-9a-f]{64})/.exec(req.url ?? '')?.[1];
      if (!digest) return void res.writeHead(404).end(); // no have stream: holds nothing yet
      if (errors-- > 0) return void res.writeHead(500).end('starting');
      void origin.get(digest).then((b) => res.writeHead(200).end(b));
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    const flakyUrl = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
    const fetchFrom = async (relayUrl: string, me: string) => {
      const bytes: Record<string, number> = {};
      await fetchChunks(chunks, {
        imageId: IMAGE,
        relays: [source(relayUrl, 'relay')],
        origin: source(originServer.server.url, 'origin'),
        store: new ObjectStore(join(dir, me)),
        retryMs: 20,
        onBytes: (k, n) => (bytes[k] = (bytes[k] ?? 0) + n),
      });
      return bytes;
    };
    try {
      // Fewer failures in a row than make a relay down (fetch-policy.test.ts has the rule's
      // times): the relay is waited for, the origin not asked.
      expect(await fetchFrom(flakyUrl, 'me')).toEqual({ relay: 4 * 4096 });
    } finally {
      flaky.closeAllConnections();
      flaky.close();
    }
    // A relay nobody answers for: the origin sends everything.
    expect(await fetchFrom(flakyUrl, 'me2')).toEqual({ origin: 4 * 4096 });
  });

  it('keeps received bytes under the bandwidth cap (within 10%)', async () => {
    const origin = new ObjectStore(join(dir, 'origin'));
    const chunks = await makeChunks(origin, 24, 128 * 1024); // 3 MiB
    const p = await peer('p', chunks);
    await stock(p.objects, origin, chunks);
    const cap = 2_000_000; // bytes per second
    const limiter = new TimedLimiter(cap);
    const store = new ObjectStore(join(dir, 'me'));
    await fetchChunks(chunks, {
      imageId: IMAGE,
      peers: [source(p.server.url, 'peer', { limiter })],
      store,
      retryMs: 20,
    });
    // From the first byte to the last: the fetch's start (connections, first bitmaps) is not
    // the cap's business, and on a loaded machine it is what takes longer.
    const rate = (24 * 128 * 1024) / (limiter.seconds() ?? Infinity);
    expect(rate).toBeLessThanOrEqual(cap * 1.1);
    // And the cap is what limits it, not something else: close to the cap.
    expect(rate).toBeGreaterThan(cap * 0.5);
  });
});

describe('a relay whose origin is away', () => {
  /** A free port on loopback, for an origin started later. */
  async function freePort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address() as AddressInfo;
    await new Promise((r) => s.close(r));
    return port;
  }

  /**
   * A relay in front of an origin that is not listening yet (`start` starts it), built as the
   * agent builds it: one flight per chunk to the origin, stored before it ends.
   */
  async function relayWithOriginAway(chunks: ChunkRef[], originStore: ObjectStore) {
    const port = await freePort();
    const log: string[] = [];
    const flights = new SingleFlightSource(
      source(`http://127.0.0.1:${port}`, 'origin', { host: 'relay' }),
      undefined,
      (d, data) => relay.objects.put(d, data),
    );
    const relay = await peer('relay', [], {
      relayFetch: async (digest, size) => {
        await flights.get(digest, size);
        relay.availability.add(digest);
      },
      log: (m) => log.push(m),
    });
    relay.availability.track(
      IMAGE,
      chunks.map((c) => c.digest),
      () => false,
    );
    const start = async () => {
      const origin = await peer('origin', chunks, { port });
      await stock(origin.objects, originStore, chunks);
    };
    return { relay, log, start };
  }

  it('answers "not yet" (503, Retry-After), not an error, and resumes once the origin is back', async () => {
    const origin = new ObjectStore(join(dir, 'origin-store'));
    const [chunk] = await makeChunks(origin, 1, 20_000);
    const { relay, log, start } = await relayWithOriginAway([chunk!], origin);
    const url = `${relay.server.url}/chunks/${chunk!.digest}?size=${chunk!.size}`;
    const raw = await fetch(url, { headers: { authorization: `Bearer ${ticket('r1')}` } });
    expect(raw.status).toBe(503);
    expect(raw.headers.get('retry-after')).toBe(String(NOT_YET_RETRY_MS / 1000));
    expect(raw.headers.get(RETRY_AFTER_MS_HEADER)).toBe(String(NOT_YET_RETRY_MS));
    expect(await raw.text()).toBe('its origin is away');
    const host = source(relay.server.url, 'relay', { host: 'a' });
    const notYet = await host.get(chunk!.digest, chunk!.size).catch((e: unknown) => e);
    expect(notYet).toBeInstanceOf(ChunkNotYetError);
    expect((notYet as ChunkNotYetError).retryAfterMs).toBe(NOT_YET_RETRY_MS);
    // Said once in the relay's log, however many ask.
    expect(log).toEqual([
      expect.stringMatching(/^relay: origin .*is away: .*"not yet" until it is back$/),
    ]);
    await start();
    // The next ask brings the chunk from the origin at once.
    expect(sha256Hex((await host.get(chunk!.digest, chunk!.size)).data)).toBe(chunk!.digest);
    expect(log[1]).toMatch(/^relay: the origin is back after \d+\.\d s$/);
  });

  it('keeps a fetch waiting on the relay, not going to the origin, until the origin is back', async () => {
    const origin = new ObjectStore(join(dir, 'origin-store'));
    const chunks = await makeChunks(origin, 6, 4096);
    const { relay, start } = await relayWithOriginAway(chunks, origin);
    // The host reaches the origin itself (it came back for the host first, say).
    const hostsOrigin = await peer('hosts-origin', chunks);
    await stock(hostsOrigin.objects, origin, chunks);
    const bytes: Record<string, number> = {};
    const problems: string[] = [];
    // Longer than the stall timer and the relay-down rule (fetch-policy.test.ts has their times).
    const back = setTimeout(() => void start(), 2_500);
    try {
      await fetchChunks(chunks, {
        imageId: IMAGE,
        relays: [source(relay.server.url, 'relay', { host: 'a' })],
        origin: source(hostsOrigin.server.url, 'origin'),
        store: new ObjectStore(join(dir, 'me')),
        retryMs: 20,
        stallMs: 1_500,
        onBytes: (k, n) => (bytes[k] = (bytes[k] ?? 0) + n),
        onSourceProblem: (name, p) => problems.push(`${name}: ${p}`),
      });
    } finally {
      clearTimeout(back);
    }
    expect(bytes).toEqual({ relay: 6 * 4096 });
    expect(problems).toEqual([
      expect.stringMatching(
        /cannot send chunk .* yet: its origin is away; waiting for it \(up to 60 s\)/,
      ),
    ]);
  });
});
