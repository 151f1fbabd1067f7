/**
 * Where this agent's chunks come from and go to: the origin, the region's peers and relay, the
 * caps on deploy traffic, what this host holds or is receiving (which peers may take), and the
 * bytes counted for reports.
 */
import { peerUrlProblem, plainPeerUrl, type AgentSettings } from '../core/index.js';
import type { Peer, Peering } from '../api/index.js';
import {
  HttpChunkSource,
  ImageAvailability,
  InboundChunks,
  RateLimiter,
  SingleFlightSource,
  type ChunkSource,
  type FetchOptions,
} from '../distribution/index.js';
import type { ObjectStore } from '../image/index.js';
import { ticketFor } from './peer-ticket-guard.js';

/**
 * Peers a relay watches while it fetches. Its peers get their chunks through it, so they
 * rarely hold one it lacks (a relay named after its hosts fetched the image does); and every
 * chunk a watched peer gets is a message into the relay's link, the region's one inlet, and an
 * ACK out of it, which carries the region's one copy.
 */
const RELAY_PEERS = 2;
/**
 * Requests to the origin at once, for this agent's own fetches and a relay's peers together.
 * Few, so chunks arrive one after another from the first second: eight sharing the link each
 * finished eight chunk times after they started, and a relay held its first chunk to pass on
 * only ~3 s into a stage (bench:fleet, 5 Mbit/s, 256 KiB chunks). Four, not two, with 64 KiB
 * chunks: the next request crosses a relay's uplink, busy passing chunks on, while the ones
 * asked for arrive (bench:fleet, 30 hosts: 63.5-64.0 s against 63.7-64.7 s with two; within
 * the noise, but never worse).
 */
const ORIGIN_IN_FLIGHT = 4;
/**
 * Ask for compressed chunks when deploy traffic is capped below this: measured (bench:codec),
 * brotli-1 beats raw bytes per chunk only below about 500 Mbit/s on these machines.
 */
const COMPRESS_BELOW_BYTES_PER_S = 500e6 / 8;
/** Refused peer URLs remembered so that each is logged once (a bound, not an expectation). */
const REFUSED_URLS_KEPT = 1_000;

/** Options of a fetch that do not depend on the image fetched. */
export type FetchSources = Omit<FetchOptions, 'imageId' | 'store' | 'onProgress'>;

/** The bytes this agent moved since it started, as reported. */
export interface TrafficCounts {
  bytesReceived: Record<string, number>;
  bytesServed: number;
}

/** The sources, caps and counters of this agent's chunk traffic. */
export class ChunkTraffic {
  /** Chunks of the images this host holds, offered to peers. */
  readonly availability = new ImageAvailability();
  /** Chunks arriving now: peers hear of each at once and may read it before it is whole. */
  readonly inbound = new InboundChunks((digest) => this.availability.add(digest));
  /** Caps what this agent sends to peers (null: no cap). */
  readonly upload: RateLimiter | null;
  /** One origin source for the agent's fetches and, on a relay, its peers' requests alike. */
  readonly origin: ChunkSource;
  /** The peer ticket, the control plane's key and the region's peers, from the last goal answer. */
  peering: Peering | null = null;
  private readonly download: RateLimiter | null;
  private readonly compress: boolean;
  private readonly relay: boolean;
  private readonly bytesReceived: Record<string, number> = {};
  private bytesServed = 0;
  private readonly refusedUrls = new Set<string>();

  constructor(
    settings: Pick<AgentSettings, 'server' | 'maxBandwidth' | 'relay'>,
    objects: ObjectStore,
    /** This host's token, shown to the origin. */
    credential: () => string,
    private readonly log: (msg: string) => void,
  ) {
    const cap = settings.maxBandwidth;
    this.relay = settings.relay;
    this.compress = cap !== null && cap < COMPRESS_BELOW_BYTES_PER_S;
    this.download = cap ? new RateLimiter(cap) : null;
    this.upload = cap ? new RateLimiter(cap) : null;
    this.origin = new SingleFlightSource(
      new HttpChunkSource({
        name: 'origin',
        kind: 'origin',
        baseUrl: `${settings.server.replace(/\/$/, '')}/v1`,
        credential,
        limiter: this.download,
        compress: this.compress,
        maxInFlight: ORIGIN_IN_FLIGHT,
        inbound: this.inbound,
      }),
      // Counted here, once per transfer: a relay's own fetch and its peers' requests share them.
      (n) => this.countReceived('origin', n),
      // Stored (verified) inside the flight: see SingleFlightSource.
      (digest, data, verified) => objects.put(digest, data, { verified }),
    );
  }

  /**
   * Where chunks come from now: the region's peers and relay (from the last goal answer), and
   * the origin. A relay itself goes to the origin for what its peers do not hold.
   */
  fetchSources(): FetchSources {
    const peering = this.peering;
    const relay = this.relay;
    const source = (p: Peer) =>
      new HttpChunkSource({
        name: `${p.relay ? 'relay' : 'peer'} ${p.name}`,
        kind: p.relay ? 'relay' : 'peer',
        baseUrl: plainPeerUrl(p.url),
        // Checked again at each request: the answers that came since may say otherwise.
        credential: () => ticketFor(p, this.peering),
        limiter: this.download,
        compress: this.compress,
        inbound: this.inbound,
      });
    const others = (peering?.peers ?? []).filter((p) => this.plainUrl(p));
    return {
      relayShare: relay ? undefined : (peering?.share ?? undefined),
      inOrder: relay,
      maxPeers: relay ? RELAY_PEERS : undefined,
      peers: others.filter((p) => !p.relay).map(source),
      relays: relay ? [] : others.filter((p) => p.relay).map(source),
      origin: this.origin,
      availability: this.availability,
      inbound: this.inbound,
      onBytes: (kind, n) => kind !== 'origin' && this.countReceived(kind, n),
      onSourceProblem: (name, problem) => this.log(`fetch: ${name}: ${problem}`),
    };
  }

  /** The peer's URL is a plain http://host:port; one that is not is logged (once) and skipped. */
  private plainUrl(p: Peer): boolean {
    const problem = peerUrlProblem(p.url);
    if (problem === null) return true;
    if (!this.refusedUrls.has(p.url)) {
      if (this.refusedUrls.size >= REFUSED_URLS_KEPT) this.refusedUrls.clear();
      this.refusedUrls.add(p.url);
      this.log(`fetch: not using peer ${p.name} at ${JSON.stringify(p.url)}: ${problem}`);
    }
    return false;
  }

  /** Bytes sent to a peer. */
  countServed(n: number): void {
    this.bytesServed += n;
  }

  counts(): TrafficCounts {
    return { bytesReceived: { ...this.bytesReceived }, bytesServed: this.bytesServed };
  }

  private countReceived(kind: string, n: number): void {
    this.bytesReceived[kind] = (this.bytesReceived[kind] ?? 0) + n;
  }
}
