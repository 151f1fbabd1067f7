/**
 * Drives running deployments. Each step reads a deployment and what its hosts report, asks the
 * pure state machine what comes next, and persists the new state, the goal changes and the
 * events in one transaction before anyone acts on them. After a crash the loop simply picks the
 * running deployments up again from the store.
 */
import { advance, isTerminal, type Timing } from '../core/index.js';
import type { HostRow, Store } from '../store/index.js';
import { ORCHESTRATOR } from './authz/identity.js';
import type { UnitOfWork } from './app/unit-of-work.js';
import type { LiveHosts } from './hosts/live-hosts.js';
import { observationOf } from './views.js';

export interface OrchestratorOptions {
  store: Store;
  uow: UnitOfWork;
  hosts: LiveHosts;
  now?: () => number;
  tickMs?: number;
  log?: (msg: string) => void;
  /** How long staging may take. */
  stageTimeoutMs?: number;
}

/**
 * After the orchestrator starts, how long hosts have to report before a deadline may pass:
 * agents reconnect to a restarted server within a few seconds (their retries back off to 5 s).
 */
export const RESTART_GRACE_MS = 20_000;

export class Orchestrator {
  private timer: NodeJS.Timeout | null = null;
  /** No deadline passes before this (see RESTART_GRACE_MS). */
  private deadlinesNotBefore = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: OrchestratorOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.stopped = false;
    this.deadlinesNotBefore = this.now() + RESTART_GRACE_MS;
    this.timer = setInterval(() => this.kick(), this.opts.tickMs ?? 500);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
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
    const ids = await this.opts.store.deployments.runningIds();
    if (ids.length === 0) return;
    const hosts = new Map((await this.opts.hosts.list()).map((h) => [h.id, h]));
    for (const id of ids) await this.step(id, hosts);
  }

  private async step(id: string, hosts: ReadonlyMap<string, HostRow>): Promise<void> {
    await this.opts.uow.run(ORCHESTRATOR, async ({ tx, emit, goalsChanged }) => {
      const row = await tx.deployments.getForUpdate(id);
      if (!row) return;
      const current = row.deployment;
      if (isTerminal(current.state)) return;
      const timing = await this.timingOf(tx, current.service, current.release);
      const obs = new Map(
        current.hosts.map((h) => [h.hostId, observationOf(hosts.get(h.hostId), current.service)]),
      );
      const step = advance(current, obs, this.now(), {
        ...timing,
        deadlinesNotBefore: this.deadlinesNotBefore,
      });
      const changed =
        step.events.length > 0 ||
        step.goals.length > 0 ||
        step.deployment.deadline !== current.deadline;
      if (!changed) return;
      // A removed host has no goals any more (the state machine has stopped waiting for it).
      const goals = step.goals.filter((g) => hosts.has(g.hostId));
      goalsChanged(await tx.goals.change(current.service, goals));
      await tx.deployments.update(step.deployment);
      for (const e of step.events) emit(e.type, { ...e, service: current.service }, id);
    });
  }

  private readonly timings = new Map<string, Timing>();

  /** Step deadlines follow the release's health check (releases are immutable: cache them). */
  private async timingOf(tx: Store, service: string, version: number): Promise<Timing> {
    const key = `${service}:${version}`;
    let t = this.timings.get(key);
    if (!t) {
      // Inside the step's transaction: over PGlite a second connection would wait for this one.
      const r = await tx.releases.get(service, version);
      const health = r ? r.config.health : null;
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
