/**
 * One step of one deployment: what its hosts report, through the pure state machine, into the
 * caller's unit of work (goal changes and events; the caller writes the deployment). The
 * orchestrator steps running deployments with it, and creating a deployment takes the first
 * step with it in the creating transaction: the hosts' stage goals commit with the deployment,
 * instead of a second transaction reading the new deployment back to write them.
 */
import {
  advance,
  seesEveryHost,
  type Deployment,
  type DeploymentHost,
  type HostObservation,
  type StepContext,
  type Timing,
} from '../../core/index.js';
import type { Store } from '../../store/index.js';
import type { LiveHosts } from '../hosts/live-hosts.js';
import { observationOf } from '../views.js';
import type { Work } from './unit-of-work.js';

/** How long staging may take, unless the server is told otherwise. */
export const STAGE_TIMEOUT_MS = 15 * 60_000;

export class DeploymentSteps {
  /** Step deadlines by release (releases are immutable). */
  private readonly timings = new Map<string, Timing>();

  constructor(
    private readonly hosts: LiveHosts,
    private readonly stageTimeoutMs: number = STAGE_TIMEOUT_MS,
  ) {}

  /**
   * Advances `current` as far as its hosts' reports allow, changing goals and recording events
   * in `work`; returns the deployment to write with the hosts it moved, or null when nothing
   * changed. Looks at the hosts in `changed` (whose reports changed since the last step, as
   * {@link LiveHosts.takeChanged} tells), or at every host when `changed` is null or the state
   * machine must see them all: a step costs the hosts that changed, not the deployment's size.
   * Hosts come from memory, looked up one by one.
   */
  async take(
    work: Pick<Work, 'tx' | 'emit' | 'goalsChanged'>,
    current: Deployment,
    now: number,
    deadlinesNotBefore: number,
    changed: ReadonlySet<string> | null = null,
    context: Pick<StepContext, 'gates' | 'windowClosed' | 'start'> = {},
  ): Promise<{ deployment: Deployment; moved: DeploymentHost[] } | null> {
    const { tx, emit, goalsChanged } = work;
    if (current.state === 'queued') {
      const start = await this.turnOf(tx, current, now);
      if (start === undefined) return null;
      context = { ...context, start };
    }
    const every = changed === null || seesEveryHost(current, now);
    const looked = every ? current.hosts : current.hosts.filter((h) => changed.has(h.hostId));
    // Hosts enrolled on another server a moment ago may not be in this one's cache yet: the
    // store says whether they exist (a host missing there was removed).
    const seen = new Map(looked.map((h) => [h.hostId, this.hosts.peek(h.hostId)]));
    const unknown = looked.filter((h) => !seen.get(h.hostId)).map((h) => h.hostId);
    if (unknown.length > 0) for (const h of await this.hosts.byIds(unknown, tx)) seen.set(h.id, h);
    const timing = await this.timingOf(tx, current.service, current.release);
    const obs = new Map<string, HostObservation>();
    for (const [id, host] of seen) obs.set(id, observationOf(host, current.service));
    const step = advance(current, obs, now, { ...timing, ...context, deadlinesNotBefore });
    const changedAny =
      step.events.length > 0 ||
      step.goals.length > 0 ||
      step.deployment.deadline !== current.deadline;
    if (!changedAny) return null;
    // A removed host has no goals any more (the state machine has stopped waiting for it).
    const unseen = step.goals
      .map((g) => g.hostId)
      .filter((id) => !seen.has(id) && !this.hosts.peek(id));
    if (unseen.length > 0) {
      for (const id of unseen) seen.set(id, undefined);
      for (const h of await this.hosts.byIds(unseen, tx)) seen.set(h.id, h);
    }
    const goals = step.goals.filter((g) => !seen.has(g.hostId) || seen.get(g.hostId));
    goalsChanged(await tx.goals.change(current.service, goals));
    for (const e of step.events) {
      // A state change also names where it happened: the audit trail files it by environment.
      const where =
        e.type === 'deployment.state'
          ? { environment: current.environment, release: current.release }
          : {};
      emit(e.type, { ...e, service: current.service, ...where }, current.id);
    }
    return { deployment: step.deployment, moved: step.moved };
  }

  /**
   * Whether a queued deployment's turn has come (no deployment of its service and environment
   * ahead of it), with what its hosts run now; null while it waits but has something to do
   * (a cancellation, an ended approval); undefined when a step has nothing to do.
   */
  private async turnOf(
    tx: Store,
    d: Deployment,
    now: number,
  ): Promise<StepContext['start'] | undefined> {
    const a = d.approval;
    const ends = d.cancelRequested || (a && (a.rejected || now >= a.expiresAt));
    const ahead = await tx.deployments.underWay(d.service, d.environment);
    if (ahead[0]?.id !== d.id) return ends ? null : undefined;
    const goals = await tx.goals.ofService(d.service);
    return { previous: new Map(goals.map((g) => [g.hostId, g.activeVersion])) };
  }

  /** The hosts whose reports changed what a step reads since the last call (see LiveHosts). */
  takeChanged(): ReadonlySet<string> {
    return this.hosts.takeChanged();
  }

  /** Step deadlines follow the release's health check. */
  private async timingOf(tx: Store, service: string, version: number): Promise<Timing> {
    const key = `${service}:${version}`;
    let t = this.timings.get(key);
    if (!t) {
      // Inside the step's transaction: over PGlite a second connection would wait for this one.
      const r = await tx.releases.get(service, version);
      const health = r ? r.config.health : null;
      const activate = (health?.deadlineMs ?? 10_000) + 15_000;
      t = {
        stageTimeoutMs: this.stageTimeoutMs,
        activateTimeoutMs: activate,
        revertTimeoutMs: activate,
      };
      this.timings.set(key, t);
    }
    return t;
  }
}
