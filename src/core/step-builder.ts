/**
 * What one step of the state machine builds: the next deployment (its hosts copied, so the
 * current one stays as it was), the goal changes, the events, and which hosts moved.
 */
import type {
  Deployment,
  DeploymentEvent,
  DeploymentHost,
  DeploymentState,
  GoalChange,
  HostStepState,
  Step,
  Timing,
} from './deployment-model.js';

type HostsStateEvent = Extract<DeploymentEvent, { type: 'hosts.state' }>;

/** Whether the deployment's current deadline has passed. */
export function pastDeadline(d: Deployment, now: number, timing: Timing): boolean {
  return d.deadline !== null && now >= Math.max(d.deadline, timing.deadlinesNotBefore ?? 0);
}

export class StepBuilder {
  d: Deployment;
  readonly goals: GoalChange[] = [];
  readonly events: DeploymentEvent[] = [];
  /**
   * The hosts.state events since the last event of another kind, by state and detail: a host
   * moving to a state joins its event. A host that moves twice in one run starts a new run, so
   * that the events keep each host's moves in order.
   */
  private run = new Map<string, HostsStateEvent>();
  private inRun = new Set<string>();
  private readonly moved = new Set<DeploymentHost>();

  constructor(d: Deployment) {
    this.d = { ...d, hosts: d.hosts.map((h) => ({ ...h })) };
  }

  /** Records the release a host ran before the deployment (learned when a queued one starts). */
  setPrevious(h: DeploymentHost, previous: number | null): void {
    if (h.previous === previous) return;
    h.previous = previous;
    this.moved.add(h);
  }

  setHost(h: DeploymentHost, state: HostStepState, detail: string | null = null): void {
    if (h.state === state && h.detail === detail) return;
    h.state = state;
    h.detail = detail;
    this.moved.add(h);
    if (this.inRun.has(h.hostId)) this.endRun();
    this.inRun.add(h.hostId);
    const key = JSON.stringify([state, detail]);
    const open = this.run.get(key);
    const host = { hostId: h.hostId, hostName: h.hostName };
    if (open) return void open.hosts.push(host);
    const e: HostsStateEvent = { type: 'hosts.state', state, detail, hosts: [host] };
    this.run.set(key, e);
    this.events.push(e);
  }

  setState(state: DeploymentState, reason: string | null = this.d.reason): void {
    this.d.state = state;
    this.d.reason = reason;
    this.other({ type: 'deployment.state', state, reason });
  }

  /** An event of another kind: host moves after it are told after it. */
  other(e: DeploymentEvent): void {
    this.endRun();
    this.events.push(e);
  }

  private endRun(): void {
    this.run = new Map();
    this.inRun = new Set();
  }

  goal(change: GoalChange): void {
    this.goals.push(change);
  }

  result(): Step {
    return { deployment: this.d, moved: [...this.moved], goals: this.goals, events: this.events };
  }
}
