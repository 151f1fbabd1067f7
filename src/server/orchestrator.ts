/**
 * Drives running deployments. Each step reads a deployment and what its hosts report, asks the
 * pure state machine what comes next, and persists the new state, the goal changes and the
 * events in one transaction before anyone acts on them. After a crash the loop simply picks the
 * running deployments up again from the store.
 */
import { advance, isTerminal, type Timing } from '../core/index.js';
import { serviceSpec } from '../api/index.js';
import type { EventRow, HostRow, Store } from '../store/index.js';
import type { EventBus } from './event-bus.js';
import { deploymentOf, observationOf } from './views.js';

export interface OrchestratorOptions {
  store: Store;
  bus: EventBus;
  now?: () => number;
  tickMs?: number;
  log?: (msg: string) => void;
  /** How long staging may take. */
  stageTimeoutMs?: number;
}

export class Orchestrator {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private unsubscribe: (() => void) | null = null;
  private readonly now: () => number;

  constructor(private readonly opts: OrchestratorOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.opts.tickMs ?? 500);
    this.unsubscribe = this.opts.bus.onReport(() => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.running;
  }

  /** Asks for a pass over the running deployments soon; passes never overlap. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((e: unknown) => this.opts.log?.(`orchestrator: ${(e as Error).stack ?? String(e)}`))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** One pass over every running deployment (also used by tests to step deterministically). */
  async pass(): Promise<void> {
    const ids = await this.opts.store.runningDeploymentIds();
    if (ids.length === 0) return;
    const hosts = new Map((await this.opts.store.listHosts()).map((h) => [h.id, h]));
    for (const id of ids) await this.step(id, hosts);
  }

  private async step(id: string, hosts: ReadonlyMap<string, HostRow>): Promise<void> {
    const { store, bus } = this.opts;
    let events: EventRow[] = [];
    let touched: string[] = [];
    await store.transaction(async (tx) => {
      const row = await tx.deploymentForUpdate(id);
      if (!row) return;
      const current = deploymentOf(row);
      if (isTerminal(current.state)) return;
      const timing = await this.timingOf(tx, current.service, current.release);
      const obs = new Map(
        current.hosts.map((h) => [h.hostId, observationOf(hosts.get(h.hostId), current.service)]),
      );
      const step = advance(current, obs, this.now(), timing);
      const changed =
        step.events.length > 0 ||
        step.goals.length > 0 ||
        step.deployment.deadline !== current.deadline;
      if (!changed) return;
      touched = await tx.changeGoals(current.service, step.goals);
      await tx.updateDeployment(step.deployment);
      events = await tx.addEvents(
        step.events.map((e) => ({
          deploymentId: id,
          type: e.type,
          data: { ...e, service: current.service },
        })),
      );
    });
    bus.goalChanged(touched);
    bus.publish(events);
  }

  private readonly timings = new Map<string, Timing>();

  /** Step deadlines follow the release's health check (releases are immutable: cache them). */
  private async timingOf(tx: Store, service: string, version: number): Promise<Timing> {
    const key = `${service}:${version}`;
    let t = this.timings.get(key);
    if (!t) {
      // Inside the step's transaction: over PGlite a second connection would wait for this one.
      const r = await tx.release(service, version);
      const health = r ? serviceSpec.parse(r.config).health : null;
      const activate = (health?.deadlineMs ?? 10_000) + 15_000;
      t = {
        stageTimeoutMs: this.opts.stageTimeoutMs ?? 15 * 60_000,
        activateTimeoutMs: activate,
        revertTimeoutMs: activate,
      };
      this.timings.set(key, t);
    }
    return t;
  }
}
