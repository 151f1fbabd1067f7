/**
 * The host agent: enrolls, watches its goal state (long poll), hands each service's goal to its
 * runner, and reports. It never needs the server to keep running what it runs: when the server
 * is away it keeps the current releases and reconnects; a restarted agent converges from the
 * last goal it saved, without fetching what it already holds.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError, isSlipwayError, sleep, type AgentSettings } from '../core/index.js';
import { SlipwayClient, agentGoal, type AgentGoal, type Peering } from '../api/index.js';
import {
  HttpChunkSource,
  ImageAvailability,
  InboundChunks,
  RateLimiter,
  SingleFlightSource,
  heldBase,
  startPeerServer,
  type ChunkSource,
  type FetchOptions,
  type PeerServer,
} from '../distribution/index.js';
import { ObjectStore, manifestChunks, parseManifest, type Manifest } from '../image/index.js';
import { collectObjects } from './object-gc.js';
import { ObjectLock } from './object-lock.js';
import { advertisedUrl } from './peer-address.js';
import { loadCredentials, saveCredentials, type Credentials } from './credentials.js';
import { HostLayout } from './host-layout.js';
import { ServiceRunner } from './service-runner.js';

/** The agent's settings (what the command line fills in), and knobs of the agent itself. */
export interface AgentOptions extends AgentSettings {
  log?: (msg: string) => void;
  /** Heartbeat period of status reports. */
  reportEveryMs?: number;
}

const POLL_WAIT_MS = 25_000;
/** How often fetch progress alone is reported. */
const PROGRESS_REPORT_MS = 1_000;
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

export class Agent {
  private readonly layout: HostLayout;
  private readonly objects: ObjectStore;
  private readonly runners = new Map<string, ServiceRunner>();
  private readonly abort = new AbortController();
  private readonly bytesReceived: Record<string, number> = {};
  private bytesServed = 0;
  private readonly availability = new ImageAvailability();
  /** Chunks arriving now: peers hear of each at once and may read it before it is whole. */
  private readonly inbound = new InboundChunks((digest) => this.availability.add(digest));
  private readonly download: RateLimiter | null;
  private readonly upload: RateLimiter | null;
  private peerServer: PeerServer | null = null;
  private peerUrl: string | null = null;
  private peering: Peering | null = null;
  private readonly compress: boolean;
  /** One origin source for the agent's fetches and, on a relay, its peers' requests alike. */
  private readonly origin: ChunkSource;
  private client: SlipwayClient;
  private creds: Credentials | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private reportSoon: NodeJS.Timeout | null = null;
  private reportSoonAt = 0;
  private loops: Promise<void>[] = [];
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: AgentOptions) {
    this.layout = new HostLayout(opts.dataDir);
    this.objects = new ObjectStore(this.layout.objects);
    this.client = new SlipwayClient({ server: opts.server });
    this.log = opts.log ?? (() => {});
    const cap = opts.maxBandwidth;
    this.compress = cap !== null && cap < COMPRESS_BELOW_BYTES_PER_S;
    this.download = cap ? new RateLimiter(cap) : null;
    this.upload = cap ? new RateLimiter(cap) : null;
    this.origin = new SingleFlightSource(
      new HttpChunkSource({
        name: 'origin',
        kind: 'origin',
        baseUrl: `${opts.server.replace(/\/$/, '')}/v1`,
        credential: () => this.creds?.token ?? '',
        limiter: this.download,
        compress: this.compress,
        maxInFlight: ORIGIN_IN_FLIGHT,
        inbound: this.inbound,
      }),
      // Counted here, once per transfer: a relay's own fetch and its peers' requests share them.
      (n) => this.countBytes('origin', n),
      // Stored (verified) inside the flight: see SingleFlightSource.
      (digest, data, verified) => this.objects.put(digest, data, { verified }),
    );
  }

  get hostId(): string | undefined {
    return this.creds?.hostId;
  }

  async start(): Promise<void> {
    await mkdir(this.layout.services, { recursive: true });
    await mkdir(this.layout.objects, { recursive: true });
    // Services this host ran before: stop leftovers, then bring back the last goal at once.
    for (const name of await readdir(this.layout.services)) await this.runner(name);
    await this.trackStagedImages();
    await this.startPeerServer();
    const cached = await this.cachedGoal();
    if (cached) this.apply(cached);
    this.loops.push(this.pollLoop());
    this.reportTimer = setInterval(() => void this.sendReport(), this.opts.reportEveryMs ?? 5_000);
  }

  /** Stops polling and reporting and stops the services this agent runs. */
  async stop(): Promise<void> {
    this.abort.abort();
    if (this.reportTimer) clearInterval(this.reportTimer);
    if (this.reportSoon) clearTimeout(this.reportSoon);
    if (this.gcTimer) clearTimeout(this.gcTimer);
    await Promise.allSettled(this.loops);
    await Promise.all([...this.runners.values()].map((r) => r.close()));
    await this.peerServer?.close();
  }

  /** Lets peers take chunks of the images this host already holds (after a restart). */
  private async trackStagedImages(): Promise<void> {
    for (const runner of this.runners.values()) {
      for (const imageId of runner.stagedImages()) {
        try {
          const manifest = parseManifest(
            JSON.parse(await readFile(this.layout.manifest(imageId), 'utf8')),
          );
          const digests = manifestChunks(manifest).map((c) => c.digest);
          const held = await Promise.all(digests.map((d) => this.objects.has(d)));
          this.availability.track(imageId, digests, (i) => held[i] === true);
        } catch {
          // No manifest on disk: the image is simply not offered to peers.
        }
      }
    }
  }

  private async startPeerServer(): Promise<void> {
    const listen = this.opts.peerListen;
    if (!listen) return;
    const origin = this.origin;
    this.peerServer = await startPeerServer({
      ...listen,
      objects: this.objects,
      availability: this.availability,
      inbound: this.inbound,
      region: this.opts.region,
      serverKey: () => this.peering?.serverKey ?? null,
      relayFetch: this.opts.relay
        ? async (digest, size, base) => {
            // The origin source stores the chunk (see its `keep`).
            await origin.get(digest, size, undefined, await heldBase(this.objects, base));
            this.availability.add(digest);
            this.inbound.stored(digest);
          }
        : null,
      limiter: this.upload,
      onSent: (n) => (this.bytesServed += n),
      log: this.log,
    });
    this.peerUrl =
      this.opts.peerUrl ?? (await advertisedUrl(this.peerServer.url, this.opts.server));
    this.log(
      `serving chunks to region ${this.opts.region} at ${this.peerUrl}${this.opts.relay ? ' (relay)' : ''}`,
    );
  }

  private async pollLoop(): Promise<void> {
    let generation = -1;
    let failures = 0;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (!this.creds) await this.enroll();
        const goal = await this.client.agentGoal(generation, POLL_WAIT_MS, signal);
        if (failures > 0) this.log(`reconnected to ${this.opts.server}`);
        failures = 0;
        // Every answer renews the peer ticket and the list of peers, even without a new goal.
        if (goal.peering) this.peering = goal.peering;
        if (goal.generation !== generation) {
          generation = goal.generation;
          await writeFile(this.layout.goalCache, JSON.stringify(goal));
          this.apply(goal);
          void this.sendReport();
        }
      } catch (e) {
        if (signal.aborted) return;
        if (isSlipwayError(e, 'UNAUTHENTICATED') && this.opts.joinToken) {
          this.log('the server no longer knows this host’s credential: enrolling again');
          this.creds = null;
          generation = -1;
          continue;
        }
        if (failures === 0) {
          this.log(
            `lost the server (${(e as Error).message}); keeping the current releases and retrying`,
          );
        }
        failures++;
        await sleep(Math.min(10_000, 250 * 2 ** Math.min(failures, 6)), signal);
      }
    }
  }

  private async enroll(): Promise<void> {
    const saved = await loadCredentials(this.layout.credentials);
    if (saved && saved.server === this.opts.server && saved.name === this.opts.name) {
      this.creds = saved;
    } else {
      if (!this.opts.joinToken) {
        throw new SlipwayError(
          'UNAUTHENTICATED',
          'this host has no credential yet: pass --join-token',
        );
      }
      const res = await this.client.withToken(this.opts.joinToken).enroll({
        name: this.opts.name,
        region: this.opts.region,
        labels: this.opts.labels,
      });
      this.creds = {
        server: this.opts.server,
        hostId: res.hostId,
        token: res.token,
        name: this.opts.name,
      };
      await saveCredentials(this.layout.credentials, this.creds);
      this.log(`enrolled as ${this.opts.name} (${this.opts.region})`);
    }
    this.client = this.client.withToken(this.creds.token);
  }

  private apply(goal: AgentGoal): void {
    const wanted = new Set(goal.services.map((s) => s.service));
    for (const s of goal.services) void this.runner(s.service).then((r) => r.setGoal(s));
    for (const [name, r] of this.runners) if (!wanted.has(name)) r.setGoal(null);
  }

  private readonly pendingRunners = new Map<string, Promise<ServiceRunner>>();

  private runner(name: string): Promise<ServiceRunner> {
    let p = this.pendingRunners.get(name);
    if (!p) {
      const r = new ServiceRunner(name, {
        layout: this.layout,
        objects: this.objects,
        hostName: this.opts.name,
        fetchManifest: (id) => this.client.getManifest(id),
        fetchOptions: () => this.fetchOptions(),
        portOf: (service) => this.runners.get(service)?.activePort() ?? null,
        onChange: (what) => this.reportChanged(what),
        onPruned: () => this.collectSoon(),
        staging: (fn) => this.objectLock.withShared(fn),
        log: this.log,
      });
      p = r.init().then(() => {
        this.runners.set(name, r);
        return r;
      });
      this.pendingRunners.set(name, p);
    }
    return p;
  }

  /**
   * Where chunks come from now: the region's peers and relay (from the last goal answer), and
   * the origin. A relay itself goes to the origin for what its peers do not hold.
   */
  private fetchOptions(): Omit<FetchOptions, 'imageId' | 'store' | 'onProgress'> {
    const peering = this.peering;
    const source = (p: Peering['peers'][number]) =>
      new HttpChunkSource({
        name: `${p.relay ? 'relay' : 'peer'} ${p.name}`,
        kind: p.relay ? 'relay' : 'peer',
        baseUrl: p.url,
        credential: () => this.peering?.ticket ?? '',
        limiter: this.download,
        compress: this.compress,
        inbound: this.inbound,
      });
    const others = peering?.peers ?? [];
    return {
      relayShare: this.opts.relay ? undefined : (peering?.share ?? undefined),
      inOrder: this.opts.relay,
      maxPeers: this.opts.relay ? RELAY_PEERS : undefined,
      peers: others.filter((p) => !p.relay).map(source),
      relays: this.opts.relay ? [] : others.filter((p) => p.relay).map(source),
      origin: this.origin,
      availability: this.availability,
      inbound: this.inbound,
      onBytes: (kind, n) => kind !== 'origin' && this.countBytes(kind, n),
      onSourceProblem: (name, problem) => this.log(`fetch: ${name}: ${problem}`),
    };
  }

  private gcTimer: NodeJS.Timeout | null = null;
  private readonly objectLock = new ObjectLock();

  /** Collects objects no needed image uses, a moment after releases were removed. */
  private collectSoon(): void {
    if (this.gcTimer) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = null;
      this.objectLock
        .withExclusive(() => this.collectGarbage())
        .catch((e: unknown) => this.log(`object collection failed: ${(e as Error).message}`));
    }, 1_000);
  }

  private async collectGarbage(): Promise<void> {
    const needed = new Set([...this.runners.values()].flatMap((r) => r.neededImages()));
    const keep: Manifest[] = [];
    for (const imageId of needed) {
      // A needed image whose manifest cannot be read: collect nothing rather than guess.
      const text = await readFile(this.layout.manifest(imageId), 'utf8').catch(() => null);
      if (text === null) {
        if ([...this.runners.values()].some((r) => r.stagedImages().includes(imageId))) return;
        continue; // not fetched yet: none of its objects can be here but recent ones (spared)
      }
      keep.push(parseManifest(JSON.parse(text)));
    }
    // No grace needed: no staging runs meanwhile (the lock), so what is not kept is not in use.
    const r = await collectObjects(this.objects, keep, { graceMs: 0 });
    for (const imageId of await readdir(this.layout.images).catch(() => [] as string[])) {
      if (!needed.has(imageId)) {
        await rm(join(this.layout.images, imageId), { recursive: true, force: true });
        this.availability.forget(imageId);
      }
    }
    if (r.removed > 0) {
      this.log(`collected ${r.removed} object(s) no kept release needs (${r.bytesFreed} bytes)`);
    }
  }

  private countBytes(kind: string, n: number): void {
    this.bytesReceived[kind] = (this.bytesReceived[kind] ?? 0) + n;
  }

  /**
   * Sends a report soon: 100 ms after a state change (so a burst of them goes as one), at most
   * once a second for fetch progress alone. Every report costs the server a write, and a fleet
   * fetching at once would otherwise send ten a second per host.
   */
  private reportChanged(what: 'state' | 'progress' = 'state'): void {
    const delay = what === 'state' ? 100 : PROGRESS_REPORT_MS;
    if (this.reportSoon) {
      if (what === 'progress' || this.reportSoonAt <= Date.now() + delay) return;
      clearTimeout(this.reportSoon);
    }
    this.reportSoonAt = Date.now() + delay;
    this.reportSoon = setTimeout(() => {
      this.reportSoon = null;
      void this.sendReport();
    }, delay);
  }

  private async sendReport(): Promise<void> {
    if (!this.creds || this.abort.signal.aborted) return;
    try {
      await this.client.agentReport({
        services: [...this.runners.values()].map((r) => r.report()),
        bytesReceived: { ...this.bytesReceived },
        bytesServed: this.bytesServed,
        peerUrl: this.peerUrl,
        relay: this.opts.relay,
      });
    } catch {
      // The poll loop reports lost connections; the next heartbeat sends the state again.
    }
  }

  private async cachedGoal(): Promise<AgentGoal | undefined> {
    try {
      const parsed = agentGoal.safeParse(JSON.parse(await readFile(this.layout.goalCache, 'utf8')));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}
