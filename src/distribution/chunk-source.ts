/**
 * Where chunks come from: the control plane's origin store, the region's relay, or peers in
 * the region. All speak HTTP; every byte they send is verified by the object store before use.
 */
import { SlipwayError, isSlipwayError } from '../core/index.js';
import { applyChunkDelta } from '../image/index.js';
import { httpGet } from './http-get.js';
import type { RateLimiter } from './rate-limiter.js';
import { DELTA_BASE_HEADER, type ChunkBase } from './chunk-base.js';
import { decodeChunk } from './wire-codec.js';
import { Semaphore } from './semaphore.js';
import { watchHaves } from './have-stream.js';
import type { InboundChunk, InboundChunks } from './inbound.js';
import { ChunkNotYetError, notYetRetryMs } from './not-yet.js';
import { ChunkSentElsewhereError, RESEND_AFTER_MS, RETRY_AFTER_MS_HEADER } from './relay-ledger.js';
import type { SourceKind } from './source-state.js';

export type { SourceKind };

/** A chunk's bytes (not yet verified) and how many bytes crossed the wire for them. */
export interface ReceivedChunk {
  data: Uint8Array;
  wireBytes: number;
  /** Already verified and in the local object store (see SingleFlightSource's `keep`). */
  stored?: boolean;
  /**
   * These very bytes were hashed to the digest as they arrived (inbound.ts): storing them
   * need not hash them again.
   */
  verified?: boolean;
}

export interface ChunkSource {
  /** Short name for logs and errors (`origin`, `relay ldn-1`, `peer ldn-2`). */
  readonly name: string;
  /** What kind of source it is, for the bytes-received-by-source counters and scheduling. */
  readonly kind: SourceKind;
  get(digest: string, size: number, signal?: AbortSignal, base?: ChunkBase): Promise<ReceivedChunk>;
  /**
   * Follows which chunks of the image the source holds: `onChange` gets a bitmap over the
   * image's distinct chunks in manifest order when the stream starts, and again after each
   * chunk the source gets. Resolves when the stream ends, false when the source does not hold
   * the image. Peers and relays answer this; the origin holds every chunk and does not.
   */
  watch?(
    imageId: string,
    signal: AbortSignal,
    onChange: (bits: Uint8Array) => void,
  ): Promise<boolean>;
}

/** A chunk the source does not hold (not an error of the source: try another). */
export class ChunkNotHeldError extends SlipwayError {
  constructor(source: string, digest: string) {
    super('NOT_FOUND', `${source} does not hold chunk ${digest.slice(0, 12)}`, { digest });
    this.name = 'ChunkNotHeldError';
  }
}

/**
 * The source could not be reached (refused, reset, no answer in time) or answered HTTP 5xx: its
 * trouble, not the chunk's, and likely to pass (a server restarting). A relay tells its hosts
 * "not yet" when its origin is away this way (see not-yet.ts).
 */
export class SourceUnreachableError extends SlipwayError {
  constructor(source: string, problem: string) {
    super('UNAVAILABLE', `${source} is away: ${problem}`);
    this.name = 'SourceUnreachableError';
  }
}

/** The source is away for now (unreachable, or itself waiting for its own source). */
export function sourceAway(e: unknown): e is SourceUnreachableError | ChunkNotYetError {
  return e instanceof SourceUnreachableError || e instanceof ChunkNotYetError;
}

interface HttpSourceOptions {
  name: string;
  kind: SourceKind;
  /** Base URL: chunks are at `<base>/chunks/<digest>`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer …`: an agent token for the origin, a peer ticket for peers. */
  credential: () => string;
  limiter?: RateLimiter | null;
  /** Ask for compressed chunks: worth it on slow links only (see wire-codec.ts). */
  compress?: boolean;
  /**
   * Requests on the wire at once; more wait their turn (with no timeout running). Many slow
   * transfers at once only make each one slow enough to time out.
   */
  maxInFlight?: number;
  /** Chunks arriving as plain bytes are recorded here, for peers to read before they are whole. */
  inbound?: InboundChunks | null;
}

/** A source reached over HTTP: the origin (`<server>/v1`), a relay or a peer. */
export class HttpChunkSource implements ChunkSource {
  readonly name: string;
  readonly kind: SourceKind;
  private readonly turns: Semaphore | null;

  constructor(private readonly opts: HttpSourceOptions) {
    this.name = opts.name;
    this.kind = opts.kind;
    this.turns = opts.maxInFlight ? new Semaphore(opts.maxInFlight) : null;
  }

  async get(
    digest: string,
    size: number,
    signal?: AbortSignal,
    base?: ChunkBase,
  ): Promise<ReceivedChunk> {
    if (!this.turns) return this.getNow(digest, size, signal, base);
    return this.turns.run(() => this.getNow(digest, size, signal, base), signal);
  }

  private async getNow(
    digest: string,
    size: number,
    signal?: AbortSignal,
    base?: ChunkBase,
  ): Promise<ReceivedChunk> {
    const params = new URLSearchParams();
    // A relay may have to fetch the chunk first: it needs the size to bound what it accepts.
    if (this.kind === 'relay') params.set('size', String(size));
    if (base) params.set('base', base.digests.join(','));
    const query = params.size > 0 ? `?${params.toString()}` : '';
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.credential()}` };
    if (this.opts.compress) headers['accept-encoding'] = 'br';
    // Only a plain chunk can be passed on before it is whole (not a delta, not compressed).
    const arriving: { chunk: InboundChunk | null } = { chunk: null };
    const res = await httpGet(`${this.opts.baseUrl}/chunks/${digest}${query}`, {
      headers,
      limiter: this.opts.limiter,
      signal,
      maxBytes: size + 1024,
      tee: (status, h) => {
        if (status !== 200 || h['content-encoding'] || h[DELTA_BASE_HEADER] !== undefined) {
          return null;
        }
        const chunk = this.opts.inbound?.begin(digest, size) ?? null;
        arriving.chunk = chunk;
        return chunk && ((piece) => chunk.push(piece));
      },
    })
      .catch((e: unknown) => {
        throw this.transportError(e, signal);
      })
      .finally(() => arriving.chunk?.end());
    if (res.status === 404) throw new ChunkNotHeldError(this.name, digest);
    const notYet = notYetRetryMs(res.status, res.headers);
    if (notYet !== null) {
      const why = res.body.toString('utf8', 0, Math.min(res.body.length, 200)) || 'HTTP 503';
      throw new ChunkNotYetError(this.name, digest, notYet, why);
    }
    if (res.status >= 500) {
      throw new SourceUnreachableError(this.name, `HTTP ${res.status}${bodyText(res.body)}`);
    }
    if (res.status === 409) {
      const wait = Number(res.headers[RETRY_AFTER_MS_HEADER]);
      throw new ChunkSentElsewhereError(this.name, digest, wait > 0 ? wait : RESEND_AFTER_MS);
    }
    if (res.status !== 200) throw statusError(this.name, res.status, res.body);
    const encoding = res.headers['content-encoding'];
    const body =
      typeof encoding === 'string' && encoding !== 'identity'
        ? await decodeChunk(encoding, res.body, size)
        : res.body;
    const deltaBase = res.headers[DELTA_BASE_HEADER];
    if (deltaBase === undefined) {
      return { data: body, wireBytes: res.body.length, verified: arriving.chunk?.verified };
    }
    if (!base || deltaBase !== base.digests.join(',')) {
      throw new SlipwayError('INVALID', `${this.name} sent a delta against a chunk not asked for`);
    }
    return { data: applyChunkDelta(await base.read(), body, size), wireBytes: res.body.length };
  }

  /** A request that got no answer: the source is out of reach, unless we called it off. */
  private transportError(e: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return e;
    // Too large a body, or an answer that cannot be read: the source's fault, not its absence.
    if (isSlipwayError(e) && e.code !== 'UNAVAILABLE') return e;
    return new SourceUnreachableError(this.name, (e as Error).message);
  }

  async watch(
    imageId: string,
    signal: AbortSignal,
    onChange: (bits: Uint8Array) => void,
  ): Promise<boolean> {
    const headers = { authorization: `Bearer ${this.opts.credential()}` };
    return watchHaves(`${this.opts.baseUrl}/images/${imageId}/haves`, headers, signal, onChange);
  }
}

function statusError(source: string, status: number, body: Buffer): SlipwayError {
  return new SlipwayError(
    status === 401 ? 'UNAUTHENTICATED' : status === 403 ? 'FORBIDDEN' : 'UNAVAILABLE',
    `${source} answered HTTP ${status}${bodyText(body)}`,
  );
}

/** The start of an error answer's body, to quote: `: text`, or nothing. */
function bodyText(body: Buffer): string {
  const text = body.toString('utf8', 0, Math.min(body.length, 200));
  return text ? `: ${text}` : '';
}

/**
 * Joins concurrent requests for the same chunk into one: a relay's own fetch and the peers
 * asking it for chunks share a single transfer from the origin.
 */
export class SingleFlightSource implements ChunkSource {
  readonly name: string;
  readonly kind: SourceKind;
  private readonly pending = new Map<string, Promise<ReceivedChunk>>();

  /**
   * `onTransfer` sees each real transfer once, however many callers shared it. `keep` stores the
   * bytes before the flight ends: a caller arriving just after it then finds the chunk stored
   * instead of starting a second transfer.
   */
  constructor(
    private readonly inner: ChunkSource,
    private readonly onTransfer?: (bytes: number) => void,
    private readonly keep?: (digest: string, data: Uint8Array, verified?: boolean) => Promise<void>,
  ) {
    this.name = inner.name;
    this.kind = inner.kind;
  }

  get(
    digest: string,
    size: number,
    _signal?: AbortSignal,
    base?: ChunkBase,
  ): Promise<ReceivedChunk> {
    let p = this.pending.get(digest);
    if (!p) {
      // Not tied to one caller's signal: others may be waiting for the same bytes.
      p = this.inner
        .get(digest, size, undefined, base)
        .then(async (received) => {
          this.onTransfer?.(received.wireBytes);
          if (!this.keep) return received;
          await this.keep(digest, received.data, received.verified);
          return { ...received, stored: true };
        })
        .finally(() => this.pending.delete(digest));
      this.pending.set(digest, p);
    }
    return p;
  }
}
