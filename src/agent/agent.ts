/**
 * The host agent: enrolls, watches its goal state (long poll), hands each service's goal to its
 * runner, and reports. It never needs the server to keep running what it runs: when the server
 * is away it keeps the current releases and reconnects; a restarted agent converges from the
 * last goal it saved, without fetching what it already holds.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { AgentSettings } from '../core/index.js';
import type { AgentGoal } from '../api/index.js';
import { ObjectStore } from '../image/index.js';
import { ChunkTraffic } from './chunk-traffic.js';
import { Enrollment } from './enrollment.js';
import { cachedGoal, watchGoal } from './goal-watch.js';
import { HostLayout } from './host-layout.js';
import { JobRunner } from './jobs/job-runner.js';
import { ObjectCollector } from './object-collector.js';
import { ensurePrivateDir } from './private-files.js';
import { offerHeldImages, servePeers, type PeerServing } from './peer-serving.js';
import { Reporter } from './reporter.js';
import { PublicPorts } from './public-ports.js';
import { ServiceRunner } from './service-runner.js';

/** The agent's settings (what the command line fills in), and knobs of the agent itself. */
export interface AgentOptions extends AgentSettings {
  log?: (msg: string) => void;
  /** Heartbeat period of status reports. */
  reportEveryMs?: number;
}

/**
 * How often the agent reports when nothing changed: a resync only. The server learns of changes
 * from the report each sends, and that the agent runs from its goal long poll, so a report per
 * host every few seconds would only load the server (10,000 hosts at 5 s: 2,000 requests a second).
 */
export const REPORT_EVERY_MS = 60_000;

/** One host's agent: wires enrollment, the goal watch, the runners, peers and reporting together. */
export class Agent {
  private readonly layout: HostLayout;
  private readonly objects: ObjectStore;
  private readonly runners = new Map<string, ServiceRunner>();
  private readonly pendingRunners = new Map<string, Promise<ServiceRunner>>();
  private readonly abort = new AbortController();
  private readonly log: (msg: string) => void;
  private readonly enrollment: Enrollment;
  private readonly traffic: ChunkTraffic;
  private readonly reporter: Reporter;
  private readonly collector: ObjectCollector;
  /** Services' public ports (a proxy's stops with the agent; a kernel redirect stays). */
  private readonly publicPorts: PublicPorts;
  private readonly jobs: JobRunner;
  private peers: PeerServing | null = null;
  private loops: Promise<void>[] = [];

  constructor(private readonly opts: AgentOptions) {
    this.layout = new HostLayout(opts.dataDir);
    this.objects = new ObjectStore(this.layout.objects);
    this.log = opts.log ?? (() => {});
    this.enrollment = new Enrollment(opts, this.layout.credentials, this.log);
    this.traffic = new ChunkTraffic(opts, this.objects, () => this.enrollment.token, this.log);
    this.reporter = new Reporter({
      enrollment: this.enrollment,
      services: () => [...this.runners.values()].map((r) => r.report()),
      traffic: () => this.traffic.counts(),
      peerUrl: () => this.peers?.url ?? null,
      relay: opts.relay,
      signal: this.abort.signal,
    });
    const runners = () => [...this.runners.values()];
    this.publicPorts = new PublicPorts(this.log);
    this.collector = new ObjectCollector(
      this.layout,
      this.objects,
      {
        needed: () => [...runners().flatMap((r) => r.neededImages()), ...this.jobs.neededImages()],
        staged: () => runners().flatMap((r) => r.stagedImages()),
      },
      this.traffic.availability,
      this.log,
    );
    this.jobs = new JobRunner({
      layout: this.layout,
      objects: this.objects,
      fetchManifest: (id) => this.enrollment.client.getManifest(id),
      fetchOptions: () => this.traffic.fetchSources(),
      send: async (id, body) => {
        await this.enrollment.client.agentJobReport(id, body);
      },
      staging: (fn) => this.collector.staging(fn),
      slots: opts.jobSlots ?? availableParallelism(),
      hostName: opts.name,
      log: this.log,
    });
  }

  get hostId(): string | undefined {
    return this.enrollment.hostId;
  }

  async start(): Promise<void> {
    // It holds the credential and the last goal (every service's environment, the peer ticket).
    await ensurePrivateDir(this.layout.root, this.log);
    await mkdir(this.layout.services, { recursive: true });
    await mkdir(this.layout.objects, { recursive: true });
    await this.jobs.init();
    // Services this host ran before: stop leftovers, then bring back the last goal at once.
    for (const name of await readdir(this.layout.services)) await this.runner(name);
    const held = [...this.runners.values()].flatMap((r) => r.stagedImages());
    await offerHeldImages(held, this.layout, this.objects, this.traffic);
    this.peers = await servePeers(this.opts, this.objects, this.traffic, this.log);
    const cached = await cachedGoal(this.layout.goalCache);
    if (cached) this.apply(cached);
    this.loops.push(
      watchGoal(
        {
          enrollment: this.enrollment,
          server: this.opts.server,
          goalCache: this.layout.goalCache,
          onPeering: (peering) => (this.traffic.peering = peering),
          onGoal: (goal) => {
            this.apply(goal);
            this.reporter.afterGoal(goal.reportWithinMs);
          },
          onReconnect: () => this.reporter.resume(),
          log: this.log,
        },
        this.abort.signal,
      ),
    );
    this.reporter.start(this.opts.reportEveryMs ?? REPORT_EVERY_MS);
  }

  /**
   * Stops polling, reporting and supervising. The services keep running: an agent restarted
   * (upgraded, or its unit restarted) takes them over without a blip; a service is stopped when
   * its goal says so, not because its agent went away.
   */
  async stop(): Promise<void> {
    this.abort.abort();
    this.reporter.stop();
    this.collector.stop();
    await Promise.allSettled(this.loops);
    await this.jobs.leave();
    await Promise.all([...this.runners.values()].map((r) => r.leave()));
    await this.publicPorts.leave();
    await this.peers?.server.close();
  }

  private apply(goal: AgentGoal): void {
    const wanted = new Set(goal.services.map((s) => s.service));
    for (const s of goal.services) void this.runner(s.service).then((r) => r.setGoal(s));
    for (const [name, r] of this.runners) if (!wanted.has(name)) r.setGoal(null);
    this.jobs.setJobs(goal.jobs);
  }

  private runner(name: string): Promise<ServiceRunner> {
    let p = this.pendingRunners.get(name);
    if (!p) {
      const r = new ServiceRunner(name, {
        layout: this.layout,
        objects: this.objects,
        hostName: this.opts.name,
        fetchManifest: (id) => this.enrollment.client.getManifest(id),
        fetchOptions: () => this.traffic.fetchSources(),
        portOf: (service) => this.runners.get(service)?.activePort() ?? null,
        publicPorts: this.publicPorts,
        onChange: (what) => this.reporter.changed(what),
        onPruned: () => this.collector.collectSoon(),
        staging: (fn) => this.collector.staging(fn),
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
}
