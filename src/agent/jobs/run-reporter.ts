/**
 * Sends a job run's state and output to the server: lines in batches (at most every
 * FLUSH_MS, JOB_LINES_PER_REPORT lines a message), one message at a time, in order. Output waits
 * in memory while the server is away, bounded: past BUFFER_BYTES the oldest lines go, and a line
 * says how many. The last state is sent until the server takes it or the agent stops.
 */
import { JOB_LINE_MAX_BYTES, JOB_LINES_PER_REPORT, type AgentJobReport } from '../../api/index.js';
import { backoffDelay, JOB_RUN_ENDS, sleep } from '../../core/index.js';

const FLUSH_MS = 250;
/** Output kept for the server while it is away. */
const BUFFER_BYTES = 8 * 1024 * 1024;
/** Bytes of lines one message carries at most (the route takes 2 MiB). */
const MESSAGE_BYTES = 1024 * 1024;
const RETRY = { firstMs: 500, maxMs: 15_000 };

type Line = AgentJobReport['lines'][number];
export type RunState = Omit<AgentJobReport, 'lines'>;

/** A state with nothing known yet: what each report's fields start from. */
export const BLANK_RUN: RunState = {
  state: 'queued',
  exitCode: null,
  signal: null,
  detail: null,
  limitsBy: null,
  bytesReceived: {},
  startedAt: null,
  durationMs: null,
};

export class RunReporter {
  private lines: Line[] = [];
  private bytes = 0;
  private dropped = 0;
  private state: RunState;
  /** The state the server last took. */
  private sent: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private failures = 0;

  constructor(
    private readonly send: (body: AgentJobReport) => Promise<void>,
    private readonly signal: AbortSignal,
    private readonly log: (msg: string) => void,
    first: RunState,
  ) {
    this.state = first;
    this.soon();
  }

  line(stream: 'stdout' | 'stderr', text: string): void {
    const line = { stream, text: text.slice(0, JOB_LINE_MAX_BYTES), at: new Date().toISOString() };
    this.lines.push(line);
    this.bytes += line.text.length;
    while (this.bytes > BUFFER_BYTES && this.lines.length > 1) {
      this.bytes -= this.lines.shift()!.text.length;
      this.dropped++;
    }
    this.soon();
  }

  set(state: RunState): void {
    this.state = state;
    this.soon();
  }

  /** Sends the final state and every line left; resolves once the server took them. */
  async finish(state: RunState): Promise<void> {
    this.state = state;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (!this.signal.aborted && (this.lines.length > 0 || this.sent !== key(this.state))) {
      await this.flush();
      if (this.failures > 0) await sleep(backoffDelay(this.failures, RETRY), this.signal);
    }
  }

  private soon(): void {
    if (this.timer || this.signal.aborted) return;
    // While the server is away, tries back off as the final report's do.
    const wait = this.failures > 0 ? backoffDelay(this.failures, RETRY) : FLUSH_MS;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().then(() => {
        if (this.lines.length > 0 || this.sent !== key(this.state)) this.soon();
      });
    }, wait);
  }

  private flush(): Promise<void> {
    const nothing = this.lines.length === 0 && this.dropped === 0;
    if (nothing && this.sent === key(this.state)) return this.sending ?? Promise.resolve();
    this.sending ??= this.sendOnce().finally(() => (this.sending = null));
    return this.sending;
  }

  private async sendOnce(): Promise<void> {
    if (this.dropped > 0) {
      const text = `[slipway: ${this.dropped} line(s) of output dropped while the server was away]`;
      this.lines.unshift({ stream: 'stderr', text, at: new Date().toISOString() });
      this.dropped = 0;
    }
    let n = 0;
    let size = 0;
    while (n < this.lines.length && n < JOB_LINES_PER_REPORT && size < MESSAGE_BYTES)
      size += this.lines[n++]!.text.length + 64;
    const batch = this.lines.slice(0, n);
    // Lines of a later batch go with an earlier state: the final state only with the last lines.
    const state = n < this.lines.length ? { ...this.state, ...notEnded(this.state) } : this.state;
    try {
      await this.send({ ...state, lines: batch });
      this.lines.splice(0, n);
      this.bytes -= batch.reduce((b, l) => b + l.text.length, 0);
      this.sent = key(state);
      this.failures = 0;
    } catch (e) {
      this.failures++;
      if (this.failures === 1) this.log(`job report failed: ${(e as Error).message}`);
    }
  }
}

/** An ending state held back while lines remain to send: the run shows as running. */
function notEnded(s: RunState): Partial<RunState> {
  return JOB_RUN_ENDS.has(s.state) ? { state: 'running', exitCode: null, signal: null } : {};
}

function key(s: RunState): string {
  return JSON.stringify(s);
}
