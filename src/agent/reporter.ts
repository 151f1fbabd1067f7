/** Reporting this host's state to the control plane: on changes, and as a heartbeat. */
import type { ServiceReport } from '../api/index.js';
import type { TrafficCounts } from './chunk-traffic.js';
import type { Enrollment } from './enrollment.js';

/** How often fetch progress alone is reported. */
const PROGRESS_REPORT_MS = 1_000;
/** How soon a state change is reported: a burst of them goes as one report. */
const STATE_REPORT_MS = 100;

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
}

/** Sends reports: soon after a change, and every `everyMs` regardless. */
export class Reporter {
  private heartbeat: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private soonAt = 0;

  constructor(private readonly from: ReportSources) {}

  start(everyMs: number): void {
    this.heartbeat = setInterval(() => void this.send(), everyMs);
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.soon) clearTimeout(this.soon);
  }

  /**
   * Sends a report soon: 100 ms after a state change (so a burst of them goes as one), at most
   * once a second for fetch progress alone. Every report costs the server a write, and a fleet
   * fetching at once would otherwise send ten a second per host.
   */
  changed(what: 'state' | 'progress' = 'state'): void {
    const delay = what === 'state' ? STATE_REPORT_MS : PROGRESS_REPORT_MS;
    if (this.soon) {
      if (what === 'progress' || this.soonAt <= Date.now() + delay) return;
      clearTimeout(this.soon);
    }
    this.soonAt = Date.now() + delay;
    this.soon = setTimeout(() => {
      this.soon = null;
      void this.send();
    }, delay);
  }

  /** Sends a report now (once enrolled). */
  async send(): Promise<void> {
    const { enrollment, signal } = this.from;
    if (!enrollment.enrolled || signal.aborted) return;
    try {
      await enrollment.client.agentReport({
        services: this.from.services(),
        ...this.from.traffic(),
        peerUrl: this.from.peerUrl(),
        relay: this.from.relay,
      });
    } catch {
      // The goal watch reports lost connections; the next heartbeat sends the state again.
    }
  }
}
