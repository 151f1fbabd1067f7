/** Reporting this host's state to the control plane: on changes, and as a heartbeat. */
import { Backoff, type BackoffPolicy, type Random } from '../core/index.js';
import type { ServiceReport } from '../api/index.js';
import type { TrafficCounts } from './chunk-traffic.js';
import type { Enrollment } from './enrollment.js';

/** How often fetch progress alone is reported. */
const PROGRESS_REPORT_MS = 2_000;
/** How soon a state change is reported: a burst of them goes as one report. */
const STATE_REPORT_MS = 100;
/**
 * After a report failed, none is sent for a while, longer after each failure in a row: an agent
 * the server refuses, or cannot be reached, must not send one per state change.
 */
export const REPORT_RETRY: BackoffPolicy = { firstMs: 1_000, maxMs: 5_000 };

/** What a report is made of. */
export interface ReportSources {
  enrollment: Enrollment;
  services: () => ServiceReport[];
  traffic: () => TrafficCounts;
  /** Where this agent serves chunks (null: it does not). */
  peerUrl: () => string | null;
  relay: boolean;
  /** Aborted when the agent stops: nothing is reported after. */
  signal: AbortSignal;
  /** For the jitter of the waits after failures (default Math.random). */
  random?: Random;
}

/** Sends reports: soon after a change, and every `everyMs` regardless. */
export class Reporter {
  private heartbeat: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private soonAt = 0;
  private readonly backoff: Backoff;
  /** No report is sent before this time (after failures). */
  private quietUntil = 0;
  /** No state change is reported before this time: the moment picked in a goal's window. */
  private holdUntil = 0;

  constructor(private readonly from: ReportSources) {
    this.backoff = new Backoff(REPORT_RETRY, from.random);
  }

  start(everyMs: number): void {
    this.heartbeat = setInterval(() => void this.send(), everyMs);
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.soon) clearTimeout(this.soon);
    if (this.retry) clearTimeout(this.retry);
  }

  /**
   * Sends a report soon: 100 ms after a state change (so a burst of them goes as one), at most
   * every 2 s for fetch progress alone. Every report costs the server a write, and a fleet
   * fetching at once would otherwise send ten a second per host.
   */
  changed(what: 'state' | 'progress' = 'state'): void {
    const delay = Math.max(
      what === 'state' ? STATE_REPORT_MS : PROGRESS_REPORT_MS,
      this.holdUntil - Date.now(),
    );
    this.sendIn(delay, what === 'progress');
  }

  /**
   * A new goal arrived: reports now, or at a random moment within `withinMs` when the server
   * asks for it (it sent the goal to many agents at once); state changes meanwhile go with
   * that report.
   */
  afterGoal(withinMs: number): void {
    if (withinMs <= 0) return void this.send();
    const delay = Math.floor((this.from.random ?? Math.random)() * withinMs);
    this.holdUntil = Date.now() + delay;
    this.sendIn(delay, false);
  }

  /** Sends in `delay` ms, unless a send is due sooner (or any is due, for progress alone). */
  private sendIn(delay: number, progressOnly: boolean): void {
    if (this.soon) {
      if (progressOnly || this.soonAt <= Date.now() + delay) return;
      clearTimeout(this.soon);
    }
    this.soonAt = Date.now() + delay;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.send();
    }, delay);
  }

  /** The server answers again (the goal watch saw it): report now, without waiting. */
  resume(): void {
    this.backoff.reset();
    this.quietUntil = 0;
    void this.send();
  }

  /** Sends a report now (once enrolled, and not while backing off after failures). */
  async send(): Promise<void> {
    const { enrollment, signal } = this.from;
    if (!enrollment.enrolled || signal.aborted) return;
    if (Date.now() < this.quietUntil) return; // the retry after it sends the state
    try {
      await enrollment.client.agentReport({
        services: this.from.services(),
        ...this.from.traffic(),
        peerUrl: this.from.peerUrl(),
        relay: this.from.relay,
      });
      this.backoff.reset();
    } catch {
      // The goal watch logs lost connections and refusals. The state goes again once the wait
      // is over: the server may not have it, and the heartbeat is a minute away.
      const wait = this.backoff.next();
      this.quietUntil = Date.now() + wait;
      if (this.retry) clearTimeout(this.retry);
      this.retry = setTimeout(() => {
        this.retry = null;
        void this.send();
      }, wait);
    }
  }
}
