/**
 * The host agent: enrolls, watches its goal state (long poll), hands each service's goal to its
 * runner, and reports. It never needs the server to keep running what it runs: when the server
 * is away it keeps the current releases and reconnects; a restarted agent converges from the
 * last goal it saved, without fetching what it already holds.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { SlipwayError, isSlipwayError } from '../core/index.js';
import { SlipwayClient, agentGoal, type AgentGoal } from '../api/index.js';
import { OriginSource, type ChunkSource } from '../distribution/index.js';
import { ObjectStore } from '../image/index.js';
import { loadCredentials, saveCredentials, type Credentials } from './credentials.js';
import { HostLayout } from './host-layout.js';
import { ServiceRunner } from './service-runner.js';

export interface AgentOptions {
  server: string;
  joinToken?: string;
  name: string;
  region: string;
  labels: Record<string, string>;
  dataDir: string;
  log?: (msg: string) => void;
  /** Heartbeat period of status reports. */
  reportEveryMs?: number;
}

const POLL_WAIT_MS = 25_000;

export class Agent {
  private readonly layout: HostLayout;
  private readonly objects: ObjectStore;
  private readonly runners = new Map<string, ServiceRunner>();
  private readonly abort = new AbortController();
  private readonly bytesReceived: Record<string, number> = {};
  private client: SlipwayClient;
  private creds: Credentials | null = null;
  private reportTimer: NodeJS.Timeout | null = null;
  private reportSoon: NodeJS.Timeout | null = null;
  private loops: Promise<void>[] = [];
  private readonly log: (msg: string) => void;

  constructor(private readonly opts: AgentOptions) {
    this.layout = new HostLayout(opts.dataDir);
    this.objects = new ObjectStore(this.layout.objects);
    this.client = new SlipwayClient({ server: opts.server });
    this.log = opts.log ?? (() => {});
  }

  get hostId(): string | undefined {
    return this.creds?.hostId;
  }

  async start(): Promise<void> {
    await mkdir(this.layout.services, { recursive: true });
    await mkdir(this.layout.objects, { recursive: true });
    // Services this host ran before: stop leftovers, then bring back the last goal at once.
    for (const name of await readdir(this.layout.services)) await this.runner(name);
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
    await Promise.allSettled(this.loops);
    await Promise.all([...this.runners.values()].map((r) => r.close()));
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
        sources: () => this.sources(),
        onBytes: (kind, n) => (this.bytesReceived[kind] = (this.bytesReceived[kind] ?? 0) + n),
        portOf: (service) => this.runners.get(service)?.activePort() ?? null,
        onChange: () => this.reportChanged(),
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

  private sources(): ChunkSource[] {
    return [new OriginSource((d, signal) => this.client.getChunk(d, signal))];
  }

  private reportChanged(): void {
    if (this.reportSoon) return;
    this.reportSoon = setTimeout(() => {
      this.reportSoon = null;
      void this.sendReport();
    }, 100);
  }

  private async sendReport(): Promise<void> {
    if (!this.creds || this.abort.signal.aborted) return;
    try {
      await this.client.agentReport({
        services: [...this.runners.values()].map((r) => r.report()),
        bytesReceived: { ...this.bytesReceived },
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

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
