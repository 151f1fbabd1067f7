/**
 * One simulated agent: the real agent's protocol, through the agent's own client, without the
 * processes. It enrolls, long-polls its goal, and reports every few seconds and after a new
 * goal (within the window the answer gives), claiming each release it is told to stage as staged and the one to run as healthy,
 * so that a deployment moves on as with real agents.
 */
import { SlipwayClient, type AgentGoal, type ServiceReport } from '../../src/api/index.js';
import { REPORT_EVERY_MS } from '../../src/agent/agent.js';
import { GOAL_RETRY, POLL_WAIT_MS } from '../../src/agent/goal-watch.js';
import { REPORT_RETRY } from '../../src/agent/reporter.js';
import { Backoff, sleep } from '../../src/core/index.js';

/** Who a simulated agent is. */
export interface SimSpec {
  name: string;
  region: string;
  relay: boolean;
}

/** What the goal, kept by service, says the host holds and runs. */
function reportFor(goal: AgentGoal | null): ServiceReport[] {
  return (goal?.services ?? []).map((s) => {
    const staged = new Set(s.stage.map((r) => r.version));
    if (s.active) staged.add(s.active.version);
    return {
      service: s.service,
      staged: [...staged].sort((a, b) => a - b),
      stagingFailed: null,
      activationFailed: null,
      fetching: null,
      active: s.active
        ? { version: s.active.version, state: 'healthy', detail: null, port: null, pid: null }
        : null,
    };
  });
}

export class SimAgent {
  private client: SlipwayClient;
  private goal: AgentGoal | null = null;
  private generation = -1;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly reportBackoff = new Backoff(REPORT_RETRY);
  private quietUntil = 0;
  /** When (performance.now()) a goal naming each service@version first arrived. */
  readonly firstSeen = new Map<string, number>();
  /** Why calls failed: message → count (bounded: messages are few). */
  readonly errors = new Map<string, number>();
  goalErrors = 0;
  reportErrors = 0;
  reports = 0;

  constructor(
    readonly spec: SimSpec,
    server: string,
    joinToken: string,
    fetch?: typeof globalThis.fetch,
  ) {
    this.client = new SlipwayClient({ server, token: joinToken, fetch });
  }

  /** Enrolls with the join token; afterwards every call uses the host's own token. */
  async enroll(): Promise<void> {
    const { name, region, relay } = this.spec;
    const res = await this.client.enroll({ name, region, labels: {}, relay });
    this.client = this.client.withToken(res.token);
  }

  /** Long-polls and reports until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    this.heartbeat = setInterval(() => void this.report(signal), REPORT_EVERY_MS);
    signal.addEventListener('abort', () => clearInterval(this.heartbeat!), { once: true });
    void this.report(signal);
    return this.watch(signal);
  }

  private async watch(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(GOAL_RETRY);
    while (!signal.aborted) {
      try {
        const goal = await this.client.agentGoal(this.generation, POLL_WAIT_MS, signal);
        const now = performance.now();
        backoff.reset();
        if (goal.generation === this.generation) continue;
        this.generation = goal.generation;
        this.goal = goal;
        for (const s of goal.services) {
          for (const r of [...s.stage, ...(s.active ? [s.active] : [])]) {
            const key = `${s.service}@${r.version}`;
            if (!this.firstSeen.has(key)) this.firstSeen.set(key, now);
          }
        }
        // As the agent's reporter: at once, or at a random moment within the window the
        // server gave.
        if (goal.reportWithinMs <= 0) void this.report(signal);
        else
          setTimeout(
            () => void this.report(signal),
            Math.floor(Math.random() * goal.reportWithinMs),
          ).unref();
      } catch (e) {
        if (signal.aborted) return;
        this.goalErrors++;
        this.failed('long poll', e);
        await sleep(backoff.next(), signal).catch(() => {});
      }
    }
  }

  private failed(what: string, e: unknown): void {
    // Ids and ports would make every message distinct.
    const message = `${what}: ${(e as Error).message}`.replace(/\d+/g, 'N').slice(0, 200);
    if (this.errors.size < 20 || this.errors.has(message)) {
      this.errors.set(message, (this.errors.get(message) ?? 0) + 1);
    }
  }

  private async report(signal: AbortSignal): Promise<void> {
    if (signal.aborted || Date.now() < this.quietUntil) return;
    try {
      await this.client.agentReport({
        services: reportFor(this.goal),
        bytesReceived: {},
        bytesServed: 0,
        peerUrl: null,
        relay: this.spec.relay,
      });
      this.reports++;
      this.reportBackoff.reset();
    } catch (e) {
      if (signal.aborted) return;
      this.reportErrors++;
      this.failed('report', e);
      // As the agent's reporter: the state goes again once the wait is over.
      const wait = this.reportBackoff.next();
      this.quietUntil = Date.now() + wait;
      setTimeout(() => void this.report(signal), wait).unref();
    }
  }
}
