/**
 * The agent's peer server: serves the verified chunks this agent holds to agents of its own
 * region, and tells them which chunks of an image it holds, and each new one as it arrives.
 * A relay also fetches a chunk it lacks from the origin (once, however many ask) and serves it.
 *
 *   GET /chunks/<digest>[?size=N]   the chunk's bytes; 404 when not held; from a relay, 409
 *                                   when it just sent the chunk to another host (relay-ledger.ts),
 *                                   503 with Retry-After when the origin is away (not-yet.ts)
 *   GET /images/<id>/haves          which chunks of the image it holds, then each one it gets,
 *                                   as a stream (have-stream.ts); 404 when unknown
 *
 * Every request carries a peer ticket signed by the control plane (Authorization: Bearer);
 * a missing or forged ticket gets 401, a ticket of another region 403.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SlipwayError, httpStatusOf, isSlipwayError } from '../core/index.js';
import { isDigest, type ObjectStore } from '../image/index.js';
import type { ImageAvailability } from './availability.js';
import { verifyTicket } from './peer-ticket.js';
import type { RateLimiter } from './rate-limiter.js';
import { parseBase } from './chunk-base.js';
import { chunkReply } from './chunk-reply.js';
import { HAVE_HEARTBEAT_MS, bitmapFrame, chunkFrame, heartbeatFrame } from './have-stream.js';
import { ChunkSentElsewhereError, RETRY_AFTER_MS_HEADER, RelayLedger } from './relay-ledger.js';
import { Semaphore } from './semaphore.js';
import type { InboundChunk, InboundChunks } from './inbound.js';
import { IDLE_SOCKET_MS } from './http-get.js';
import { sourceAway } from './chunk-source.js';
import { ChunkNotYetError, NOT_YET_RETRY_MS, notYetHeaders } from './not-yet.js';

/**
 * Chunks being written at once; more askers wait their turn. A chunk still arriving here is
 * passed on at the pace it arrives (inbound.ts) and holds its slot that long, so a peer needs
 * several to keep its link busy: bench:fleet, 30 hosts, stage 81.2-82.9 s with 2 (4 runs),
 * 78.9 s with 4, 74.5-77.0 s with 8 (3 runs), 79.3 s with 16. A slot ends when the chunk's last
 * byte is in the kernel's socket buffer, not at the asker; Node offers no TCP_INFO or SO_SNDBUF
 * to hold it longer.
 */
export const UPLOAD_SLOTS = 8;
/**
 * How long a peer keeps an idle connection open: longer than an asker keeps it (IDLE_SOCKET_MS).
 * Node's default of 5 s counts from the moment the last byte is in the kernel's buffer, which
 * on a slow link can be seconds before the asker has read it and asks again.
 */
const PEER_KEEP_ALIVE_MS = IDLE_SOCKET_MS + 30_000;
/** How long a send may make no progress before the asker is taken for gone. */
export const SEND_STALL_MS = 30_000;
/** The largest chunk a relay will fetch on a peer's behalf (the chunker's maximum is 256 KiB). */
const MAX_RELAY_CHUNK = 8 << 20;
const SLICE = 64 * 1024;
/**
 * Chunks that arrive within this long of each other are announced to a watcher in one write.
 * Every write is a packet of its own, and the watcher's ACK another: a host watched by eight
 * peers sent eight per chunk it got, about five chunks a second on a busy link. In a region
 * where every host's link is full, that overhead is what makes the hosts fall behind their
 * relay (bench:fleet, 30 hosts: have messages and their ACKs were ~270 KB of the 17.6 MB a
 * host received in a cold stage). Cold stage, 30 hosts: 62.8-64.0 s unbatched and with 50 ms,
 * 62.1-62.7 s with 200 ms, 61.6-62.9 s with 500 ms (relays 57.3-58.4 s).
 */
export const HAVE_BATCH_MS = 500;
/**
 * A batch goes out early once it holds this many chunks: on a fast link chunks arrive by the
 * thousand a second, and waiting HAVE_BATCH_MS would hold each up for many times its transfer.
 */
export const HAVE_BATCH_MAX = 32;

export interface PeerServerOptions {
  host: string;
  port: number;
  objects: ObjectStore;
  availability: ImageAvailability;
  /** This agent's region: only tickets of this region are served. */
  region: string;
  /** The control plane's public key (PEM), once known. */
  serverKey: () => string | null;
  /**
   * Set on a relay: fetch a chunk from the origin into the object store, as a delta against
   * `base` when the relay holds it. Concurrent calls for one chunk should share one transfer.
   */
  relayFetch?: ((digest: string, size: number, base: string[] | null) => Promise<void>) | null;
  /** Chunks arriving here now: streamed on to askers before they are whole. */
  inbound?: InboundChunks | null;
  /** Chunks sent at once (UPLOAD_SLOTS). */
  uploadSlots?: number;
  /** SEND_STALL_MS. */
  sendStallMs?: number;
  /** Caps what this agent sends to peers. */
  limiter?: RateLimiter | null;
  /** Counts bytes sent to peers. */
  onSent?: (bytes: number) => void;
  log?: (msg: string) => void;
}

export interface PeerServer {
  /** The URL peers reach this server at (with the address it listens on). */
  url: string;
  close(): Promise<void>;
}

/**
 * Waits until the response can take more, or the asker is gone. An asker that takes nothing
 * for `stallMs` is dropped: a host that vanished without closing its connection would
 * otherwise hold an upload slot (and, on a relay, the chunk's claim) until TCP gives up.
 */
function drained(res: ServerResponse, gone: AbortSignal, stallMs: number): Promise<void> {
  if (gone.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const stalled = setTimeout(() => res.destroy(), stallMs);
    const done = () => {
      clearTimeout(stalled);
      res.off('drain', done);
      gone.removeEventListener('abort', done);
      resolve();
    };
    res.once('drain', done);
    gone.addEventListener('abort', done, { once: true });
  });
}

/** Aborts when the connection closes: listen from the start, it may close at any await. */
function abortOnClose(res: ServerResponse): AbortSignal {
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  return gone.signal;
}

function* slices(data: Uint8Array): Iterable<Uint8Array> {
  for (let off = 0; off < data.length; off += SLICE) yield data.subarray(off, off + SLICE);
}

export async function startPeerServer(opts: PeerServerOptions): Promise<PeerServer> {
  // A relay sends each chunk into the region once (see relay-ledger.ts).
  const ledger = opts.relayFetch ? new RelayLedger() : null;
  const uploads = new Semaphore(opts.uploadSlots ?? UPLOAD_SLOTS);
  /** On a relay: since when its fetches from the origin find it away (null: they do not). */
  let originAwaySince: number | null = null;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => fail(res, e));
  });
  // Node's requestTimeout (300 s) also cuts responses still being sent (nodejs/node#41934):
  // have streams last a whole fetch. Requests here have no body; headersTimeout still applies.
  server.requestTimeout = 0;
  // Askers drop idle connections first (http-get.ts): a server closing one as a request
  // arrives on it costs the asker an error and the chunk a retry.
  server.keepAliveTimeout = PEER_KEEP_ALIVE_MS;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const gone = abortOnClose(res);
    const asker = authorize(req);
    const url = new URL(req.url ?? '/', 'http://peer');
    const chunk = /^\/chunks\/([0-9a-f]{64})$/.exec(url.pathname);
    if (req.method === 'GET' && chunk) return serveChunk(chunk[1]!, asker, url, req, res, gone);
    const haves = /^\/images\/([0-9a-f]{64})\/haves$/.exec(url.pathname);
    if (req.method === 'GET' && haves) return streamHaves(haves[1]!, res, gone);
    throw new SlipwayError('NOT_FOUND', `no such peer endpoint: ${req.method} ${url.pathname}`);
  }

  /** The asking host, when its ticket is good and of this region. */
  function authorize(req: IncomingMessage): string {
    const key = opts.serverKey();
    if (!key) throw new SlipwayError('UNAVAILABLE', 'this agent is not enrolled yet');
    const ticket = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!ticket) throw new SlipwayError('UNAUTHENTICATED', 'missing peer ticket');
    const claims = verifyTicket(key, ticket);
    if (claims.region !== opts.region) {
      throw new SlipwayError(
        'FORBIDDEN',
        `chunks are served only to region ${opts.region}, not ${claims.region}`,
      );
    }
    return claims.hostId;
  }

  /** Streams which chunks of the image this agent holds, until the watcher goes away. */
  function streamHaves(imageId: string, res: ServerResponse, gone: AbortSignal): void {
    let queued: number[] = [];
    let batch: NodeJS.Timeout | null = null;
    const flush = () => {
      if (batch) clearTimeout(batch);
      batch = null;
      if (queued.length > 0) res.write(Buffer.concat(queued.map(chunkFrame)));
      queued = [];
    };
    const watching = opts.availability.watch(imageId, {
      chunk: (i) => {
        queued.push(i);
        if (queued.length >= HAVE_BATCH_MAX) flush();
        else batch ??= setTimeout(flush, HAVE_BATCH_MS);
      },
      end: () => {
        flush();
        res.end();
      },
    });
    if (!watching) throw new SlipwayError('NOT_FOUND', 'image not held here');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' });
    res.write(bitmapFrame(watching.bits));
    const beat = setInterval(() => res.write(heartbeatFrame()), HAVE_HEARTBEAT_MS);
    gone.addEventListener('abort', () => {
      clearInterval(beat);
      if (batch) clearTimeout(batch);
      watching.stop();
    });
  }

  async function serveChunk(
    digest: string,
    asker: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
    gone: AbortSignal,
  ): Promise<void> {
    if (!isDigest(digest)) throw new SlipwayError('INVALID', 'not a digest');
    const wait = ledger?.claim(digest, asker) ?? 0;
    if (wait > 0) throw new ChunkSentElsewhereError('relay', digest, wait);
    let sent = false;
    try {
      sent = await sendChunk(digest, url, req, res, gone);
    } finally {
      if (sent) ledger?.delivered(digest, asker);
      else ledger?.failed(digest, asker);
    }
  }

  /**
   * Sends the chunk (on a relay, fetching it first); false when the asker went away. A chunk
   * still arriving here as plain bytes is streamed on as it comes (see inbound.ts).
   */
  async function sendChunk(
    digest: string,
    url: URL,
    req: IncomingMessage,
    res: ServerResponse,
    gone: AbortSignal,
  ): Promise<boolean> {
    const base = parseBase(url.searchParams.get('base'));
    const reply = () =>
      chunkReply(opts.objects, digest, {
        base,
        acceptEncoding: String(req.headers['accept-encoding'] ?? ''),
      });
    // Read at once: held is the common case, and a miss costs no more than asking first.
    let answer = await reply().catch((e: unknown) => {
      if (isSlipwayError(e) && e.code === 'NOT_FOUND' && e.details.digest === digest) return null;
      throw e;
    });
    if (!answer) {
      const arriving = await arrivingChunk(digest, url, base, gone);
      if (arriving) return send(res, gone, arriving.size, arriving.read(gone), {});
      answer = await reply(); // stored between the two
    }
    return send(res, gone, answer.body.length, slices(answer.body), answer.headers);
  }

  /**
   * The chunk's transfer to this agent, while it arrives as plain bytes; null once it is held.
   * A relay fetches a chunk it lacks from the origin and answers as soon as the bytes begin to
   * arrive (or, when they come compressed or as a delta, once the chunk is held).
   */
  async function arrivingChunk(
    digest: string,
    url: URL,
    base: string[] | null,
    gone: AbortSignal,
  ): Promise<InboundChunk | null> {
    const inbound = opts.inbound?.get(digest);
    if (inbound) return inbound;
    const size = Number(url.searchParams.get('size') ?? MAX_RELAY_CHUNK);
    if (!opts.relayFetch || !(size > 0 && size <= MAX_RELAY_CHUNK)) {
      throw new SlipwayError('NOT_FOUND', `chunk ${digest.slice(0, 12)} not held here`);
    }
    // The asker's base is likely ours too (the same fleet ran the same release before).
    const fetching = opts.relayFetch(digest, size, base).then(originBack, (e: unknown) => {
      // The origin is away (the control plane restarting): the asker waits for us, not for
      // it. Every ask is a new try, so we resume as soon as it is back.
      if (!sourceAway(e)) throw e;
      originAway(e);
      throw new ChunkNotYetError('relay', digest, NOT_YET_RETRY_MS, 'its origin is away');
    });
    fetching.catch(() => undefined); // awaited below unless the bytes begin to arrive first
    if (opts.inbound) await Promise.race([fetching, opts.inbound.whenBegun(digest, gone)]);
    const begun = opts.inbound?.get(digest);
    if (begun) return begun;
    await fetching;
    return null;
  }

  function originAway(e: Error): void {
    if (originAwaySince !== null) return;
    originAwaySince = Date.now();
    opts.log?.(`relay: ${e.message}; telling peers "not yet" until it is back`);
  }

  function originBack(): void {
    if (originAwaySince === null) return;
    const away = ((Date.now() - originAwaySince) / 1000).toFixed(1);
    originAwaySince = null;
    opts.log?.(`relay: the origin is back after ${away} s`);
  }

  /** Answers with `length` bytes from `body`, in an upload slot. */
  async function send(
    res: ServerResponse,
    gone: AbortSignal,
    length: number,
    body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    headers: Record<string, string>,
  ): Promise<boolean> {
    try {
      return await uploads.run(async () => {
        if (gone.aborted) return false;
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': length,
          ...headers,
        });
        for await (const piece of body) {
          await opts.limiter?.take(piece.length);
          if (!res.write(piece)) await drained(res, gone, opts.sendStallMs ?? SEND_STALL_MS);
          if (gone.aborted) return false;
        }
        res.end();
        opts.onSent?.(length);
        return true;
      }, gone);
    } catch (e) {
      if (gone.aborted) return false; // the asker left while waiting its turn
      throw e;
    }
  }

  function fail(res: ServerResponse, e: unknown): void {
    const status = httpStatusOf[isSlipwayError(e) ? e.code : 'INTERNAL'];
    const notYet = e instanceof ChunkNotYetError;
    // "Not yet" is logged once per absence of the origin (see originAway), not per ask.
    if (status >= 500 && !notYet) opts.log?.(`peer server: ${(e as Error).message}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = notYet ? e.why : (e as Error).message;
    res.writeHead(status, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
      ...(e instanceof ChunkSentElsewhereError
        ? { [RETRY_AFTER_MS_HEADER]: String(Math.ceil(e.retryAfterMs)) }
        : {}),
      ...(notYet ? notYetHeaders(e.retryAfterMs) : {}),
    });
    res.end(body);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
